#pragma once
// Helpers shared by the native codecs.
#include <string>

#include "src/codecs/codec.h"

namespace mtool::codecs {

/// Thrown by a native codec that cannot handle a file it sniffed (e.g. CMYK JPEG); the executor
/// then reads it through the Magick bridge instead. Not an error.
struct Decline {
    std::string why;
};

/// ImageMagick's header-only read of `path`: a pixel-less image carrying every attribute IM
/// would set (quality estimate, profiles, properties, density, orientation, background).
magick::ImagePtr ping_shell(const ReadRequest& req, const char* magick_name);

}  // namespace mtool::codecs
