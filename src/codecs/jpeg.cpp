// JPEG through libjpeg-turbo: row-sequential decode (with DCT-domain scaling for
// -define jpeg:size) and encode (quality, progressive, sampling factors, gray, profiles).
// CMYK/YCCK files are declined to the bridge, which handles Adobe's inverted CMYK.
#include <strings.h>
#include <sys/stat.h>
#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <jerror.h>
#include <jpeglib.h>

#include "src/codecs/common.h"

namespace mtool::codecs {
namespace {

/// A libjpeg message for ImageMagick's handlers: warnings, and errors met once every scanline was
/// decoded (jpeg.c reports those as warnings and keeps the image).
struct Message {
    std::string text;
    bool late_error = false;
};

/// ImageMagick keeps at most 64 exceptions per image, then one "TooManyExceptions" warning.
constexpr size_t kMaxMessages = 64;

struct ErrorManager {
    jpeg_error_mgr pub;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
    std::vector<Message>* warnings;
    bool finishing = false;  ///< every scanline is in: an error now is reported as a warning
};

void add_message(ErrorManager* err, Message m) {
    if (!err->warnings || err->warnings->size() > kMaxMessages) return;
    // ImageMagick drops a repeat of the first (most severe) message it holds.
    if (!err->warnings->empty() && err->warnings->front().text == m.text) return;
    if (err->warnings->size() == kMaxMessages) m.text.clear();  // marks TooManyExceptions
    err->warnings->push_back(std::move(m));
}

void on_error(j_common_ptr cinfo) {
    auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, err->message);
    std::longjmp(err->jump, 1);
}

void on_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;  // trace messages
    auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    add_message(err, Message{text, false});
    cinfo->err->num_warnings++;
}

/// ImageMagick's source manager: 16 KiB reads (where libjpeg-turbo's fast Huffman path stops
/// depends on the buffer, and with it which corrupt-data warnings appear), a warning and an
/// inserted EOI at the end of the data, an error for an empty file.
struct Source {
    jpeg_source_mgr pub;
    std::FILE* file;
    bool start;
    JOCTET buffer[16384];
};

void source_init(j_decompress_ptr cinfo) { reinterpret_cast<Source*>(cinfo->src)->start = true; }

boolean source_fill(j_decompress_ptr cinfo) {
    auto* src = reinterpret_cast<Source*>(cinfo->src);
    size_t n = std::fread(src->buffer, 1, sizeof src->buffer, src->file);
    if (n == 0) {
        if (src->start) ERREXIT(cinfo, JERR_INPUT_EMPTY);
        WARNMS(cinfo, JWRN_JPEG_EOF);
        src->buffer[0] = 0xFF;
        src->buffer[1] = JPEG_EOI;
        n = 2;
    }
    src->pub.next_input_byte = src->buffer;
    src->pub.bytes_in_buffer = n;
    src->start = false;
    return TRUE;
}

void source_skip(j_decompress_ptr cinfo, long count) {
    auto* src = reinterpret_cast<Source*>(cinfo->src);
    if (count <= 0) return;
    while (count > static_cast<long>(src->pub.bytes_in_buffer)) {
        count -= static_cast<long>(src->pub.bytes_in_buffer);
        source_fill(cinfo);
    }
    src->pub.next_input_byte += count;
    src->pub.bytes_in_buffer -= static_cast<size_t>(count);
}

void source_term(j_decompress_ptr) {}

/// Reads `cinfo`'s data from `f` through `src`.
void attach(jpeg_decompress_struct& cinfo, Source& src, std::FILE* f) {
    src.file = f;
    src.pub.init_source = source_init;
    src.pub.fill_input_buffer = source_fill;
    src.pub.skip_input_data = source_skip;
    src.pub.resync_to_restart = jpeg_resync_to_restart;
    src.pub.term_source = source_term;
    src.pub.bytes_in_buffer = 0;
    src.pub.next_input_byte = nullptr;
    cinfo.src = &src.pub;
}

bool sniff_jpeg(const unsigned char* h, size_t n) {
    return n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF;
}

