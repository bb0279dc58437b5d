#include "src/core/image.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mtool {

Pixels::Pixels(int width, int height, int channels, int bytes_per_sample)
    : width_(width), height_(height), channels_(channels), bps_(bytes_per_sample) {
    size_t n = static_cast<size_t>(width) * height * channels * bytes_per_sample;
    data_ = std::make_unique_for_overwrite<uint8_t[]>(n ? n : 1);
}

float Pixels::get(int x, int y, int c) const {
    size_t i = static_cast<size_t>(x) * channels_ + c;
    return bps_ == 1 ? row(y)[i] / 255.0f : row16(y)[i] / 65535.0f;
}

void Pixels::set(int x, int y, int c, float v) {
    size_t i = static_cast<size_t>(x) * channels_ + c;
    v = v < 0 ? 0 : (v > 1 ? 1 : v);
    if (bps_ == 1)
        row(y)[i] = static_cast<uint8_t>(std::lround(v * 255.0f));
    else
        row16(y)[i] = static_cast<uint16_t>(std::lround(v * 65535.0f));
}

Layout layout_of(const ::Image* image) {
    Layout l;
    switch (image->colorspace) {
        case GRAYColorspace:
        case LinearGRAYColorspace:
        case Rec601LumaColorspace:
        case Rec709LumaColorspace:
            l.color_channels = 1;
            break;
        case CMYKColorspace:
            l.color_channels = 4;
            break;
        default:
            l.color_channels = 3;
    }
    l.alpha = image->matte != MagickFalse;
    return l;
}

static const char* export_map(const Layout& l, bool import) {
    if (l.gray()) return l.alpha ? (import ? "IA" : "RA") : (import ? "I" : "R");
    if (l.cmyk()) return l.alpha ? "CMYKA" : "CMYK";
    return l.alpha ? "RGBA" : "RGB";
}

magick::ImagePtr shell_like(const ::Image* like, int width, int height) {
    magick::Exception ex;
    // Cloning at a different size copies attributes but not pixels; 1x1 then resize the header
    // keeps the page geometry untouched (CloneImage would scale it).
    ::Image* s = CloneImage(like, 1, 1, MagickTrue, ex);
    if (!s) throw Error(Severity::resource_limit_error, "memory allocation failed", "", "mtool/image");
    s->page = like->page;
    s->columns = static_cast<size_t>(width);
    s->rows = static_cast<size_t>(height);
    s->storage_class = DirectClass;
    return magick::ImagePtr(s);
}

Image::Image(magick::ImagePtr shell) : shell_(std::move(shell)) {}
Image::Image(magick::ImagePtr shell, std::shared_ptr<Pixels> pixels)
    : shell_(std::move(shell)), pixels_(std::move(pixels)) {}

Image::Image(const Image& other) : pixels_(other.pixels_), computed_(other.computed_) {
    if (other.shell_) {
        magick::Exception ex;
        shell_.reset(CloneImage(other.shell_.get(), 0, 0, MagickTrue, ex));
    }
}

Image& Image::operator=(const Image& other) {
    if (this != &other) {
        Image tmp(other);
        *this = std::move(tmp);
    }
    return *this;
}

int Image::width() const { return static_cast<int>(shell_->columns); }
int Image::height() const { return static_cast<int>(shell_->rows); }
Layout Image::layout() const { return layout_of(shell_.get()); }
int Image::depth() const {
    if (pixels_) return pixels_->bytes_per_sample() * 8;
    return static_cast<int>(shell_->depth);
}

Pixels& Image::mutable_pixels() {
    if (pixels_.use_count() > 1) {
        auto copy = std::make_shared<Pixels>(pixels_->width(), pixels_->height(),
                                             pixels_->channels(), pixels_->bytes_per_sample());
        std::memcpy(copy->row(0), pixels_->row(0), pixels_->size_bytes());
        pixels_ = std::move(copy);
    }
    return *pixels_;
}

void Image::make_native(Diagnostics& diag) {
    if (pixels_) return;
    Layout l = layout();
    int bps = shell_->depth <= 8 && !computed_ ? 1 : 2;
    auto px = std::make_shared<Pixels>(width(), height(), l.channels(), bps);
    magick::Exception ex;
    if (ExportImagePixels(shell_.get(), 0, 0, shell_->columns, shell_->rows, export_map(l, false),
                          bps == 1 ? CharPixel : ShortPixel, px->row(0), ex) == MagickFalse)
        ex.throw_if_error(diag);
    // Drop ImageMagick's copy of the pixels: keep only the attributes.
    auto fresh = shell_like(shell_.get(), width(), height());
    fresh->depth = std::min<size_t>(shell_->depth, bps * 8);
    computed_ = false;
    shell_ = std::move(fresh);
    pixels_ = std::move(px);
}

::Image* Image::make_magick(Diagnostics& diag) {
    if (!pixels_) return shell_.get();
    const Pixels& px = *pixels_;
    magick::Exception ex;
    ::Image* s = shell_.get();
    s->columns = px.width();
    s->rows = px.height();
    Layout l = layout();
    SetImageStorageClass(s, DirectClass);
    if (l.channels() != px.channels())
        throw Error(Severity::cache_error, "pixel layout mismatch", s->filename, "mtool/image");
    if (ImportImagePixels(s, 0, 0, px.width(), px.height(), export_map(l, true),
                          px.bytes_per_sample() == 1 ? CharPixel : ShortPixel, px.row(0)) == MagickFalse) {
        InheritException(ex, &s->exception);
        ex.throw_if_error(diag);
    }
    s->depth = std::min<size_t>(s->depth, px.bytes_per_sample() * 8);
    pixels_.reset();
    return s;
}

::Image* Image::release_magick(Diagnostics& diag) {
    make_magick(diag);
    return shell_.release();
}

Image Image::derive(std::shared_ptr<Pixels> pixels) const {
    auto s = shell_like(shell_.get(), pixels->width(), pixels->height());
    // Q16 results of an 8-bit image keep depth 8, as in ImageMagick.
    s->depth = std::min<size_t>(shell_->depth ? shell_->depth : 8, pixels->bytes_per_sample() * 8);
    return Image(std::move(s), std::move(pixels));
}

Image Image::derive_scaled(std::shared_ptr<Pixels> pixels) const {
    const double sx = static_cast<double>(pixels->width()) / width();
    const double sy = static_cast<double>(pixels->height()) / height();
    Image out = derive(std::move(pixels));
    RectangleInfo& pg = out.shell_->page;
    const RectangleInfo& src = shell_->page;
    pg.width = static_cast<size_t>(std::floor(sx * src.width + 0.5));
    pg.height = static_cast<size_t>(std::floor(sy * src.height + 0.5));
    pg.x = static_cast<ssize_t>(std::ceil(sx * src.x - 0.5));
    pg.y = static_cast<ssize_t>(std::ceil(sy * src.y - 0.5));
    return out;
}

}  // namespace mtool
