#include "src/ops/resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <vector>

#include "src/ops/parallel.h"
#include "src/ops/quantum.h"

namespace mtool::ops {
namespace {

constexpr double kEpsilon = kMagickEpsilon;

double apply_fn(Filter::Fn fn, double x, const Filter& f) {
    switch (fn) {
        case Filter::Fn::box:
            return 1.0;
        case Filter::Fn::triangle:
            return x < 1.0 ? 1.0 - x : 0.0;
        case Filter::Fn::cubic_bc: {
            const double B = f.b, C = f.c;
            if (x < 1.0)
                return ((6 - 2 * B) + x * x * ((-18 + 12 * B + 6 * C) + x * (12 - 9 * B - 6 * C))) / 6.0;
            if (x < 2.0)
                return ((8 * B + 24 * C) +
                        x * ((-12 * B - 48 * C) + x * ((6 * B + 30 * C) + x * (-B - 6 * C)))) /
                       6.0;
            return 0.0;
        }
        case Filter::Fn::sinc:
            return x == 0.0 ? 1.0 : std::sin(kPi * x) / (kPi * x);
        case Filter::Fn::gaussian:
            return std::exp(-2.0 * x * x);  // sigma 0.5: exp(-x^2 / (2 sigma^2))
        case Filter::Fn::hann:
            return 0.5 + 0.5 * std::cos(kPi * x);
        case Filter::Fn::hamming:
            return 0.54 + 0.46 * std::cos(kPi * x);
        case Filter::Fn::blackman: {
            double c = std::cos(kPi * x);
            return 0.34 + c * (0.5 + c * 0.16);
        }
    }
    return 0.0;
}

/// Output position -> contributing source range and normalised weights (resize.c's bisect).
struct Contributions {
    std::vector<int> start, count;
    std::vector<size_t> offset;
    std::vector<double> weights;
};

Contributions contributions(int in_size, int out_size, double factor, const Filter& f) {
    double scale = std::max(1.0 / factor + kEpsilon, 1.0);
    double support = scale * f.support * f.blur;
    if (support < 0.5) {
        support = 0.5;  // too small even for nearest neighbour: point sampling
        scale = 1.0;
    }
    scale = 1.0 / scale;
    Contributions c;
    c.start.resize(out_size);
    c.count.resize(out_size);
    c.offset.resize(out_size);
    for (int x = 0; x < out_size; ++x) {
        const double bisect = (x + 0.5) / factor + kEpsilon;
        const int start = static_cast<int>(std::max(bisect - support + 0.5, 0.0));
        const int stop = static_cast<int>(std::min(bisect + support + 0.5, static_cast<double>(in_size)));
        c.start[x] = start;
        c.count[x] = std::max(stop - start, 0);
        c.offset[x] = c.weights.size();
        double density = 0.0;
        std::vector<double> w(c.count[x]);
        for (int n = 0; n < c.count[x]; ++n) {
            w[n] = f.weight(scale * (start + n - bisect + 0.5));
            density += w[n];
        }
        if (density != 0.0 && density != 1.0)
            for (double& v : w) v /= density;
        for (double v : w) c.weights.push_back(v);
    }
    return c;
}

/// Weighted sum of `n` source pixels (stride `step` samples apart) into `acc` with IM's alpha
/// weighting; writes the pixel to `out`.
template <class Get>
void accumulate_pixel(const Get& get, int n, const double* w, int ch, bool alpha, double* acc) {
    std::fill(acc, acc + ch, 0.0);
    if (!alpha) {
        for (int k = 0; k < n; ++k)
            for (int c = 0; c < ch; ++c) acc[c] += w[k] * get(k, c);
        return;
    }
    const int a = ch - 1;
    double gamma = 0.0;
    for (int k = 0; k < n; ++k) {
        double av = get(k, a);
        double aw = w[k] * av * (1.0 / 65535.0);
        for (int c = 0; c < a; ++c) acc[c] += aw * get(k, c);
        acc[a] += w[k] * av;
        gamma += aw;
    }
    double g = std::fabs(gamma) < 1.0e-12 ? 0.0 : 1.0 / gamma;  // colour of nothing is black
    for (int c = 0; c < a; ++c) acc[c] *= g;
}

/// One output row of the horizontal pass.
void horizontal_row(const RowIn src, const RowOut dst, int out_w, const Contributions& cw, int ch, bool alpha,
                    std::vector<double>& acc) {
    acc.resize(ch);
    for (int x = 0; x < out_w; ++x) {
        const int s = cw.start[x];
        auto get = [&](int k, int c) { return src[static_cast<size_t>(s + k) * ch + c]; };
        accumulate_pixel(get, cw.count[x], cw.weights.data() + cw.offset[x], ch, alpha, acc.data());
        for (int c = 0; c < ch; ++c) dst.store(static_cast<size_t>(x) * ch + c, acc[c], alpha && c == ch - 1);
    }
}

void horizontal(const Pixels& in, Pixels& out, const Contributions& cw, bool alpha, int threads) {
    const int ch = in.channels();
    parallel_rows(out.height(), threads, [&](int y0, int y1) {
        std::vector<double> acc(ch);
        for (int y = y0; y < y1; ++y)
            horizontal_row(row_in(in, y), row_out(out, y), out.width(), cw, ch, alpha, acc);
    });
}

/// Output row y of the vertical pass; `row_at(sy)` gives source row sy (8-bit, or 16-bit when
/// `wide`), `w` pixels of `ch` samples; `dst_at()` the destination, fetched only once the sums
/// are done (reading the source rows may have moved an earlier pointer's strip out).
template <class RowAt, class DstAt>
void vertical_row(const RowAt& row_at, bool wide, int w, int ch, const Contributions& cw, int y, bool alpha,
                  std::vector<double>& sum, std::vector<double>& gamma, const DstAt& dst_at) {
    sum.assign(static_cast<size_t>(w) * ch, 0.0);
    gamma.assign(alpha ? w : 0, 0.0);
    const double* wt = cw.weights.data() + cw.offset[y];
    for (int k = 0; k < cw.count[y]; ++k) {
        const int sy = cw.start[y] + k;
        const double wk = wt[k];
        if (!alpha) {
            if (wide) {
                const uint16_t* r = reinterpret_cast<const uint16_t*>(row_at(sy));
                for (size_t i = 0; i < sum.size(); ++i) sum[i] += wk * r[i];
            } else {
                const uint8_t* r = row_at(sy);
                const double w257 = wk * 257.0;
                for (size_t i = 0; i < sum.size(); ++i) sum[i] += w257 * r[i];
            }
            continue;
        }
        const RowIn src{row_at(sy), wide};
        for (int x = 0; x < w; ++x) {
            double av = src[static_cast<size_t>(x) * ch + ch - 1];
            double aw = wk * av * (1.0 / 65535.0);
            for (int c = 0; c < ch - 1; ++c)
                sum[static_cast<size_t>(x) * ch + c] += aw * src[static_cast<size_t>(x) * ch + c];
            sum[static_cast<size_t>(x) * ch + ch - 1] += wk * av;
            gamma[x] += aw;
        }
    }
    const RowOut dst = dst_at();
    for (int x = 0; x < w; ++x) {
        double g = 1.0;
        if (alpha) g = std::fabs(gamma[x]) < 1.0e-12 ? 0.0 : 1.0 / gamma[x];
        for (int c = 0; c < ch; ++c) {
            double v = sum[static_cast<size_t>(x) * ch + c];
            if (alpha && c < ch - 1) v *= g;
            dst.store(static_cast<size_t>(x) * ch + c, v, alpha && c == ch - 1);
        }
    }
}

void vertical(const Pixels& in, Pixels& out, const Contributions& cw, bool alpha, int threads) {
    const int ch = in.channels();
    const int w = out.width();
    const bool wide = in.bytes_per_sample() == 2;
    parallel_rows(out.height(), threads, [&](int y0, int y1) {
        std::vector<double> sum, gamma;
        auto row_at = [&](int sy) { return in.row(sy); };
        for (int y = y0; y < y1; ++y)
            vertical_row(row_at, wide, w, ch, cw, y, alpha, sum, gamma, [&] { return row_out(out, y); });
    });
}

/// The rows of a resample of a streamed image, made as its consumer asks for them: source rows
/// are taken front to back (the source is produced as it goes), each output row computed from
/// the ones it needs with the same two passes and the same arithmetic as resample(): vertical
/// then horizontal through one Q16 row, or horizontal into a ring of Q16 rows then vertical.
/// Rows are made in chunks, each chunk's rows on the command's threads.
class ResampleProducer final : public Pixels::Producer {
public:
    ResampleProducer(std::shared_ptr<const Pixels> in, bool alpha, int columns, int rows, const Filter& f,
                     int threads)
        : in_(std::move(in)),
          alpha_(alpha),
          columns_(columns),
          threads_(threads),
          ch_(in_->channels()),
          cx_(contributions(in_->width(), columns, static_cast<double>(columns) / in_->width(), f)),
          cy_(contributions(in_->height(), rows, static_cast<double>(rows) / in_->height(), f)),
          vertical_first_(
              !(static_cast<double>(columns) / in_->width() > static_cast<double>(rows) / in_->height())) {}

