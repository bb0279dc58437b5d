#pragma once
// Helpers shared by the native codecs.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "src/codecs/codec.h"

namespace mtool::codecs {

/// Thrown by a native codec that cannot handle a file it sniffed (e.g. CMYK JPEG); the executor
/// then reads it through the Magick bridge instead. Not an error.
using mtool::Decline;

/// sRGB or Gray: the only colorspaces native encoders write as they are (ImageMagick's writers
/// transform anything else, which the bridge does for us).
bool native_colorspace(const ::Image* image);

/// ImageMagick's header-only read of `path`: a pixel-less image carrying every attribute IM
/// would set (quality estimate, profiles, properties, density, orientation, background).
magick::ImagePtr ping_shell(const ReadRequest& req, const char* magick_name);

/// Shrink-on-load: the size the geometry step right after the read (req.shrink_hint, the argument
/// of a -thumbnail or -resize) gives an image of w x h, computed as ImageMagick's
/// ParseRegionGeometry does on the full size. {0, 0} (none) when there is no hint, the image is
/// under a megapixel (nothing worth saving), or the step does not reduce it.
struct ShrinkTarget {
    size_t w = 0, h = 0;
    size_t full_w = 0, full_h = 0;  ///< the size it is computed from
    bool any() const { return w != 0 && h != 0; }
};
ShrinkTarget shrink_target(const ReadRequest& req, size_t w, size_t h);

/// Marks a shell decoded at a reduced size: the executor then runs the geometry step as "WxH!"
/// of the target, so the result has exactly the size a full decode would give.
void mark_shrunk(::Image* shell, ShrinkTarget t);

/// Opens the file of a read request, with ImageMagick's error when it cannot.
std::unique_ptr<std::FILE, int (*)(std::FILE*)> open_input(const ReadRequest& req);

/// Reports a decoder's warnings as ImageMagick's coder would (`where` names its handler).
void report_warnings(const ReadRequest& req, const std::vector<std::string>& warnings, const char* where);

}  // namespace mtool::codecs
