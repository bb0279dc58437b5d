// -flip, -flop, -transpose, -transverse and -rotate by multiples of 90 degrees: pure pixel moves
// at the source depth. Page geometry follows ImageMagick's transforms.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "src/ops/parallel.h"
#include "src/ops/specs.h"

namespace mtool::ops {
namespace {

/// Output pixel (x, y) comes from input map(x, y); whole pixels are copied. A row-preserving
/// map (flop, rotate 180) reads one input row per output row. A transposing map (rotate 90/270,
/// transpose, transverse) takes input rows to output columns: it fills one output strip at a
/// time, reading each input row once per strip, so a spilled image is read sequentially
/// (strips x input) instead of a whole input sweep per output row.
template <class Map>
std::shared_ptr<Pixels> remap(const Pixels& in, int out_w, int out_h, int threads, bool transposing,
                              Map map) {
    auto out = std::make_shared<Pixels>(out_w, out_h, in.channels(), in.bytes_per_sample());
    const size_t pixel = static_cast<size_t>(in.channels()) * in.bytes_per_sample();
    if (!transposing) {
        parallel_rows(out_h, threads, [&](int y0, int y1) {
            for (int y = y0; y < y1; ++y) {
                const uint8_t* src = in.row(map(0, y).second);
                uint8_t* dst = out->row(y);
                for (int x = 0; x < out_w; ++x)
                    std::memcpy(dst + x * pixel, src + static_cast<size_t>(map(x, y).first) * pixel, pixel);
            }
        });
        return out;
    }
    // Bands of whole output strips, as many as a quarter of the memory budget holds across the
    // threads (each band costs one sweep over the input).
    const cache::Budgets budget = out->manager().budgets();
    const uint64_t strip_bytes = static_cast<uint64_t>(out->rows_per_strip()) * out->stride();
    uint64_t strips_per_band = 64;
    if (budget.memory != cache::kUnlimited)
        strips_per_band = std::max<uint64_t>(
            1, budget.memory / 4 / std::max(1, threads) / std::max<uint64_t>(1, strip_bytes));
    const int band = static_cast<int>(
        std::min<uint64_t>(static_cast<uint64_t>(out_h), strips_per_band * out->rows_per_strip()));
    const int bands = (out_h + band - 1) / band;
    parallel_rows(
        bands, threads,
        [&](int b0, int b1) {
            std::vector<uint8_t*> rows(band);
            for (int b = b0; b < b1; ++b) {
                const int y0 = b * band, y1 = std::min(out_h, y0 + band);
                Pixels::Hold hold(*out, y0, y1, true);
                for (int y = y0; y < y1; ++y) rows[y - y0] = hold.row(y);
                for (int x = 0; x < out_w; ++x) {
                    const uint8_t* src = in.row(map(x, y0).second);
                    const size_t dx = static_cast<size_t>(x) * pixel;
                    for (int y = y0; y < y1; ++y)
                        std::memcpy(rows[y - y0] + dx, src + static_cast<size_t>(map(x, y).first) * pixel,
                                    pixel);
                }
            }
        },
        1);
    return out;
}

std::vector<Image> run_flip(Image& in, OpCall& call) {
    const Pixels& p = in.pixels();
    int h = p.height();
    auto out = std::make_shared<Pixels>(p.width(), h, p.channels(), p.bytes_per_sample());
    for (int y = 0; y < h; ++y) std::memcpy(out->row(y), p.row(h - 1 - y), p.stride());
    Image r = in.derive(out);
    RectangleInfo& pg = r.shell()->page;
    if (pg.height) pg.y = static_cast<ssize_t>(pg.height) - h - pg.y;
    return {std::move(r)};
}

std::vector<Image> run_flop(Image& in, OpCall& call) {
    const Pixels& p = in.pixels();
    int w = p.width();
    Image r = in.derive(remap(p, w, p.height(), call.ctx.threads, false, [&](int x, int y) {
        return std::pair{w - 1 - x, y};
    }));
    RectangleInfo& pg = r.shell()->page;
    if (pg.width) pg.x = static_cast<ssize_t>(pg.width) - w - pg.x;
    return {std::move(r)};
}

Image transpose_like(Image& in, OpCall& call, bool transverse) {
    const Pixels& p = in.pixels();
    int w = p.width(), h = p.height();
    auto px = transverse ? remap(p, h, w, call.ctx.threads, true,
                                 [&](int x, int y) {
                                     return std::pair{w - 1 - y, h - 1 - x};
                                 })
                         : remap(p, h, w, call.ctx.threads, true, [&](int x, int y) {
                               return std::pair{y, x};
                           });
    Image r = in.derive(px);
    RectangleInfo pg = in.shell()->page;
    RectangleInfo& o = r.shell()->page;
    o.width = pg.height;
    o.height = pg.width;
    o.x = pg.y;
    o.y = pg.x;
    if (transverse) {  // ImageMagick's offsets (observed: 640x480+0+0 -> +160-160)
        if (pg.width) o.x = static_cast<ssize_t>(pg.width) - h - pg.y;
        if (pg.height) o.y = static_cast<ssize_t>(pg.height) - w - pg.x;
    }
    return r;
}

std::vector<Image> run_transpose(Image& in, OpCall& call) { return {transpose_like(in, call, false)}; }
std::vector<Image> run_transverse(Image& in, OpCall& call) { return {transpose_like(in, call, true)}; }

/// Degrees from "-rotate 90", "90>", "90<"; NAN when the conditional says "do not rotate".
double rotation(const OpCall& call, const Image* in) {
    const std::string& a = call.arg(0);
    double deg = std::strtod(a.c_str(), nullptr);
    if (in) {
        if (a.find('>') != std::string::npos && !(in->width() > in->height())) return NAN;
        if (a.find('<') != std::string::npos && !(in->width() < in->height())) return NAN;
    }
    return deg;
}

bool accepts_rotate(const OpCall& call) {
    double deg = rotation(call, nullptr);
    return std::fmod(std::fabs(deg), 90.0) == 0.0;
}

std::vector<Image> run_rotate(Image& in, OpCall& call) {
    double deg = rotation(call, &in);
    if (std::isnan(deg)) return {in};
    int quarter = static_cast<int>(std::lround(deg / 90.0)) % 4;
    if (quarter < 0) quarter += 4;
    const Pixels& p = in.pixels();
    int w = p.width(), h = p.height();
    RectangleInfo pg = in.shell()->page;
    switch (quarter) {
        case 0:
            return {in};
        case 1: {
            Image r = in.derive(remap(p, h, w, call.ctx.threads, true, [&](int x, int y) {
                return std::pair{y, h - 1 - x};
            }));
            RectangleInfo& o = r.shell()->page;
            o.width = pg.height, o.height = pg.width;
            o.x = pg.height ? static_cast<ssize_t>(pg.height) - h - pg.y : 0;
            o.y = pg.x;
            return {std::move(r)};
        }
        case 2: {
            Image r = in.derive(remap(p, w, h, call.ctx.threads, false, [&](int x, int y) {
                return std::pair{w - 1 - x, h - 1 - y};
            }));
            RectangleInfo& o = r.shell()->page;
            if (pg.width) o.x = static_cast<ssize_t>(pg.width) - w - pg.x;
            if (pg.height) o.y = static_cast<ssize_t>(pg.height) - h - pg.y;
            return {std::move(r)};
        }
        default: {
            Image r = in.derive(remap(p, h, w, call.ctx.threads, true, [&](int x, int y) {
                return std::pair{w - 1 - y, x};
            }));
            RectangleInfo& o = r.shell()->page;
            o.width = pg.height, o.height = pg.width;
            o.x = pg.y;
            o.y = pg.width ? static_cast<ssize_t>(pg.width) - w - pg.x : 0;
            return {std::move(r)};
        }
    }
}

}  // namespace

extern const OpSpec flip_op{.names = {"-flip"},
                            .kind = OpKind::simple,
                            .arity = 0,
                            .demand = Demand::whole_image,
                            .summary = "flip image in the vertical direction",
                            .run = &run_flip,
                            .keeps_class = true};
extern const OpSpec flop_op{.names = {"-flop"},
                            .kind = OpKind::simple,
                            .arity = 0,
                            .demand = Demand::pointwise,
                            .summary = "flop image in the horizontal direction",
                            .run = &run_flop,
                            .keeps_class = true};
extern const OpSpec transpose_op{.names = {"-transpose"},
                                 .kind = OpKind::simple,
                                 .arity = 0,
                                 .demand = Demand::whole_image,
                                 .summary = "flip image vertically and rotate 90 degrees",
                                 .run = &run_transpose,
                                 .keeps_class = true};
extern const OpSpec transverse_op{.names = {"-transverse"},
                                  .kind = OpKind::simple,
                                  .arity = 0,
                                  .demand = Demand::whole_image,
                                  .summary = "flop image horizontally and rotate 270 degrees",
                                  .run = &run_transverse,
                                  .keeps_class = true};
extern const OpSpec rotate_op{
    .names = {"-rotate"},
    .kind = OpKind::simple,
    .arity = 1,
    .demand = Demand::whole_image,
    .summary = "apply Paeth rotation to the image (multiples of 90 native, other angles bridged)",
    .run = &run_rotate,
    .accepts = &accepts_rotate,
    .keeps_class = true};

}  // namespace mtool::ops