    void restart() override {
        src_.clear();
        src_y0_ = 0;
        mid_.clear();
        mid_y0_ = 0;
    }

    void produce(Pixels& out, int y0, int y1) override {
        constexpr int kChunk = 32;
        // Any failure here (a limit, an I/O error) is the ordinary run's to report: the command
        // runs again that way.
        try {
            for (int a = y0; a < y1; a += kChunk) chunk(out, a, std::min(y1, a + kChunk));
            // The source's last rows, even where no output row needs them: the decoder then
            // reaches the end of the file and finds what a full decode would warn of there.
            if (y1 == out.height())
                for (int sy = src_y0_ + static_cast<int>(src_.size()); sy < in_->height(); ++sy) in_->row(sy);
        } catch (const Error&) {
            throw StreamAbort{};
        }
    }
    /// Bytes of the widest window of rows one chunk holds (source rows and Q16 rows).
    uint64_t window_bytes() const {
        int most = 0;
        for (size_t y = 0; y < cy_.count.size(); y += 32) {
            const int b = std::min<int>(static_cast<int>(cy_.count.size()), static_cast<int>(y) + 32);
            const auto [from, to] = span(static_cast<int>(y), b);
            most = std::max(most, to - from);
        }
        const uint64_t mid = vertical_first_ ? 0 : static_cast<uint64_t>(columns_) * ch_ * 2;
        return static_cast<uint64_t>(most) * (in_->stride() + mid);
    }

private:
    /// Source rows [from, to) of the chunk, as the window of rows held ([src_y0_, +size)).
    void take_source(int from, int to) {
        while (src_y0_ < from && !src_.empty()) {
            src_.pop_front();
            ++src_y0_;
        }
        if (src_.empty()) src_y0_ = from;
        const size_t stride = in_->stride();
        for (int sy = src_y0_ + static_cast<int>(src_.size()); sy < to; ++sy) {
            src_.emplace_back(stride);
            std::memcpy(src_.back().data(), in_->row(sy), stride);  // produces the source on
        }
    }
    std::pair<int, int> span(int a, int b) const {
        int from = cy_.start[a], to = from;
        for (int y = a; y < b; ++y) to = std::max(to, cy_.start[y] + cy_.count[y]);
        return {from, std::max(to, from)};
    }

