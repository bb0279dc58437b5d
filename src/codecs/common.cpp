#include "src/codecs/common.h"

#include <cerrno>

namespace mtool::codecs {

std::unique_ptr<std::FILE, int (*)(std::FILE*)> open_input(const ReadRequest& req) {
    std::FILE* f = std::fopen(req.path.c_str(), "rb");
    if (!f) throw file_error(Severity::file_open_error, "unable to open image", req.path, errno, "blob.c/OpenBlob");
    return {f, &std::fclose};
}

void report_warnings(const ReadRequest& req, const std::vector<std::string>& warnings, const char* where) {
    for (const auto& w : warnings)
        req.ctx.diag.add(Diagnostic{Severity::warning, format_diagnostic(Severity::warning, w, req.path, where)});
}

bool native_colorspace(const ::Image* image) {
    return image->colorspace == sRGBColorspace || image->colorspace == GRAYColorspace;
}

magick::ImagePtr ping_shell(const ReadRequest& req, const char* magick_name) {
    magick::InfoPtr info = magick::clone_info(req.info);
    std::string name = std::string(magick_name) + ":" + req.path;
    CopyMagickString(info->filename, name.c_str(), MaxTextExtent);
    info->ping = MagickTrue;
    info->verbose = MagickFalse;  // a verbose read would print an identify line
    magick::Exception ex;
    ::Image* image = PingImage(info.get(), ex);
    Diagnostics warnings;
    bool error = ex.drain(warnings);
    if (!image || error) {
        if (image) DestroyImageList(image);
        // Let the bridge produce ImageMagick's own message for whatever is wrong.
        throw Decline{"header"};
    }
    if (image->next) {
        DestroyImageList(image->next);
        image->next = nullptr;
    }
    CopyMagickString(image->filename, req.path.c_str(), MaxTextExtent);
    CopyMagickString(image->magick_filename, req.path.c_str(), MaxTextExtent);
    image->ping = MagickFalse;
    // A pinged image's pixel cache is a ping cache that cannot hold pixels later; keep only
    // its attributes.
    magick::ImagePtr shell = shell_like(image, static_cast<int>(image->columns), static_cast<int>(image->rows));
    shell->ping = MagickFalse;
    DestroyImage(image);
    return shell;
}

}  // namespace mtool::codecs
