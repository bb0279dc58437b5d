// -negate and metadata-only operators (+repage, -strip): no neighbourhood, no bridge.
#include "src/ops/parallel.h"
#include "src/ops/specs.h"

namespace mtool::ops {
namespace {

std::vector<Image> run_negate(Image& in, OpCall& call) {
    Image out = in;
    Pixels& p = out.mutable_pixels();
    const int ch = p.channels();
    const int color = out.layout().color_channels;  // alpha is left alone, as in ImageMagick
    const int w = p.width();
    parallel_rows(p.height(), call.ctx.threads, [&](int y0, int y1) {
        for (int y = y0; y < y1; ++y) {
            if (p.bytes_per_sample() == 1) {
                uint8_t* r = p.row(y);
                for (int x = 0; x < w; ++x)
                    for (int c = 0; c < color; ++c) r[x * ch + c] = static_cast<uint8_t>(255 - r[x * ch + c]);
            } else {
                uint16_t* r = p.row16(y);
                for (int x = 0; x < w; ++x)
                    for (int c = 0; c < color; ++c)
                        r[x * ch + c] = static_cast<uint16_t>(65535 - r[x * ch + c]);
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