    void chunk(Pixels& out, int a, int b) {
        const auto [from, to] = span(a, b);
        const size_t out_stride = out.stride();
        std::vector<uint8_t> made(static_cast<size_t>(b - a) * out_stride);
        const int out_bps = out.bytes_per_sample();
        const bool round8 = out.rounds_8bit();
        auto dst_of = [&](int y) {
            return RowOut{made.data() + static_cast<size_t>(y - a) * out_stride, out_bps == 2, round8};
        };
        const bool wide_in = in_->bytes_per_sample() == 2;
        if (vertical_first_) {
            take_source(from, to);
            const int w = in_->width();
            parallel_rows(
                b - a, threads_,
                [&](int r0, int r1) {
                    std::vector<double> sum, gamma, acc;
                    std::vector<uint8_t> mid(static_cast<size_t>(w) * ch_ * 2);
                    auto row_at = [&](int sy) { return src_[sy - src_y0_].data(); };
                    for (int y = a + r0; y < a + r1; ++y) {
                        vertical_row(row_at, wide_in, w, ch_, cy_, y, alpha_, sum, gamma, [&] {
                            return RowOut{mid.data(), true};
                        });
                        horizontal_row(RowIn{mid.data(), true}, dst_of(y), columns_, cx_, ch_, alpha_, acc);
                    }
                },
                1);
        } else {
            // The Q16 rows of the horizontal pass that the chunk needs and the ring lacks.
            while (mid_y0_ < from && !mid_.empty()) {
                mid_.pop_front();
                ++mid_y0_;
            }
            if (mid_.empty()) mid_y0_ = from;
            const int have = mid_y0_ + static_cast<int>(mid_.size());
            if (have < to) {
                take_source(have, to);
                const size_t mid_stride = static_cast<size_t>(columns_) * ch_ * 2;
                const int first_new = static_cast<int>(mid_.size());
                for (int sy = have; sy < to; ++sy) mid_.emplace_back(mid_stride);
                parallel_rows(
                    to - have, threads_,
                    [&](int r0, int r1) {
                        std::vector<double> acc;
                        for (int k = r0; k < r1; ++k) {
                            const int sy = have + k;
                            horizontal_row(RowIn{src_[sy - src_y0_].data(), wide_in},
                                           RowOut{mid_[first_new + k].data(), true}, columns_, cx_, ch_,
                                           alpha_, acc);
                        }
                    },
                    1);
            }
            parallel_rows(
                b - a, threads_,
                [&](int r0, int r1) {
                    std::vector<double> sum, gamma;
                    auto row_at = [&](int sy) { return mid_[sy - mid_y0_].data(); };
                    for (int y = a + r0; y < a + r1; ++y)
                        vertical_row(row_at, true, columns_, ch_, cy_, y, alpha_, sum, gamma,
                                     [&] { return dst_of(y); });
                },
                1);
        }
        for (int y = a; y < b; ++y)
            std::memcpy(out.row(y), made.data() + static_cast<size_t>(y - a) * out_stride, out_stride);
    }

