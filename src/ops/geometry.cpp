// Canvas geometry: -crop (single region and the tiling forms), -shave, -chop, -splice, -extent, -border,
// -trim, -repage. Rectangles and page offsets follow ImageMagick 6.9.11's transform.c and
// decorate.c step by step; geometry strings go through ImageMagick's own parsers so gravity,
// percentages and flags mean exactly what they mean there.
#include <cmath>
#include <cstring>
#include <optional>

#include "src/ops/compose.h"
#include "src/ops/parallel.h"
#include "src/ops/specs.h"

namespace mtool::ops {
namespace {

void warn_no_image(OpCall& call, const Image& in, const char* where) {
    call.ctx.diag.warn("geometry does not contain image", in.shell()->filename, where);
}

std::shared_ptr<Pixels> copy_region(const Pixels& in, int x, int y, int w, int h) {
    auto out = std::make_shared<Pixels>(w, h, in.channels(), in.bytes_per_sample());
    const size_t px = static_cast<size_t>(in.channels()) * in.bytes_per_sample();
    for (int r = 0; r < h; ++r) std::memcpy(out->row(r), in.row(y + r) + x * px, w * px);
    return out;
}

/// ImageMagick's "missing image": 1x1, transparent background colour, page at -1,-1.
Image missing_image(const Image& in, const RectangleInfo& page) {
    Layout l = in.layout();
    l.alpha = true;
    auto px = std::make_shared<Pixels>(1, 1, l.channels(), in.pixels().bytes_per_sample());
    Colour c = colour_of(in.shell()->background_color);
    c.v[3] = 0.0f;
    if (l.gray() && !c.gray()) c.v[1] = c.v[2] = c.v[0];
    fill(*px, l, c);
    Image out = in.derive(std::move(px));
    out.shell()->matte = MagickTrue;
    out.shell()->page = page;
    out.shell()->page.x = out.shell()->page.y = -1;
    if (out.shell()->dispose == BackgroundDispose) out.shell()->dispose = NoneDispose;
    return out;
}

/// An image of `in`'s attributes and the given size with no pixels (a plan's prediction).
Image header_like(const Image& in, size_t w, size_t h) {
    return Image(shell_like(in.shell(), static_cast<int>(w), static_cast<int>(h)));
}

/// CropImage: nullopt where ImageMagick returns no image (the input then stays). `header`:
/// only the result's size and page, for a plan (`in` may have no pixels).
std::optional<Image> crop(const Image& in, const RectangleInfo& geometry, OpCall& call, bool header = false) {
    const ::Image* s = in.shell();
    RectangleInfo box = s->page;
    if (box.width == 0 || box.height == 0) {
        box.width = s->columns;
        box.height = s->rows;
    }
    RectangleInfo page = geometry;
    if (page.width == 0) page.width = box.width;
    if (page.height == 0) page.height = box.height;
    const auto cols = static_cast<ssize_t>(s->columns), rows = static_cast<ssize_t>(s->rows);
    if (box.x - page.x >= static_cast<ssize_t>(page.width) ||
        box.y - page.y >= static_cast<ssize_t>(page.height) || page.x - box.x > cols ||
        page.y - box.y > rows) {
        warn_no_image(call, in, "transform.c/CropImage/668");
        if (header) {
            Image m = header_like(in, 1, 1);
            m.shell()->matte = MagickTrue;
            m.shell()->page = box;
            m.shell()->page.x = m.shell()->page.y = -1;
            return m;
        }
        return missing_image(in, box);
    }
    if (page.x < 0 && box.x >= 0) {
        page.width += page.x - box.x;
        page.x = 0;
    } else {
        page.width -= box.x - page.x;
        page.x -= box.x;
        if (page.x < 0) page.x = 0;
    }
    if (page.y < 0 && box.y >= 0) {
        page.height += page.y - box.y;
        page.y = 0;
    } else {
        page.height -= box.y - page.y;
        page.y -= box.y;
        if (page.y < 0) page.y = 0;
    }
    if (page.x + static_cast<ssize_t>(page.width) > cols) page.width = cols - page.x;
    if (geometry.width != 0 && page.width > geometry.width) page.width = geometry.width;
    if (page.y + static_cast<ssize_t>(page.height) > rows) page.height = rows - page.y;
    if (geometry.height != 0 && page.height > geometry.height) page.height = geometry.height;
    box.x += page.x;
    box.y += page.y;
    if (page.width == 0 || page.height == 0 || static_cast<ssize_t>(page.width) < 0 ||
        static_cast<ssize_t>(page.height) < 0) {
        warn_no_image(call, in, "transform.c/CropImage/718");
        return std::nullopt;
    }
    Image out = header
                    ? header_like(in, page.width, page.height)
                    : in.derive(copy_region(in.pixels(), static_cast<int>(page.x), static_cast<int>(page.y),
                                            static_cast<int>(page.width), static_cast<int>(page.height)));
    RectangleInfo& pg = out.shell()->page;
    pg.width = s->page.width;
    pg.height = s->page.height;
    if (box.x + static_cast<ssize_t>(box.width) > static_cast<ssize_t>(s->page.width) ||
        box.y + static_cast<ssize_t>(box.height) > static_cast<ssize_t>(s->page.height)) {
        pg.width = box.width;
        pg.height = box.height;
    }
    pg.x = box.x;
    pg.y = box.y;
    return out;
}

inline ssize_t pixel_round(double v) { return static_cast<ssize_t>(std::floor(v + 0.5)); }

/// CropImageToTiles: @ tiling, a single region, or fixed-size tiles.
std::vector<Image> crop_tiles(Image& in, OpCall& call, bool header) {
    RectangleInfo g{};
    magick::Exception ex;
    MagickStatusType flags = ParseGravityGeometry(in.shell(), call.arg(0).c_str(), &g, ex);
    const ::Image* s = in.shell();
    std::vector<Image> out;
    if (flags & AreaValue) {
        size_t width = s->columns, height = s->rows;
        if (g.width == 0) g.width = 1;
        if (g.height == 0) g.height = 1;
        const bool aspect = flags & AspectValue;
        width = aspect ? width + (g.x < 0 ? -1 : 1) * g.x : width - (g.x < 0 ? -1 : 1) * g.x;
        height = aspect ? height + (g.y < 0 ? -1 : 1) * g.y : height - (g.y < 0 ? -1 : 1) * g.y;
        double dx = std::max(1.0, static_cast<double>(width) / g.width);
        double dy = std::max(1.0, static_cast<double>(height) / g.height);
        Context tile_ctx = call.ctx;  // ImageMagick clears the tiles' warnings
        tile_ctx.diag = Diagnostics{};
        OpCall tile_call{call.option, call.args, call.info, tile_ctx};
        for (double oy = 0; oy < static_cast<double>(height);) {
            RectangleInfo c{};
            c.y = pixel_round(oy - (aspect ? (g.y > 0 ? g.y : 0) : (g.y > 0 ? 0 : g.y)));
            oy += dy;
            c.height =
                static_cast<size_t>(pixel_round(oy + (aspect ? (g.y < 0 ? g.y : 0) : (g.y < 0 ? 0 : g.y))));
            c.height -= c.y;
            c.y += s->page.y;
            for (double ox = 0; ox < static_cast<double>(width);) {
                c.x = pixel_round(ox - (aspect ? (g.x > 0 ? g.x : 0) : (g.x > 0 ? 0 : g.x)));
                ox += dx;
                c.width = static_cast<size_t>(
                    pixel_round(ox + (aspect ? (g.x < 0 ? g.x : 0) : (g.x < 0 ? 0 : g.x))));
                c.width -= c.x;
                c.x += s->page.x;
                if (auto t = crop(in, c, tile_call, header)) out.push_back(std::move(*t));
            }
        }
        return out;
    }
    if ((g.width == 0 && g.height == 0) || (flags & XValue) || (flags & YValue)) {
        std::optional<Image> c = crop(in, g, call, header);
        if (!c) return {in};
        if (flags & AspectValue) {
            RectangleInfo& pg = c->shell()->page;
            pg.width = g.width;
            pg.height = g.height;
            pg.x -= g.x;
            pg.y -= g.y;
        }
        return {std::move(*c)};
    }
    if (s->columns > g.width || s->rows > g.height) {
        RectangleInfo page = s->page;
        if (page.width == 0) page.width = s->columns;
        if (page.height == 0) page.height = s->rows;
        const size_t w = g.width ? g.width : page.width, h = g.height ? g.height : page.height;
        for (ssize_t y = 0; y < static_cast<ssize_t>(page.height); y += static_cast<ssize_t>(h))
            for (ssize_t x = 0; x < static_cast<ssize_t>(page.width); x += static_cast<ssize_t>(w)) {
                RectangleInfo t{w, h, x, y};
                std::optional<Image> c = crop(in, t, call, header);
                if (!c) return out.empty() ? std::vector<Image>{in} : out;
                out.push_back(std::move(*c));
            }
        return out;
    }
    return {in};
}

std::vector<Image> run_crop(Image& in, OpCall& call) { return crop_tiles(in, call, false); }

RectangleInfo page_geometry(const Image& in, const std::string& arg) {
    RectangleInfo g{};
    magick::Exception ex;
    ParsePageGeometry(in.shell(), arg.c_str(), &g, ex);
    return g;
}

std::vector<Image> run_shave(Image& in, OpCall& call) {
    RectangleInfo sh = page_geometry(in, call.arg(0));
    const ::Image* s = in.shell();
    if (2 * sh.width >= s->columns || 2 * sh.height >= s->rows) {
        warn_no_image(call, in, "transform.c/ShaveImage/1686");
        return {in};
    }
    RectangleInfo g{s->columns - 2 * sh.width, s->rows - 2 * sh.height,
                    static_cast<ssize_t>(sh.width) + s->page.x, static_cast<ssize_t>(sh.height) + s->page.y};
    std::optional<Image> c = crop(in, g, call);
    if (!c) return {in};
    RectangleInfo& pg = c->shell()->page;
    pg.width -= 2 * sh.width;
    pg.height -= 2 * sh.height;
    pg.x -= static_cast<ssize_t>(sh.width);
    pg.y -= static_cast<ssize_t>(sh.height);
    return {std::move(*c)};
}

std::vector<Image> run_chop(Image& in, OpCall& call) {
    RectangleInfo g{};
    magick::Exception ex;
    ParseGravityGeometry(in.shell(), call.arg(0).c_str(), &g, ex);
    const ssize_t cols = static_cast<ssize_t>(in.width()), rows = static_cast<ssize_t>(in.height());
    if (g.x + static_cast<ssize_t>(g.width) < 0 || g.y + static_cast<ssize_t>(g.height) < 0 || g.x > cols ||
        g.y > rows) {
        warn_no_image(call, in, "transform.c/ChopImage/226");
        return {in};
    }
    RectangleInfo e = g;
    if (e.x + static_cast<ssize_t>(e.width) > cols) e.width = static_cast<size_t>(cols - e.x);
    if (e.y + static_cast<ssize_t>(e.height) > rows) e.height = static_cast<size_t>(rows - e.y);
    if (e.x < 0) {
        e.width -= static_cast<size_t>(-e.x);
        e.x = 0;
    }
    if (e.y < 0) {
        e.height -= static_cast<size_t>(-e.y);
        e.y = 0;
    }
    const int ow = static_cast<int>(cols - static_cast<ssize_t>(e.width));
    const int oh = static_cast<int>(rows - static_cast<ssize_t>(e.height));
    if (ow <= 0 || oh <= 0)
        throw Error(Severity::option_error, "negative or zero image size", in.shell()->filename,
                    "transform.c/ChopImage");
    const Pixels& p = in.pixels();
    auto px = std::make_shared<Pixels>(ow, oh, p.channels(), p.bytes_per_sample());
    const size_t pxb = static_cast<size_t>(p.channels()) * p.bytes_per_sample();
    for (int y = 0, oy = 0; y < rows; ++y) {
        if (y >= e.y && y < e.y + static_cast<ssize_t>(e.height)) continue;
        const uint8_t* src = p.row(y);
        uint8_t* dst = px->row(oy++);
        std::memcpy(dst, src, e.x * pxb);
        std::memcpy(dst + e.x * pxb, src + (e.x + e.width) * pxb, (cols - e.x - e.width) * pxb);
    }
    return {in.derive_scaled(std::move(px))};
}

/// Why a canvas of `colour` in layout `l` would change the colour model (ImageMagick's to do).
const char* canvas_declines(const Layout& l, const Colour& colour) {
    if (l.cmyk()) return "cmyk canvas";
    if (l.gray() && !colour.gray()) return "colour on gray";
    if (!colour.opaque() && !l.alpha) return "alpha canvas";
    return nullptr;
}

/// Extent and border: a canvas of the background or border colour under the image, composed
/// with -compose.
const char* declines_canvas_of(const Image& in, const PixelPacket& colour) {
    if (!native_compose(in.shell()->compose)) return "compose";
    return canvas_declines(in.layout(), colour_of(colour));
}
const char* declines_extent(const Image& in, const OpCall&) {
    return declines_canvas_of(in, in.shell()->background_color);
}
const char* declines_border(const Image& in, const OpCall&) {
    return declines_canvas_of(in, in.shell()->border_color);
}

/// A canvas in `in`'s layout filled with `colour`; declines what would change the colour model.
std::shared_ptr<Pixels> canvas(const Image& in, int w, int h, const Colour& colour, Layout& l) {
    l = in.layout();
    if (const char* why = canvas_declines(l, colour)) throw Decline{why};
    auto px = std::make_shared<Pixels>(w, h, l.channels(), in.pixels().bytes_per_sample());
    fill(*px, l, colour);
    return px;
}

std::vector<Image> run_extent(Image& in, OpCall& call) {
    RectangleInfo g{};
    magick::Exception ex;
    ParseGravityGeometry(in.shell(), call.arg(0).c_str(), &g, ex);
    if (g.width == 0) g.width = in.shell()->columns;
    if (g.height == 0) g.height = in.shell()->rows;
    const CompositeOperator op = in.shell()->compose;
    if (const char* why = declines_extent(in, call)) throw Decline{why};
    Layout l;
    auto px = canvas(in, static_cast<int>(g.width), static_cast<int>(g.height),
                     colour_of(in.shell()->background_color), l);
    composite(*px, l, in.pixels(), in.layout(), static_cast<int>(-g.x), static_cast<int>(-g.y), op,
              call.ctx.threads);
    Image out = in.derive_scaled(std::move(px));
    DeleteImageProfile(out.shell(), "8bim");
    return {std::move(out)};
}

std::vector<Image> run_border(Image& in, OpCall& call) {
    RectangleInfo b{};
    magick::Exception ex;
    // As MogrifyImage: the page geometry as parsed ("10" is 10x10, "10x" is 10x0).
    ParsePageGeometry(in.shell(), call.arg(0).c_str(), &b, ex);
    const ::Image* s = in.shell();
    const CompositeOperator op = s->compose;
    if (const char* why = declines_border(in, call)) throw Decline{why};
    const int w = in.width() + 2 * static_cast<int>(b.width),
              h = in.height() + 2 * static_cast<int>(b.height);
    Layout l;
    auto px = canvas(in, w, h, colour_of(s->border_color), l);
    composite(*px, l, in.pixels(), in.layout(), static_cast<int>(b.width), static_cast<int>(b.height), op,
              call.ctx.threads);
    Image out = in.derive(std::move(px));
    RectangleInfo& pg = out.shell()->page;
    pg = s->page;
    if (s->page.width != 0 && s->page.height != 0) {
        pg.width += w - in.width();
        pg.height += h - in.height();
    }
    return {std::move(out)};
}

/// SpliceImage: rows and columns of the background colour inserted at the geometry, which
/// MogrifyImage has placed by gravity and SpliceImage moves once more by gravity (by half the
/// splice's width, not its height, for West). ImageMagick leaves the inserted columns as its
/// cache's queued row had them: the background in memory, black in a disk cache; here they are
/// the background on every tier. Offsets outside the image (where ImageMagick reads virtual
/// pixels) stay with ImageMagick.
/// Where -splice inserts its rows and columns (see run_splice).
RectangleInfo splice_place(const Image& in, const OpCall& call) {
    RectangleInfo g{};
    magick::Exception ex;
    ParseGravityGeometry(in.shell(), call.arg(0).c_str(), &g, ex);
    const ssize_t gw = static_cast<ssize_t>(g.width), gh = static_cast<ssize_t>(g.height);
    // clang-format off
    // Steps of half the splice's size, per gravity: x by width, y by height (West: by width).
    int hx = 0, hy = 0;
    switch (in.shell()->gravity) {
        case NorthGravity: hx = 1; break;
        case NorthEastGravity: hx = 2; break;
        case WestGravity: g.y += gw / 2; break;
        case StaticGravity:
        case CenterGravity: hx = hy = 1; break;
        case EastGravity: hx = 2, hy = 1; break;
        case SouthWestGravity: hy = 2; break;
        case SouthGravity: hx = 1, hy = 2; break;
        case SouthEastGravity: hx = hy = 2; break;
        default: break;
    }
    g.x += hx == 2 ? gw : hx == 1 ? gw / 2 : 0;
    g.y += hy == 2 ? gh : hy == 1 ? gh / 2 : 0;
    // clang-format on
    return g;
}

const char* declines_splice(const Image& in, const OpCall& call) {
    const RectangleInfo g = splice_place(in, call);
    const ssize_t gw = static_cast<ssize_t>(g.width), gh = static_cast<ssize_t>(g.height);
    const ssize_t cols = in.width(), rows = in.height();
    if (g.x < 0 || g.y < 0 || g.x > cols || g.y > rows) return "splice outside the image";
    if (static_cast<double>(cols + gw) * static_cast<double>(rows + gh) > 1e12) return "huge splice";
    const Layout il = in.layout();
    if (il.cmyk()) return "cmyk canvas";
    if (il.gray() && !colour_of(in.shell()->background_color).gray() &&
        in.shell()->colorspace != GRAYColorspace)
        return "colour on linear gray";
    return nullptr;
}

std::vector<Image> run_splice(Image& in, OpCall& call) {
    if (const char* why = declines_splice(in, call)) throw Decline{why};
    const RectangleInfo g = splice_place(in, call);
    const ssize_t gw = static_cast<ssize_t>(g.width), gh = static_cast<ssize_t>(g.height);
    const ssize_t cols = in.width(), rows = in.height();
    // SetImageBackgroundColor on the new image first transforms a Gray one to (linear) RGB for
    // a colour background, which only relabels it here as the image's pixels are then copied
    // unchanged, and gives an opaque one alpha for a translucent background.
    const Colour bg = colour_of(in.shell()->background_color);
    Image src = in;
    const Layout il = in.layout();
    const bool to_rgb = il.gray() && !bg.gray(), to_alpha = !bg.opaque() && !il.alpha;
    if ((to_rgb || to_alpha) && !il.cmyk()) {
        ::Image* m = src.make_magick(call.ctx.diag);
        if (to_rgb) SetImageColorspace(m, RGBColorspace);
        if (to_alpha) SetImageAlphaChannel(m, OpaqueAlphaChannel);
        src.make_native(call.ctx.diag);
    }
    Layout l;
    auto px = canvas(src, static_cast<int>(cols + gw), static_cast<int>(rows + gh), bg, l);
    const Pixels& p = src.pixels();
    const size_t pxb = static_cast<size_t>(p.channels()) * p.bytes_per_sample();
    const size_t left = static_cast<size_t>(g.x) * pxb, right = static_cast<size_t>(cols - g.x) * pxb;
    for (ssize_t y = 0; y < rows; ++y) {
        uint8_t* dst = px->row(static_cast<int>(y < g.y ? y : y + gh));
        const uint8_t* from = p.row(static_cast<int>(y));
        std::memcpy(dst, from, left);
        std::memcpy(dst + left + static_cast<size_t>(gw) * pxb, from + left, right);
    }
    return {src.derive_scaled(std::move(px))};
}

/// GetImageBoundingBox: first pixels that differ from the corners (top-left, top-right,
/// bottom-left), with -fuzz as ImageMagick's IsMagickColorSimilar measures it.
RectangleInfo bounding_box(const Image& in) {
    const Pixels& p = in.pixels();
    const Layout l = in.layout();
    const int ch = p.channels();
    const double fuzz = in.shell()->fuzz;
    auto q16 = [&](int x, int y, float out[4]) {
        for (int c = 0; c < 3; ++c) out[c] = p.get(x, y, l.gray() ? 0 : c) * 65535.0f;
        out[3] = l.alpha ? p.get(x, y, ch - 1) * 65535.0f : 65535.0f;
    };
    auto similar = [&](const float* a, const float* b) {
        if (fuzz == 0.0) return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && (!l.alpha || a[3] == b[3]);
        double f = std::max(fuzz, 0.70710678118654752) * std::max(fuzz, 0.70710678118654752);
        double dist = 0, scale = 1;
        if (l.alpha) {
            double d = a[3] - b[3];
            dist = d * d;
            if (dist > f) return false;
            scale = (a[3] / 65535.0) * (b[3] / 65535.0);
            if (scale <= 1e-12) return true;
        }
        dist *= 3;
        f *= 3;
        for (int c = 0; c < 3; ++c) {
            double d = a[c] - b[c];
            dist += d * d * scale;
            if (dist > f) return false;
        }
        return true;
    };
    float t0[4], t1[4], t2[4];
    q16(0, 0, t0);
    q16(p.width() - 1, 0, t1);
    q16(0, p.height() - 1, t2);
    RectangleInfo b{0, 0, p.width(), p.height()};
    for (int y = 0; y < p.height(); ++y)
        for (int x = 0; x < p.width(); ++x) {
            float v[4];
            q16(x, y, v);
            if (x < b.x && !similar(v, t0)) b.x = x;
            if (x > static_cast<ssize_t>(b.width) && !similar(v, t1)) b.width = x;
            if (y < b.y && !similar(v, t0)) b.y = y;
            if (y > static_cast<ssize_t>(b.height) && !similar(v, t2)) b.height = y;
        }
    if (b.width != 0 && b.height != 0) {
        b.width -= b.x - 1;
        b.height -= b.y - 1;
    }
    return b;
}

std::vector<Image> run_trim(Image& in, OpCall& call) {
    RectangleInfo g = bounding_box(in);
    const ::Image* s = in.shell();
    if (g.width == 0 || g.height == 0) {
        warn_no_image(call, in, "attribute.c/GetImageBoundingBox/521");
        return {missing_image(in, s->page)};
    }
    g.x += s->page.x;
    g.y += s->page.y;
    std::optional<Image> c = crop(in, g, call);
    if (!c) return {in};
    return {std::move(*c)};
}

std::vector<Image> run_repage(Image& in, OpCall& call) {
    Image out = in;
    ResetImagePage(out.shell(), call.arg(0).c_str());
    return {std::move(out)};
}

}  // namespace

std::vector<Image> crop_headers(Image& in, OpCall& call) { return crop_tiles(in, call, true); }

extern const OpSpec crop_op{.names = {"-crop"},
                            .kind = OpKind::simple,
                            .arity = 1,
                            .demand = Demand::metadata,
                            .summary = "cut out a rectangle, or tiles (WxH, @NxM), of the image",
                            .run = &run_crop,
                            .keeps_class = true};
extern const OpSpec shave_op{.names = {"-shave"},
                             .kind = OpKind::simple,
                             .arity = 1,
                             .demand = Demand::metadata,
                             .summary = "shave pixels from the image edges",
                             .run = &run_shave,
                             .keeps_class = true};
extern const OpSpec chop_op{.names = {"-chop"},
                            .kind = OpKind::simple,
                            .arity = 1,
                            .demand = Demand::metadata,
                            .summary = "remove pixels from the image interior",
                            .run = &run_chop,
                            .keeps_class = true};
extern const OpSpec extent_op{.names = {"-extent"},
                              .kind = OpKind::simple,
                              .arity = 1,
                              .demand = Demand::metadata,
                              .summary = "set the image size, padding with the background colour",
                              .run = &run_extent,
                              .declines = &declines_extent};
extern const OpSpec border_op{.names = {"-border"},
                              .kind = OpKind::simple,
                              .arity = 1,
                              .demand = Demand::metadata,
                              .summary = "surround image with a border of color",
                              .run = &run_border,
                              .declines = &declines_border};
extern const OpSpec splice_op{.names = {"-splice"},
                              .kind = OpKind::simple,
                              .arity = 1,
                              .demand = Demand::metadata,
                              .summary = "splice the background color into the image",
                              .run = &run_splice,
                              .declines = &declines_splice};
extern const OpSpec trim_op{.names = {"-trim"},
                            .kind = OpKind::simple,
                            .arity = 0,
                            .demand = Demand::whole_image,
                            .summary = "trim image edges that match the corner colours",
                            .run = &run_trim,
                            .keeps_class = true};
extern const OpSpec repage_geometry_op{.names = {"-repage"},
                                       .kind = OpKind::simple,
                                       .arity = 1,
                                       .demand = Demand::metadata,
                                       .summary = "size and location of the image canvas",
                                       .run = &run_repage,
                                       .keeps_class = true};

}  // namespace mtool::ops