/// Decodes into `px` (allocated once the output size is known). Only POD state lives across
/// setjmp, so a longjmp never skips a destructor.
/// Destroys a libjpeg object on every way out, a C++ exception from the pixel cache included
/// (jpeg_destroy is harmless on a zeroed or already destroyed object).
template <class Struct>
struct JpegGuard {
    Struct* s;
    ~JpegGuard() { jpeg_destroy(reinterpret_cast<j_common_ptr>(s)); }
};

/// Rows [y0, y1) and columns [x0, x1) to decode for a -crop after the read (all 0: the whole
/// image). decode() widens the columns to whole iMCUs (jpeg_crop_scanline) and reports them.
struct Region {
    unsigned x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    bool any() const { return x1 > x0 && y1 > y0; }
};

/// Region-on-load: a -crop WxH+X+Y (explicit offsets, no %, no flags) inside the image and
/// under half of it decodes only the rows and iMCU columns it needs, with a margin of 16 pixels
/// so that upsampling at the region's edges sees the same neighbours as a full decode.
Region crop_region(const ReadRequest& req, size_t w, size_t h) {
    if (req.crop_hint.empty()) return {};
    ssize_t x = 0, y = 0;
    size_t cw = 0, ch = 0;
    const MagickStatusType f = GetGeometry(req.crop_hint.c_str(), &x, &y, &cw, &ch);
    constexpr MagickStatusType kNeed = WidthValue | HeightValue | XValue | YValue;
    constexpr MagickStatusType kRefuse = XNegative | YNegative | PercentValue | AspectValue | LessValue |
                                         GreaterValue | MinimumValue | AreaValue | AspectRatioValue;
    if ((f & kNeed) != kNeed || (f & kRefuse) || cw == 0 || ch == 0 || x < 0 || y < 0 ||
        static_cast<size_t>(x) >= w || static_cast<size_t>(y) >= h)
        return {};
    constexpr size_t kMargin = 16;
    Region r;
    r.x0 = static_cast<unsigned>(static_cast<size_t>(x) > kMargin ? x - kMargin : 0);
    r.y0 = static_cast<unsigned>(static_cast<size_t>(y) > kMargin ? y - kMargin : 0);
    r.x1 = static_cast<unsigned>(std::min(w, x + cw + kMargin));
    r.y1 = static_cast<unsigned>(std::min(h, y + ch + kMargin));
    if (2.0 * (r.x1 - r.x0) * (r.y1 - r.y0) > static_cast<double>(w) * h) return {};
    return r;
}

