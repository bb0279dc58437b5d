#pragma once
// mtool's image: ImageMagick's metadata record (the "shell") plus, for native images, pixels kept
// at the source depth (1 or 2 bytes per sample, interleaved). The shell carries every attribute
// ImageMagick knows (profiles, properties, page, density, settings synced from the command line),
// so bridged operators and writers see exactly what ImageMagick would; native operators never
// touch the shell's pixel cache.
#include <cstdint>
#include <memory>
#include <string>

#include <vector>

#include "cache/tiers.h"
#include "src/core/error.h"
#include "src/core/magick.h"

namespace mtool {

/// Set by the executor on its thread while a command's last operator runs and every output is a
/// JPEG: 8-bit images created then reduce Q16 results by rounding (ScaleQuantumToChar, as the
/// JPEG writer does) instead of truncating (as PNG and -depth do).
inline thread_local bool round_new_8bit = false;

/// Thrown by a Pixels producer, or the streamed run it serves (src/exec/stream.cpp), that meets
/// anything out of the ordinary (a damaged file, a warning): the command then runs again the
/// ordinary way, which reports it as it would.
struct StreamAbort {};

/// Interleaved samples of one native image, stored in strips of whole rows that the tier
/// manager (cache/tiers.h) keeps in memory or spills to its map and disk files.
///
/// row(y) returns a pointer into the strip holding row y. It stays valid until the calling
/// thread has touched cache::kPinRing other strips, so operators use it right away (one input
/// and one output row at a time, or a handful); a Hold keeps a range of rows valid for longer.
class Pixels {
public:
    Pixels(int width, int height, int channels, int bytes_per_sample);
    Pixels(int width, int height, int channels, int bytes_per_sample, cache::TierManager& manager);
    ~Pixels();
    Pixels(const Pixels&) = delete;
    Pixels& operator=(const Pixels&) = delete;

    int width() const { return width_; }
    int height() const { return height_; }
    int channels() const { return channels_; }
    int bytes_per_sample() const { return bps_; }
    int max_value() const { return bps_ == 1 ? 255 : 65535; }
    size_t stride() const { return static_cast<size_t>(width_) * channels_ * bps_; }
    size_t size_bytes() const { return stride() * height_; }
    int rows_per_strip() const { return rows_per_strip_; }
    cache::TierManager& manager() const { return *manager_; }
    /// 8-bit results are rounded rather than truncated (see round_new_8bit).
    bool rounds_8bit() const { return round8_; }
    uint8_t* row(int y) { return locate(y, true); }
    const uint8_t* row(int y) const { return locate(y, false); }
    uint16_t* row16(int y) { return reinterpret_cast<uint16_t*>(row(y)); }
    const uint16_t* row16(int y) const { return reinterpret_cast<const uint16_t*>(row(y)); }
    /// Sample as 0..1 float.
    float get(int x, int y, int c) const;
    void set(int x, int y, int c, float v);
    /// Copies every row of `other` (same geometry).
    void copy_from(const Pixels& other);

    /// Rows made on demand, in order: a streamed image (src/exec/stream.cpp). Its consumer
    /// reads rows front to back from one thread (an encoder); rows well behind the one asked
    /// for are let go, and asking for one of those again restarts production from the top.
    class Producer {
    public:
        virtual ~Producer() = default;
        /// Back to the first row (a second pass, e.g. a writer's pre-scan then its write).
        virtual void restart() = 0;
        /// Fills rows [y0, y1) of `px`; y0 is where the previous call ended (0 after restart).
        virtual void produce(Pixels& px, int y0, int y1) = 0;
        /// All rows of columns [x0, x1) as an ordinary image (a transposing step's source), made
        /// without the rows before; nullptr where the producer cannot.
        virtual std::shared_ptr<Pixels> columns(int x0, int x1) { return nullptr; }
        /// Rows asked for at a time (a neighbourhood step recomputes its overlap once per
        /// call): fewer for wide images, so that memory does not grow with the width.
        virtual int band_rows() const { return 256; }
    };
    void set_producer(std::unique_ptr<Producer> p) { producer_ = std::move(p); }
    bool streamed() const { return producer_ != nullptr; }
    Producer* producer() const { return producer_.get(); }

    /// Keeps rows [y0, y1) resident and their pointers valid while it lives.
    class Hold {
    public:
        Hold(const Pixels& px, int y0, int y1, bool write);
        ~Hold();
        Hold(const Hold&) = delete;
        Hold& operator=(const Hold&) = delete;
        uint8_t* row(int y) const;

