// -flip, -flop, -transpose, -transverse and -rotate by multiples of 90 degrees: pure pixel moves
// at the source depth. Page geometry follows ImageMagick's transforms.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <future>
#include <system_error>
#include <tuple>
#include <type_traits>
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

/// The rows of a transposing step (rotate 90/270, transpose, transverse) of a pulled image: output
/// row y is source column c0 + cstep * y, its pixel x source row r0 + rstep * x. Source columns
/// come in bands (Pixels::Producer::columns: one decode of the file each, keeping those columns),
/// as wide as kBandBytes holds, so the source is never whole in memory; each band is transposed
/// in blocks of output rows on the command's threads.
class TransposeProducer final : public Pixels::Producer {
public:
    static constexpr uint64_t kBandBytes = 16u << 20;
    static constexpr uint64_t kMaxPasses = 16;
    TransposeProducer(std::shared_ptr<const Pixels> in, int c0, int cstep, int r0, int rstep, int threads)
        : in_(std::move(in)), c0_(c0), cstep_(cstep), r0_(r0), rstep_(rstep), threads_(threads) {
        const uint64_t column =
            static_cast<uint64_t>(in_->height()) * in_->channels() * in_->bytes_per_sample();
        // The bands are images of the tiered cache (they spill under a memory limit), so their
        // width is not cut by it; at most kMaxPasses decodes of the file.
        const uint64_t w = static_cast<uint64_t>(std::max(in_->width(), 1));
        uint64_t b =
            std::max<uint64_t>(kBandBytes / std::max<uint64_t>(column, 1), (w + kMaxPasses - 1) / kMaxPasses);
        band_w_ = static_cast<int>(std::clamp<uint64_t>(b, 1, w));
    }
    ~TransposeProducer() override { settle(); }
    void restart() override {
        settle();
        band_.reset();
    }
    void produce(Pixels& out, int y0, int y1) override {
        // Any failure here (a limit, an I/O error) is the ordinary run's to report, worded as it
        // words it: the command runs again that way.
        try {
            produce_rows(out, y0, y1);
        } catch (const Error&) {
            throw StreamAbort{};
        }
    }

private:
    void produce_rows(Pixels& out, int y0, int y1) {
        for (int a = y0; a < y1;) {
            const int c = c0_ + cstep_ * a;
            if (!band_ || c < lo_ || c >= hi_) load(c);
            // Output rows [a, b) whose columns the band holds.
            int b = a + 1;
            while (b < y1 && c0_ + cstep_ * b >= lo_ && c0_ + cstep_ * b < hi_) ++b;
            copy(out, a, b);
            a = b;
        }
    }

    /// The band of columns that starts (in output order) at column c.
    std::pair<int, int> band_at(int c) const {
        const int lo = cstep_ > 0 ? c : std::max(0, c + 1 - band_w_);
        return {lo, std::min(in_->width(), lo + band_w_)};
    }
    /// Makes the band holding column c current; the next one is then decoded on another thread
    /// while this one is transposed and encoded (two bands held at most).
    void load(int c) {
        band_.reset();
        Producer* src = in_->producer();
        if (!src) throw StreamAbort{};
        std::tie(lo_, hi_) = band_at(c);
        if (next_.valid() && next_lo_ == lo_ && next_hi_ == hi_) {
            band_ = next_.get();
        } else {
            settle();
            band_ = src->columns(lo_, hi_);
        }
        if (!band_) throw StreamAbort{};
        const int after = cstep_ > 0 ? hi_ : lo_ - 1;
        if (threads_ > 1 && after >= 0 && after < in_->width()) {
            std::tie(next_lo_, next_hi_) = band_at(after);
            try {
                next_ = std::async(std::launch::async, [src, a = next_lo_, b = next_hi_] {
                    std::shared_ptr<Pixels> band = src->columns(a, b);
                    cache::thread_release_all();
                    return band;
                });
            } catch (const std::system_error&) {
                next_ = {};  // no thread to be had: the next band is decoded when it is needed
            }
        }
    }
    /// Waits for a band decoded ahead, dropping it (and any failure it met).
    void settle() {
        if (!next_.valid()) return;
        try {
            next_.get();
        } catch (...) {
        }
    }
    void copy(Pixels& out, int a, int b) {
        const size_t pixel = static_cast<size_t>(in_->channels()) * in_->bytes_per_sample();
        const int out_w = out.width();
        Pixels::Hold hold(out, a, b, true);  // (rows being produced: pinned, not produced again)
        std::vector<uint8_t*> rows(b - a);
        for (int y = a; y < b; ++y) rows[y - a] = hold.row(y);
        constexpr int kBlock = 16;
        const Pixels& band = *band_;
        // Pixels of 1, 3 (8-bit gray, RGB) or other sizes; fixed sizes copy without a call.
        auto blocks = [&](auto size) {
            const size_t px = size.value ? size.value : pixel;
            parallel_rows((b - a + kBlock - 1) / kBlock, threads_,
                          [&](int k0, int k1) {
                              for (int k = k0; k < k1; ++k) {
                                  const int ya = a + k * kBlock, yb = std::min(b, ya + kBlock);
                                  for (int x = 0; x < out_w; ++x) {
                                      const uint8_t* src = band.row(r0_ + rstep_ * x);
                                      const size_t dx = static_cast<size_t>(x) * px;
                                      for (int y = ya; y < yb; ++y) {
                                          const uint8_t* from =
                                              src + static_cast<size_t>(c0_ + cstep_ * y - lo_) * px;
                                          if constexpr (decltype(size)::value != 0)
                                              std::memcpy(rows[y - a] + dx, from, decltype(size)::value);
                                          else
                                              std::memcpy(rows[y - a] + dx, from, px);
                                      }
                                  }
                              }
                          },
                          1);
        };
        if (pixel == 3)
            blocks(std::integral_constant<size_t, 3>{});
        else if (pixel == 1)
            blocks(std::integral_constant<size_t, 1>{});
        else
            blocks(std::integral_constant<size_t, 0>{});
    }
    std::shared_ptr<const Pixels> in_;
    int c0_, cstep_, r0_, rstep_, threads_;
    int band_w_ = 16, lo_ = 0, hi_ = 0;
    std::shared_ptr<Pixels> band_;
    std::future<std::shared_ptr<Pixels>> next_;
    int next_lo_ = 0, next_hi_ = 0;
};