bool decode(std::FILE* f, const ReadRequest& req, const ::Image* shell, unsigned shrink, Region& region,
            std::shared_ptr<Pixels>& px, std::vector<Message>& warnings, std::string& error, bool& decline) {
    jpeg_decompress_struct cinfo;
    std::memset(&cinfo, 0, sizeof cinfo);
    JpegGuard<jpeg_decompress_struct> guard{&cinfo};
    ErrorManager err;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error;
    err.pub.emit_message = on_message;
    err.warnings = &warnings;
    Source src;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        if (err.finishing) {
            add_message(&err, Message{err.message, true});
            return true;
        }
        error = err.message;
        return false;
    }
    jpeg_create_decompress(&cinfo);
    attach(cinfo, src, f);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        decline = true;
        jpeg_destroy_decompress(&cinfo);
        return false;
    }
    const char* size = GetImageOption(req.info, "jpeg:size");
    if (size) {
        // Same scale choice as ImageMagick: the largest 1/N that keeps both sides >= requested.
        GeometryInfo g;
        MagickStatusType flags = ParseGeometry(size, &g);
        if (!(flags & SigmaValue)) g.sigma = g.rho;
        jpeg_calc_output_dimensions(&cinfo);
        double scale = 1.0;
        if (g.rho != 0.0) scale = cinfo.output_width / g.rho;
        if (g.sigma != 0.0 && scale > cinfo.output_height / g.sigma) scale = cinfo.output_height / g.sigma;
        cinfo.scale_num = 1;
        cinfo.scale_denom = static_cast<unsigned>(scale);
    } else if (shrink > 1) {
        cinfo.scale_num = 1;
        cinfo.scale_denom = shrink;
    }
    cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_calc_output_dimensions(&cinfo);
    if (cinfo.output_width != shell->columns || cinfo.output_height != shell->rows) {
        decline = true;
        jpeg_destroy_decompress(&cinfo);
        return false;
    }
    jpeg_start_decompress(&cinfo);
    if (region.any()) {
        JDIMENSION x0 = region.x0, width = region.x1 - region.x0;
        jpeg_crop_scanline(&cinfo, &x0, &width);
        region.x0 = x0;
        region.x1 = x0 + width;
        px = std::make_shared<Pixels>(width, region.y1 - region.y0, cinfo.output_components, 1);
        if (region.y0) jpeg_skip_scanlines(&cinfo, region.y0);
        while (cinfo.output_scanline < region.y1) {
            JSAMPROW row = px->row(static_cast<int>(cinfo.output_scanline - region.y0));
            jpeg_read_scanlines(&cinfo, &row, 1);
        }
        // The rest is skipped, not decoded, but still read: a damaged or truncated tail gives
        // the warnings (and -regard-warnings the exit status) of a full decode.
        // (Skipping to the very end would mark the end of the image as reached without reading
        // on: skip all but the last row and decode that one.)
        if (cinfo.output_scanline + 1 < cinfo.output_height)
            jpeg_skip_scanlines(&cinfo, cinfo.output_height - cinfo.output_scanline - 1);
        if (cinfo.output_scanline < cinfo.output_height) {
            std::vector<JSAMPLE> last(static_cast<size_t>(width) * cinfo.output_components);
            JSAMPROW row = last.data();
            jpeg_read_scanlines(&cinfo, &row, 1);
        }
        err.finishing = true;
        jpeg_finish_decompress(&cinfo);
        jpeg_destroy_decompress(&cinfo);
        return true;
    }
    px = std::make_shared<Pixels>(cinfo.output_width, cinfo.output_height, cinfo.output_components, 1);
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = px->row(static_cast<int>(cinfo.output_scanline));
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    err.finishing = true;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return true;
}

