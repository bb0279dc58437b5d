#include "src/core/image.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "src/core/magick.h"

namespace mtool {

Pixels::Pixels(int width, int height, int channels, int bytes_per_sample)
    : Pixels(width, height, channels, bytes_per_sample, cache::TierManager::global()) {}

Pixels::Pixels(int width, int height, int channels, int bytes_per_sample, cache::TierManager& manager)
    : width_(width), height_(height), channels_(channels), bps_(bytes_per_sample), manager_(&manager) {
    init();
}

void Pixels::init() {
    static std::atomic<uint64_t> next_id{1};
    id_ = next_id.fetch_add(1, std::memory_order_relaxed);
    round8_ = round_new_8bit && bps_ == 1;
    const cache::Budgets b = manager_->budgets();
    if (static_cast<uint64_t>(width_) > b.width || static_cast<uint64_t>(height_) > b.height)
        throw Error(Severity::image_error, "width or height exceeds limit", cache::current_label(),
                    magick::where::open_pixel_cache_limit(b.width, b.height));
    const bool disk_only = b.area != cache::kUnlimited && static_cast<uint64_t>(width_) * height_ > b.area;
    const int h = std::max(1, height_);
    rows_per_strip_ = cache::rows_per_strip(std::max<size_t>(stride(), 1), h, cache::strip_target(b));
    const int n = (h + rows_per_strip_ - 1) / rows_per_strip_;
    strips_.reserve(n);
    disk_only_ = disk_only;
    auto group = std::make_shared<cache::StripGroup>();
    group_ = group;
    group->strips = static_cast<uint64_t>(n);
    group->strip_bytes = std::max<size_t>(stride(), 1) * rows_per_strip_;
    for (int i = 0; i < n; ++i) {
        int rows = std::min(rows_per_strip_, h - i * rows_per_strip_);
        strips_.push_back(manager_->create(std::max<size_t>(stride(), 1) * rows, disk_only, group,
                                           static_cast<uint32_t>(i), i * rows_per_strip_));
    }
    if (manager_->debug && n > 0)
        std::fprintf(stderr, "cache: image %dx%dx%d %d-bit: %d strips of %d rows (%zu bytes)%s\n", width_,
                     height_, channels_, bps_ * 8, n, rows_per_strip_, stride() * rows_per_strip_,
                     disk_only ? ", over the area limit: DISK" : "");
}

void Pixels::let_go(int i) {
    cache::thread_forget({strips_[i]});
    manager_->destroy(strips_[i]);
    const int rows = std::min(rows_per_strip_, height_ - i * rows_per_strip_);
    strips_[i] = manager_->create(std::max<size_t>(stride(), 1) * rows, disk_only_, group_,
                                  static_cast<uint32_t>(i), i * rows_per_strip_);
}

void Pixels::ensure(int s) {
    // Bands of at least the producer's rows (a neighbourhood step recomputes its overlap once
    // per band); strips more than kPinRing behind the one asked for are let go (the consumer's
    // row pointers stay valid for kPinRing strips).
    const int band = std::max(1, (producer_->band_rows() + rows_per_strip_ - 1) / rows_per_strip_);
    const int n = static_cast<int>(strips_.size());
    if (s < low_) {
        for (int i = low_; i < made_; ++i) let_go(i);
        low_ = made_ = 0;
        producer_->restart();
    }
    while (made_ <= s) {
        const int end = std::min(n, made_ + band);
        producing_ = true;
        try {
            producer_->produce(*this, made_ * rows_per_strip_, std::min(height_, end * rows_per_strip_));
        } catch (...) {
            producing_ = false;
            throw;
        }
        producing_ = false;
        made_ = end;
    }
    const int keep_from = s - cache::kPinRing;
    for (; low_ < keep_from; ++low_) let_go(low_);
}

Pixels::~Pixels() {
    cache::thread_forget(strips_);
    for (cache::Strip* s : strips_) manager_->destroy(s);
}

void Pixels::copy_from(const Pixels& other) {
    for (int y = 0; y < height_; ++y) {
        const uint8_t* from = other.row(y);  // first: producing it may move other strips out
        std::memcpy(row(y), from, stride());
    }
}

Pixels::Hold::Hold(const Pixels& px, int y0, int y1, bool write) : px_(px) {
    // A streamed image's rows exist only as its consumer reads them front to back: a hold (bulk
    // access, e.g. handing the pixels to ImageMagick) outside its production ends the streamed
    // run, and the command runs again the ordinary way.
    if (px.producer_ && !px.producing_) throw StreamAbort{};
    first_strip_ = y0 / px.rows_per_strip_;
    const int last = y1 > y0 ? (y1 - 1) / px.rows_per_strip_ : first_strip_ - 1;
    try {
        for (int s = first_strip_; s <= last; ++s) frames_.push_back(px.manager_->pin(px.strips_[s], write));
    } catch (...) {
        for (size_t i = 0; i < frames_.size(); ++i) px.manager_->unpin(px.strips_[first_strip_ + i]);
        throw;
    }
}

Pixels::Hold::~Hold() {
    for (size_t i = 0; i < frames_.size(); ++i) px_.manager_->unpin(px_.strips_[first_strip_ + i]);
}

uint8_t* Pixels::Hold::row(int y) const {
    const int s = y / px_.rows_per_strip_;
    return frames_[s - first_strip_] + static_cast<size_t>(y - s * px_.rows_per_strip_) * px_.stride();
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

bool held_as_palette(const ::Image* image) {
    return image->storage_class == PseudoClass || GetImageArtifact(image, kPaletteArtifact) != nullptr;
}

void set_held_as_palette(::Image* image, bool palette) {
    if (palette)
        SetImageArtifact(image, kPaletteArtifact, "true");
    else
        DeleteImageArtifact(image, kPaletteArtifact);
}

magick::ImagePtr shell_like(const ::Image* like, int width, int height) {
    magick::Exception ex;
    // Cloning at a different size copies attributes but not pixels; 1x1 then resize the header
    // keeps the page geometry untouched (CloneImage would scale it). CloneImage refuses a depth
    // outside 1..64, which -depth 0 or -depth 99 set and ImageMagick's writers accept: clone
    // with a valid one and give the copy the original back.
    const size_t depth = like->depth;
    const bool odd_depth = depth == 0 || depth > 64;
    if (odd_depth) const_cast<::Image*>(like)->depth = 8;
    ::Image* s = CloneImage(like, 1, 1, MagickTrue, ex);
    if (odd_depth) const_cast<::Image*>(like)->depth = depth;
    if (!s)
        throw Error(Severity::resource_limit_error, "memory allocation failed", like->filename,
                    "mtool/image");
    s->depth = depth;
    s->page = like->page;
    s->columns = static_cast<size_t>(width);
    s->rows = static_cast<size_t>(height);
    if (like->storage_class == PseudoClass) SetImageArtifact(s, kPaletteArtifact, "true");
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

std::pair<std::shared_ptr<const Pixels>, Pixels*> Image::rewrite_pixels() {
    std::shared_ptr<const Pixels> old = pixels_;
    if (pixels_.use_count() > 2)  // (this image, `old`, someone else)
        pixels_ =
            std::make_shared<Pixels>(old->width(), old->height(), old->channels(), old->bytes_per_sample());
    return {std::move(old), pixels_.get()};
}

Pixels& Image::mutable_pixels() {
    if (pixels_.use_count() > 1) {
        auto copy = std::make_shared<Pixels>(pixels_->width(), pixels_->height(), pixels_->channels(),
                                             pixels_->bytes_per_sample());
        copy->copy_from(*pixels_);
        pixels_ = std::move(copy);
    }
    return *pixels_;
}

/// Whether every pixel of an ImageMagick image has red = green = blue.
static bool pixels_are_gray(const ::Image* image) {
    magick::Exception ex;
    for (size_t y = 0; y < image->rows; ++y) {
        const PixelPacket* p = GetVirtualPixels(image, 0, static_cast<ssize_t>(y), image->columns, 1, ex);
        if (!p) return true;  // unreadable: the export below reports it
        for (size_t x = 0; x < image->columns; ++x)
            if (p[x].red != p[x].green || p[x].green != p[x].blue) return false;
    }
    return true;
}

void Image::make_native(Diagnostics& diag) {
    if (pixels_) return;
    // ImageMagick's operators may leave colour pixels in an image still labelled Gray
    // (-level-colors, -random-threshold, composites of colour over gray). Its writers then
    // differ (PNG goes by the pixels, JPEG writes their luma) and so may its operators: natively
    // the label decides the channels, so such an image stays with ImageMagick.
    if (layout().gray() && !pixels_are_gray(shell_.get())) throw Decline{"colour pixels labelled Gray"};
    Layout l = layout();
    const int bps = native_bps();
    auto px = std::make_shared<Pixels>(width(), height(), l.channels(), bps);
    magick::Exception ex;
    for (int y0 = 0; y0 < height(); y0 += px->rows_per_strip()) {
        const int n = std::min(px->rows_per_strip(), height() - y0);
        Pixels::Hold hold(*px, y0, y0 + n, true);
        if (ExportImagePixels(shell_.get(), 0, y0, shell_->columns, n, export_map(l, false),
                              bps == 1 ? CharPixel : ShortPixel, hold.row(y0), ex) == MagickFalse) {
            ex.throw_if_error(diag);
            break;
        }
    }
    // Drop ImageMagick's copy of the pixels: keep only the attributes.
    auto fresh = shell_like(shell_.get(), width(), height());
    fresh->depth = std::min<size_t>(shell_->depth, bps * 8);
    computed_ = false;
    shell_ = std::move(fresh);
    pixels_ = std::move(px);
}

/// A palette image held natively comes back to ImageMagick as it was: PseudoClass over the
/// colormap its shell still carries (the file's palette, in the file's order), when every pixel
/// is one of its colours. -cycle, %r, identify's `256c' and the writers' palette choices see
/// what they would have seen in ImageMagick.
static void restore_palette(::Image* s) {
    auto key = [s](const PixelPacket& c) {
        return (static_cast<uint64_t>(c.red) << 48) | (static_cast<uint64_t>(c.green) << 32) |
               (static_cast<uint64_t>(c.blue) << 16) | (s->matte ? static_cast<uint64_t>(c.opacity) : 0);
    };
    magick::Exception ex;
    // Each pixel through `visit`; false as soon as one is refused (or a row cannot be read).
    auto every_pixel = [&](const auto& visit) {
        for (size_t y = 0; y < s->rows; ++y) {
            const PixelPacket* p = GetVirtualPixels(s, 0, static_cast<ssize_t>(y), s->columns, 1, ex);
            if (!p) return false;
            for (size_t x = 0; x < s->columns; ++x)
                if (!visit(p[x])) return false;
        }
        return true;
    };
    std::unordered_map<uint64_t, IndexPacket> index;
    if (s->colormap && s->colors > 0 && s->colors <= 65536) {
        index.reserve(s->colors * 2);
        for (size_t i = s->colors; i-- > 0;)
            index[key(s->colormap[i])] = static_cast<IndexPacket>(i);  // first wins
    }
    if (!every_pixel([&](const PixelPacket& c) { return index.count(key(c)) > 0; })) {
        // An operator ImageMagick applies to the colormap (-negate, -level of a palette image)
        // changed the colours: a new colormap of the colours in use, in the order they first
        // appear, when there are at most 256, as ImageMagick's image would still be a palette
        // one (and GIF, say, then needs no quantisation).
        index.clear();
        std::vector<PixelPacket> colours;
        const bool fits = every_pixel([&](const PixelPacket& c) {
            if (index.count(key(c))) return true;
            if (colours.size() == 256) return false;
            index[key(c)] = static_cast<IndexPacket>(colours.size());
            colours.push_back(c);
            return true;
        });
        if (!fits || colours.empty() || AcquireImageColormap(s, colours.size()) == MagickFalse) return;
        for (size_t i = 0; i < colours.size(); ++i) s->colormap[i] = colours[i];
    }
    if (SetImageStorageClass(s, PseudoClass) == MagickFalse) return;
    for (size_t y = 0; y < s->rows; ++y) {
        PixelPacket* p = GetAuthenticPixels(s, 0, static_cast<ssize_t>(y), s->columns, 1, ex);
        IndexPacket* q = GetAuthenticIndexQueue(s);
        if (!p || !q) break;
        for (size_t x = 0; x < s->columns; ++x) q[x] = index[key(p[x])];
        if (SyncAuthenticPixels(s, ex) == MagickFalse) break;
    }
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
    // ImportImagePixels with the "I" map makes the image GRAYColorspace, which also resets its
    // gamma, chromaticity and rendering intent: a LinearGray image would come back as Gray.
    const ColorspaceType colorspace = s->colorspace;
    const double gamma = s->gamma;
    const ChromaticityInfo chromaticity = s->chromaticity;
    const RenderingIntent intent = s->rendering_intent;
    const ImageType type = s->type;
    if (l.channels() != px.channels())
        throw Error(Severity::cache_error, "pixel layout mismatch", s->filename, "mtool/image");
    for (int y0 = 0; y0 < px.height(); y0 += px.rows_per_strip()) {
        const int n = std::min(px.rows_per_strip(), px.height() - y0);
        Pixels::Hold hold(px, y0, y0 + n, false);
        if (!l.alpha) {
            // ImportImagePixels sets only its map's channels: a new cache's opacity would be
            // whatever memory held, and some of ImageMagick's operators read it without alpha
            // too (-enhance weighs neighbours by it: its result changed with the heap's history,
            // found by valgrind). Opaque, as ImageMagick's own decoders leave it.
            if (PixelPacket* q = QueueAuthenticPixels(s, 0, y0, static_cast<size_t>(px.width()),
                                                      static_cast<size_t>(n), ex)) {
                const size_t count = static_cast<size_t>(px.width()) * static_cast<size_t>(n);
                for (size_t k = 0; k < count; ++k) q[k].opacity = OpaqueOpacity;
                SyncAuthenticPixels(s, ex);
            }
        }
        if (ImportImagePixels(s, 0, y0, px.width(), n, export_map(l, true),
                              px.bytes_per_sample() == 1 ? CharPixel : ShortPixel,
                              hold.row(y0)) == MagickFalse) {
            InheritException(ex, &s->exception);
            ex.throw_if_error(diag);
            break;
        }
    }
    s->depth = std::min<size_t>(s->depth, px.bytes_per_sample() * 8);
    s->colorspace = colorspace;
    s->gamma = gamma;
    s->chromaticity = chromaticity;
    s->rendering_intent = intent;
    s->type = type;
    if (GetImageArtifact(s, kPaletteArtifact)) restore_palette(s);
    DeleteImageArtifact(s, kPaletteArtifact);  // mtool's own note: ImageMagick must not see (or print) it
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
    const int w = pixels->width(), h = pixels->height();
    Image out = derive(std::move(pixels));
    scale_page(out.shell_.get(), w, h);
    return out;
}

Image Image::header_scaled(int w, int h) const {
    Image out(shell_like(shell_.get(), w, h));
    scale_page(out.shell_.get(), w, h);
    return out;
}

void Image::scale_page(::Image* out, int w, int h) const {
    // An image decoded at a reduced size still carries the full image's page: scale it from the
    // full size, as ImageMagick scales it on the full decode (see codecs::mark_shrunk).
    double from_w = width(), from_h = height();
    if (const char* full = GetImageArtifact(shell_.get(), kShrunkFromArtifact)) {
        unsigned long fw = 0, fh = 0;
        if (std::sscanf(full, "%lux%lu", &fw, &fh) == 2 && fw && fh) from_w = fw, from_h = fh;
    }
    const double sx = static_cast<double>(w) / from_w;
    const double sy = static_cast<double>(h) / from_h;
    DeleteImageArtifact(out, kShrunkFromArtifact);
    RectangleInfo& pg = out->page;
    const RectangleInfo& src = shell_->page;
    pg.width = static_cast<size_t>(std::floor(sx * src.width + 0.5));
    pg.height = static_cast<size_t>(std::floor(sy * src.height + 0.5));
    pg.x = static_cast<ssize_t>(std::ceil(sx * src.x - 0.5));
    pg.y = static_cast<ssize_t>(std::ceil(sy * src.y - 0.5));
}

}  // namespace mtool
