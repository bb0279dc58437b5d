#include "src/codecs/common.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace mtool::codecs {

std::unique_ptr<std::FILE, int (*)(std::FILE*)> open_input(const ReadRequest& req) {
    std::FILE* f = std::fopen(req.path.c_str(), "rb");
    if (!f)
        throw file_error(Severity::file_open_error, "unable to open image", req.path, errno,
                         "blob.c/OpenBlob");
    return {f, &std::fclose};
}

void report_warnings(const ReadRequest& req, const std::vector<std::string>& warnings, const char* where) {
    for (const auto& w : warnings)
        req.ctx.diag.add(
            Diagnostic{Severity::warning, format_diagnostic(Severity::warning, w, req.path, where)});
}

bool native_colorspace(const ::Image* image) {
    return image->colorspace == sRGBColorspace || image->colorspace == GRAYColorspace;
}

ShrinkTarget shrink_target(const ReadRequest& req, size_t w, size_t h) {
    constexpr size_t kMinPixels = 1000000;
    if (req.shrink_hint.empty() || w * h < kMinPixels) return {};
    ssize_t x = 0, y = 0;
    size_t tw = w, th = h;
    const MagickStatusType flags = ParseMetaGeometry(req.shrink_hint.c_str(), &x, &y, &tw, &th);
    if (flags == NoValue || tw == 0 || th == 0 || tw >= w || th >= h) return {};
    return {tw, th, w, h};
}

void mark_shrunk(::Image* shell, ShrinkTarget t) {
    const std::string g = std::to_string(t.w) + "x" + std::to_string(t.h) + "!";
    SetImageArtifact(shell, kShrunkArtifact, g.c_str());
    const std::string full = std::to_string(t.full_w) + "x" + std::to_string(t.full_h);
    SetImageArtifact(shell, kShrunkFromArtifact, full.c_str());
}

magick::ImagePtr ping_shell(const ReadRequest& req, const char* magick_name) {
    magick::InfoPtr info = magick::clone_info(req.info);
    std::string name = std::string(magick_name) + ":" + req.path;
    CopyMagickString(info->filename, name.c_str(), MaxTextExtent);
    info->ping = MagickTrue;
    info->verbose = MagickFalse;  // a verbose read would print an identify line
    magick::Exception ex;
    // ReadImage with ping set, as identify does: the coder stops after the header. (PingImage
    // streams every pixel through a discarding sink: slow, and bound by the pixel limits.)
    ::Image* image = ReadImage(info.get(), ex);
    Diagnostics warnings;
    bool error = ex.drain(warnings);
    if (image && image->exception.severity < ErrorException)
        magick::drain_exception(&image->exception, warnings);
    // A coder that fails in the header may report on the image's own exception and return an
    // empty image (jpeg.c does): that is no header to build on either.
    if (image && (image->exception.severity >= ErrorException || image->columns == 0 || image->rows == 0))
        error = true;
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
    magick::ImagePtr shell =
        shell_like(image, static_cast<int>(image->columns), static_cast<int>(image->rows));
    shell->ping = MagickFalse;
    // The header read's warnings: reported here when nothing more is read (identify, -ping),
    // else left to the native decoder, which meets them again.
    ClearMagickException(&shell->exception);
    if (req.info->ping)
        for (const Diagnostic& d : warnings.all()) req.ctx.diag.add(d);
    if (shell->extent == 0 && req.stand_in) {
        // What %b reports after ImageMagick's full read (some of its pings leave it 0).
        struct stat st;
        if (::stat(req.path.c_str(), &st) == 0) shell->extent = static_cast<MagickSizeType>(st.st_size);
    }
    if (req.info->ping && image->storage_class == PseudoClass && shell->colormap && shell->colors > 0) {
        // A header read reports the file's palette as ImageMagick's ping does (`17c' in identify);
        // a decode makes the image DirectClass. (The clone carries the colormap already.)
        shell->storage_class = PseudoClass;
    }
    DestroyImage(image);
    return shell;
}

}  // namespace mtool::codecs