/// remap() of an image that may be pulled (src/exec/stream.cpp): a transposing map whose source
/// gives column bands streams (TransposeProducer); any other step on a pulled image first takes
/// its rows front to back into an ordinary image.
template <class Map>
std::shared_ptr<Pixels> remap_image(const Image& img, int out_w, int out_h, int threads, bool transposing,
                                    Map map) {
    const Pixels& p = img.pixels();
    if (!p.streamed()) return remap(p, out_w, out_h, threads, transposing, map);
    if (transposing && out_w > 1 && out_h > 1) {
        const auto [c0, r0] = map(0, 0);
        const int cstep = map(0, 1).first - c0, rstep = map(1, 0).second - r0;
        const bool linear =
            (cstep == 1 || cstep == -1) && (rstep == 1 || rstep == -1) && map(0, 1).second == r0 &&
            map(1, 0).first == c0 &&
            map(out_w - 1, out_h - 1) == std::pair{c0 + cstep * (out_h - 1), r0 + rstep * (out_w - 1)};
        if (linear) {
            auto out = std::make_shared<Pixels>(out_w, out_h, p.channels(), p.bytes_per_sample());
            out->set_producer(
                std::make_unique<TransposeProducer>(img.shared_pixels(), c0, cstep, r0, rstep, threads));
            return out;
        }
    }
    Pixels whole(p.width(), p.height(), p.channels(), p.bytes_per_sample());
    whole.copy_from(p);
    return remap(whole, out_w, out_h, threads, transposing, map);
}

std::vector<Image> run_flip(Image& in, OpCall& call) {
    const Pixels& p = in.pixels();
    int h = p.height();
    auto out = std::make_shared<Pixels>(p.width(), h, p.channels(), p.bytes_per_sample());
    if (p.streamed()) throw StreamAbort{};  // (bottom up: never a pulled image's order)
    for (int y = 0; y < h; ++y) {
        const uint8_t* from = p.row(h - 1 - y);
        std::memcpy(out->row(y), from, p.stride());
    }
    Image r = in.derive(out);
    RectangleInfo& pg = r.shell()->page;
    if (pg.height) pg.y = static_cast<ssize_t>(pg.height) - h - pg.y;
    return {std::move(r)};
}

std::vector<Image> run_flop(Image& in, OpCall& call) {
    const Pixels& p = in.pixels();
    int w = p.width();
    Image r = in.derive(remap_image(in, w, p.height(), call.ctx.threads, false, [&](int x, int y) {
        return std::pair{w - 1 - x, y};
    }));
    RectangleInfo& pg = r.shell()->page;
    if (pg.width) pg.x = static_cast<ssize_t>(pg.width) - w - pg.x;
    return {std::move(r)};
}

Image transpose_like(Image& in, OpCall& call, bool transverse) {
    const Pixels& p = in.pixels();
    int w = p.width(), h = p.height();
    auto px = transverse ? remap_image(in, h, w, call.ctx.threads, true,
                                       [&](int x, int y) {
                                           return std::pair{w - 1 - y, h - 1 - x};
                                       })
                         : remap_image(in, h, w, call.ctx.threads, true, [&](int x, int y) {
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
            Image r = in.derive(remap_image(in, h, w, call.ctx.threads, true, [&](int x, int y) {
                return std::pair{y, h - 1 - x};
            }));
            RectangleInfo& o = r.shell()->page;
            o.width = pg.height, o.height = pg.width;
            o.x = pg.height ? static_cast<ssize_t>(pg.height) - h - pg.y : 0;
            o.y = pg.x;
            return {std::move(r)};
        }
        case 2: {
            Image r = in.derive(remap_image(in, w, h, call.ctx.threads, false, [&](int x, int y) {
                return std::pair{w - 1 - x, h - 1 - y};
            }));
            RectangleInfo& o = r.shell()->page;
            if (pg.width) o.x = static_cast<ssize_t>(pg.width) - w - pg.x;
            if (pg.height) o.y = static_cast<ssize_t>(pg.height) - h - pg.y;
            return {std::move(r)};
        }
        default: {
            Image r = in.derive(remap_image(in, h, w, call.ctx.threads, true, [&](int x, int y) {
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
