// List operators that build one canvas from many images: -append/+append (AppendImages),
// -flatten (MergeImageLayers FlattenLayer) and -composite (CompositeImage of the last two,
// with an optional mask left to ImageMagick).
#include <algorithm>

#include "src/ops/compose.h"
#include "src/ops/resample.h"
#include "src/ops/specs.h"

namespace mtool::ops {
namespace {

/// Mixed gray/colour/CMYK lists stay bridged.
const char* mixed_layouts(const std::vector<Image>& list) {
    const Layout l = list.front().layout();
    for (const auto& img : list) {
        const Layout m = img.layout();
        if (m.color_channels != l.color_channels || m.cmyk()) return "mixed colour models";
    }
    return nullptr;
}

/// Shared colour model of the list (see mixed_layouts).
Layout common_layout(std::vector<Image>& list, Context& ctx) {
    Layout l = list.front().layout();
    for (auto& img : list) {
        img.make_native(ctx.diag);
        l.alpha |= img.layout().alpha;
    }
    return l;
}

bool gray_on_colour(const std::vector<Image>& list) {
    return list.front().layout().gray() && !colour_of(list.front().shell()->background_color).gray();
}

const char* declines_append(const std::vector<Image>& list, const OpCall&) {
    if (list.empty()) return nullptr;
    if (const char* why = mixed_layouts(list)) return why;
    return gray_on_colour(list) ? "colour background on gray" : nullptr;
}

const char* declines_flatten(const std::vector<Image>& list, const OpCall&) {
    if (list.empty()) return nullptr;
    if (const char* why = mixed_layouts(list)) return why;
    for (const auto& img : list) {
        if (!native_compose(img.shell()->compose)) return "compose";
        // Virtual-canvas offsets (layers) follow MergeImageLayers' bookkeeping: ImageMagick's.
        if (img.shell()->page.x != 0 || img.shell()->page.y != 0) return "page offsets";
    }
    return gray_on_colour(list) ? "colour background on gray" : nullptr;
}

const char* declines_composite(const std::vector<Image>& list, const OpCall& call) {
    if (list.size() != 2) return "no source, or a mask";  // IM's own error or mask handling
    const Image &dst = list[0], &src = list[1];
    if (!native_compose(dst.shell()->compose) || GetImageOption(call.info, "compose:args")) return "compose";
    const Layout dl = dst.layout(), sl = src.layout();
    if (dl.cmyk() || sl.cmyk() || (dl.gray() && !sl.gray())) return "colour models";
    // A -geometry with a size resizes the source first (MogrifyImageList): ImageMagick's resize.
    if (src.shell()->geometry) {
        RectangleInfo size{};
        magick::Exception ex;
        ParseRegionGeometry(src.shell(), src.shell()->geometry, &size, ex);
        if (size.width != static_cast<size_t>(src.width()) ||
            size.height != static_cast<size_t>(src.height()))
            return "source resize";
    }
    // A blend into 8-bit pixels that a later step reads at Q16: ImageMagick's (decided here, from
    // the header, so that the plan knows it).
    if (call.ctx.precise && dst.native_bps() == 1) return "q16 blend";
    return nullptr;
}

void require_list(const char* (*declines)(const std::vector<Image>&, const OpCall&),
                  const std::vector<Image>& list, const OpCall& call) {
    if (const char* why = declines(list, call)) throw Decline{why};
}

int common_bps(const std::vector<Image>& list) {
    int bps = 1;
    for (const auto& img : list) bps = std::max(bps, img.pixels().bytes_per_sample());
    return bps;
}

/// Copies src (any bps, with or without alpha) into dst at (x, y), alpha opaque when absent.
void paste(Pixels& dst, const Layout& dl, const Pixels& src, const Layout& sl, int x0, int y0) {
    for (int y = 0; y < src.height(); ++y) {
        const int dy = y + y0;
        if (dy < 0 || dy >= dst.height()) continue;
        for (int x = 0; x < src.width(); ++x) {
            const int dx = x + x0;
            if (dx < 0 || dx >= dst.width()) continue;
            for (int c = 0; c < dl.color_channels; ++c) put_sample(dst, dx, dy, c, src.get(x, y, c), false);
            if (dl.alpha)
                put_sample(dst, dx, dy, dl.channels() - 1, sl.alpha ? src.get(x, y, sl.channels() - 1) : 1.0f,
                           true);
        }
    }
}

void run_append(std::vector<Image>& list, OpCall& call) {
    if (list.empty()) return;
    const bool stack = !call.plus();
    require_list(&declines_append, list, call);
    Layout l = common_layout(list, call.ctx);
    const Colour bg = colour_of(list.front().shell()->background_color);
    size_t width = 0, height = 0, depth = 0;
    for (const auto& img : list) {
        depth = std::max<size_t>(depth, img.shell()->depth);
        if (stack) {
            width = std::max<size_t>(width, img.width());
            height += img.height();
        } else {
            width += img.width();
            height = std::max<size_t>(height, img.height());
        }
    }
    auto px = std::make_shared<Pixels>(static_cast<int>(width), static_cast<int>(height), l.channels(),
                                       common_bps(list));
    fill(*px, l, bg);
    ssize_t x_off = 0, y_off = 0;
    for (const auto& img : list) {
        RectangleInfo g{width, height, 0, 0};
        GravityAdjustGeometry(img.width(), img.height(), img.shell()->gravity, &g);
        if (stack)
            x_off -= g.x;
        else
            y_off -= g.y;
        paste(*px, l, img.pixels(), img.layout(), static_cast<int>(x_off), static_cast<int>(y_off));
        if (stack) {
            x_off = 0;
            y_off += img.height();
        } else {
            x_off += img.width();
            y_off = 0;
        }
    }
    Image out = list.front().derive(std::move(px));
    out.shell()->depth = depth;
    out.shell()->matte = l.alpha ? MagickTrue : MagickFalse;
    out.shell()->page = list.front().shell()->page;
    list.assign(1, std::move(out));
}

void run_flatten(std::vector<Image>& list, OpCall& call) {
    if (list.empty()) return;
    require_list(&declines_flatten, list, call);
    Layout l = common_layout(list, call.ctx);
    const ::Image* first = list.front().shell();
    // MergeImageLayers(FlattenLayer): the first image's page canvas (or its size), background.
    RectangleInfo page = first->page;
    if (page.width == 0) page.width = first->columns;
    if (page.height == 0) page.height = first->rows;
    Colour bg = colour_of(first->background_color);
    Layout canvas_l = l;
    canvas_l.alpha = l.alpha || !bg.opaque();
    auto px = std::make_shared<Pixels>(
        static_cast<int>(page.width), static_cast<int>(page.height), canvas_l.channels(),
        std::max(common_bps(list), result_bps(list.front().pixels(), call.ctx)));
    fill(*px, canvas_l, bg);
    for (const auto& img : list)
        composite(*px, canvas_l, img.pixels(), img.layout(), static_cast<int>(img.shell()->page.x - page.x),
                  static_cast<int>(img.shell()->page.y - page.y), img.shell()->compose, call.ctx.threads);
    Image out = list.front().derive(std::move(px));
    out.shell()->matte = canvas_l.alpha ? MagickTrue : MagickFalse;
    out.shell()->page = page;
    list.assign(1, std::move(out));
}

void run_composite(std::vector<Image>& list, OpCall& call) {
    require_list(&declines_composite, list, call);
    Image& dst = list[0];
    Image& src = list[1];
    dst.make_native(call.ctx.diag);
    src.make_native(call.ctx.diag);
    const CompositeOperator op = dst.shell()->compose;
    Layout dl = dst.layout(), sl = src.layout();
    // As MogrifyImageList: the source's -geometry offset, adjusted by the destination's gravity.
    RectangleInfo place{};
    SetGeometry(src.shell(), &place);
    if (src.shell()->geometry) ParseAbsoluteGeometry(src.shell()->geometry, &place);
    GravityAdjustGeometry(dst.width(), dst.height(), dst.shell()->gravity, &place);
    if (result_bps(dst.pixels(), call.ctx) == 2 && dst.pixels().bytes_per_sample() == 1)
        throw Decline{"q16 blend"};
    Pixels& dp = dst.mutable_pixels();
    composite(dp, dl, src.pixels(), sl, static_cast<int>(place.x), static_cast<int>(place.y), op,
              call.ctx.threads);
    list.erase(list.begin() + 1);
}

}  // namespace

extern const OpSpec append_op{.names = {"-append", "+append"},
                              .kind = OpKind::list,
                              .arity = 0,
                              .demand = Demand::whole_image,
                              .summary = "append an image sequence (top to bottom, + left to right)",
                              .run_list = &run_append,
                              .declines_list = &declines_append};
extern const OpSpec flatten_op{.names = {"-flatten"},
                               .kind = OpKind::list,
                               .arity = 0,
                               .demand = Demand::whole_image,
                               .summary = "flatten a sequence of images onto the background",
                               .run_list = &run_flatten,
                               .declines_list = &declines_flatten,
                               .uses_channel = true};
extern const OpSpec composite_op{.names = {"-composite"},
                                 .kind = OpKind::list,
                                 .arity = 0,
                                 .demand = Demand::whole_image,
                                 .summary = "composite image (Over and the common compose operators)",
                                 .run_list = &run_composite,
                                 .declines_list = &declines_composite,
                                 .uses_channel = true};

}  // namespace mtool::ops
