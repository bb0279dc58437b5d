// PNG through libpng: row-sequential decode at the file's depth (8 or 16 bit; palettes, low
// bit depths and tRNS expanded) and an encoder that, like ImageMagick's, picks the smallest
// lossless colour type (gray, palette, RGB, with or without alpha) and honours -quality,
// png:compression-*, -interlace and the PNG24/32/48/64 prefixes. Anything unusual (png:bit-depth,
// png:color-type, PNG8, -type) is declined to ImageMagick's writer. A file libpng rejects is
// handed to ImageMagick so that its own message (or its tolerance) decides.
#include <strings.h>

#include <algorithm>
#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include <png.h>
#include <zlib.h>

#include "src/codecs/common.h"
#include "src/codecs/png_idat.h"

namespace mtool::codecs {
namespace {

bool sniff_png(const unsigned char* h, size_t n) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    return n >= 8 && std::memcmp(h, sig, 8) == 0;
}

struct ErrorState {
    std::jmp_buf jump;
    char message[256];
    std::vector<std::string>* warnings;
};

void on_error(png_structp png, png_const_charp msg) {
    auto* st = static_cast<ErrorState*>(png_get_error_ptr(png));
    std::snprintf(st->message, sizeof st->message, "%s", msg);
    std::longjmp(st->jump, 1);
}

void on_warning(png_structp png, png_const_charp msg) {
    auto* st = static_cast<ErrorState*>(png_get_error_ptr(png));
    if (st->warnings && st->warnings->size() < 64) st->warnings->push_back(msg);
}

/// Decodes the whole file into `px`. Only POD state lives across setjmp.
bool decode(std::FILE* f, std::shared_ptr<Pixels>& px, std::vector<std::string>& warnings,
            std::string& error) {
    ErrorState st;
    st.warnings = &warnings;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, on_error, on_warning);
    if (!png) return false;
    png_infop info = png_create_info_struct(png);
    // Freed on every way out, a C++ exception from the pixel cache included (destroying sets
    // the pointers to null, so a second destroy does nothing).
    struct Guard {
        png_structp* png;
        png_infop* info;
        ~Guard() {
            if (*png) png_destroy_read_struct(png, *info ? info : nullptr, nullptr);
        }
    } guard{&png, &info};
    if (!info || setjmp(st.jump)) {
        error = st.message;
        png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
        return false;
    }
    png_init_io(png, f);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    png_set_expand(png);  // palette -> RGB, gray < 8 bit -> 8 bit, tRNS -> alpha
    if (png_get_bit_depth(png, info) == 16) png_set_swap(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const int w = static_cast<int>(png_get_image_width(png, info));
    const int h = static_cast<int>(png_get_image_height(png, info));
    const int ch = png_get_channels(png, info);
    const int bps = png_get_bit_depth(png, info) == 16 ? 2 : 1;
    px = std::make_shared<Pixels>(w, h, ch, bps);
    // Adam7 passes fill each row in place, so every row starts zeroed. Rows live in separately
    // placed strips: clear them one at a time.
    if (passes > 1)
        for (int y = 0; y < h; ++y) std::memset(px->row(y), 0, px->stride());
    for (int pass = 0; pass < passes; ++pass)
        for (int y = 0; y < h; ++y) png_read_row(png, px->row(y), nullptr);
    png_read_end(png, nullptr);
    png_destroy_read_struct(&png, &info, nullptr);
    return true;
}

/// Rearranges decoded channels into the layout ImageMagick's header read announced (e.g. a
/// palette of grays is Gray to ImageMagick). Returns null when the layouts cannot be reconciled.
std::shared_ptr<Pixels> conform(std::shared_ptr<Pixels> px, const Layout& want) {
    const int have = px->channels();
    const bool have_alpha = have == 2 || have == 4;
    const int have_color = have_alpha ? have - 1 : have;
    if (want.cmyk()) return nullptr;
    if (have_color == want.color_channels && have_alpha == want.alpha) return px;
    if (have_color == 3 && want.color_channels == 1) {
        // Only when every pixel really is gray; otherwise keep what the file holds.
        for (int y = 0; y < px->height(); ++y)
            for (int x = 0; x < px->width(); ++x)
                if (px->get(x, y, 0) != px->get(x, y, 1) || px->get(x, y, 0) != px->get(x, y, 2))
                    return nullptr;
    }
    auto out = std::make_shared<Pixels>(px->width(), px->height(), want.channels(), px->bytes_per_sample());
    const int oc = out->channels();
    for (int y = 0; y < px->height(); ++y)
        for (int x = 0; x < px->width(); ++x) {
            for (int c = 0; c < want.color_channels; ++c)
                out->set(x, y, c, px->get(x, y, have_color == 1 ? 0 : c));
            if (want.alpha) out->set(x, y, oc - 1, have_alpha ? px->get(x, y, have - 1) : 1.0f);
        }
    return out;
}

class PngRows final : public RowReader {
public:
    ~PngRows() override {
        if (png_) png_destroy_read_struct(&png_, info_ ? &info_ : nullptr, nullptr);
        if (file_) std::fclose(file_);
    }
    bool open(const std::string& path) {
        file_ = std::fopen(path.c_str(), "rb");
        if (!file_) return false;
        st_.warnings = &warnings_;
        png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st_, on_error, on_warning);
        if (!png_) return false;
        info_ = png_create_info_struct(png_);
        if (!info_ || setjmp(st_.jump)) return false;
        png_init_io(png_, file_);
        png_set_user_limits(png_, 0x7fffffff, 0x7fffffff);
        png_read_info(png_, info_);
        if (png_get_interlace_type(png_, info_) != PNG_INTERLACE_NONE) return false;
        png_set_expand(png_);  // as decode()
        if (png_get_bit_depth(png_, info_) == 16) png_set_swap(png_);
        png_read_update_info(png_, info_);
        width = static_cast<int>(png_get_image_width(png_, info_));
        height = static_cast<int>(png_get_image_height(png_, info_));
        channels = png_get_channels(png_, info_);
        bytes_per_sample = png_get_bit_depth(png_, info_) == 16 ? 2 : 1;
        return warnings_.empty();
    }
    bool read(uint8_t* dst, int n) override {
        if (setjmp(st_.jump)) return false;
        const size_t stride = static_cast<size_t>(width) * channels * bytes_per_sample;
        for (int i = 0; i < n; ++i) png_read_row(png_, dst + i * stride, nullptr);
        row_ += n;
        if (row_ == height) png_read_end(png_, nullptr);
        return warnings_.empty();
    }

private:
    ErrorState st_;
    std::vector<std::string> warnings_;
    png_structp png_ = nullptr;
    png_infop info_ = nullptr;
    std::FILE* file_ = nullptr;
    int row_ = 0;
};

}  // namespace

