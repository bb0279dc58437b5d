// Tone and colour operators that work pixel by pixel: -level, -auto-level, -normalize, -gamma,
// -brightness-contrast, -threshold, -modulate, -colorspace Gray|sRGB, -type Grayscale, -alpha.
// Values are computed in ImageMagick's Q16 units with its formulas (enhance.c, threshold.c,
// gem.c); per-sample functions go through a lookup table over the input's sample values.
#include <strings.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "src/ops/compose.h"
#include "src/ops/parallel.h"
#include "src/ops/quantum.h"
#include "src/ops/resample.h"
#include "src/ops/specs.h"

namespace mtool::ops {
namespace {

constexpr double kQuantum = kQuantumRange;
constexpr double kEpsilon = kMagickEpsilon;

double clamp_q(double v) { return v <= 0 ? 0 : (v >= kQuantum ? kQuantum : std::floor(v + 0.5)); }

/// Applies f(Q16) -> Q16 to every colour sample (alpha untouched), through a table.
template <class Fn>
std::vector<Image> map_colour(Image& in, OpCall& call, Fn&& f) {
    const Pixels& src = in.pixels();
    const Layout l = in.layout();
    const int bps = result_bps(src, call.ctx);
    const int levels = src.bytes_per_sample() == 1 ? 256 : 65536;
    std::vector<double> lut(levels);
    for (int i = 0; i < levels; ++i) lut[i] = clamp_q(f(src.bytes_per_sample() == 1 ? i * 257.0 : i));
    auto out = std::make_shared<Pixels>(src.width(), src.height(), src.channels(), bps);
    const int ch = src.channels();
    parallel_rows(src.height(), call.ctx.threads, [&](int y0, int y1) {
        for (int y = y0; y < y1; ++y) {
            const uint8_t* s8 = src.row(y);
            const uint16_t* s16 = reinterpret_cast<const uint16_t*>(s8);
            const RowOut dst = row_out(*out, y);
            for (int x = 0; x < src.width(); ++x)
                for (int c = 0; c < ch; ++c) {
                    size_t i = static_cast<size_t>(x) * ch + c;
                    unsigned v = src.bytes_per_sample() == 1 ? s8[i] : s16[i];
                    const bool alpha = l.alpha && c == ch - 1;
                    dst.store(i, alpha ? (src.bytes_per_sample() == 1 ? v * 257.0 : v) : lut[v], alpha);
                }
        }
    });
    return {in.derive(std::move(out))};
}

const char* declines_plain(const Image& in, const OpCall&) { return in.layout().cmyk() ? "cmyk" : nullptr; }
void require(const char* (*declines)(const Image&, const OpCall&), const Image& in, const OpCall& call) {
    if (const char* why = declines(in, call)) throw Decline{why};
}
void require_plain(const Image& in, const OpCall& call) { require(&declines_plain, in, call); }

/// LevelPixel of enhance.c.
double level_pixel(double black, double white, double gamma, double q) {
    const double d = white - black;
    const double scale = std::fabs(d) < kEpsilon ? (d < 0 ? -1 : 1) / kEpsilon : 1.0 / d;
    const double v = scale * (q - black);
    return kQuantum * (v < 0 ? v : std::pow(v, 1.0 / gamma));
}

bool accepts_level(const OpCall& call) {
    if (call.plus()) return false;  // +level (levelize) stays with ImageMagick
    GeometryInfo g{};
    MagickStatusType flags = ParseGeometry(call.arg(0).c_str(), &g);
    return !(flags & AspectValue);
}

std::vector<Image> run_level(Image& in, OpCall& call) {
    require_plain(in, call);
    GeometryInfo g{};
    MagickStatusType flags = ParseGeometry(call.arg(0).c_str(), &g);
    double black = g.rho, white = kQuantum, gamma = 1.0;
    if (flags & SigmaValue) white = g.sigma;
    if (flags & XiValue) gamma = g.xi;
    if (flags & PercentValue) {
        black *= kQuantum / 100.0;
        white *= kQuantum / 100.0;
    }
    if (!(flags & SigmaValue)) white = kQuantum - black;
    return map_colour(in, call, [&](double q) { return level_pixel(black, white, gamma, q); });
}

/// GetPixelIntensity for ImageMagick's default (undefined) intensity method: Rec.709 luma
/// weights on the stored values; a gray image's intensity is its value.
double intensity(const Pixels& p, const Layout& l, int x, int y) {
    if (l.gray()) return q16_at(p, x, y, 0);
    return 0.212656 * q16_at(p, x, y, 0) + 0.715158 * q16_at(p, x, y, 1) + 0.072186 * q16_at(p, x, y, 2);
}

std::vector<Image> run_auto_level(Image& in, OpCall& call) {
    require_plain(in, call);
    const Pixels& p = in.pixels();
    const Layout l = in.layout();
    double lo = kQuantum, hi = 0;
    for (int y = 0; y < p.height(); ++y)
        for (int x = 0; x < p.width(); ++x)
            for (int c = 0; c < l.color_channels; ++c) {
                double v = q16_at(p, x, y, c);
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
    return map_colour(in, call, [&](double q) { return level_pixel(lo, hi, 1.0, q); });
}

/// True when every pixel has R == G == B (ImageMagick's SetImageGray test).
bool all_gray(const Pixels& p, const Layout& l) {
    if (l.gray()) return true;
    for (int y = 0; y < p.height(); ++y)
        for (int x = 0; x < p.width(); ++x)
            if (q16_at(p, x, y, 0) != q16_at(p, x, y, 1) || q16_at(p, x, y, 1) != q16_at(p, x, y, 2))
                return false;
    return true;
}

/// An image whose R=G=B pixels are kept as one gray channel (colorspace Gray), alpha kept.
Image to_gray_layout(const Image& in) {
    const Pixels& p = in.pixels();
    const Layout l = in.layout();
    if (l.gray()) return in;
    auto out = std::make_shared<Pixels>(p.width(), p.height(), l.alpha ? 2 : 1, p.bytes_per_sample());
    const size_t b = p.bytes_per_sample();
    for (int y = 0; y < p.height(); ++y)
        for (int x = 0; x < p.width(); ++x) {
            std::memcpy(out->row(y) + static_cast<size_t>(x) * out->channels() * b,
                        p.row(y) + static_cast<size_t>(x) * p.channels() * b, b);
            if (l.alpha)
                std::memcpy(out->row(y) + (static_cast<size_t>(x) * 2 + 1) * b,
                            p.row(y) + (static_cast<size_t>(x) * p.channels() + 3) * b, b);
        }
    Image g = in.derive(std::move(out));
    g.shell()->colorspace = GRAYColorspace;
    return g;
}

std::vector<Image> run_normalize(Image& in, OpCall& call) {
    require_plain(in, call);
    Image work = all_gray(in.pixels(), in.layout()) ? to_gray_layout(in) : in;
    const Pixels& p = work.pixels();
    const Layout l = work.layout();
    const double n = static_cast<double>(p.width()) * p.height();
    const double black_point = n * 0.0015, white_point = n * 0.9995;
    std::vector<double> hist(65536, 0.0);
    for (int y = 0; y < p.height(); ++y)
        for (int x = 0; x < p.width(); ++x) hist[static_cast<size_t>(clamp_q(intensity(p, l, x, y)))] += 1;
    int black = 0;
    for (double acc = 0; black <= 65535; ++black)
        if ((acc += hist[black]) > black_point) break;
    int white = 65535;
    for (double acc = 0; white != 0; --white)
        if ((acc += hist[white]) > n - white_point) break;
    if (black == white) return {work};
    return map_colour(work, call, [&](double q) {
        const int i = static_cast<int>(q);
        if (i < black) return 0.0;
        if (i > white) return kQuantum;
        return std::floor(65535.0 * (i - black) / (white - black) + 0.5);
    });
}

bool accepts_gamma(const OpCall& call) {
    return !call.plus() && call.arg(0).find_first_of(",/") == std::string::npos;
}

std::vector<Image> run_gamma(Image& in, OpCall& call) {
    require_plain(in, call);
    const double g = InterpretLocaleValue(call.arg(0).c_str(), nullptr);
    if (g == 1.0) return {in};
    // GammaImage's map: MaxMap * pow(i / MaxMap, 1 / gamma), rounded into Q16.
    std::vector<Image> out = map_colour(in, call, [&](double q) {
        return g == 0.0 ? 0.0 : std::floor(kQuantum * std::pow(q / kQuantum, 1.0 / g) + 0.5);
    });
    out[0].shell()->gamma *= g;  // as GammaImage records it (PNG writes it in gAMA)
    return out;
}

std::vector<Image> run_brightness_contrast(Image& in, OpCall& call) {
    require_plain(in, call);
    GeometryInfo g{};
    MagickStatusType flags = ParseGeometry(call.arg(0).c_str(), &g);
    const double brightness = g.rho, contrast = (flags & SigmaValue) ? g.sigma : 0.0;
    double slope = std::tan(kPi * (contrast / 100.0 + 1.0) / 4.0);
    if (slope < 0.0) slope = 0.0;
    const double intercept = brightness / 100.0 + ((100 - brightness) / 200.0) * (1.0 - slope);
    return map_colour(in, call, [&](double q) { return kQuantum * (slope * q / kQuantum + intercept); });
}

std::vector<Image> run_threshold(Image& in, OpCall& call) {
    require_plain(in, call);
    // StringToDoubleInterval: a percentage of QuantumRange + 1.
    double t = kQuantum / 2.0;
    if (!call.plus()) {
        t = InterpretLocaleValue(call.arg(0).c_str(), nullptr);
        if (call.arg(0).find('%') != std::string::npos) t *= (kQuantum + 1.0) / 100.0;
    }
    const Pixels& p = in.pixels();
    const Layout l = in.layout();
    auto out = std::make_shared<Pixels>(p.width(), p.height(), p.channels(), p.bytes_per_sample());
    parallel_rows(p.height(), call.ctx.threads, [&](int y0, int y1) {
        for (int y = y0; y < y1; ++y)
            for (int x = 0; x < p.width(); ++x) {
                const double v = intensity(p, l, x, y) <= t ? 0.0 : kQuantum;
                for (int c = 0; c < l.color_channels; ++c) store_q16_at(*out, x, y, c, v);
                if (l.alpha)
                    store_q16_at(*out, x, y, p.channels() - 1, q16_at(p, x, y, p.channels() - 1), true);
            }
    });
    return {in.derive(std::move(out))};
}

void rgb_to_hsl(double r, double g, double b, double& h, double& s, double& l) {
    constexpr double kScale = 1.0 / kQuantum;  // QuantumScale: multiplied, as gem.c does
    r *= kScale, g *= kScale, b *= kScale;
    const double mx = std::max(r, std::max(g, b)), mn = std::min(r, std::min(g, b)), c = mx - mn;
    l = (mx + mn) / 2.0;
    if (c <= 0.0) {
        h = s = 0.0;
        return;
    }
    if (std::fabs(mx - r) < kEpsilon) {
        h = (g - b) / c;
        if (g < b) h += 6.0;
    } else if (std::fabs(mx - g) < kEpsilon) {
        h = 2.0 + (b - r) / c;
    } else {
        h = 4.0 + (r - g) / c;
    }
    h *= 60.0 / 360.0;
    const double d = l <= 0.5 ? 2.0 * l : 2.0 - 2.0 * l;
    s = std::fabs(d) < kEpsilon ? c / kEpsilon : c / d;
}

void hsl_to_rgb(double h, double s, double l, double rgb[3]) {
    const double c = (l <= 0.5 ? 2.0 * l : 2.0 - 2.0 * l) * s;
    const double mn = l - 0.5 * c;
    double hh = 360.0 * h;
    hh -= 360.0 * std::floor(hh / 360.0);
    hh /= 60.0;
    const double x = c * (1.0 - std::fabs(hh - 2.0 * std::floor(hh / 2.0) - 1.0));
    double r = 0, g = 0, b = 0;
    switch (static_cast<int>(std::floor(hh))) {
        case 0:
            r = c, g = x;
            break;
        case 1:
            r = x, g = c;
            break;
        case 2:
            g = c, b = x;
            break;
        case 3:
            g = x, b = c;
            break;
        case 4:
            r = x, b = c;
            break;
        case 5:
            r = c, b = x;
            break;
        default:  // h rounded to exactly 6 (a hue shifted below zero): gem.c gives black
            rgb[0] = rgb[1] = rgb[2] = 0.0;
            return;
    }
    rgb[0] = kQuantum * (r + mn);
    rgb[1] = kQuantum * (g + mn);
    rgb[2] = kQuantum * (b + mn);
}

bool accepts_modulate(const OpCall& call) {
    return GetImageOption(call.info, "modulate:colorspace") == nullptr;
}

/// -modulate's brightness, saturation and hue (percent, 100 when not given).
void modulate_args(const OpCall& call, double& bright, double& sat, double& hue) {
    GeometryInfo g{};
    const MagickStatusType flags = ParseGeometry(call.arg(0).c_str(), &g);
    bright = g.rho;
    sat = (flags & SigmaValue) ? g.sigma : 100.0;
    hue = (flags & XiValue) ? g.xi : 100.0;
}

const char* declines_modulate(const Image& in, const OpCall& call) {
    if (const char* why = declines_plain(in, call)) return why;
    double bright, sat, hue;
    modulate_args(call, bright, sat, hue);
    return in.layout().gray() && (sat != 100.0 || hue != 100.0) ? "gray modulate with hue/saturation"
                                                                : nullptr;
}

std::vector<Image> run_modulate(Image& in, OpCall& call) {
    require(&declines_modulate, in, call);
    double bright, sat, hue;
    modulate_args(call, bright, sat, hue);
    const Layout l = in.layout();
    if (l.gray()) {
        // Gray stays gray: only lightness scales.
        return map_colour(in, call, [&](double q) { return q * 0.01 * bright; });
    }
    const Pixels& p = in.pixels();
    auto out = std::make_shared<Pixels>(p.width(), p.height(), p.channels(), result_bps(p, call.ctx));
    parallel_rows(p.height(), call.ctx.threads, [&](int y0, int y1) {
        for (int y = y0; y < y1; ++y)
            for (int x = 0; x < p.width(); ++x) {
                double h, s, li, rgb[3];
                rgb_to_hsl(q16_at(p, x, y, 0), q16_at(p, x, y, 1), q16_at(p, x, y, 2), h, s, li);
                h += std::fmod(hue - 100.0, 200.0) / 200.0;
                s *= 0.01 * sat;
                li *= 0.01 * bright;
                hsl_to_rgb(h, s, li, rgb);
                for (int c = 0; c < 3; ++c) store_q16_at(*out, x, y, c, rgb[c]);
                if (l.alpha) store_q16_at(*out, x, y, 3, q16_at(p, x, y, 3), true);
            }
    });
    return {in.derive(std::move(out))};
}

/// sRGB -> Gray as TransformImageColorspace does (Rec.709 luma on stored values).
Image gray_of(const Image& in, const Context& ctx) {
    const Pixels& p = in.pixels();
    const Layout l = in.layout();
    if (l.gray()) return in;
    const int ch = l.alpha ? 2 : 1;
    auto out = std::make_shared<Pixels>(p.width(), p.height(), ch, result_bps(p, ctx));
    parallel_rows(p.height(), ctx.threads, [&](int y0, int y1) {
        for (int y = y0; y < y1; ++y)
            for (int x = 0; x < p.width(); ++x) {
                store_q16_at(*out, x, y, 0, intensity(p, l, x, y));
                if (l.alpha) store_q16_at(*out, x, y, 1, q16_at(p, x, y, 3), true);
            }
    });
    Image g = in.derive(std::move(out));
    g.shell()->colorspace = GRAYColorspace;
    return g;
}

bool accepts_colorspace(const OpCall& call) {
    if (call.plus()) return false;
    return strcasecmp(call.arg(0).c_str(), "gray") == 0 || strcasecmp(call.arg(0).c_str(), "srgb") == 0;
}

bool from_srgb_or_gray(const Image& in) {
    return in.shell()->colorspace == sRGBColorspace || in.shell()->colorspace == GRAYColorspace;
}

const char* declines_colorspace(const Image& in, const OpCall& call) {
    if (!from_srgb_or_gray(in)) return "from";
    if (strcasecmp(call.arg(0).c_str(), "gray") == 0) return nullptr;
    return in.layout().gray() ? "gray to sRGB" : nullptr;  // expands channels: IM's bookkeeping
}

std::vector<Image> run_colorspace(Image& in, OpCall& call) {
    require(&declines_colorspace, in, call);
    if (strcasecmp(call.arg(0).c_str(), "gray") == 0) return {gray_of(in, call.ctx)};
    return {in};
}

bool accepts_type(const OpCall& call) {
    return !call.plus() && strcasecmp(call.arg(0).c_str(), "grayscale") == 0;
}

const char* declines_type(const Image& in, const OpCall&) {
    if (in.layout().alpha) return "grayscale with alpha";
    return from_srgb_or_gray(in) ? nullptr : "from";
}

std::vector<Image> run_type(Image& in, OpCall& call) {
    require(&declines_type, in, call);
    Image out = gray_of(in, call.ctx);
    out.shell()->type = GrayscaleType;
    return {std::move(out)};
}

/// -alpha: the channel-presence forms; extraction, copy, shape, background stay bridged.
bool accepts_alpha(const OpCall& call) {
    static const char* const forms[] = {"set", "on", "activate", "off", "deactivate", "opaque", "remove"};
    for (const char* f : forms)
        if (strcasecmp(call.arg(0).c_str(), f) == 0) return true;
    return false;
}

const char* declines_alpha(const Image& in, const OpCall& call) {
    const Layout l = in.layout();
    return strcasecmp(call.arg(0).c_str(), "remove") == 0 && l.alpha && l.gray() &&
                   !colour_of(in.shell()->background_color).gray()
               ? "colour background on gray"
               : nullptr;
}

std::vector<Image> run_alpha(Image& in, OpCall& call) {
    require(&declines_alpha, in, call);
    const std::string& a = call.arg(0);
    const Layout l = in.layout();
    const Pixels& p = in.pixels();
    auto is = [&](const char* s) { return strcasecmp(a.c_str(), s) == 0; };
    if (is("set") || is("on") || is("activate")) {
        if (l.alpha) return {in};
        Image out = in.derive(with_alpha(p, l.color_channels, false, true));
        out.shell()->matte = MagickTrue;
        return {std::move(out)};
    }
    if (is("off") || is("deactivate")) {
        if (!l.alpha) return {in};
        Image out = in.derive(with_alpha(p, l.color_channels, true, false));
        out.shell()->matte = MagickFalse;
        return {std::move(out)};
    }
    if (is("opaque")) {
        Image out = in.derive(with_alpha(p, l.color_channels, false, true));
        out.shell()->matte = MagickTrue;
        return {std::move(out)};
    }
    // remove: flatten onto the background colour; 6.9.11 keeps the (now opaque) alpha channel.
    if (!l.alpha) return {in};
    Colour bg = colour_of(in.shell()->background_color);
    auto px = std::make_shared<Pixels>(p.width(), p.height(), l.channels(), result_bps(p, call.ctx));
    bg.v[3] = 1.0f;
    fill(*px, l, bg);
    composite(*px, l, p, l, 0, 0, OverCompositeOp, call.ctx.threads);
    return {in.derive(std::move(px))};
}

}  // namespace

extern const OpSpec level_op{.names = {"-level"},
                             .kind = OpKind::simple,
                             .arity = 1,
                             .demand = Demand::pointwise,
                             .summary = "adjust the level of image contrast",
                             .run = &run_level,
                             .accepts = &accepts_level,
                             .declines = &declines_plain,
                             .keeps_class = true,
                             .uses_channel = true};
extern const OpSpec auto_level_op{.names = {"-auto-level"},
                                  .kind = OpKind::simple,
                                  .arity = 0,
                                  .demand = Demand::whole_image,
                                  .summary = "automagically adjust color levels of image",
                                  .run = &run_auto_level,
                                  .declines = &declines_plain,
                                  .keeps_class = true,
                                  .uses_channel = true};
extern const OpSpec normalize_op{.names = {"-normalize"},
                                 .kind = OpKind::simple,
                                 .arity = 0,
                                 .demand = Demand::whole_image,
                                 .summary = "transform image to span the full range of colors",
                                 .run = &run_normalize,
                                 .declines = &declines_plain,
                                 .keeps_class = true,
                                 .uses_channel = true};
extern const OpSpec gamma_op{.names = {"-gamma"},
                             .kind = OpKind::simple,
                             .arity = 1,
                             .demand = Demand::pointwise,
                             .summary = "level of gamma correction",
                             .run = &run_gamma,
                             .accepts = &accepts_gamma,
                             .declines = &declines_plain,
                             .keeps_class = true,
                             .uses_channel = true};
extern const OpSpec brightness_contrast_op{.names = {"-brightness-contrast"},
                                           .kind = OpKind::simple,
                                           .arity = 1,
                                           .demand = Demand::pointwise,
                                           .summary = "improve brightness / contrast of the image",
                                           .run = &run_brightness_contrast,
                                           .declines = &declines_plain,
                                           .uses_channel = true};
extern const OpSpec threshold_op{.names = {"-threshold"},
                                 .kind = OpKind::simple,
                                 .arity = 1,
                                 .demand = Demand::pointwise,
                                 .summary = "threshold the image",
                                 .run = &run_threshold,
                                 .declines = &declines_plain,
                                 .uses_channel = true};
extern const OpSpec modulate_op{.names = {"-modulate"},
                                .kind = OpKind::simple,
                                .arity = 1,
                                .demand = Demand::pointwise,
                                .summary = "vary the brightness, saturation, and hue",
                                .run = &run_modulate,
                                .accepts = &accepts_modulate,
                                .declines = &declines_modulate,
                                .keeps_class = true};
extern const OpSpec colorspace_op{.names = {"-colorspace"},
                                  .kind = OpKind::simple,
                                  .arity = 1,
                                  .demand = Demand::pointwise,
                                  .summary = "alternate image colorspace (Gray, sRGB native)",
                                  .run = &run_colorspace,
                                  .accepts = &accepts_colorspace,
                                  .declines = &declines_colorspace,
                                  .keeps_class = true};
extern const OpSpec type_op{.names = {"-type"},
                            .kind = OpKind::simple,
                            .arity = 1,
                            .demand = Demand::pointwise,
                            .summary = "image type (Grayscale native)",
                            .run = &run_type,
                            .accepts = &accepts_type,
                            .declines = &declines_type,
                            .keeps_class = true};
extern const OpSpec alpha_op{.names = {"-alpha"},
                             .kind = OpKind::simple,
                             .arity = 1,
                             .demand = Demand::pointwise,
                             .summary = "on, activate, off, deactivate, set, opaque, remove (native)",
                             .run = &run_alpha,
                             .accepts = &accepts_alpha,
                             .declines = &declines_alpha,
                             .keeps_class = true};

}  // namespace mtool::ops