namespace mtool::ops {
namespace {

/// -auto-orient: the transform that undoes the EXIF orientation, then orientation TopLeft.
std::vector<Image> run_auto_orient(Image& in, OpCall& call) {
    const char* op = nullptr;
    std::vector<std::string> args;
    switch (in.shell()->orientation) {
        case TopRightOrientation:
            op = "-flop";
            break;
        case BottomRightOrientation:
            op = "-rotate";
            args = {"180"};
            break;
        case BottomLeftOrientation:
            op = "-flip";
            break;
        case LeftTopOrientation:
            op = "-transpose";
            break;
        case RightTopOrientation:
            op = "-rotate";
            args = {"90"};
            break;
        case RightBottomOrientation:
            op = "-transverse";
            break;
        case LeftBottomOrientation:
            op = "-rotate";
            args = {"270"};
            break;
        default:
            return {in};
    }
    OpCall sub{op, args, call.info, call.ctx};
    Image out = find(op)->run(in, sub).at(0);
    out.shell()->orientation = TopLeftOrientation;
    return {std::move(out)};
}

}  // namespace

extern const OpSpec auto_orient_op{.names = {"-auto-orient"},
                                   .kind = OpKind::simple,
                                   .arity = 0,
                                   .demand = Demand::whole_image,
                                   .summary = "automagically orient (rotate) image from its EXIF orientation",
                                   .run = &run_auto_orient,
                                   .keeps_class = true};

}  // namespace mtool::ops
