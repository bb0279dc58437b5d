// -negate and metadata-only operators (+repage, -strip): no neighbourhood, no bridge.
#include <type_traits>

#include "src/ops/parallel.h"
#include "src/ops/specs.h"

namespace mtool::ops {
namespace {

std::vector<Image> run_negate(Image& in, OpCall& call) {
    Image out = in;
    // Written from the source in one pass (a shared image was copied, then negated in place).
    auto [src, dst] = out.rewrite_pixels();
    const int ch = dst->channels();
    const int color = out.layout().color_channels;  // alpha is left alone, as in ImageMagick
    const size_t n = static_cast<size_t>(dst->width()) * ch;
    auto negate = [&](const auto* s, auto* d, unsigned max) {
        using T = std::remove_pointer_t<decltype(d)>;
        if (color == ch) {
            // Every sample: one contiguous run the compiler vectorises (a loop over pixels and
            // channels took 16% of a streamed 6000x4000 -negate -> jpg).
            for (size_t i = 0; i < n; ++i) d[i] = static_cast<T>(max - s[i]);
            return;
        }
        for (size_t i = 0; i < n; ++i)
            d[i] = static_cast<T>(i % ch < static_cast<size_t>(color) ? max - s[i] : s[i]);
    };
    parallel_rows(dst->height(), call.ctx.threads, [&, src = src.get(), dst = dst](int y0, int y1) {
        for (int y = y0; y < y1; ++y) {
            if (dst->bytes_per_sample() == 1) {
                const uint8_t* s = src->row(y);  // (source first: the pin rule)
                negate(s, dst->row(y), 255u);
            } else {
                const uint16_t* s = src->row16(y);
                negate(s, dst->row16(y), 65535u);
            }
        }
    });
    return {std::move(out)};
}

bool accepts_negate(const OpCall& call) { return !call.plus(); }  // +negate: gray pixels only

std::vector<Image> run_repage_reset(Image& in, OpCall&) {
    Image out = in;
    RectangleInfo& pg = out.shell()->page;
    pg.width = pg.height = 0;
    pg.x = pg.y = 0;
    return {std::move(out)};
}

std::vector<Image> run_strip(Image& in, OpCall&) {
    Image out = in;
    StripImage(out.shell());
    return {std::move(out)};
}

}  // namespace

extern const OpSpec negate_op{.names = {"-negate"},
                              .kind = OpKind::simple,
                              .arity = 0,
                              .demand = Demand::pointwise,
                              .summary = "replace every pixel with its complementary color",
                              .run = &run_negate,
                              .accepts = &accepts_negate,
                              .keeps_class = true,
                              .uses_channel = true};
extern const OpSpec repage_op{.names = {"+repage"},
                              .kind = OpKind::simple,
                              .arity = 0,
                              .demand = Demand::metadata,
                              .summary = "reset the virtual canvas (page) of the image",
                              .run = &run_repage_reset,
                              .keeps_class = true};
extern const OpSpec strip_op{.names = {"-strip"},
                             .kind = OpKind::simple,
                             .arity = 0,
                             .demand = Demand::metadata,
                             .summary = "strip image of all profiles and comments",
                             .run = &run_strip,
                             .keeps_class = true};

}  // namespace mtool::ops
