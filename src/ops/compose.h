#pragma once
// Pixel-level helpers shared by the canvas operators (-extent, -border, -flatten, -composite,
// -append, -crop's empty result): solid fills in ImageMagick colours and Porter-Duff/blend
// compositing with ImageMagick 6's formulas.
#include "src/core/image.h"

namespace mtool::ops {

/// A colour as ImageMagick holds it (Q16 samples, alpha = 65535 - opacity).
struct Colour {
    float v[4];  ///< red, green, blue, alpha in 0..1
    bool gray() const { return v[0] == v[1] && v[1] == v[2]; }
    bool opaque() const { return v[3] >= 1.0f; }
};
Colour colour_of(const PixelPacket& p);

/// Writes a 0..1 value as ImageMagick stores it at this depth (Q16 rounding, 6.9.11's
/// truncation to 8 bits; alpha truncates as opacity).
void put_sample(Pixels& p, int x, int y, int c, float v, bool is_alpha);

/// A copy of `p` (colour channels first) with its alpha channel kept, added (opaque) or dropped.
std::shared_ptr<Pixels> with_alpha(const Pixels& p, int color_channels, bool has_alpha, bool want_alpha);

/// Fills every pixel with `colour` (layout decides which samples exist).
void fill(Pixels& p, const Layout& l, const Colour& colour);

/// True when ImageMagick's compose operator is one mtool composes natively.
bool native_compose(CompositeOperator op);

/// Composites `src` onto `dst` with its top-left corner at (x, y); pixels outside are clipped.
/// Both layouts must share the colour model (gray src on RGB dst is expanded).
void composite(Pixels& dst, const Layout& dl, const Pixels& src, const Layout& sl, int x, int y,
               CompositeOperator op, int threads);

}  // namespace mtool::ops