    private:
        const Pixels& px_;
        int first_strip_;
        std::vector<uint8_t*> frames_;
    };

private:
    void init();
    uint8_t* locate(int y, bool write) const {
        cache::LastRows& lr = cache::last_rows;
        for (const cache::LastRow& r : lr.slot)
            if (r.owner == id_ && r.y == y && (r.write || !write)) return r.ptr;
        uint8_t* p = locate_strip(y, write);
        lr.slot[lr.next] = cache::LastRow{id_, y, p, write};
        lr.next ^= 1;
        return p;
    }
    uint8_t* locate_strip(int y, bool write) const {
        const int s = y / rows_per_strip_;
        if (producer_ && !producing_) const_cast<Pixels*>(this)->ensure(s);
        cache::Strip* strip = strips_[s];
        const cache::LastPin& last = cache::last_pin;
        uint8_t* frame = last.strip == strip && (last.write || !write)
                             ? last.frame
                             : cache::thread_pin(*manager_, strip, write);
        return frame + static_cast<size_t>(y - s * rows_per_strip_) * stride();
    }
    int width_, height_, channels_, bps_;
    uint64_t id_ = 0;  ///< unique for the process (addresses are reused, ids are not)
    bool round8_ = false;
    cache::TierManager* manager_;
    int rows_per_strip_ = 1;
    std::vector<cache::Strip*> strips_;
    // Streamed images: strips [low_, made_) hold produced rows.
    void ensure(int strip);
    void let_go(int strip);
    std::unique_ptr<Producer> producer_;
    int low_ = 0, made_ = 0;
    bool producing_ = false;
    bool disk_only_ = false;
    std::shared_ptr<cache::StripGroup> group_;
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
    /// For an operator that rewrites every sample from the old ones: the pixels to read, and
    /// those to write: the same when this image alone holds them, else new ones of the same
    /// geometry (no copy first). Source rows are fetched before destination rows.
    std::pair<std::shared_ptr<const Pixels>, Pixels*> rewrite_pixels();

    /// Makes the pixels native (exports them from ImageMagick if needed). Pixels an ImageMagick
    /// operator computed are exported as Q16 so later reductions to 8 bits round as IM's do.
    /// Throws Decline for an image labelled Gray whose pixels are not (it stays with ImageMagick).
    void make_native(Diagnostics& diag);
    /// Marks the ImageMagick pixels as computed (not decoded) values.
    void mark_computed() { computed_ = true; }
    /// Bytes per sample of the native pixels, or of those make_native() would make.
    int native_bps() const {
        return pixels_ ? pixels_->bytes_per_sample() : shell_->depth <= 8 && !computed_ ? 1 : 2;
    }
    /// Makes ImageMagick's pixels current (imports the native ones) and returns the image.
    ::Image* make_magick(Diagnostics& diag);
    /// Releases the shell to a caller that takes ownership (pixels must be in ImageMagick).
    ::Image* release_magick(Diagnostics& diag);

    /// A new native image of size w x h with this image's attributes and the given pixels.
    Image derive(std::shared_ptr<Pixels> pixels) const;
    /// As derive, scaling the page geometry by the size change (ImageMagick's CloneImage at a
    /// new size, as resize, sample and scale do).
    Image derive_scaled(std::shared_ptr<Pixels> pixels) const;
    /// As derive_scaled, without pixels: the header a scaling step to w x h gives (for a plan).
    Image header_scaled(int w, int h) const;

private:
    /// Gives `out` (w x h) this image's page scaled as ImageMagick's CloneImage at a new size.
    void scale_page(::Image* out, int w, int h) const;
    magick::ImagePtr shell_;
    std::shared_ptr<Pixels> pixels_;
    bool computed_ = false;
};

/// Native pixels are always direct; whether ImageMagick would hold the image as a palette
/// (PseudoClass: a gray JPEG, a palette or gray PNG, a GIF) is kept as this artifact on the shell.
inline constexpr const char* kPaletteArtifact = "mtool:palette";
bool held_as_palette(const ::Image* image);
void set_held_as_palette(::Image* image, bool palette);

/// Layout implied by an ImageMagick image's colorspace and alpha flag.
Layout layout_of(const ::Image* image);
/// A pixel-less ImageMagick image with `like`'s attributes and the given size (page kept).
magick::ImagePtr shell_like(const ::Image* like, int width, int height);

/// On the shell of an image decoded at a reduced size: the full size "WxH" its page belongs to
/// (the next scaling step scales the page from it, then drops it).
inline constexpr const char* kShrunkFromArtifact = "mtool:shrunk-from";

}  // namespace mtool