    std::shared_ptr<const Pixels> in_;
    bool alpha_;
    int columns_, threads_, ch_;
    Contributions cx_, cy_;
    bool vertical_first_;
    std::deque<std::vector<uint8_t>> src_, mid_;
    int src_y0_ = 0, mid_y0_ = 0;
};

}  // namespace

double Filter::weight(double x) const {
    const double xb = std::fabs(x) / blur;
    double scale = 1.0;
    if (window != Fn::box && support >= kEpsilon) scale = apply_fn(window, xb * window_scale, *this);
    return scale * apply_fn(filter, xb, *this);
}

std::optional<Filter> filter_for(FilterTypes type, double blur) {
    Filter f;
    f.blur = blur < kEpsilon ? kEpsilon : blur;
    auto cubic = [&](double b, double c) {
        f.filter = Filter::Fn::cubic_bc;
        f.b = b;
        f.c = c;
    };
    auto windowed_sinc = [&](Filter::Fn window, double support) {
        f.filter = Filter::Fn::sinc;
        f.window = window;
        f.support = support;
        f.window_scale = 1.0 / support;  // window's first crossing (1.0) over the support
    };
    switch (type) {
        case PointFilter:
            f.support = 0.0;
            break;
        case BoxFilter:
            f.support = 0.5;
            break;
        case TriangleFilter:
            f.filter = Filter::Fn::triangle;
            f.support = 1.0;
            break;
        case HermiteFilter:
            cubic(0, 0);
            f.support = 1.0;
            break;
        case CubicFilter:
        case SplineFilter:
            cubic(1, 0);
            f.support = 2.0;
            break;
        case CatromFilter:
            cubic(0, 0.5);
            f.support = 2.0;
            break;
        case MitchellFilter:
            cubic(1.0 / 3.0, 1.0 / 3.0);
            f.support = 2.0;
            break;
        case RobidouxFilter:
            cubic(0.37821575509399867, 0.31089212245300067);
            f.support = 2.0;
            break;
        case RobidouxSharpFilter:
            cubic(0.2620145123990142, 0.3689927438004929);
            f.support = 2.0;
            break;
        case GaussianFilter:
            f.filter = Filter::Fn::gaussian;
            f.support = 2.0;
            break;
        case LanczosFilter:
            windowed_sinc(Filter::Fn::sinc, 3.0);
            break;
        case LanczosSharpFilter:
            windowed_sinc(Filter::Fn::sinc, 3.0);
            f.blur *= 0.9812505644269356;
            break;
        case Lanczos2Filter:
            windowed_sinc(Filter::Fn::sinc, 2.0);
            break;
        case Lanczos2SharpFilter:
            windowed_sinc(Filter::Fn::sinc, 2.0);
            f.blur *= 0.9549963639785485;
            break;
        case HanningFilter:
            windowed_sinc(Filter::Fn::hann, 4.0);
            break;
        case HammingFilter:
            windowed_sinc(Filter::Fn::hamming, 4.0);
            break;
        case BlackmanFilter:
            windowed_sinc(Filter::Fn::blackman, 4.0);
            break;
        case SincFilter:
        case SincFastFilter:
            f.filter = Filter::Fn::sinc;
            f.support = 4.0;
            break;
        default:
            return std::nullopt;
    }
    return f;
}

FilterTypes default_resize_filter(const ::Image* shell, int columns, int rows) {
    if (shell->filter != UndefinedFilter) return shell->filter;
    const double xf = static_cast<double>(columns) / shell->columns;
    const double yf = static_cast<double>(rows) / shell->rows;
    if (xf == 1.0 && yf == 1.0) return PointFilter;
    if (held_as_palette(shell) || shell->matte != MagickFalse || xf * yf > 1.0) return MitchellFilter;
    return LanczosFilter;
}

bool has_filter_defines(const ::ImageInfo* info) {
    static const char* const keys[] = {"filter:filter",  "filter:window",      "filter:lobes",
                                       "filter:support", "filter:win-support", "filter:blur",
                                       "filter:b",       "filter:c",           "filter:sigma",
                                       "filter:verbose", "filter:kaiser-beta"};
    for (const char* k : keys)
        if (GetImageOption(info, k)) return true;
    return false;
}

int result_bps(const Pixels& in, const Context& ctx) {
    return in.bytes_per_sample() == 2 || ctx.precise ? 2 : 1;
}

std::shared_ptr<Pixels> resample(const Pixels& in, bool alpha, int columns, int rows, const Filter& filter,
                                 int out_bps, int threads) {
    const double xf = static_cast<double>(columns) / in.width();
    const double yf = static_cast<double>(rows) / in.height();
    const int ch = in.channels();
    auto out = std::make_shared<Pixels>(columns, rows, ch, out_bps);
    Contributions cx = contributions(in.width(), columns, xf, filter);
    Contributions cy = contributions(in.height(), rows, yf, filter);
    // The intermediate holds 16-bit quanta like ImageMagick's Q16 pixel cache.
    if (xf > yf) {
        Pixels mid(columns, in.height(), ch, 2);
        horizontal(in, mid, cx, alpha, threads);
        vertical(mid, *out, cy, alpha, threads);
    } else {
        Pixels mid(in.width(), rows, ch, 2);
        vertical(in, mid, cy, alpha, threads);
        horizontal(mid, *out, cx, alpha, threads);
    }
    return out;
}

std::shared_ptr<Pixels> resample_streamed(std::shared_ptr<const Pixels> in, bool alpha, int columns, int rows,
                                          const Filter& filter, int out_bps, int threads) {
    const int ch = in->channels();
    auto producer = std::make_unique<ResampleProducer>(in, alpha, columns, rows, filter, threads);
    // Its windows are working memory outside the tiers: a reduction so large that one chunk's
    // rows would weigh more than this takes the source whole instead (rows front to back).
    constexpr uint64_t kMaxWindow = 64u << 20;
    if (producer->window_bytes() > kMaxWindow) {
        Pixels whole(in->width(), in->height(), ch, in->bytes_per_sample());
        whole.copy_from(*in);
        return resample(whole, alpha, columns, rows, filter, out_bps, threads);
    }
    auto out = std::make_shared<Pixels>(columns, rows, ch, out_bps);
    out->set_producer(std::move(producer));
    return out;
}

std::shared_ptr<Pixels> sample(const Pixels& in, int columns, int rows, double ox, double oy, int threads) {
    const int ch = in.channels();
    const size_t px_bytes = static_cast<size_t>(ch) * in.bytes_per_sample();
    auto out = std::make_shared<Pixels>(columns, rows, ch, in.bytes_per_sample());
    std::vector<int> xs(columns);
    for (int x = 0; x < columns; ++x)
        xs[x] = std::min(in.width() - 1, static_cast<int>((x + ox) * in.width() / columns));
    parallel_rows(rows, threads, [&](int y0, int y1) {
        for (int y = y0; y < y1; ++y) {
            const int sy = std::min(in.height() - 1, static_cast<int>((y + oy) * in.height() / rows));
            const uint8_t* src = in.row(sy);
            uint8_t* dst = out->row(y);
            for (int x = 0; x < columns; ++x)
                std::copy_n(src + xs[x] * px_bytes, px_bytes, dst + x * px_bytes);
        }
    });
    return out;
}

namespace {

/// Box weights for exact area coverage of output cells over input cells along one axis.
Contributions coverage(int in_size, int out_size) {
    Contributions c;
    c.start.resize(out_size);
    c.count.resize(out_size);
    c.offset.resize(out_size);
    const double step = static_cast<double>(in_size) / out_size;
    for (int o = 0; o < out_size; ++o) {
        const double a = o * step, b = (o + 1) * step;
        const int s = static_cast<int>(std::floor(a));
        const int e = std::min(in_size, static_cast<int>(std::ceil(b - 1e-9)));
        c.start[o] = s;
        c.count[o] = std::max(1, e - s);
        c.offset[o] = c.weights.size();
        for (int i = s; i < s + c.count[o]; ++i) {
            double cover = std::min(b, i + 1.0) - std::max(a, static_cast<double>(i));
            c.weights.push_back(std::max(cover, 0.0) / step);
        }
    }
    return c;
}

}  // namespace

std::shared_ptr<Pixels> scale_area(const Pixels& in, bool alpha, int columns, int rows, int out_bps,
                                   int threads) {
    const int ch = in.channels();
    auto out = std::make_shared<Pixels>(columns, rows, ch, out_bps);
    Contributions cx = coverage(in.width(), columns);
    Contributions cy = coverage(in.height(), rows);
    Pixels mid(in.width(), rows, ch, 2);
    vertical(in, mid, cy, alpha, threads);
    horizontal(mid, *out, cx, alpha, threads);
    return out;
}

}  // namespace mtool::ops
