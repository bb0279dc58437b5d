// The plan's own knowledge (see plan.h): how each operator changes an image's geometry and
// layout, known from its header; how entries read; how a run is checked against its plan.
#include "src/exec/plan.h"

#include <strings.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "src/ops/op_spec.h"

namespace mtool::exec {
namespace {

constexpr const char* kPlanGeometry = "mtool:plan-geometry";
constexpr const char* kPlanPixels = "mtool:plan-pixels";
constexpr const char* kPlanPage = "mtool:plan-page";
constexpr size_t kMaxListed = 4096;  ///< images a plan lists; beyond, one stands for them

bool one_of(const std::string& option, std::initializer_list<const char*> names) {
    for (const char* n : names)
        if (option == n) return true;
    return false;
}

Image header_like(const Image& in, size_t w, size_t h) {
    return Image(shell_like(in.shell(), static_cast<int>(std::max<size_t>(w, 1)),
                            static_cast<int>(std::max<size_t>(h, 1))));
}

/// Operators that keep the image's size (ImageMagick's, by what they do).
bool keeps_size(const std::string& o) {
    return one_of(o, {"-adaptive-blur",
                      "-adaptive-sharpen",
                      "-annotate",
                      "-auto-gamma",
                      "-auto-level",
                      "-black-threshold",
                      "-blue-shift",
                      "-blur",
                      "-brightness-contrast",
                      "-cdl",
                      "-channel-fx",
                      "-charcoal",
                      "-clamp",
                      "-clip",
                      "+clip",
                      "-clip-mask",
                      "+clip-mask",
                      "-clip-path",
                      "+clip-path",
                      "-color-matrix",
                      "-colors",
                      "-colorspace",
                      "-contrast",
                      "+contrast",
                      "-contrast-stretch",
                      "-convolve",
                      "-cycle",
                      "-decipher",
                      "-despeckle",
                      "-dither",
                      "-draw",
                      "-edge",
                      "-emboss",
                      "-encipher",
                      "-enhance",
                      "-equalize",
                      "-evaluate",
                      "-flip",
                      "-flop",
                      "-floodfill",
                      "-function",
                      "-fx",
                      "-gamma",
                      "-gaussian-blur",
                      "-grayscale",
                      "-identify",
                      "+identify",
                      "-implode",
                      "-lat",
                      "-level",
                      "+level",
                      "-level-colors",
                      "+level-colors",
                      "-linear-stretch",
                      "-mask",
                      "+mask",
                      "-median",
                      "-mode",
                      "-modulate",
                      "-monochrome",
                      "+monochrome",
                      "-morphology",
                      "-motion-blur",
                      "-negate",
                      "+negate",
                      "-noise",
                      "+noise",
                      "-normalize",
                      "-opaque",
                      "+opaque",
                      "-ordered-dither",
                      "-paint",
                      "-posterize",
                      "-print",
                      "-profile",
                      "+profile",
                      "-radial-blur",
                      "-raise",
                      "+raise",
                      "-random-threshold",
                      "-recolor",
                      "-remap",
                      "+remap",
                      "-map",
                      "-repage",
                      "+repage",
                      "-rotational-blur",
                      "-segment",
                      "-selective-blur",
                      "-sepia-tone",
                      "-set",
                      "+set",
                      "-shade",
                      "+shade",
                      "-sharpen",
                      "-sigmoidal-contrast",
                      "+sigmoidal-contrast",
                      "-sketch",
                      "-solarize",
                      "-sparse-color",
                      "-spread",
                      "-statistic",
                      "-strip",
                      "-swirl",
                      "-threshold",
                      "+threshold",
                      "-tint",
                      "-transparent",
                      "+transparent",
                      "-type",
                      "-unsharp",
                      "-vignette",
                      "-white-threshold",
                      "-alpha",
                      "+alpha",
                      "-comment",
                      "+comment",
                      "-label",
                      "+label",
                      "-orient",
                      "-quantize"});
}

/// Demand class of an operator ImageMagick runs without an mtool spec.
const char* bridged_class(const std::string& o) {
    if (one_of(o, {"-adaptive-blur",
                   "-adaptive-sharpen",
                   "-charcoal",
                   "-convolve",
                   "-despeckle",
                   "-edge",
                   "-emboss",
                   "-median",
                   "-mode",
                   "-morphology",
                   "-motion-blur",
                   "-noise",
                   "-paint",
                   "-radial-blur",
                   "-rotational-blur",
                   "-selective-blur",
                   "-shade",
                   "-sketch",
                   "-spread",
                   "-statistic",
                   "-lat"}))
        return "neighbourhood";
    if (one_of(o, {"-evaluate",           "-function",        "-solarize",   "-sigmoidal-contrast",
                   "+sigmoidal-contrast", "-posterize",       "-sepia-tone", "-tint",
                   "-black-threshold",    "-white-threshold", "-opaque",     "+opaque",
                   "-transparent",        "+transparent",     "-cdl",        "-color-matrix",
                   "-level-colors",       "+level-colors",    "-cycle",      "-random-threshold",
                   "-ordered-dither"}))
        return "pointwise";
    if (one_of(o, {"-strip", "-profile", "+profile", "-set", "+set", "-comment", "+comment", "-label",
                   "+label", "-orient", "-repage", "+repage", "-identify", "+identify", "-print"}))
        return "metadata";
    return "whole-image";
}

void swap_size(Image& img) {
    Image t = header_like(img, img.shell()->rows, img.shell()->columns);
    img = std::move(t);
}

std::vector<Image> unknown(const Image& in) {
    Image out = in;
    mark_unknown(out, true);
    return {std::move(out)};
}

}  // namespace

void mark_unknown(Image& image, bool bounded) {
    const char* now = GetImageArtifact(image.shell(), kPlanGeometry);
    if (now && std::strcmp(now, "unbounded") == 0) return;
    SetImageArtifact(image.shell(), kPlanGeometry, bounded ? "bounded" : "unbounded");
}

bool plan_known(const ::Image* image) { return !image || GetImageArtifact(image, kPlanGeometry) == nullptr; }

std::string plan_geometry(const ::Image* image) {
    if (!image) return "no image";
    std::string g = std::to_string(image->columns) + "x" + std::to_string(image->rows);
    if (const char* a = GetImageArtifact(image, kPlanGeometry))
        return std::strcmp(a, "bounded") == 0 ? "?<=" + g : "?";
    return g;
}

std::string plan_geometry(const std::vector<Image>& images) {
    if (images.empty()) return "no image";
    if (images.size() == 1) return plan_geometry(images[0].shell());
    std::string s = std::to_string(images.size()) + " images:";
    for (size_t k = 0; k < images.size() && k < 8; ++k) s += " " + plan_geometry(images[k].shell());
    if (images.size() > 8) s += " ...";
    return s;
}

int kernel_radius(const std::string& geometry) {
    GeometryInfo g{};
    const MagickStatusType flags = ParseGeometry(geometry.c_str(), &g);
    if (!(flags & RhoValue) && !(flags & SigmaValue)) return -1;
    const double sigma = (flags & SigmaValue) ? std::fabs(g.sigma) : 1.0;
    if (g.rho >= 1.0) return static_cast<int>(std::ceil(g.rho));
    return static_cast<int>(std::ceil(5.0 * sigma)) + 1;
}

bool plan_may_ping(const std::string& magick) {
    static const char* const safe[] = {
        "JPEG",         "JPG",      "PNG",      "PNG8",   "PNG24",    "PNG32",
        "PNG48",        "PNG64",    "GIF",      "GIF87",  "TIFF",     "TIF",
        "TIFF64",       "PTIF",     "BMP",      "BMP2",   "BMP3",     "PPM",
        "PGM",          "PBM",      "PNM",      "PAM",    "WEBP",     "ICO",
        "TGA",          "PSD",      "MIFF",     "PCX",    "SGI",      "JP2",
        "J2K",          "JPC",      "DDS",      "EXR",    "HDR",      "XPM",
        "XBM",          "FITS",     "DPX",      "SUN",    "RAS",      "WBMP",
        "VIFF",         "FARBFELD", "FF",       "XC",     "CANVAS",   "ROSE",
        "LOGO",         "GRANITE",  "NETSCAPE", "WIZARD", "GRADIENT", "RADIAL-GRADIENT",
        "PATTERN",      "HALD",     "NULL",     "LABEL",  "CAPTION",  "PLASMA",
        "CHECKERBOARD", "TXT"};
    for (const char* s : safe)
        if (strcasecmp(magick.c_str(), s) == 0) return true;
    return false;
}

namespace {

std::vector<Image> predict_known(const std::string& option, const std::vector<std::string>& args, Image& in,
                                 ::ImageInfo* info, Context& ctx, bool native, std::string& demand) {
    const ops::OpSpec* spec = ops::find(option);
    const ::Image* s = in.shell();
    const size_t cols = s->columns, rows = s->rows;
    const std::string arg = args.empty() ? "" : args[0];
    magick::Exception ex;
    auto finish = [&](const char* cls, std::vector<Image> out) {
        demand = cls;
        if (!native) demand += ", whole image in ImageMagick";
        return out;
    };
    if (one_of(option, {"-resize", "-thumbnail", "-sample", "-scale", "-adaptive-resize",
                        "-interpolative-resize", "-liquid-rescale"})) {
        RectangleInfo g{};
        ParseRegionGeometry(s, arg.c_str(), &g, ex);
        if (g.width == 0 || g.height == 0) return finish("geometric", unknown(in));
        Image out = in.header_scaled(static_cast<int>(g.width), static_cast<int>(g.height));
        if (option == "-thumbnail") out.shell()->matte = MagickTrue;  // thumbnails carry alpha
        return finish("geometric (resampled)", {std::move(out)});
    }
    if (option == "-geometry") {
        // MogrifyImage: with an offset it only records the geometry (-composite reads it); a
        // size alone resizes.
        RectangleInfo g{};
        const MagickStatusType flags = ParseRegionGeometry(s, arg.c_str(), &g, ex);
        if (flags & (XValue | YValue)) {
            Image out = in;
            CloneString(&out.shell()->geometry, arg.c_str());
            return finish("metadata", {std::move(out)});
        }
        if (g.width == 0 || g.height == 0) return finish("geometric", unknown(in));
        return finish("geometric (resampled)",
                      {in.header_scaled(static_cast<int>(g.width), static_cast<int>(g.height))});
    }
    if (option == "-separate") {
        // One gray image per selected channel, as ImageMagick 6's SeparateImages makes them: red,
        // green and blue of a gray image too (each the same gray), black of CMYK only, alpha with
        // or without an alpha channel (opaque then); none selected leaves the image.
        const Layout l = layout_of(s);
        const ChannelType ch = info->channel;
        int n = ((ch & RedChannel) != 0) + ((ch & GreenChannel) != 0) + ((ch & BlueChannel) != 0) +
                (l.cmyk() && (ch & BlackChannel) != 0) + ((ch & OpacityChannel) != 0);
        std::vector<Image> out;
        for (int k = 0; k < std::max(n, 1); ++k) {
            Image g = header_like(in, cols, rows);
            g.shell()->colorspace = GRAYColorspace;
            g.shell()->matte = MagickFalse;
            out.push_back(std::move(g));
        }
        return finish("pointwise (a channel each)", std::move(out));
    }
    if (option == "-crop") {
        // Tiles are listed up to a point: a plan of 1x1 tiles of a large image would hold
        // millions of headers. Beyond it the plan keeps one, of the tile size, and says how many.
        RectangleInfo g{};
        const MagickStatusType flags = ParseGravityGeometry(s, arg.c_str(), &g, ex);
        double tiles = 1;
        if (flags & AreaValue)
            tiles = std::max<double>(g.width, 1) * std::max<double>(g.height, 1);
        else if (!(flags & (XValue | YValue)) && g.width && g.height)
            tiles = std::ceil(static_cast<double>(cols) / g.width) *
                    std::ceil(static_cast<double>(rows) / g.height);
        if (tiles > static_cast<double>(kMaxListed)) {
            Image one = header_like(in, flags & AreaValue ? cols / std::max<size_t>(g.width, 1) + 1 : g.width,
                                    flags & AreaValue ? rows / std::max<size_t>(g.height, 1) + 1 : g.height);
            mark_unknown(one, false);  // it stands for many: no bound for what follows
            demand = "geometric, " + std::to_string(static_cast<long long>(tiles)) + " tiles (one shown)";
            if (!native) demand += ", whole image in ImageMagick";
            return {std::move(one)};
        }
        ops::OpCall call{option, args, info, ctx};
        return finish("geometric (a rectangle, or tiles)", ops::crop_headers(in, call));
    }
    if (option == "-shave") {
        RectangleInfo g{};
        ParsePageGeometry(s, arg.c_str(), &g, ex);
        if (2 * g.width >= cols || 2 * g.height >= rows) return finish("geometric", {in});
        return finish("geometric", {header_like(in, cols - 2 * g.width, rows - 2 * g.height)});
    }
    if (option == "-chop") {
        RectangleInfo g{};
        ParseGravityGeometry(s, arg.c_str(), &g, ex);
        const auto c = static_cast<ssize_t>(cols), r = static_cast<ssize_t>(rows);
        if (g.x + static_cast<ssize_t>(g.width) < 0 || g.y + static_cast<ssize_t>(g.height) < 0 || g.x > c ||
            g.y > r)
            return finish("geometric", {in});
        const ssize_t x0 = std::max<ssize_t>(g.x, 0), y0 = std::max<ssize_t>(g.y, 0);
        const ssize_t x1 = std::min<ssize_t>(g.x + static_cast<ssize_t>(g.width), c),
                      y1 = std::min<ssize_t>(g.y + static_cast<ssize_t>(g.height), r);
        return finish("geometric", {header_like(in, static_cast<size_t>(c - (x1 - x0)),
                                                static_cast<size_t>(r - (y1 - y0)))});
    }
    if (option == "-extent") {
        RectangleInfo g{};
        ParseGravityGeometry(s, arg.c_str(), &g, ex);
        Image out = header_like(in, g.width ? g.width : cols, g.height ? g.height : rows);
        // ImageMagick's SetImageBackgroundColor makes a gray image linear RGB for a colour.
        const PixelPacket& bg = s->background_color;
        if (!native && layout_of(s).gray() && !(bg.red == bg.green && bg.green == bg.blue))
            out.shell()->colorspace = RGBColorspace;
        return finish("geometric", {std::move(out)});
    }
    if (option == "-border" || option == "-frame") {
        RectangleInfo g{};
        ParsePageGeometry(s, arg.c_str(), &g, ex);
        return finish("geometric", {header_like(in, cols + 2 * g.width, rows + 2 * g.height)});
    }
    if (option == "-splice") {
        RectangleInfo g{};
        ParseGravityGeometry(s, arg.c_str(), &g, ex);
        Image out = header_like(in, cols + g.width, rows + g.height);
        // A colour background makes a gray image linear RGB (SetImageBackgroundColor).
        const PixelPacket& bg = s->background_color;
        if (layout_of(s).gray() && !(bg.red == bg.green && bg.green == bg.blue))
            out.shell()->colorspace = RGBColorspace;
        return finish("geometric", {std::move(out)});
    }
    if (option == "-rotate") {
        const double deg = std::strtod(arg.c_str(), nullptr);
        if ((arg.find('>') != std::string::npos && !(cols > rows)) ||
            (arg.find('<') != std::string::npos && !(cols < rows)))
            return finish("geometric", {in});
        const double q = std::fmod(std::fmod(deg, 360.0) + 360.0, 360.0);
        if (std::fmod(q, 90.0) == 0.0) {
            Image out = in;
            if (q == 90.0 || q == 270.0) swap_size(out);
            return finish("geometric (rows become columns)", {std::move(out)});
        }
        // Any other angle: the rotated bounding box bounds the result (shears round it).
        const double r = q * M_PI / 180.0;
        const double w = std::fabs(cols * std::cos(r)) + std::fabs(rows * std::sin(r)),
                     h = std::fabs(cols * std::sin(r)) + std::fabs(rows * std::cos(r));
        Image out =
            header_like(in, static_cast<size_t>(std::ceil(w)) + 2, static_cast<size_t>(std::ceil(h)) + 2);
        mark_unknown(out, true);
        return finish("geometric", {std::move(out)});
    }
    if (option == "-transpose" || option == "-transverse") {
        Image out = in;
        swap_size(out);
        return finish("geometric (rows become columns)", {std::move(out)});
    }
    if (option == "-auto-orient") {
        Image out = in;
        const OrientationType o = s->orientation;
        if (o == LeftTopOrientation || o == RightTopOrientation || o == RightBottomOrientation ||
            o == LeftBottomOrientation)
            swap_size(out);
        out.shell()->orientation = TopLeftOrientation;
        return finish("geometric (EXIF orientation)", {std::move(out)});
    }
    if (option == "-trim") return finish("whole-image (a bounding box, then a crop)", unknown(in));
    if (spec || keeps_size(option)) {
        Image out = in;
        ::Image* o = out.shell();
        auto is = [&](const char* v) { return strcasecmp(arg.c_str(), v) == 0; };
        // The layout changes the plan knows: they decide later steps' engines.
        if ((option == "-colorspace" && is("gray")) || (option == "-type" && is("grayscale")) ||
            option == "-grayscale" || option == "-monochrome")
            o->colorspace = option == "-grayscale" && strcasestr(arg.c_str(), "luminance")
                                ? LinearGRAYColorspace
                                : GRAYColorspace;
        else if (option == "-colorspace") {
            const ssize_t cs = ParseCommandOption(MagickColorspaceOptions, MagickFalse, arg.c_str());
            if (cs >= 0) o->colorspace = static_cast<ColorspaceType>(cs);
        }
        if (option == "-alpha" && (is("set") || is("on") || is("activate") || is("opaque")))
            o->matte = MagickTrue;
        if (option == "-alpha" && (is("off") || is("deactivate"))) o->matte = MagickFalse;
        // Properties -set gives the image (page, colorspace, ...), where no escape needs pixels.
        if (option == "-set" && args.size() == 2 && args[1].find('%') == std::string::npos &&
            args[0].rfind("option:", 0) != 0)
            SetImageProperty(o, args[0].c_str(), args[1].c_str());
        if (option == "-set" && args.size() == 2 && args[1].find('%') != std::string::npos &&
            strcasecmp(args[0].c_str(), "page") == 0)
            SetImageArtifact(o, kPlanPage, "?");  // escapes: known only by running
        if (option == "-colors")
            if (const char* q = GetImageOption(info, "quantize")) {
                // QuantizeImage leaves the image in the -quantize colorspace.
                const ssize_t cs = ParseCommandOption(MagickColorspaceOptions, MagickFalse, q);
                if (cs > 0) o->colorspace = static_cast<ColorspaceType>(cs);
            }
        if (option == "+repage") o->page = RectangleInfo{0, 0, 0, 0};
        if (option == "-repage") ResetImagePage(o, arg.c_str());
        std::string cls = bridged_class(option);
        if (spec) {
            switch (spec->demand) {
                case ops::Demand::pointwise:
                    cls = "pointwise";
                    break;
                case ops::Demand::neighbourhood:
                    cls = "neighbourhood";
                    break;
                case ops::Demand::whole_image:
                    cls = "whole-image";
                    break;
                case ops::Demand::metadata:
                    cls = "metadata";
                    break;
            }
        }
        if (cls == "neighbourhood" && kernel_radius(arg) >= 0)
            cls += ", radius " + std::to_string(kernel_radius(arg));
        return finish(cls.c_str(), {std::move(out)});
    }
    // Distortions, shears, -resample, effects that change the size: only running tells.
    Image out = in;
    mark_unknown(out, false);
    return finish("whole-image", {std::move(out)});
}

}  // namespace

std::vector<Image> predict_simple(const std::string& option, const std::vector<std::string>& args, Image& in,
                                  ::ImageInfo* info, Context& ctx, bool native, std::string& demand) {
    // An input known only by a bound gives results bounded by the results of the bound (the
    // operators are monotone in the size); an input not known at all, results not known.
    const char* prior = GetImageArtifact(in.shell(), kPlanGeometry);
    const std::string was = prior ? prior : "";
    const bool gray = layout_of(in.shell()).gray();
    std::vector<Image> out = predict_known(option, args, in, info, ctx, native, demand);
    for (Image& o : out) {
        if (!was.empty()) mark_unknown(o, was == "bounded");
        // ImageMagick's operators may leave colour pixels in an image still labelled Gray, which
        // mtool's native steps and encoders then leave to ImageMagick: only the pixels tell.
        if (!native && gray && layout_of(o.shell()).gray())
            SetImageArtifact(o.shell(), kPlanPixels, "colour pixels may be labelled Gray");
    }
    return out;
}

namespace {

void predict_list_known(const std::string& option, const std::vector<std::string>& args,
                        std::vector<Image>& list, ::ImageInfo* info, Context& ctx, std::string& demand);

}  // namespace

void predict_list(const std::string& option, const std::vector<std::string>& args, std::vector<Image>& list,
                  ::ImageInfo* info, Context& ctx, bool native, std::string& demand) {
    const bool gray = !list.empty() && layout_of(list.front().shell()).gray();
    predict_list_known(option, args, list, info, ctx, demand);
    if (!native && gray)
        for (Image& o : list)
            if (layout_of(o.shell()).gray())
                SetImageArtifact(o.shell(), kPlanPixels, "colour pixels may be labelled Gray");
}

const char* pixels_decide(const ::Image* image) {
    return image ? GetImageArtifact(image, kPlanPixels) : nullptr;
}

namespace {

void predict_list_known(const std::string& option, const std::vector<std::string>& args,
                        std::vector<Image>& list, ::ImageInfo* info, Context& ctx, std::string& demand) {
    demand = "list";
    if (list.empty()) return;
    const bool any_unknown =
        std::any_of(list.begin(), list.end(), [](const Image& i) { return !plan_known(i.shell()); });
    const bool any_unbounded =
        std::any_of(list.begin(), list.end(), [](const Image& i) { return plan_geometry(i.shell()) == "?"; });
    const bool pages_unknown = std::any_of(list.begin(), list.end(), [](const Image& i) {
        return GetImageArtifact(i.shell(), kPlanPage) != nullptr || !plan_known(i.shell());
    });
    const ops::OpSpec* spec = ops::find(option);
    if (spec && spec->run_list &&
        one_of(option, {"-delete", "+delete", "-swap", "+swap", "-insert", "+insert", "-duplicate",
                        "+duplicate", "-reverse"})) {
        // They move images, never pixels: the native run works on headers as on images.
        // -duplicate's count first: a plan holds headers, not millions of them.
        if (option == "-duplicate" && !args.empty() &&
            std::strtod(args[0].c_str(), nullptr) * static_cast<double>(list.size()) >
                static_cast<double>(kMaxListed)) {
            const double n = std::strtod(args[0].c_str(), nullptr);
            list.resize(1);
            mark_unknown(list.front(), false);
            demand = "list (moves images), about " + std::to_string(static_cast<long long>(n)) +
                     " copies (one shown)";
            return;
        }
        ops::OpCall call{option, args, info, ctx};
        try {
            spec->run_list(list, call);
        } catch (const Error& e) {
            ctx.diag.add(e);  // the run's error, reported by the plan
        } catch (...) {
        }
        demand = "list (moves images)";
        return;
    }
    auto result = [&](size_t w, size_t h, bool alpha) {
        Image out = header_like(list.front(), w, h);
        if (alpha) out.shell()->matte = MagickTrue;
        if (any_unknown) mark_unknown(out, !any_unbounded);
        list.clear();
        list.push_back(std::move(out));
    };
    bool alpha = false;
    for (const Image& i : list) alpha |= i.shell()->matte != MagickFalse;
    if (option == "-append" || option == "+append") {
        size_t w = 0, h = 0;
        for (const Image& i : list) {
            const size_t c = i.shell()->columns, r = i.shell()->rows;
            if (option[0] == '-') {
                w = std::max(w, c);
                h += r;
            } else {
                w += c;
                h = std::max(h, r);
            }
        }
        demand = "list (whole images, joined)";
        result(w, h, alpha);
        return;
    }
    const bool flatten = option == "-flatten" || (option == "-layers" && !args.empty() &&
                                                  strcasecmp(args[0].c_str(), "flatten") == 0);
    if (flatten) {
        const ::Image* f = list.front().shell();
        const size_t w = f->page.width ? f->page.width : f->columns,
                     h = f->page.height ? f->page.height : f->rows;
        demand = "list (whole images, composed)";
        const bool unknown_page = GetImageArtifact(f, kPlanPage) != nullptr;
        result(w, h, alpha);
        if (unknown_page) mark_unknown(list.front(), false);
        return;
    }
    auto layers = [&](const char* m) {
        return option == "-layers" && !args.empty() && strcasecmp(args[0].c_str(), m) == 0;
    };
    if (layers("merge") || layers("mosaic") || option == "-mosaic") {
        // The union of the layers' page rectangles (mosaic: from the origin, at least the
        // first page's canvas).
        const bool merge = layers("merge");
        const ::Image* f = list.front().shell();
        ssize_t x0 = merge ? f->page.x : 0, y0 = merge ? f->page.y : 0;
        ssize_t x1 = merge ? x0 : static_cast<ssize_t>(f->page.width),
                y1 = merge ? y0 : static_cast<ssize_t>(f->page.height);
        for (const Image& i : list) {
            const ::Image* s = i.shell();
            if (merge) {
                x0 = std::min(x0, s->page.x);
                y0 = std::min(y0, s->page.y);
            }
            x1 = std::max(x1, s->page.x + static_cast<ssize_t>(s->columns));
            y1 = std::max(y1, s->page.y + static_cast<ssize_t>(s->rows));
        }
        demand = "list (whole images, composed)";
        result(static_cast<size_t>(x1 - x0), static_cast<size_t>(y1 - y0), alpha);
        if (pages_unknown) mark_unknown(list.front(), false);
        return;
    }
    if (option == "-composite" && (list.size() == 2 || list.size() == 3)) {
        const ::Image* f = list.front().shell();
        demand = "list (whole images, composed)";
        result(f->columns, f->rows, f->matte != MagickFalse);
        return;
    }
    if (option == "-coalesce" ||
        (option == "-layers" && !args.empty() && strcasecmp(args[0].c_str(), "coalesce") == 0)) {
        // Every frame on the first one's canvas.
        const ::Image* f = list.front().shell();
        const size_t w = f->page.width ? f->page.width : f->columns,
                     h = f->page.height ? f->page.height : f->rows;
        const MagickBooleanType matte = f->matte;
        for (Image& i : list) {
            // CoalesceImages: the first frame's canvas and alpha, direct colour.
            Image frame = header_like(i, w, h);
            frame.shell()->page = RectangleInfo{w, h, 0, 0};
            frame.shell()->matte = matte;
            frame.shell()->storage_class = DirectClass;
            if (any_unknown) mark_unknown(frame, !any_unbounded);
            i = std::move(frame);
        }
        demand = "list (whole images, composed)";
        return;
    }
    if (option == "-combine" || option == "-average" || option == "-evaluate-sequence") {
        // -combine takes the first image's size (ImageMagick refuses others); -average and
        // -evaluate-sequence the widest width and the tallest height (EvaluateImages' canvas).
        const ::Image* f = list.front().shell();
        size_t w = f->columns, h = f->rows;
        if (option != "-combine")
            for (const Image& i : list) {
                w = std::max<size_t>(w, i.shell()->columns);
                h = std::max<size_t>(h, i.shell()->rows);
            }
        demand = "list (whole images, combined)";
        result(w, h, false);
        return;
    }
    demand = "list (whole images in ImageMagick)";
    for (Image& i : list) mark_unknown(i, false);
}

}  // namespace

std::string join_args(const std::vector<std::string>& args) {
    std::string s;
    for (const std::string& a : args) s += (s.empty() ? "" : " ") + a;
    return s;
}

std::string describe(const PlanEntry& e) {
    std::string s = e.arg == std::string::npos ? "" : "#" + std::to_string(e.arg) + " ";
    const std::string how = e.engine == kEitherEngine
                                ? "native, or ImageMagick as the pixels decide (" + e.reason + ")"
                                : e.engine + (e.reason.empty() ? "" : " (" + e.reason + ")");
    switch (e.kind) {
        case PlanEntry::Kind::read:
            return s + "read '" + e.what + "': " + e.facts + "; " + how + " -> " + e.output;
        case PlanEntry::Kind::step:
            return s + e.what + (e.args.empty() ? "" : " " + e.args) + " on " + e.input + ": " + how + ", " +
                   e.demand + " -> " + e.output;
        case PlanEntry::Kind::write:
            return s + "write '" + e.what + "' " + e.facts + ": " + how + " <- " + e.input;
        case PlanEntry::Kind::stream:
            if (e.engine == "pulled") return s + "streamed, rows pulled through the step: " + e.reason;
            return s + "streamed band by band: " + how;
    }
    return s;
}

std::vector<std::string> plan_differences(const std::vector<PlanEntry>& planned,
                                          const std::vector<PlanEntry>& ran) {
    std::vector<std::string> out;
    const size_t n = std::max(planned.size(), ran.size());
    for (size_t k = 0; k < n; ++k) {
        if (k >= planned.size()) {
            out.push_back("not planned: " + describe(ran[k]));
            break;
        }
        if (k >= ran.size()) {
            out.push_back("planned, not run: " + describe(planned[k]));
            break;
        }
        const PlanEntry &p = planned[k], &r = ran[k];
        if (p.kind != r.kind || p.arg != r.arg || p.what != r.what) {
            out.push_back("planned " + describe(p) + "; ran " + describe(r));
            break;
        }
        const std::string at = "#" + std::to_string(p.arg) + " " + p.what;
        if (p.engine != r.engine &&
            !(p.engine == kEitherEngine && (r.engine == "native" || r.engine == "ImageMagick")))
            out.push_back(at + ": planned " + p.engine + (p.reason.empty() ? "" : " (" + p.reason + ")") +
                          ", ran " + r.engine + (r.reason.empty() ? "" : " (" + r.reason + ")"));
        if (p.output.find('?') == std::string::npos && p.output != r.output)
            out.push_back(at + ": planned " + p.output + ", gave " + r.output);
        if (p.input.find('?') == std::string::npos && p.input != r.input)
            out.push_back(at + ": planned on " + p.input + ", ran on " + r.input);
    }
    return out;
}

}  // namespace mtool::exec
