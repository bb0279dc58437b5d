#include "src/codecs/common.h"

namespace mtool::codecs {

magick::ImagePtr ping_shell(const ReadRequest& req, const char* magick_name) {
    magick::InfoPtr info = magick::clone_info(req.info);
    std::string name = std::string(magick_name) + ":" + req.path;
    CopyMagickString(info->filename, name.c_str(), MaxTextExtent);
    info->ping = MagickTrue;
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
