#pragma once
// mtool's image: ImageMagick's metadata record (the "shell") plus, for native images, pixels kept
// at the source depth (1 or 2 bytes per sample, interleaved). The shell carries every attribute
// ImageMagick knows (profiles, properties, page, density, settings synced from the command line),
// so bridged operators and writers see exactly what ImageMagick would; native operators never
// touch the shell's pixel cache.
#include <cstdint>
#include <memory>
#include <string>

#include "src/core/error.h"
#include "src/core/magick.h"

namespace mtool {

/// Interleaved samples of one native image. Rows are the unit of access so that the tiered
/// cache (cache/) can back them with strip tiles later without changing operators.
class Pixels {
public:
    Pixels(int width, int height, int channels, int bytes_per_sample);
    int width() const { return width_; }
    int height() const { return height_; }
    int channels() const { return channels_; }
    int bytes_per_sample() const { return bps_; }
    int max_value() const { return bps_ == 1 ? 255 : 65535; }
    size_t stride() const { return static_cast<size_t>(width_) * channels_ * bps_; }
    size_t size_bytes() const { return stride() * height_; }
    uint8_t* row(int y) { return data_.get() + stride() * y; }
    const uint8_t* row(int y) const { return data_.get() + stride() * y; }
    uint16_t* row16(int y) { return reinterpret_cast<uint16_t*>(row(y)); }
    const uint16_t* row16(int y) const { return reinterpret_cast<const uint16_t*>(row(y)); }
    /// Sample as 0..1 float.
    float get(int x, int y, int c) const;
    void set(int x, int y, int c, float v);

private:
    int width_, height_, channels_, bps_;
    std::unique_ptr<uint8_t[]> data_;
};

/// Channel layout of an image, derived from colorspace and alpha.
struct Layout {
    int color_channels = 3;  ///< 1 gray, 3 RGB, 4 CMYK
    bool alpha = false;
    int channels() const { return color_channels + (alpha ? 1 : 0); }
    bool gray() const { return color_channels == 1; }
    bool cmyk() const { return color_channels == 4; }
};

class Image {
public:
    Image() = default;
    explicit Image(magick::ImagePtr shell);
    Image(magick::ImagePtr shell, std::shared_ptr<Pixels> pixels);
    Image(const Image& other);
    Image& operator=(const Image& other);
    Image(Image&&) noexcept = default;
    Image& operator=(Image&&) noexcept = default;

    ::Image* shell() const { return shell_.get(); }
    bool native() const { return pixels_ != nullptr; }
    int width() const;
    int height() const;
    Layout layout() const;
    int depth() const;  ///< bits per sample (8 or 16 for native images)

    const Pixels& pixels() const { return *pixels_; }
    std::shared_ptr<Pixels> shared_pixels() const { return pixels_; }
    /// Copy-on-write access for in-place operators.
    Pixels& mutable_pixels();

    /// Makes the pixels native (exports them from ImageMagick if needed). Pixels an ImageMagick
    /// operator computed are exported as Q16 so later reductions to 8 bits round as IM's do.
    void make_native(Diagnostics& diag);
    /// Marks the ImageMagick pixels as computed (not decoded) values.
    void mark_computed() { computed_ = true; }
    /// Makes ImageMagick's pixels current (imports the native ones) and returns the image.
    ::Image* make_magick(Diagnostics& diag);
    /// Releases the shell to a caller that takes ownership (pixels must be in ImageMagick).
    ::Image* release_magick(Diagnostics& diag);

    /// A new native image of size w x h with this image's attributes and the given pixels.
    Image derive(std::shared_ptr<Pixels> pixels) const;
    /// As derive, scaling the page geometry by the size change (ImageMagick's CloneImage at a
    /// new size, as resize, sample and scale do).
    Image derive_scaled(std::shared_ptr<Pixels> pixels) const;

private:
    magick::ImagePtr shell_;
    std::shared_ptr<Pixels> pixels_;
    bool computed_ = false;
};

/// Layout implied by an ImageMagick image's colorspace and alpha flag.
Layout layout_of(const ::Image* image);
/// A pixel-less ImageMagick image with `like`'s attributes and the given size (page kept).
magick::ImagePtr shell_like(const ::Image* like, int width, int height);

}  // namespace mtool
