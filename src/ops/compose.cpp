#include "src/ops/compose.h"

#include <algorithm>
#include <cmath>

#include "src/ops/parallel.h"
#include "src/ops/quantum.h"

namespace mtool::ops {

Colour colour_of(const PixelPacket& p) {
    return Colour{{p.red / 65535.0f, p.green / 65535.0f, p.blue / 65535.0f, 1.0f - p.opacity / 65535.0f}};
}

void put_sample(Pixels& p, int x, int y, int c, float v, bool is_alpha) {
    v = v < 0 ? 0 : (v > 1 ? 1 : v);
    // Rounded in float as before, then stored exactly (an integral Q16 value).
    store_q16_at(p, x, y, c, static_cast<unsigned>(v * 65535.0f + 0.5f), is_alpha);
}

std::shared_ptr<Pixels> with_alpha(const Pixels& p, int color, bool has_alpha, bool want_alpha) {
    auto out =
        std::make_shared<Pixels>(p.width(), p.height(), color + (want_alpha ? 1 : 0), p.bytes_per_sample());
    for (int y = 0; y < p.height(); ++y)
        for (int x = 0; x < p.width(); ++x) {
            for (int c = 0; c < color; ++c) store_q16_at(*out, x, y, c, q16_at(p, x, y, c));
            if (want_alpha)
                store_q16_at(*out, x, y, color, has_alpha ? q16_at(p, x, y, color) : kQuantumRange, true);
        }
    return out;
}

void fill(Pixels& p, const Layout& l, const Colour& colour) {
    const int ch = p.channels();
    // One pixel, then copied: every pixel is identical.
    for (int c = 0; c < l.color_channels; ++c) put_sample(p, 0, 0, c, colour.v[l.gray() ? 0 : c], false);
    if (l.alpha) put_sample(p, 0, 0, ch - 1, colour.v[3], true);
    const size_t px = static_cast<size_t>(ch) * p.bytes_per_sample();
    for (int x = 1; x < p.width(); ++x) std::copy_n(p.row(0), px, p.row(0) + x * px);
    for (int y = 1; y < p.height(); ++y) std::copy_n(p.row(0), p.stride(), p.row(y));
}

bool native_compose(CompositeOperator op) {
    switch (op) {
        case OverCompositeOp:
        case CopyCompositeOp:
        case SrcCompositeOp:
        case DstCompositeOp:
        case DstOverCompositeOp:
        case InCompositeOp:
        case OutCompositeOp:
        case AtopCompositeOp:
        case MultiplyCompositeOp:
        case ScreenCompositeOp:
        case DarkenCompositeOp:
        case LightenCompositeOp:
        case DifferenceCompositeOp:
        case PlusCompositeOp:
            return true;
        default:
            return false;
    }
}

namespace {

/// One pixel: Sc/Dc colour (0..1, 3 channels), Sa/Da alpha; result into r (4 values).
void blend(CompositeOperator op, const float* s, float sa, const float* d, float da, float* r) {
    float ra = sa + da - sa * da;  // union coverage, the common case
    auto per_channel = [&](auto&& fn) {
        for (int c = 0; c < 3; ++c) {
            float sca = s[c] * sa, dca = d[c] * da;
            float v = fn(sca, dca, s[c], d[c]);
            r[c] = ra > 0 ? v / ra : 0.0f;
        }
        r[3] = ra;
    };
    switch (op) {
        case CopyCompositeOp:
        case SrcCompositeOp:
            std::copy_n(s, 3, r);
            r[3] = sa;
            return;
        case DstCompositeOp:
            std::copy_n(d, 3, r);
            r[3] = da;
            return;
        case DstOverCompositeOp:
            per_channel([&](float sca, float dca, float, float) { return dca + sca * (1 - da); });
            return;
        case InCompositeOp:
            std::copy_n(s, 3, r);
            r[3] = sa * da;
            return;
        case OutCompositeOp:
            std::copy_n(s, 3, r);
            r[3] = sa * (1 - da);
            return;
        case AtopCompositeOp:
            ra = da;
            per_channel([&](float sca, float dca, float, float) { return sca * da + dca * (1 - sa); });
            return;
        case MultiplyCompositeOp:
            per_channel([&](float sca, float dca, float, float) {
                return sca * dca + sca * (1 - da) + dca * (1 - sa);
            });
            return;
        case ScreenCompositeOp:
            per_channel([&](float sca, float dca, float, float) { return sca + dca - sca * dca; });
            return;
        case DarkenCompositeOp:
            per_channel([&](float sca, float dca, float, float) {
                return sca * da < dca * sa ? sca + dca * (1 - sa) : dca + sca * (1 - da);
            });
            return;
        case LightenCompositeOp:
            per_channel([&](float sca, float dca, float, float) {
                return sca * da > dca * sa ? sca + dca * (1 - sa) : dca + sca * (1 - da);
            });
            return;
        case DifferenceCompositeOp:
            per_channel([&](float sca, float dca, float, float) {
                return sca + dca - 2 * std::min(sca * da, dca * sa);
            });
            return;
        case PlusCompositeOp:
            ra = std::min(1.0f, sa + da);
            per_channel([&](float sca, float dca, float, float) { return sca + dca; });
            return;
        default:  // Over
            per_channel([&](float sca, float dca, float, float) { return sca + dca * (1 - sa); });
            return;
    }
}

}  // namespace

void composite(Pixels& dst, const Layout& dl, const Pixels& src, const Layout& sl, int x0, int y0,
               CompositeOperator op, int threads) {
    if (op == DstCompositeOp || op == NoCompositeOp) return;
    const int xa = std::max(0, x0), xb = std::min(dst.width(), x0 + src.width());
    const int ya = std::max(0, y0), yb = std::min(dst.height(), y0 + src.height());
    if (xa >= xb || ya >= yb) return;
    const int sch = src.channels(), dch = dst.channels();
    parallel_rows(yb - ya, threads, [&](int r0, int r1) {
        for (int y = ya + r0; y < ya + r1; ++y)
            for (int x = xa; x < xb; ++x) {
                float s[3], d[3], r[4];
                const int sx = x - x0, sy = y - y0;
                for (int c = 0; c < 3; ++c) {
                    s[c] = src.get(sx, sy, sl.gray() ? 0 : c);
                    d[c] = dst.get(x, y, dl.gray() ? 0 : c);
                }
                const float sa = sl.alpha ? src.get(sx, sy, sch - 1) : 1.0f;
                const float da = dl.alpha ? dst.get(x, y, dch - 1) : 1.0f;
                blend(op, s, sa, d, da, r);
                for (int c = 0; c < dl.color_channels; ++c) put_sample(dst, x, y, c, r[c], false);
                if (dl.alpha) put_sample(dst, x, y, dch - 1, r[3], true);
            }
    });
}

}  // namespace mtool::ops