Image read_jpeg(const ReadRequest& req) {
    magick::ImagePtr shell = ping_shell(req, "JPEG");
    if (req.info->ping && !req.plan) return Image(std::move(shell));
    // Shrink-on-load: DCT-domain scaling by 1/8, 1/4 or 1/2 (libjpeg-turbo's fast paths), the
    // largest that keeps the decode at least twice the size of the geometry step that follows.
    unsigned shrink = 1;
    if (!GetImageOption(req.info, "jpeg:size")) {
        const ShrinkTarget t = shrink_target(req, shell->columns, shell->rows);
        for (unsigned d : {8u, 4u, 2u})
            if (t.any() && (shell->columns + d - 1) / d >= 2 * t.w && (shell->rows + d - 1) / d >= 2 * t.h) {
                shrink = d;
                shell = shell_like(shell.get(), static_cast<int>((shell->columns + d - 1) / d),
                                   static_cast<int>((shell->rows + d - 1) / d));
                mark_shrunk(shell.get(), t);
                break;
            }
    }
    Region region = shrink > 1 || GetImageOption(req.info, "jpeg:size")
                        ? Region{}
                        : crop_region(req, shell->columns, shell->rows);
    if (req.plan) {
        if (shell->colorspace == CMYKColorspace) throw Decline{"colorspace"};  // as decode() finds
        std::string how = "whole";
        if (shrink > 1) how = "at 1/" + std::to_string(shrink) + " scale (DCT)";
        if (region.any()) {
            // decode() widens the columns to whole iMCUs (jpeg_crop_scanline): 8 pixels times
            // the largest horizontal sampling factor.
            unsigned h_max = 1;
            if (const char* f = GetImageProperty(shell.get(), "jpeg:sampling-factor"))
                for (const char* p = f; *p;) {
                    h_max = std::max<unsigned>(h_max, static_cast<unsigned>(std::strtoul(p, nullptr, 10)));
                    p = std::strchr(p, ',');
                    if (!p) break;
                    ++p;
                }
            if (shell->colorspace == GRAYColorspace) h_max = 1;
            region.x0 -= region.x0 % (8 * h_max);
            const size_t full_w = shell->columns, full_h = shell->rows;
            shell = shell_like(shell.get(), static_cast<int>(region.x1 - region.x0),
                               static_cast<int>(region.y1 - region.y0));
            shell->page = RectangleInfo{full_w, full_h, static_cast<ssize_t>(region.x0),
                                        static_cast<ssize_t>(region.y0)};
        }
        if (region.any())
            how = "region " + std::to_string(region.x1 - region.x0) + "x" +
                  std::to_string(region.y1 - region.y0) + "+" + std::to_string(region.x0) + "+" +
                  std::to_string(region.y0) + " (rows skipped, iMCU columns)";
        SetImageArtifact(shell.get(), kPlanDecodeArtifact, how.c_str());
        return Image(std::move(shell));
    }
    constexpr size_t kPullPixels = 4000000;  // smaller images gain nothing worth the second path
    // Only what the ordinary run could hold in its tiers (the decode and a 16-bit result), or
    // that run's failure is the one to give.
    const uint64_t room = cache::TierManager::global().budgets().room();
    const uint64_t pulled = static_cast<uint64_t>(shell->columns) * shell->rows;
    if (req.lazy && !region.any() && !req.file && !req.path.empty() && pulled >= kPullPixels &&
        pulled * 3 * 3 <= room)
        if (std::shared_ptr<Pixels> lazy = pulled_pixels(req.path, shrink, shell->columns, shell->rows)) {
            ::Image* s = shell.get();
            s->colorspace = lazy->channels() == 1 ? GRAYColorspace : sRGBColorspace;  // as below
            s->matte = MagickFalse;
            s->depth = 8;
            return Image(std::move(shell), std::move(lazy));
        }
    auto file = open_input(req);
    std::shared_ptr<Pixels> px;
    std::vector<Message> warnings;
    std::string error;
    bool decline = false;
    bool ok = decode(file.get(), req, shell.get(), shrink, region, px, warnings, error, decline);
    if (ok && region.any()) {
        // The region sits where it was on the full image's page: the crop then finds its
        // rectangle (and gives the page) exactly as on the full decode.
        const size_t full_w = shell->columns, full_h = shell->rows;
        shell = shell_like(shell.get(), px->width(), px->height());
        shell->page =
            RectangleInfo{full_w, full_h, static_cast<ssize_t>(region.x0), static_cast<ssize_t>(region.y0)};
    }
    file.reset();
    if (decline) throw Decline{"colorspace"};
    for (const Message& m : warnings) {
        Diagnostic d{Severity::warning,
                     m.text.empty() ? format_diagnostic(Severity::warning,
                                                        "TooManyExceptions (exception processing is "
                                                        "suspended)",
                                                        "", "exception.c/ThrowException/1054")
                                    : format_diagnostic(Severity::warning, m.text, req.path,
                                                        m.late_error ? "jpeg.c/JPEGErrorHandler/335"
                                                                     : "jpeg.c/JPEGWarningHandler/389")};
        req.ctx.diag.add(std::move(d));
    }
    if (!ok) throw Error(Severity::corrupt_image_error, error, req.path, "jpeg.c/JPEGErrorHandler/338");
    ::Image* s = shell.get();
    s->colorspace = px->channels() == 1 ? GRAYColorspace : sRGBColorspace;
    s->matte = MagickFalse;
    s->depth = 8;
    return Image(std::move(shell), std::move(px));
}

