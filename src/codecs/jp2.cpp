// Native JPEG 2000 (.jp2 file format and .j2k codestream) through OpenJPEG.
//
// Decode: tiled files are decoded tile by tile straight into the image rows, so OpenJPEG never
// holds more than one tile; untiled files (one tile by definition) are decoded whole. Resolution
// levels are dropped at decode time for `-define jp2:reduce-factor=N` (ImageMagick's define) and
// automatically when the next operator is `-thumbnail` and the image stays at least twice the
// thumbnail size. Values are scaled to Q16 exactly as coders/jp2.c does.
//
// Encode: the parameters of ImageMagick's writer (lossless by default, `-quality Q` as a PSNR
// target, jp2:quality/rate/progression-order/number-resolutions, -extract tiles). Images above
// kAutoTileArea pixels are written in 1024x1024 tiles fed row-band by row-band, so the encoder
// holds one tile instead of a 32-bit copy of the whole image.
#include <strings.h>
#include <sys/types.h>

#include <openjpeg.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "src/codecs/common.h"

namespace mtool::codecs {
namespace {

constexpr size_t kAutoTileArea = size_t{4096} * 4096;
constexpr int kAutoTile = 1024;

bool is_j2k(const unsigned char* h, size_t n) { return n >= 4 && std::memcmp(h, "\xff\x4f\xff\x51", 4) == 0; }

bool sniff_jp2(const unsigned char* h, size_t n) {
    if (is_j2k(h, n)) return true;
    if (n >= 4 && std::memcmp(h, "\x0d\x0a\x87\x0a", 4) == 0) return true;
    return n >= 12 && std::memcmp(h, "\x00\x00\x00\x0c\x6a\x50\x20\x20\x0d\x0a\x87\x0a", 12) == 0;
}

// ---- OpenJPEG plumbing ----------------------------------------------------------------------

struct Log {
    std::vector<std::string> warnings;
    std::string error;
};

std::string trimmed(const char* msg) {
    std::string s = msg ? msg : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

void on_warning(const char* msg, void* data) { static_cast<Log*>(data)->warnings.push_back(trimmed(msg)); }
void on_error(const char* msg, void* data) {
    Log* log = static_cast<Log*>(data);
    if (log->error.empty()) log->error = trimmed(msg);
}

struct CodecDel {
    void operator()(opj_codec_t* c) const { opj_destroy_codec(c); }
};
struct StreamDel {
    void operator()(opj_stream_t* s) const { opj_stream_destroy(s); }
};
struct ImageDel {
    void operator()(opj_image_t* i) const { opj_image_destroy(i); }
};
struct InfoDel {
    void operator()(opj_codestream_info_v2_t* i) const { opj_destroy_cstr_info(&i); }
};
using CodecPtr = std::unique_ptr<opj_codec_t, CodecDel>;
using StreamPtr = std::unique_ptr<opj_stream_t, StreamDel>;
using OpjImagePtr = std::unique_ptr<opj_image_t, ImageDel>;
using InfoPtr = std::unique_ptr<opj_codestream_info_v2_t, InfoDel>;

OPJ_SIZE_T file_read(void* buf, OPJ_SIZE_T n, void* f) {
    size_t got = std::fread(buf, 1, n, static_cast<std::FILE*>(f));
    return got == 0 ? static_cast<OPJ_SIZE_T>(-1) : got;
}
OPJ_SIZE_T file_write(void* buf, OPJ_SIZE_T n, void* f) {
    return std::fwrite(buf, 1, n, static_cast<std::FILE*>(f)) == n ? n : static_cast<OPJ_SIZE_T>(-1);
}
OPJ_OFF_T file_skip(OPJ_OFF_T n, void* f) {
    return fseeko(static_cast<std::FILE*>(f), n, SEEK_CUR) == 0 ? n : -1;
}
OPJ_BOOL file_seek(OPJ_OFF_T n, void* f) { return fseeko(static_cast<std::FILE*>(f), n, SEEK_SET) == 0; }

StreamPtr file_stream(std::FILE* f, bool input) {
    StreamPtr s(opj_stream_create(size_t{1} << 20, input ? OPJ_TRUE : OPJ_FALSE));
    if (!s) return s;
    opj_stream_set_user_data(s.get(), f, nullptr);
    if (input) {
        fseeko(f, 0, SEEK_END);
        opj_stream_set_user_data_length(s.get(), static_cast<OPJ_UINT64>(ftello(f)));
        fseeko(f, 0, SEEK_SET);
        opj_stream_set_read_function(s.get(), file_read);
    } else {
        opj_stream_set_write_function(s.get(), file_write);
    }
    opj_stream_set_skip_function(s.get(), file_skip);
    opj_stream_set_seek_function(s.get(), file_seek);
    return s;
}

uint32_t be32(const unsigned char* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

/// What the JP2 header boxes say, as far as the decoder's path depends on it.
struct HeaderBoxes {
    bool channel_boxes = false;  ///< pclr/cmap/cdef: OpenJPEG applies them only in a whole decode
    int enumcs = -1;             ///< colr box enumerated colour space, -1 if none
};

HeaderBoxes header_boxes(std::FILE* f) {
    HeaderBoxes out;
    unsigned char hdr[16];
    off_t at = 0;
    for (int boxes = 0; boxes < 64; ++boxes) {
        if (fseeko(f, at, SEEK_SET) != 0 || std::fread(hdr, 1, 8, f) != 8) return out;
        uint64_t len = be32(hdr);
        size_t head = 8;
        if (len == 1) {
            if (std::fread(hdr + 8, 1, 8, f) != 8) return out;
            len = uint64_t{be32(hdr + 8)} << 32 | be32(hdr + 12);
            head = 16;
        }
        if (std::memcmp(hdr + 4, "jp2h", 4) == 0) {
            if (len < head || len - head > (1u << 24)) {
                out.channel_boxes = true;  // unreadable: take the whole-image path
                return out;
            }
            std::vector<unsigned char> body(len - head);
            if (std::fread(body.data(), 1, body.size(), f) != body.size()) {
                out.channel_boxes = true;
                return out;
            }
            for (size_t p = 0; p + 8 <= body.size();) {
                uint32_t blen = be32(&body[p]);
                const unsigned char* type = &body[p + 4];
                if (!std::memcmp(type, "pclr", 4) || !std::memcmp(type, "cmap", 4) ||
                    !std::memcmp(type, "cdef", 4))
                    out.channel_boxes = true;
                if (!std::memcmp(type, "colr", 4) && blen >= 15 && p + 15 <= body.size() &&
                    body[p + 8] == 1 && out.enumcs < 0)
                    out.enumcs = static_cast<int>(be32(&body[p + 11]));
                if (blen < 8) break;
                p += blen;
            }
            return out;
        }
        if (std::memcmp(hdr + 4, "jp2c", 4) == 0 || len == 0 || len < head) return out;
        at += static_cast<off_t>(len);
    }
    return out;
}

/// OpenJPEG's colour space for a colr enumeration (jp2.c, "Set Image Color Space").
OPJ_COLOR_SPACE space_of(int enumcs) {
    switch (enumcs) {
        case 16:
            return OPJ_CLRSPC_SRGB;
        case 17:
            return OPJ_CLRSPC_GRAY;
        case 18:
            return OPJ_CLRSPC_SYCC;
        case 24:
            return OPJ_CLRSPC_EYCC;
        case 12:
            return OPJ_CLRSPC_CMYK;
        default:
            return OPJ_CLRSPC_UNKNOWN;
    }
}

/// The layout coders/jp2.c gives `ncomp` components in colour space `cs`; Decline for the
/// cases it maps to YCbCr or to a layout mtool does not hold natively.
Layout layout_for(int ncomp, OPJ_COLOR_SPACE cs) {
    Layout l;
    if (ncomp == 1) {
        l.color_channels = 1;
    } else if (cs == OPJ_CLRSPC_GRAY) {
        if (ncomp != 2) throw Decline{"gray with extra components"};
        l.color_channels = 1;
        l.alpha = true;
    } else if (cs == OPJ_CLRSPC_SYCC) {
        throw Decline{"YCbCr"};
    } else if (ncomp == 3 || ncomp == 4) {
        l.alpha = ncomp == 4;
    } else {
        throw Decline{"components"};
    }
    return l;
}

/// The shell attributes SetImageColorspace(GRAY) and the matte flag give the decoded image,
/// without touching a pixel cache.
void conform_shell(::Image* s, const Layout& l) {
    if (l.gray() && s->colorspace != GRAYColorspace) {
        s->colorspace = GRAYColorspace;
        s->rendering_intent = UndefinedIntent;
        s->gamma = 1.0 / 2.2;
        std::memset(&s->chromaticity, 0, sizeof s->chromaticity);
        s->type = GrayscaleType;
    }
    s->matte = l.alpha ? MagickTrue : MagickFalse;
}

// ---- decode ---------------------------------------------------------------------------------

/// ClampToQuantum of a Q16 build.
uint16_t clamp_q16(double v) {
    if (v <= 0.0) return 0;
    if (v >= 65535.0) return 65535;
    return static_cast<uint16_t>(v + 0.5);
}

/// Maps decoded component values to stored samples as coders/jp2.c scales them into Q16.
struct Scaler {
    int offset;  ///< added to signed components
    int bps;     ///< 1 when the Q16 value is an exact multiple of 257 for every input
    std::vector<uint16_t> color, alpha;

    Scaler(int p, bool sgnd) : offset(sgnd ? 1 << (p - 1) : 0) {
        bps = (p == 1 || p == 2 || p == 4 || p == 8) ? 1 : 2;
        const int max = (1 << p) - 1;
        const double scale = 65535.0 / static_cast<double>(max);
        color.resize(max + 1);
        alpha.resize(max + 1);
        for (int v = 0; v <= max; ++v) {
            double pixel = scale * v;
            uint16_t c = clamp_q16(pixel), a = static_cast<uint16_t>(65535 - clamp_q16(65535.0 - pixel));
            color[v] = bps == 1 ? static_cast<uint16_t>(c / 257) : c;
            alpha[v] = bps == 1 ? static_cast<uint16_t>(a / 257) : a;
        }
    }
    uint16_t get(int raw, bool is_alpha) const {
        int v = std::clamp(raw + offset, 0, static_cast<int>(color.size()) - 1);
        return is_alpha ? alpha[v] : color[v];
    }
};

template <typename T>
void store_row(Pixels& px, int y, int x0, int n, int c, const T* src, const Scaler& sc, bool is_alpha) {
    const int ch = px.channels();
    if (px.bytes_per_sample() == 1) {
        uint8_t* d = px.row(y) + static_cast<size_t>(x0) * ch + c;
        for (int x = 0; x < n; ++x, d += ch)
            *d = static_cast<uint8_t>(sc.get(static_cast<int>(src[x]), is_alpha));
    } else {
        uint16_t* d = px.row16(y) + static_cast<size_t>(x0) * ch + c;
        for (int x = 0; x < n; ++x, d += ch) *d = sc.get(static_cast<int>(src[x]), is_alpha);
    }
}

/// Reduction chosen for a `-thumbnail` geometry read next: the largest 2^r that keeps the
/// decoded image at least twice the thumbnail in both directions.
/// The resolution levels to drop for a target size: the most that keep the decode at least twice
/// the target on both sides.
int shrink_reduction(ShrinkTarget t, uint32_t w, uint32_t h, int max_r) {
    if (!t.any()) return 0;
    int r = 0;
    while (r < max_r) {
        uint64_t rw = (uint64_t{w} + (uint64_t{1} << (r + 1)) - 1) >> (r + 1);
        uint64_t rh = (uint64_t{h} + (uint64_t{1} << (r + 1)) - 1) >> (r + 1);
        if (rw < 2 * t.w || rh < 2 * t.h) break;
        ++r;
    }
    return r;
}

int define_int(const ::ImageInfo* info, const char* key, int fallback) {
    const char* v = GetImageOption(info, key);
    return v ? static_cast<int>(std::strtol(v, nullptr, 10)) : fallback;
}

Image read_jp2(const ReadRequest& req) {
    auto file = open_input(req);
    unsigned char head[12] = {};
    size_t n = std::fread(head, 1, sizeof head, file.get());
    const bool j2k = is_j2k(head, n);
    magick::ImagePtr shell = ping_shell(req, j2k ? "J2K" : "JP2");
    if (req.info->ping && !req.plan) return Image(std::move(shell));

    Log log;
    CodecPtr codec(opj_create_decompress(j2k ? OPJ_CODEC_J2K : OPJ_CODEC_JP2));
    opj_set_warning_handler(codec.get(), on_warning, &log);
    opj_set_error_handler(codec.get(), on_error, &log);
    opj_dparameters_t params;
    opj_set_default_decoder_parameters(&params);
    const int explicit_reduce = define_int(req.info, "jp2:reduce-factor", -1);
    const char* layers = GetImageOption(req.info, "jp2:quality-layers");
    if (!layers) layers = GetImageOption(req.info, "jp2:layer-number");
    if (layers) params.cp_layer = static_cast<OPJ_UINT32>(std::strtol(layers, nullptr, 10));
    if (explicit_reduce > 0) params.cp_reduce = static_cast<OPJ_UINT32>(explicit_reduce);

    if (!opj_setup_decoder(codec.get(), &params)) throw Decline{"setup"};
    opj_codec_set_threads(codec.get(), std::max(1, req.ctx.threads));
    const HeaderBoxes boxes = j2k ? HeaderBoxes{} : header_boxes(file.get());
    StreamPtr stream = file_stream(file.get(), true);
    if (!stream) throw Decline{"stream"};
    opj_image_t* raw = nullptr;
    if (!opj_read_header(stream.get(), codec.get(), &raw)) {
        if (raw) opj_image_destroy(raw);
        throw Decline{"header: " + log.error};  // ImageMagick words the error
    }
    OpjImagePtr img(raw);
    const int ncomp = static_cast<int>(img->numcomps);
    if (ncomp < 1 || ncomp > 4) throw Decline{"components"};
    const int prec = static_cast<int>(img->comps[0].prec);
    if (prec < 1 || prec > 16) throw Decline{"precision"};
    for (int c = 0; c < ncomp; ++c) {
        const opj_image_comp_t& k = img->comps[c];
        if (k.dx != 1 || k.dy != 1 || static_cast<int>(k.prec) != prec || k.sgnd != img->comps[0].sgnd)
            throw Decline{"component geometry"};
    }
    Scaler scale(prec, img->comps[0].sgnd != 0);
    InfoPtr cinfo(opj_get_cstr_info(codec.get()));
    // Shrink-on-load: drop the resolution levels the geometry step after the read does not need
    // (their count is known from the main header just read).
    if (explicit_reduce < 0 && !req.shrink_hint.empty() && cinfo && cinfo->m_default_tile_info.tccp_info) {
        const int levels = static_cast<int>(cinfo->m_default_tile_info.tccp_info[0].numresolutions) - 1;
        const ShrinkTarget t = shrink_target(req, img->x1 - img->x0, img->y1 - img->y0);
        const int r = shrink_reduction(t, img->x1 - img->x0, img->y1 - img->y0, std::min(levels, 5));
        if (r > 0 && opj_set_decoded_resolution_factor(codec.get(), static_cast<OPJ_UINT32>(r))) {
            params.cp_reduce = static_cast<OPJ_UINT32>(r);
            mark_shrunk(shell.get(), t);
        }
    }
    if (req.plan) {
        std::string how = "whole";
        if (params.cp_reduce > 0) {
            const int d = 1 << params.cp_reduce;
            shell = shell_like(shell.get(), static_cast<int>((img->x1 - img->x0 + d - 1) / d),
                               static_cast<int>((img->y1 - img->y0 + d - 1) / d));
            how = "at 1/" + std::to_string(d) + " resolution (" + std::to_string(params.cp_reduce) +
                  " levels dropped)";
        }
        SetImageArtifact(shell.get(), kPlanDecodeArtifact, how.c_str());
        return Image(std::move(shell));
    }
    const bool tiled = cinfo && cinfo->tw * cinfo->th > 1 && params.cp_reduce == 0 && img->x0 == 0 &&
                       img->y0 == 0 && !boxes.channel_boxes && cinfo->tx0 == 0 && cinfo->ty0 == 0;

    std::shared_ptr<Pixels> px;
    Layout want;
    if (tiled) {
        // The whole-image decode sets the colour space from the colr box; the tile path does not.
        want = layout_for(ncomp, j2k ? img->color_space : space_of(boxes.enumcs));
        const int w = static_cast<int>(img->x1), h = static_cast<int>(img->y1);
        px = std::make_shared<Pixels>(w, h, ncomp, scale.bps);
        const int sample = prec <= 8 ? 1 : 2;
        std::vector<uint8_t> buf;
        OPJ_BOOL go_on = OPJ_TRUE;
        while (go_on) {
            OPJ_UINT32 index = 0, comps = 0, size = 0;
            OPJ_INT32 x0 = 0, y0 = 0, x1 = 0, y1 = 0;
            if (!opj_read_tile_header(codec.get(), stream.get(), &index, &size, &x0, &y0, &x1, &y1, &comps,
                                      &go_on))
                throw Decline{"tile: " + log.error};
            if (!go_on) break;
            const int tw = x1 - x0, th = y1 - y0;
            if (x0 < 0 || y0 < 0 || x1 > w || y1 > h || tw <= 0 || th <= 0 ||
                static_cast<int>(comps) != ncomp || size != static_cast<OPJ_UINT32>(tw) * th * sample * ncomp)
                throw Decline{"tile geometry"};
            buf.resize(size);
            if (!opj_decode_tile_data(codec.get(), index, buf.data(), size, stream.get()))
                throw Decline{"tile data: " + log.error};
            for (int c = 0; c < ncomp; ++c) {
                const bool a = want.alpha && c == ncomp - 1;
                const uint8_t* plane = buf.data() + static_cast<size_t>(c) * tw * th * sample;
                for (int r = 0; r < th; ++r) {
                    const size_t off = static_cast<size_t>(r) * tw;
                    if (sample == 1) {
                        if (img->comps[c].sgnd)
                            store_row(*px, y0 + r, x0, tw, c, reinterpret_cast<const int8_t*>(plane) + off,
                                      scale, a);
                        else
                            store_row(*px, y0 + r, x0, tw, c, plane + off, scale, a);
                    } else {
                        if (img->comps[c].sgnd)
                            store_row(*px, y0 + r, x0, tw, c, reinterpret_cast<const int16_t*>(plane) + off,
                                      scale, a);
                        else
                            store_row(*px, y0 + r, x0, tw, c, reinterpret_cast<const uint16_t*>(plane) + off,
                                      scale, a);
                    }
                }
            }
        }
        if (!opj_end_decompress(codec.get(), stream.get())) throw Decline{"end: " + log.error};
    } else {
        if (!opj_set_decode_area(codec.get(), img.get(), 0, 0, 0, 0) ||
            !opj_decode(codec.get(), stream.get(), img.get()) ||
            !opj_end_decompress(codec.get(), stream.get()))
            throw Decline{"decode: " + log.error};
        if (static_cast<int>(img->numcomps) != ncomp) throw Decline{"components after decode"};
        want = layout_for(ncomp, img->color_space);
        const int w = static_cast<int>(img->comps[0].w), h = static_cast<int>(img->comps[0].h);
        for (int c = 0; c < ncomp; ++c)
            if (!img->comps[c].data || static_cast<int>(img->comps[c].w) != w ||
                static_cast<int>(img->comps[c].h) != h)
                throw Decline{"component data"};
        px = std::make_shared<Pixels>(w, h, ncomp, scale.bps);
        for (int y = 0; y < h; ++y)
            for (int c = 0; c < ncomp; ++c)
                store_row(*px, y, 0, w, c, img->comps[c].data + static_cast<size_t>(y) * w, scale,
                          want.alpha && c == ncomp - 1);
    }
    file.reset();
    for (const auto& m : log.warnings)
        req.ctx.diag.add(Diagnostic{Severity::warning, format_diagnostic(Severity::warning, m, "OpenJP2",
                                                                         "jp2.c/JP2WarningHandler/237")});
    if (px->width() != static_cast<int>(shell->columns) || px->height() != static_cast<int>(shell->rows))
        shell = shell_like(shell.get(), px->width(), px->height());
    shell->depth = static_cast<size_t>(prec);
    conform_shell(shell.get(), want);
    if (!native_colorspace(shell.get())) throw Decline{"colorspace"};
    return Image(std::move(shell), std::move(px));
}

// ---- encode ---------------------------------------------------------------------------------

int resolutions_for(size_t w, size_t h) {  // coders/jp2.c CalculateNumResolutions
    int i = 1;
    for (; i < 6; ++i)
        if (w < (size_t{1} << i) || h < (size_t{1} << i)) break;
    return i;
}

/// Parses ImageMagick's comma list of floats into `out`; returns the count.
int float_list(const char* s, float* out, int max) {
    int i = 0;
    for (const char* p = s; i < max;) {
        if (std::sscanf(p, "%f", &out[i]) != 1) break;
        ++i;
        while (*p && *p != ',') ++p;
        if (!*p) break;
        ++p;
    }
    return i;
}

Error encode_error(const WriteRequest& req, const Log& log) {
    if (!log.error.empty())
        return Error(Severity::coder_error, log.error, "OpenJP2", "jp2.c/JP2ErrorHandler/194");
    return Error(Severity::coder_error, "unable to encode image file", req.path, "jp2.c/WriteJP2Image/1141");
}

void write_jp2(Image& image, const WriteRequest& req) {
    ::Image* s = image.shell();
    const bool j2k = strcasecmp(req.magick.c_str(), "J2K") == 0;
    if (!j2k && strcasecmp(req.magick.c_str(), "JP2") != 0) throw Decline{req.magick};
    if (!native_colorspace(s) || req.info->sampling_factor) throw Decline{"settings"};
    const Layout l = image.layout();
    if (l.cmyk()) throw Decline{"cmyk"};
    const Pixels& px = image.pixels();
    const int w = px.width(), h = px.height(), ch = px.channels();
    const int depth = std::clamp(static_cast<int>(s->depth), 1, 16);
    if (depth == 12 && (w == 2048 || h == 1080 || w == 4096 || h == 2160)) throw Decline{"cinema profile"};
    const int prec = depth == 1 && !j2k ? 2 : depth;

    opj_cparameters_t p;
    opj_set_default_encoder_parameters(&p);
    const char* opt = GetImageOption(req.info, "jp2:number-resolutions");
    p.numresolution = opt ? static_cast<int>(std::strtol(opt, nullptr, 10)) : resolutions_for(w, h);
    p.tcp_numlayers = 1;
    p.tcp_rates[0] = 0;
    p.cp_disto_alloc = 1;
    if (req.info->quality != 0 && req.info->quality != 100) {
        p.tcp_distoratio[0] = static_cast<float>(req.info->quality);
        p.cp_fixed_quality = OPJ_TRUE;
        p.cp_disto_alloc = 0;
    }
    if (req.info->extract) {
        RectangleInfo g{};
        MagickStatusType flags = ParseAbsoluteGeometry(req.info->extract, &g);
        p.cp_tdx = static_cast<int>(g.width);
        p.cp_tdy = static_cast<int>((flags & HeightValue) ? g.height : g.width);
        if (flags & XValue) p.cp_tx0 = static_cast<int>(g.x);
        if (flags & YValue) p.cp_ty0 = static_cast<int>(g.y);
        p.tile_size_on = OPJ_TRUE;
        p.numresolution = resolutions_for(p.cp_tdx, p.cp_tdy);
        if (p.cp_tdx <= 0 || p.cp_tdy <= 0 || p.cp_tx0 != 0 || p.cp_ty0 != 0) throw Decline{"tile origin"};
    } else if (static_cast<size_t>(w) * h > kAutoTileArea) {
        p.cp_tdx = p.cp_tdy = kAutoTile;
        p.tile_size_on = OPJ_TRUE;
    }
    if ((opt = GetImageOption(req.info, "jp2:quality"))) {
        p.tcp_numlayers = float_list(opt, p.tcp_distoratio, 100) + 1;
        p.cp_fixed_quality = OPJ_TRUE;
        p.cp_disto_alloc = 0;
    }
    if ((opt = GetImageOption(req.info, "jp2:progression-order"))) {
        static const std::pair<const char*, OPJ_PROG_ORDER> orders[] = {{"LRCP", OPJ_LRCP},
                                                                        {"RLCP", OPJ_RLCP},
                                                                        {"RPCL", OPJ_RPCL},
                                                                        {"PCRL", OPJ_PCRL},
                                                                        {"CPRL", OPJ_CPRL}};
        for (const auto& [name, order] : orders)
            if (strcasecmp(opt, name) == 0) p.prog_order = order;
    }
    if ((opt = GetImageOption(req.info, "jp2:rate"))) {
        p.tcp_numlayers = float_list(opt, p.tcp_rates, 100) + 1;
        p.cp_disto_alloc = OPJ_TRUE;
    }
    if (p.tcp_numlayers > 100 || p.numresolution < 1 || p.numresolution > 32) throw Decline{"parameters"};
    const char* comment = GetImageProperty(s, "comment");
    if (comment) p.cp_comment = const_cast<char*>(comment);
    p.tcp_mct = ch == 3 ? 1 : 0;

    std::vector<opj_image_cmptparm_t> cp(ch);
    for (auto& c : cp) {
        std::memset(&c, 0, sizeof c);
        c.prec = static_cast<OPJ_UINT32>(prec);
        c.dx = c.dy = 1;
        c.w = static_cast<OPJ_UINT32>(w);
        c.h = static_cast<OPJ_UINT32>(h);
    }
    const OPJ_COLOR_SPACE space = l.gray() ? OPJ_CLRSPC_GRAY : OPJ_CLRSPC_SRGB;
    OpjImagePtr img(p.tile_size_on ? opj_image_tile_create(ch, cp.data(), space)
                                   : opj_image_create(ch, cp.data(), space));
    if (!img) throw encode_error(req, Log{});
    img->x0 = img->y0 = 0;
    img->x1 = static_cast<OPJ_UINT32>(w);
    img->y1 = static_cast<OPJ_UINT32>(h);
    if (l.alpha) img->comps[ch - 1].alpha = 1;

    // Q16 value -> component value, as (int)(scale*q) in coders/jp2.c.
    const double scale = static_cast<double>((uint32_t{1} << prec) - 1) / 65535.0;
    std::vector<int> lut(px.bytes_per_sample() == 1 ? 256 : 65536);
    for (size_t v = 0; v < lut.size(); ++v)
        lut[v] = static_cast<int>(scale * static_cast<double>(px.bytes_per_sample() == 1 ? v * 257 : v));
    auto sample = [&](int x, int y, int c) {
        return px.bytes_per_sample() == 1 ? lut[px.row(y)[static_cast<size_t>(x) * ch + c]]
                                          : lut[px.row16(y)[static_cast<size_t>(x) * ch + c]];
    };

    Log log;
    CodecPtr codec(opj_create_compress(j2k ? OPJ_CODEC_J2K : OPJ_CODEC_JP2));
    opj_set_warning_handler(codec.get(), on_warning, &log);
    opj_set_error_handler(codec.get(), on_error, &log);
    if (!p.tile_size_on) {
        for (int c = 0; c < ch; ++c) {
            int* d = img->comps[c].data;
            for (int y = 0; y < h; ++y)
                for (int x = 0; x < w; ++x) *d++ = sample(x, y, c);
        }
    }
    if (!opj_setup_encoder(codec.get(), &p, img.get())) throw encode_error(req, log);
    opj_codec_set_threads(codec.get(), std::max(1, req.ctx.threads));
    StreamPtr stream = file_stream(req.file, false);
    if (!stream || !opj_start_compress(codec.get(), img.get(), stream.get())) throw encode_error(req, log);
    if (p.tile_size_on) {
        const int tiles_x = (w + p.cp_tdx - 1) / p.cp_tdx, tiles_y = (h + p.cp_tdy - 1) / p.cp_tdy;
        const int bytes = prec <= 8 ? 1 : 2;
        std::vector<uint8_t> buf;
        for (int ty = 0; ty < tiles_y; ++ty)
            for (int tx = 0; tx < tiles_x; ++tx) {
                const int x0 = tx * p.cp_tdx, y0 = ty * p.cp_tdy;
                const int tw = std::min(p.cp_tdx, w - x0), th = std::min(p.cp_tdy, h - y0);
                buf.resize(static_cast<size_t>(tw) * th * ch * bytes);
                uint8_t* b8 = buf.data();
                uint16_t* b16 = reinterpret_cast<uint16_t*>(buf.data());
                for (int c = 0; c < ch; ++c)
                    for (int y = y0; y < y0 + th; ++y)
                        for (int x = x0; x < x0 + tw; ++x) {
                            if (bytes == 1)
                                *b8++ = static_cast<uint8_t>(sample(x, y, c));
                            else
                                *b16++ = static_cast<uint16_t>(sample(x, y, c));
                        }
                if (!opj_write_tile(codec.get(), static_cast<OPJ_UINT32>(ty * tiles_x + tx), buf.data(),
                                    static_cast<OPJ_UINT32>(buf.size()), stream.get()))
                    throw encode_error(req, log);
            }
    } else if (!opj_encode(codec.get(), stream.get())) {
        throw encode_error(req, log);
    }
    if (!opj_end_compress(codec.get(), stream.get())) throw encode_error(req, log);
    stream.reset();
    if (std::fflush(req.file) != 0 || std::ferror(req.file))
        throw file_error(Severity::coder_error, "unable to write file", req.path, errno,
                         "jp2.c/WriteJP2Image");
}

}  // namespace

extern const CodecSpec jp2_codec{"JP2",
                                 {"JP2", "J2K"},
                                 100,
                                 &sniff_jp2,
                                 &read_jp2,
                                 &write_jp2,
                                 "JPEG 2000 (.jp2 and .j2k codestreams) via OpenJPEG"};

}  // namespace mtool::codecs