std::unique_ptr<RowReader> png_rows(const std::string& path) {
    auto r = std::make_unique<PngRows>();
    if (!r->open(path)) return nullptr;
    return r;
}

namespace {

Image read_png(const ReadRequest& req) {
    magick::ImagePtr shell = ping_shell(req, "PNG");
    if (req.info->ping || req.plan) return Image(std::move(shell));
    auto file = open_input(req);
    std::shared_ptr<Pixels> px;
    std::vector<std::string> warnings;
    std::string error;
    bool ok = decode(file.get(), px, warnings, error);
    file.reset();
    if (!ok) throw Decline{"libpng: " + error};
    ::Image* s = shell.get();
    px = conform(std::move(px), layout_of(s));
    if (!px) throw Decline{"layout"};
    report_warnings(req, warnings, "png.c/MagickPNGWarningHandler/1671");
    s->depth = px->bytes_per_sample() == 2 ? 16 : (s->depth > 8 ? 8 : s->depth);
    s->storage_class = DirectClass;
    return Image(std::move(shell), std::move(px));
}

// ---------------------------------------------------------------------------------------------
// Encoder

/// What the pixels need: the encoder's choice of colour type and depth follows from this.
struct Analysis {
    bool gray = true;               ///< every pixel has R == G == B
    bool translucent = false;       ///< some alpha below opaque
    bool reducible16 = true;        ///< every 16-bit colour sample is v * 257
    int gray_bits = 8;              ///< smallest lossless gray depth (1, 2, 4, 8)
    bool few = false;               ///< at most 256 distinct colours at full depth
    std::vector<uint32_t> palette;  ///< distinct 8-bit RGBA colours when few and 8-bit exact
};

Analysis analyse(const Pixels& px, const Layout& l, bool src16) {
    Analysis a;
    const int ch = px.channels(), w = px.width();
    const bool wide = px.bytes_per_sample() == 2;
    // Colours are counted at the depth they will be written: 8 bits unless the source is 16-bit
    // and its colour samples do not fit in 8, which is known only at the end, so both counts run.
    std::unordered_map<uint64_t, int> colours8, colours16;
    bool ok8 = true, ok16 = src16;
    bool g1 = true, g2 = true, g4 = true;
    for (int y = 0; y < px.height(); ++y) {
        for (int x = 0; x < w; ++x) {
            uint32_t v[4] = {0, 0, 0, 255};
            uint64_t full[4] = {0, 0, 0, 65535};
            for (int c = 0; c < ch; ++c) {
                unsigned s = wide ? px.row16(y)[x * ch + c] : px.row(y)[x * ch + c] * 257u;
                // ImageMagick's depth test looks at the colour samples only: 16-bit alpha is
                // reduced to 8 bits along with colours that fit in 8.
                if (s % 257 && c < l.color_channels) a.reducible16 = false;
                full[c] = s;
                v[c] = s / 257;  // 6.9.11 reduces Q16 to 8 bits by truncation
            }
            if (l.alpha) v[ch - 1] = 255 - (65535 - full[ch - 1]) / 257;  // opacity truncates
            if (l.gray()) {
                if (l.alpha) v[3] = v[1], full[3] = full[1];
                v[1] = v[2] = v[0];
                full[1] = full[2] = full[0];
            }
            if (l.alpha && v[3] != 255) a.translucent = true;
            if (v[0] != v[1] || v[0] != v[2]) a.gray = false;
            if (v[0] % 17) g4 = false;
            if (v[0] % 85) g2 = false;
            if (v[0] % 255) g1 = false;
            if (ok8) {
                const uint64_t key = v[0] | v[1] << 8 | v[2] << 16 | static_cast<uint64_t>(v[3]) << 24;
                if (colours8.emplace(key, 0).second && colours8.size() > 256) ok8 = false;
            }
            if (ok16) {
                const uint64_t key = full[0] | full[1] << 16 | full[2] << 32 | full[3] << 48;
                if (colours16.emplace(key, 0).second && colours16.size() > 256) ok16 = false;
            }
        }
        // Nothing left to learn: more than 256 colours at either depth and not gray make it
        // true colour (alpha then as the layout has it), and the depth is known once a 16-bit
        // source shows a sample that 8 bits cannot hold. A photo stops after its first rows, so
        // a streamed image is not produced twice.
        if (!ok8 && !ok16 && !a.gray && (!src16 || !a.reducible16)) break;
    }
    a.gray_bits = g1 ? 1 : g2 ? 2 : g4 ? 4 : 8;
    const bool to8 = !src16 || a.reducible16;
    a.few = to8 ? ok8 : ok16;
    if (a.few) {
        for (auto& [k, i] : (to8 ? colours8 : colours16)) {
            auto r = [&](int shift) { return static_cast<uint32_t>(((k >> shift) & 0xffff) / 257); };
            a.palette.push_back(to8 ? static_cast<uint32_t>(k)
                                    : r(0) | r(16) << 8 | r(32) << 16 | r(48) << 24);
        }
        // Opaque entries last keeps tRNS short, as ImageMagick arranges it.
        std::stable_sort(a.palette.begin(), a.palette.end(),
                         [](uint32_t p, uint32_t q) { return (p >> 24) < (q >> 24); });
    }
    return a;
}

struct Plan {
    int color_type;
    int bit_depth;
    std::vector<uint32_t> palette;
};

Plan plan_for(const std::string& magick, const Pixels& px, const Layout& l, const ::Image* s) {
    if (!native_colorspace(s)) throw Decline{"colorspace"};
    const bool src16 = px.bytes_per_sample() == 2 && s->depth > 8;
    if (strcasecmp(magick.c_str(), "PNG24") == 0) {
        if (l.alpha) throw Decline{"PNG24 with alpha"};
        return {PNG_COLOR_TYPE_RGB, 8, {}};
    }
    if (strcasecmp(magick.c_str(), "PNG32") == 0) return {PNG_COLOR_TYPE_RGB_ALPHA, 8, {}};
    if (strcasecmp(magick.c_str(), "PNG48") == 0) {
        if (l.alpha) throw Decline{"PNG48 with alpha"};
        return {PNG_COLOR_TYPE_RGB, 16, {}};
    }
    if (strcasecmp(magick.c_str(), "PNG64") == 0) return {PNG_COLOR_TYPE_RGB_ALPHA, 16, {}};
    if (strcasecmp(magick.c_str(), "PNG") != 0) throw Decline{magick};
    Analysis a = analyse(px, l, src16);
    const bool wide = src16 && !a.reducible16;
    // Like ImageMagick: an opaque alpha channel is dropped only when the image has few colours
    // (its palette path); a true-colour image with alpha keeps it even when fully opaque.
    const bool alpha = a.few ? a.translucent : l.alpha;
    if (a.gray) {
        if (alpha) return {PNG_COLOR_TYPE_GRAY_ALPHA, wide ? 16 : 8, {}};
        return {PNG_COLOR_TYPE_GRAY, wide ? 16 : a.gray_bits, {}};
    }
    if (a.few && !wide) {
        size_t n = a.palette.size();
        int bits = n <= 2 ? 1 : n <= 4 ? 2 : n <= 16 ? 4 : 8;
        return {PNG_COLOR_TYPE_PALETTE, bits, std::move(a.palette)};
    }
    return {alpha ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB, wide ? 16 : 8, {}};
}

/// ImageMagick's -quality mapping: tens digit is the zlib level, units digit the filter.
constexpr int kImageMagickLevel = 7;  // without -quality
struct Compression {
    int level = -1, filter = -1, strategy = -1;
    bool adaptive = false;  ///< no -quality, no level define: ParallelIdat's adaptive level
};

int define_int(const ::ImageInfo* info, const char* key, int lo, int hi) {
    const char* v = GetImageOption(info, key);
    if (!v) return -1;
    int n = std::atoi(v);
    return n >= lo && n <= hi ? n : -1;
}

Compression compression(const ::ImageInfo* info, int color_type) {
    Compression c;
    c.level = define_int(info, "png:compression-level", 0, 9);
    int filter = define_int(info, "png:compression-filter", 0, 9);
    c.strategy = define_int(info, "png:compression-strategy", 0, 4);
    size_t q = info->quality == 0 ? 75 : info->quality;
    if (q <= 9) {
        if (c.strategy < 0) c.strategy = Z_HUFFMAN_ONLY;
    } else if (c.level < 0) {
        // Without -quality ImageMagick deflates at level 7; mtool takes ParallelIdat's adaptive
        // level (interlaced images, written by libpng, level 7): on 6000x4000 photos 3 times as
        // fast (sharpen 6.4 -> 2.0 s) for files 0-8% larger, drawings within 1%. -quality 75
        // gives ImageMagick's level 7 throughout.
        c.adaptive = info->quality == 0;
        c.level = info->quality == 0 ? kImageMagickLevel : static_cast<int>(std::min<size_t>(q / 10, 9));
    }
    if (c.strategy < 0 && (q % 10 == 8 || q % 10 == 9)) c.strategy = Z_RLE;
    if (filter < 0) filter = static_cast<int>(q % 10);
    if (filter == 5)
        c.filter = (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_PALETTE || q < 50)
                       ? PNG_NO_FILTERS
                       : PNG_ALL_FILTERS;
    else if (filter == 6 || filter == 9)
        c.filter = PNG_ALL_FILTERS;
    else if (filter == 7 || filter == 8)
        c.filter = PNG_NO_FILTERS;
    else
        c.filter = filter;  // 0..4 as png_set_filter values, like png.c (0 leaves libpng's default)
    return c;
}

bool declined_defines(const ::ImageInfo* info) {
    static const char* const unsupported[] = {
        "png:bit-depth",         "png:color-type",    "png:exclude-chunk",
        "png:exclude-chunks",    "png:include-chunk", "png:format",
        "png:preserve-colormap", "png:preserve-iCCP", "png:swap-bytes"};
    for (const char* k : unsupported)
        if (GetImageOption(info, k)) return true;
    return false;
}

std::string hex_profile(const char* name, const unsigned char* d, size_t n) {
    // ImageMagick's "Raw profile type NAME" text: name, length, then hex in lines of 72 digits.
    static const char hex[] = "0123456789abcdef";
    char head[64];
    std::snprintf(head, sizeof head, "\n%s\n%8zu\n", name, n);
    std::string s = head;
    for (size_t i = 0; i < n; ++i) {
        s += hex[d[i] >> 4];
        s += hex[d[i] & 15];
        if (i % 36 == 35) s += '\n';
    }
    s += '\n';
    return s;
}

struct TextChunks {
    std::vector<std::string> keys, values;
    void add(std::string k, std::string v) {
        if (k.size() > 79) k.resize(79);  // PNG keyword limit
        keys.push_back(std::move(k));
        values.push_back(std::move(v));
    }
};

TextChunks text_chunks(const ::Image* s) {
    TextChunks t;
    const bool wrote_phys = s->x_resolution > 0 && s->y_resolution > 0;
    ::Image* im = const_cast<::Image*>(s);
    ResetImagePropertyIterator(im);
    for (const char* p = GetNextImageProperty(im); p; p = GetNextImageProperty(im)) {
        if (strncasecmp(p, "png:", 4) == 0 || strncasecmp(p, "jpeg:", 5) == 0 ||
            strncasecmp(p, "date:", 5) == 0)
            continue;
        if (wrote_phys &&
            (strcasecmp(p, "exif:ResolutionUnit") == 0 || strcasecmp(p, "exif:XResolution") == 0 ||
             strcasecmp(p, "exif:YResolution") == 0 || strcasecmp(p, "tiff:ResolutionUnit") == 0 ||
             strcasecmp(p, "tiff:XResolution") == 0 || strcasecmp(p, "tiff:YResolution") == 0 ||
             strcasecmp(p, "density") == 0 || strcasecmp(p, "units") == 0))
            continue;
        if (const char* v = GetImageProperty(im, p)) t.add(p, v);
    }
    ResetImageProfileIterator(im);
    for (char* name = GetNextImageProfile(im); name; name = GetNextImageProfile(im)) {
        if (strcasecmp(name, "icc") == 0 || strcasecmp(name, "icm") == 0) continue;  // iCCP chunk
        const StringInfo* prof = GetImageProfile(im, name);
        t.add(std::string("Raw profile type ") + name,
              hex_profile(name, GetStringInfoDatum(prof), GetStringInfoLength(prof)));
    }
    return t;
}

/// Fills one output row in the planned colour type from a native row.
void pack_row(const Pixels& px, const Layout& l, const Plan& plan, int y, std::vector<uint8_t>& out,
              const std::unordered_map<uint32_t, int>& index) {
    const int ch = px.channels(), w = px.width();
    const bool wide_in = px.bytes_per_sample() == 2;
    auto sample = [&](int x, int c) -> unsigned {
        return wide_in ? px.row16(y)[x * ch + c] : px.row(y)[x * ch + c] * 257u;
    };
    auto rgba = [&](int x, unsigned v[4]) {
        if (l.gray()) {
            v[0] = v[1] = v[2] = sample(x, 0);
            v[3] = l.alpha ? sample(x, 1) : 65535;
        } else {
            for (int c = 0; c < 3; ++c) v[c] = sample(x, c);
            v[3] = l.alpha ? sample(x, 3) : 65535;
        }
    };
    std::fill(out.begin(), out.end(), 0);
    const int ct = plan.color_type;
    const int out_ch = ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_PALETTE ? 1
                       : ct == PNG_COLOR_TYPE_GRAY_ALPHA                         ? 2
                       : ct == PNG_COLOR_TYPE_RGB                                ? 3
                                                                                 : 4;
    const int bits = plan.bit_depth;
    for (int x = 0; x < w; ++x) {
        unsigned v[4];
        rgba(x, v);
        unsigned o[4] = {v[0], v[1], v[2], v[3]};
        if (out_ch <= 2) o[1] = v[3];
        if (ct == PNG_COLOR_TYPE_PALETTE) {
            uint32_t key =
                v[0] / 257 | (v[1] / 257) << 8 | (v[2] / 257) << 16 | (255 - (65535 - v[3]) / 257) << 24;
            o[0] = static_cast<unsigned>(index.at(key));
        }
        for (int c = 0; c < out_ch; ++c) {
            if (bits == 16) {
                out[(static_cast<size_t>(x) * out_ch + c) * 2] = static_cast<uint8_t>(o[c] >> 8);
                out[(static_cast<size_t>(x) * out_ch + c) * 2 + 1] = static_cast<uint8_t>(o[c]);
            } else if (bits == 8) {
                out[static_cast<size_t>(x) * out_ch + c] = static_cast<uint8_t>(
                    ct == PNG_COLOR_TYPE_PALETTE                        ? o[c]
                    : (c == out_ch - 1 && (out_ch == 2 || out_ch == 4)) ? 255 - (65535 - o[c]) / 257
                                                                        : o[c] / 257);
            } else {
                unsigned s = ct == PNG_COLOR_TYPE_PALETTE ? o[0] : (o[0] / 257) >> (8 - bits);
                size_t bit = static_cast<size_t>(x) * bits;
                out[bit / 8] |= static_cast<uint8_t>(s << (8 - bits - bit % 8));
            }
        }
    }
}

const char* png_write_declines(const Image& image, const WriteRequest& req) {
    const ::Image* s = image.shell();
    if (declined_defines(req.info) || req.info->type != UndefinedType || s->depth < 8 ||
        (req.info->depth != 0 && req.info->depth != 8 && req.info->depth != 16))
        return "settings";
    if (!native_colorspace(s)) return "colorspace";
    const bool alpha = image.layout().alpha;
    const char* m = req.magick.c_str();
    if (!strcasecmp(m, "PNG24") && alpha) return "PNG24 with alpha";
    if (!strcasecmp(m, "PNG48") && alpha) return "PNG48 with alpha";
    if (strcasecmp(m, "PNG") && strcasecmp(m, "PNG24") && strcasecmp(m, "PNG32") && strcasecmp(m, "PNG48") &&
        strcasecmp(m, "PNG64"))
        return "format";
    return nullptr;
}

void write_png(Image& image, const WriteRequest& req) {
    if (const char* why = png_write_declines(image, req)) throw Decline{why};
    const Pixels& px = image.pixels();
    const ::Image* s = image.shell();
    const Layout l = image.layout();
    Plan plan = plan_for(req.magick, px, l, s);
    if (req.info->depth == 8 && plan.bit_depth == 16) plan.bit_depth = 8;
    // ImageMagick's writer records the background colour (bKGD) and counts it among the image's
    // colours: gray pixels with a colour background are written in colour (left to it), and a
    // palette gains the background as its last entry when it is not already there.
    const PixelPacket& bgq = s->background_color;
    auto q8 = [](Quantum v) { return static_cast<uint32_t>(ScaleQuantumToChar(v)); };
    const uint32_t bg8 =
        q8(bgq.red) | q8(bgq.green) << 8 | q8(bgq.blue) << 16 | (255 - q8(bgq.opacity)) << 24;
    if ((plan.color_type == PNG_COLOR_TYPE_GRAY || plan.color_type == PNG_COLOR_TYPE_GRAY_ALPHA) &&
        !(bgq.red == bgq.green && bgq.green == bgq.blue))
        throw Decline{"colour background of gray pixels"};
    if (plan.color_type == PNG_COLOR_TYPE_PALETTE &&
        std::find(plan.palette.begin(), plan.palette.end(), bg8) == plan.palette.end()) {
        if ((bg8 >> 24) != 255 || plan.palette.size() >= 256) throw Decline{"background outside the palette"};
        plan.palette.push_back(bg8);
        const size_t n = plan.palette.size();
        plan.bit_depth = n <= 2 ? 1 : n <= 4 ? 2 : n <= 16 ? 4 : 8;
    }
    std::unordered_map<uint32_t, int> index;
    for (size_t i = 0; i < plan.palette.size(); ++i) index[plan.palette[i]] = static_cast<int>(i);
    Compression comp = compression(req.info, plan.color_type);
    // Like WriteImage: the EXIF profile follows the image's orientation and resolution.
    SyncImageProfiles(const_cast<::Image*>(s));
    TextChunks text = text_chunks(s);
    const bool interlace = req.info->interlace != NoInterlace;

    ErrorState st;
    st.warnings = nullptr;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &st, on_error, on_warning);
    if (!png)
        throw Error(Severity::resource_limit_error, "memory allocation failed", req.path,
                    "png.c/WritePNGImage");
    png_infop info = png_create_info_struct(png);
    std::vector<png_color> pal;
    std::vector<png_byte> trns;
    std::vector<png_text> chunks(text.keys.size());
    const int out_ch = plan.color_type == PNG_COLOR_TYPE_GRAY || plan.color_type == PNG_COLOR_TYPE_PALETTE ? 1
                       : plan.color_type == PNG_COLOR_TYPE_GRAY_ALPHA                                      ? 2
                       : plan.color_type == PNG_COLOR_TYPE_RGB                                             ? 3
                                                               : 4;
    std::vector<uint8_t> row((static_cast<size_t>(px.width()) * out_ch * plan.bit_depth + 7) / 8 + 1);
    struct Guard {
        png_structp* png;
        png_infop* info;
        ~Guard() {
            if (*png) png_destroy_write_struct(png, *info ? info : nullptr);
        }
    } guard{&png, &info};
    if (!info || setjmp(st.jump)) {
        png_destroy_write_struct(&png, info ? &info : nullptr);
        throw Error(Severity::coder_error, st.message, req.path, "png.c/MagickPNGErrorHandler/1645");
    }
    png_init_io(png, req.file);
    // As ImageMagick's writer: profiles libpng knows to be slightly wrong (the HP sRGB profile
    // of wizard: and of many cameras) are written as they are, not refused.
#ifdef PNG_SKIP_sRGB_CHECK_PROFILE
    png_set_option(png, PNG_SKIP_sRGB_CHECK_PROFILE, PNG_OPTION_ON);
#endif
#ifdef PNG_BENIGN_ERRORS_SUPPORTED
    png_set_benign_errors(png, 1);
#endif
    png_set_IHDR(png, info, px.width(), px.height(), plan.bit_depth, plan.color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE,
                 PNG_FILTER_TYPE_BASE);
    png_set_compression_buffer_size(png, 32768);  // ImageMagick's IDAT size and zlib memory level
    png_set_compression_mem_level(png, 9);
    if (comp.level >= 0) png_set_compression_level(png, comp.level);
    if (comp.strategy >= 0) png_set_compression_strategy(png, comp.strategy);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, comp.filter);
    if (plan.color_type == PNG_COLOR_TYPE_PALETTE) {
        for (uint32_t c : plan.palette) {
            pal.push_back(png_color{static_cast<png_byte>(c), static_cast<png_byte>(c >> 8),
                                    static_cast<png_byte>(c >> 16)});
            if ((c >> 24) != 255) trns.push_back(static_cast<png_byte>(c >> 24));
        }
        png_set_PLTE(png, info, pal.data(), static_cast<int>(pal.size()));
        if (!trns.empty()) png_set_tRNS(png, info, trns.data(), static_cast<int>(trns.size()), nullptr);
    }
    {
        png_color_16 b{};
        auto scale = [&](Quantum v) {
            if (plan.bit_depth == 16) return static_cast<png_uint_16>(v);
            const unsigned max = (1u << plan.bit_depth) - 1;
            return static_cast<png_uint_16>((static_cast<unsigned>(v) * max + 32767u) / 65535u);
        };
        if (plan.color_type == PNG_COLOR_TYPE_PALETTE)
            b.index = static_cast<png_byte>(index.at(bg8));
        else if (plan.color_type == PNG_COLOR_TYPE_GRAY || plan.color_type == PNG_COLOR_TYPE_GRAY_ALPHA)
            b.gray = scale(bgq.red);
        else
            b.red = scale(bgq.red), b.green = scale(bgq.green), b.blue = scale(bgq.blue);
        png_set_bKGD(png, info, &b);
    }
    if (s->gamma > 0) png_set_gAMA(png, info, s->gamma);
    const ChromaticityInfo& cr = s->chromaticity;
    if (cr.white_point.x > 0 && cr.red_primary.x > 0)
        png_set_cHRM(png, info, cr.white_point.x, cr.white_point.y, cr.red_primary.x, cr.red_primary.y,
                     cr.green_primary.x, cr.green_primary.y, cr.blue_primary.x, cr.blue_primary.y);
    if (s->x_resolution > 0 && s->y_resolution > 0) {
        double k = s->units == PixelsPerCentimeterResolution ? 100.0
                   : s->units == PixelsPerInchResolution     ? 100.0 / 2.54
                                                             : 1.0;
        png_set_pHYs(png, info, static_cast<png_uint_32>(s->x_resolution * k + 0.5),
                     static_cast<png_uint_32>(s->y_resolution * k + 0.5),
                     s->units == UndefinedResolution ? PNG_RESOLUTION_UNKNOWN : PNG_RESOLUTION_METER);
    }
    // ImageMagick records the virtual canvas in its private caNv chunk (size and offset).
    const bool canvas = s->page.x != 0 || s->page.y != 0 ||
                        (s->page.width != 0 && s->page.width != s->columns) ||
                        (s->page.height != 0 && s->page.height != s->rows);
    png_byte canv[16];
    if (canvas) {
        const uint32_t fields[4] = {static_cast<uint32_t>(s->page.width ? s->page.width : s->columns),
                                    static_cast<uint32_t>(s->page.height ? s->page.height : s->rows),
                                    static_cast<uint32_t>(s->page.x), static_cast<uint32_t>(s->page.y)};
        for (int i = 0; i < 4; ++i)
            for (int b = 0; b < 4; ++b) canv[i * 4 + b] = static_cast<png_byte>(fields[i] >> (24 - 8 * b));
    }
    if (const StringInfo* icc = GetImageProfile(s, "icc"))
        png_set_iCCP(png, info, "icc", PNG_COMPRESSION_TYPE_BASE, GetStringInfoDatum(icc),
                     static_cast<png_uint_32>(GetStringInfoLength(icc)));
    for (size_t i = 0; i < chunks.size(); ++i) {
        chunks[i] = png_text{};
        chunks[i].compression =
            text.values[i].size() > 1024 ? PNG_TEXT_COMPRESSION_zTXt : PNG_TEXT_COMPRESSION_NONE;
        chunks[i].key = text.keys[i].data();
        chunks[i].text = text.values[i].data();
        chunks[i].text_length = text.values[i].size();
    }
    if (!chunks.empty()) png_set_text(png, info, chunks.data(), static_cast<int>(chunks.size()));
    png_write_info(png, info);
    if (canvas) png_write_chunk(png, reinterpret_cast<png_const_bytep>("caNv"), canv, sizeof canv);
    // Rows already in the planned layout go to libpng as they are.
    const bool direct = px.bytes_per_sample() == 1 && plan.bit_depth == 8 && out_ch == px.channels() &&
                        plan.color_type != PNG_COLOR_TYPE_PALETTE;
    const size_t row_bytes = row.size() - 1;
    // 16-bit samples: ImageMagick's level 7 (smooth 16-bit images, where level 7 finds matches
    // that short chains miss, came out 1.2-1.4 times ImageMagick's file with the adaptive level).
    if (plan.bit_depth > 8) comp.adaptive = false;
    if (!interlace && ParallelIdat::worthwhile(row_bytes, px.height(), req.ctx.threads, comp.adaptive)) {
        // Large images: the same filtered rows, deflated on every worker thread.
        png_destroy_write_struct(&png, &info);  // header chunks are out; IDAT/IEND are ours
        ParallelIdat::Settings zs;
        zs.level = comp.level;
        zs.adaptive = comp.adaptive;
        zs.strategy = comp.strategy;
        zs.filter_mask = comp.filter;
        zs.unfiltered_default = plan.color_type == PNG_COLOR_TYPE_PALETTE || plan.bit_depth < 8;
        zs.threads = req.ctx.threads;
        zs.width = px.width();
        zs.height = px.height();
        ParallelIdat idat(req.file, row_bytes, std::max(1, out_ch * plan.bit_depth / 8), zs);
        for (int y = 0; y < px.height(); ++y) {
            if (direct) {
                idat.add_row(px.row(y));
                continue;
            }
            pack_row(px, l, plan, y, row, index);
            idat.add_row(row.data());
        }
        if (!idat.finish())
            throw file_error(Severity::coder_error, "unable to write file", req.path, errno,
                             "png.c/WritePNGImage");
        return;
    }
    int passes = interlace ? png_set_interlace_handling(png) : 1;
    for (int pass = 0; pass < passes; ++pass)
        for (int y = 0; y < px.height(); ++y) {
            if (direct) {
                png_write_row(png, px.row(y));
                continue;
            }
            pack_row(px, l, plan, y, row, index);
            png_write_row(png, row.data());
        }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
}

}  // namespace

extern const CodecSpec png_codec{"PNG",
                                 {"PNG", "PNG24", "PNG32", "PNG48", "PNG64"},
                                 100,
                                 &sniff_png,
                                 &read_png,
                                 &write_png,
                                 "Portable Network Graphics (libpng)",
                                 &png_write_declines};

}  // namespace mtool::codecs