class JpegRows final : public RowReader {
public:
    ~JpegRows() override {
        if (open_) jpeg_destroy_decompress(&cinfo_);
        if (file_) std::fclose(file_);
    }
    /// With x1 > x0: only columns [x0, x1) widened to whole iMCUs (jpeg_crop_scanline); the
    /// rows then start at column x_offset.
    bool open(const std::string& path, unsigned shrink = 1, int x0 = 0, int x1 = 0) {
        file_ = std::fopen(path.c_str(), "rb");
        if (!file_ || ::fstat(fileno(file_), &st) != 0) return false;
        std::memset(&cinfo_, 0, sizeof cinfo_);
        cinfo_.err = jpeg_std_error(&err_.pub);
        err_.pub.error_exit = on_error;
        err_.pub.emit_message = on_message;
        err_.warnings = &warnings_;
        if (setjmp(err_.jump)) return false;
        jpeg_create_decompress(&cinfo_);
        open_ = true;
        attach(cinfo_, src_, file_);
        jpeg_read_header(&cinfo_, TRUE);
        if (cinfo_.jpeg_color_space == JCS_CMYK || cinfo_.jpeg_color_space == JCS_YCCK) return false;
        // A progressive file is held whole by libjpeg anyway (every coefficient until the last
        // scan): nothing to gain.
        if (jpeg_has_multiple_scans(&cinfo_)) return false;
        cinfo_.out_color_space = cinfo_.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
        if (shrink > 1) {
            cinfo_.scale_num = 1;
            cinfo_.scale_denom = shrink;
        }
        jpeg_start_decompress(&cinfo_);
        full_width = static_cast<int>(cinfo_.output_width);
        if (x1 > x0) {
            JDIMENSION off = static_cast<JDIMENSION>(x0), w = static_cast<JDIMENSION>(x1 - x0);
            jpeg_crop_scanline(&cinfo_, &off, &w);
            x_offset = static_cast<int>(off);
        }
        width = static_cast<int>(cinfo_.output_width);
        height = static_cast<int>(cinfo_.output_height);
        channels = cinfo_.output_components;
        return warnings_.empty();
    }
    int full_width = 0, x_offset = 0;
    struct stat st {};  ///< the file opened
    bool read(uint8_t* dst, int n) override {
        if (setjmp(err_.jump)) return false;
        const size_t stride = static_cast<size_t>(width) * channels;
        for (int i = 0; i < n; ++i) {
            JSAMPROW row = dst + i * stride;
            if (jpeg_read_scanlines(&cinfo_, &row, 1) != 1) return false;
        }
        if (cinfo_.output_scanline == cinfo_.output_height) {
            err_.finishing = true;
            jpeg_finish_decompress(&cinfo_);
        }
        return warnings_.empty();
    }

private:
    jpeg_decompress_struct cinfo_;
    ErrorManager err_;
    Source src_;
    std::vector<Message> warnings_;
    std::FILE* file_ = nullptr;
    bool open_ = false;
};

}  // namespace

std::unique_ptr<RowReader> jpeg_rows(const std::string& path, unsigned shrink) {
    auto r = std::make_unique<JpegRows>();
    if (!r->open(path, shrink)) return nullptr;
    return r;
}

namespace {

/// Rows of a pulled read, decoded as they are asked for. Anything a full decode would report (a
/// warning, an error, a file that changed) ends the streamed run; the command then runs again
/// with the ordinary read, which reports it.
class PulledRows final : public Pixels::Producer {
public:
    PulledRows(std::string path, unsigned shrink, std::unique_ptr<JpegRows> r)
        : path_(std::move(path)),
          shrink_(shrink),
          st_(r->st),
          reader_(std::move(r)),
          w_(reader_->width),
          h_(reader_->height),
          ch_(reader_->channels) {}
    void restart() override {
        auto r = std::make_unique<JpegRows>();
        if (!r->open(path_, shrink_) || !same(*r)) throw StreamAbort{};
        reader_ = std::move(r);
    }
    void produce(Pixels& px, int y0, int y1) override {
        try {
            for (int y = y0; y < y1; ++y)
                if (!reader_->read(px.row(y), 1)) throw StreamAbort{};
        } catch (const Error&) {
            throw StreamAbort{};  // (a tier's failure: the ordinary run reports it)
        }
    }
    /// A decode of the whole file keeping columns [x0, x1): iMCU columns around them with a
    /// margin, as region-on-load decodes a crop (the margin keeps the upsampled chroma at the
    /// edges that of the full decode), so the pixels are the full decode's.
    std::shared_ptr<Pixels> columns(int x0, int x1) override {
        if (shrink_ != 1 || x0 < 0 || x1 > w_ || x0 >= x1) return nullptr;
        constexpr int kMargin = 16;
        JpegRows r;
        if (!r.open(path_, 1, std::max(0, x0 - kMargin), std::min(w_, x1 + kMargin)) || r.full_width != w_ ||
            !same(r) || r.x_offset > x0 || r.x_offset + r.width < x1)
            throw StreamAbort{};
        auto band = std::make_shared<Pixels>(x1 - x0, h_, ch_, 1);
        std::vector<uint8_t> line(static_cast<size_t>(r.width) * ch_);
        const size_t from = static_cast<size_t>(x0 - r.x_offset) * ch_;
        try {
            for (int y = 0; y < h_; ++y) {
                if (!r.read(line.data(), 1)) throw StreamAbort{};
                std::memcpy(band->row(y), line.data() + from, band->stride());
            }
        } catch (const Error&) {
            throw StreamAbort{};
        }
        return band;
    }

private:
    /// The file of the first pass, unchanged (a file replaced or rewritten between passes would
    /// mix two images), decoding to the same size.
    bool same(const JpegRows& r) const {
        return r.st.st_dev == st_.st_dev && r.st.st_ino == st_.st_ino && r.st.st_size == st_.st_size &&
               r.st.st_mtim.tv_sec == st_.st_mtim.tv_sec && r.st.st_mtim.tv_nsec == st_.st_mtim.tv_nsec &&
               r.height == h_ && r.channels == ch_ && r.full_width == w_;
    }
    std::string path_;
    unsigned shrink_;
    struct stat st_;
    std::unique_ptr<JpegRows> reader_;
    int w_, h_, ch_;
};

}  // namespace

