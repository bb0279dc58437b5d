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

/// Opens the file of a read request, with ImageMagick's error when it cannot.
std::unique_ptr<std::FILE, int (*)(std::FILE*)> open_input(const ReadRequest& req);

/// Reports a decoder's warnings as ImageMagick's coder would (`where` names its handler).
void report_warnings(const ReadRequest& req, const std::vector<std::string>& warnings, const char* where);

}  // namespace mtool::codecs