std::shared_ptr<Pixels> pulled_pixels(const std::string& path, unsigned shrink, size_t w, size_t h) {
    auto r = std::make_unique<JpegRows>();
    if (!r->open(path, shrink) || static_cast<size_t>(r->width) != w || static_cast<size_t>(r->height) != h)
        return nullptr;
    auto px = std::make_shared<Pixels>(r->width, r->height, r->channels, 1);
    px->set_producer(std::make_unique<PulledRows>(path, shrink, std::move(r)));
    return px;
}

namespace {

void write_marker_profile(jpeg_compress_struct& c, int marker, const char* header, size_t header_len,
                          const unsigned char* data, size_t len) {
    const size_t max_payload = 65533 - header_len;
    if (len > max_payload) return;  // ImageMagick also drops over-long single markers
    jpeg_write_m_header(&c, marker, static_cast<unsigned>(len + header_len));
    for (size_t i = 0; i < header_len; ++i) jpeg_write_m_byte(&c, header[i]);
    for (size_t i = 0; i < len; ++i) jpeg_write_m_byte(&c, data[i]);
}

struct EncodeParams {
    int quality;
    bool progressive;
    int h_samp, v_samp;  // luma sampling; chroma 1x1
};

EncodeParams encode_params(const ::Image* s, const WriteRequest& req) {
    EncodeParams p{92, false, 1, 1};
    bool jpeg_source = strcasecmp(s->magick, "JPEG") == 0 || strcasecmp(s->magick, "JPG") == 0;
    if (req.info->quality != 0 && req.info->quality <= 100)
        p.quality = static_cast<int>(req.info->quality);
    else if (s->quality != 0 && s->quality <= 100 && (jpeg_source || GetImageOption(req.info, "quality")))
        p.quality = static_cast<int>(s->quality);
    InterlaceType il = req.info->interlace != UndefinedInterlace ? req.info->interlace : s->interlace;
    p.progressive =
        il == JPEGInterlace || il == LineInterlace || il == PlaneInterlace || il == PartitionInterlace;
    // Same precedence as ImageMagick: -sampling-factor, else the define, else the factors the
    // input JPEG had; without any, 1x1 at quality >= 90 and libjpeg's 2x2 below.
    const char* sf = GetImageOption(req.info, "jpeg:sampling-factor");
    if (!sf) sf = GetImageProperty(s, "jpeg:sampling-factor");
    if (req.info->sampling_factor) sf = req.info->sampling_factor;
    if (sf && std::strchr(sf, ':')) {
        int a = 4, b = 4, c = 4;
        std::sscanf(sf, "%d:%d:%d", &a, &b, &c);
        p.h_samp = b ? a / b : 2;
        p.v_samp = c == 0 ? 2 : 1;
    } else if (sf) {
        GeometryInfo g;
        std::string first(sf, std::strcspn(sf, ","));
        MagickStatusType flags = ParseGeometry(first.c_str(), &g);
        if (!(flags & SigmaValue)) g.sigma = g.rho;
        p.h_samp = static_cast<int>(g.rho);
        p.v_samp = static_cast<int>(g.sigma);
    } else if (p.quality < 90) {
        p.h_samp = p.v_samp = 2;
    }
    if (p.h_samp < 1 || p.h_samp > 4) p.h_samp = 2;
    if (p.v_samp < 1 || p.v_samp > 4) p.v_samp = 2;
    return p;
}

/// WriteJPEGImage's SetImageGray: an sRGB image whose pixels are all gray is written with one
/// component, unless -type TrueColor is set or colorspace:auto-grayscale is false.
bool gray_pixels(const Image& image, const WriteRequest& req) {
    const ::Image* s = image.shell();
    if (req.info->type == TrueColorType) return false;
    const char* autogray = GetImageProperty(s, "colorspace:auto-grayscale");
    if (autogray && IsStringNotFalse(autogray) == MagickFalse) return false;
    const Pixels& px = image.pixels();
    const int ch = px.channels();
    if (ch < 3) return false;
    for (int y = 0; y < px.height(); ++y) {
        if (px.bytes_per_sample() == 1) {
            const uint8_t* r = px.row(y);
            for (int x = 0; x < px.width(); ++x, r += ch)
                if (r[0] != r[1] || r[1] != r[2]) return false;
        } else {
            const uint16_t* r = px.row16(y);
            for (int x = 0; x < px.width(); ++x, r += ch)
                if (r[0] != r[1] || r[1] != r[2]) return false;
        }
    }
    return true;
}

const char* jpeg_write_declines(const Image& image, const WriteRequest&) {
    const Layout l = image.layout();
    return !native_colorspace(image.shell()) || (l.alpha && l.gray()) ? "layout" : nullptr;
}

void write_jpeg(Image& image, const WriteRequest& req) {
    if (const char* why = jpeg_write_declines(image, req)) throw Decline{why};
    const Pixels& px = image.pixels();
    const ::Image* s = image.shell();
    Layout l = image.layout();
    EncodeParams p = encode_params(s, req);
    // 16-bit pixels are reduced row by row; alpha is dropped as ImageMagick does for JPEG.
    const int in_ch = px.channels();
    const int out_ch = l.gray() || gray_pixels(image, req) ? 1 : 3;
    std::vector<JSAMPLE> row(static_cast<size_t>(px.width()) * out_ch);

    // Huffman optimisation (ImageMagick's default, as long as its memory resource allows) makes
    // libjpeg keep every DCT coefficient of the image until the end: 2 bytes per sample per
    // component at the sampling used. mtool optimises when that buffer is no larger than the
    // pixels already held (e.g. 4:2:0) or fits in half the memory budget, which it is then
    // charged to (strips make room); otherwise it writes standard tables: identical pixels, a
    // few per cent larger file. -define jpeg:optimize-coding=true|false decides explicitly.
    const double luma = static_cast<double>(px.width()) * px.height();
    const double coef = 2.0 * (out_ch == 1 ? luma : luma * (1.0 + 2.0 / (p.h_samp * p.v_samp)));
    // (A streamed image holds only a few bands of its pixels.)
    const bool beyond_pixels = coef > (px.streamed() ? 0.0 : static_cast<double>(px.size_bytes()));
    const volatile bool optimize = [&] {  // volatile: read after the setjmp below
        if (const char* o = GetImageOption(req.info, "jpeg:optimize-coding"))
            return IsStringTrue(o) != MagickFalse;
        // ImageMagick's own test: its memory resource can take one byte per sample of the image
        // (false under -limit memory 0, so the tiers write what ImageMagick writes there).
        const MagickSizeType length = static_cast<MagickSizeType>(out_ch) * px.width() * px.height();
        if (AcquireMagickResource(MemoryResource, length) == MagickFalse) return false;
        RelinquishMagickResource(MemoryResource, length);
        // A streamed image holds a few bands, not its pixels: the coefficients would be most of
        // the memory the command uses, so it gets standard tables (identical pixels).
        if (px.streamed()) return false;
        return !beyond_pixels || coef <= static_cast<double>(px.manager().budgets().memory) / 2;
    }();
    cache::Scratch coefficients;
    if (optimize && beyond_pixels) coefficients = cache::Scratch(px.manager(), static_cast<uint64_t>(coef));

    jpeg_compress_struct c;
    std::memset(&c, 0, sizeof c);
    JpegGuard<jpeg_compress_struct> guard{&c};
    ErrorManager err;
    c.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error;
    err.pub.emit_message = on_message;
    err.warnings = nullptr;
    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&c);
        throw Error(Severity::coder_error, err.message, req.path, "jpeg.c/JPEGErrorHandler/338");
    }
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, req.file);
    c.image_width = px.width();
    c.image_height = px.height();
    c.input_components = out_ch;
    c.in_color_space = out_ch == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, p.quality, TRUE);
    c.dct_method = p.quality <= 90 ? JDCT_IFAST : JDCT_ISLOW;  // ImageMagick's choice
    c.optimize_coding = optimize ? TRUE : FALSE;
    if (out_ch == 3) {
        c.comp_info[0].h_samp_factor = p.h_samp;
        c.comp_info[0].v_samp_factor = p.v_samp;
        c.comp_info[1].h_samp_factor = c.comp_info[1].v_samp_factor = 1;
        c.comp_info[2].h_samp_factor = c.comp_info[2].v_samp_factor = 1;
    }
    if (s->x_resolution > 0 && s->y_resolution > 0 && s->units != UndefinedResolution) {
        c.write_JFIF_header = TRUE;
        c.density_unit = s->units == PixelsPerInchResolution ? 1 : 2;
        c.X_density = static_cast<UINT16>(s->x_resolution + 0.5);
        c.Y_density = static_cast<UINT16>(s->y_resolution + 0.5);
    }
    if (p.progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    // Like WriteImage: the EXIF orientation and resolution tags follow the image's attributes
    // (an auto-oriented image must not be rotated again by viewers).
    SyncImageProfiles(const_cast<::Image*>(s));
    if (const char* comment = GetImageProperty(s, "comment"))
        jpeg_write_marker(&c, JPEG_COM, reinterpret_cast<const JOCTET*>(comment),
                          static_cast<unsigned>(std::strlen(comment)));
    ResetImageProfileIterator(s);
    for (char* name = GetNextImageProfile(s); name; name = GetNextImageProfile(s)) {
        const StringInfo* prof = GetImageProfile(s, name);
        const unsigned char* d = GetStringInfoDatum(prof);
        size_t n = GetStringInfoLength(prof);
        if (strcasecmp(name, "icc") == 0)
            jpeg_write_icc_profile(&c, d, static_cast<unsigned>(n));
        else if (strcasecmp(name, "exif") == 0)
            write_marker_profile(c, JPEG_APP0 + 1, "", 0, d, n);
        else if (strcasecmp(name, "xmp") == 0)
            write_marker_profile(c, JPEG_APP0 + 1, "http://ns.adobe.com/xap/1.0/", 29, d, n);
        else if (strcasecmp(name, "iptc") == 0 || strcasecmp(name, "8bim") == 0)
            write_marker_profile(c, JPEG_APP0 + 13, "", 0, d, n);
    }
    for (int y = 0; y < px.height(); ++y) {
        const int w = px.width();
        if (px.bytes_per_sample() == 1 && in_ch == out_ch) {
            JSAMPROW r = const_cast<JSAMPLE*>(px.row(y));
            jpeg_write_scanlines(&c, &r, 1);
            continue;
        }
        for (int x = 0; x < w; ++x)
            for (int ch = 0; ch < out_ch; ++ch) {
                size_t i = static_cast<size_t>(x) * in_ch + ch;
                row[static_cast<size_t>(x) * out_ch + ch] =
                    px.bytes_per_sample() == 1 ? px.row(y)[i]
                                               : static_cast<JSAMPLE>((px.row16(y)[i] + 128) / 257);
            }
        JSAMPROW r = row.data();
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
}

}  // namespace

extern const CodecSpec jpeg_codec{"JPEG",
                                  {"JPEG", "JPG", "JPE"},
                                  100,
                                  &sniff_jpeg,
                                  &read_jpeg,
                                  &write_jpeg,
                                  "Joint Photographic Experts Group JFIF format (libjpeg-turbo)",
                                  &jpeg_write_declines};

}  // namespace mtool::codecs
