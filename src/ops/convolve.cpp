// -blur, -gaussian-blur, -sharpen, -unsharp as separable Gaussians. ImageMagick 6 builds a 2-D
// kernel for -gaussian-blur and -sharpen and convolves in O(r^2); both are separable (sharpen is
// a scaled identity minus a Gaussian), so mtool convolves rows then columns in O(r) per pixel,
// streaming the column pass through a ring of row results. Kernel sizes and values follow
// ImageMagick's (GetOptimalKernelWidth, morphology.c's oversampled "blur" kernel), edges are
// replicated like its default virtual-pixel method, and -blur keeps its intermediate Q16 image.
#include <algorithm>
#include <cmath>
#include <vector>

#include "src/ops/compose.h"
#include "src/ops/parallel.h"
#include "src/ops/quantum.h"
#include "src/ops/resample.h"
#include "src/ops/specs.h"

namespace mtool::ops {
namespace {

constexpr double kEpsilon = kMagickEpsilon;
constexpr double kQuantumScale = 1.0 / kQuantumRange;

/// GetOptimalKernelWidth1D/2D: the smallest odd width whose edge weight is below 1/QuantumRange.
int optimal_width(double radius, double sigma, bool two_d) {
    if (radius > kEpsilon) return static_cast<int>(2.0 * std::ceil(radius) + 1.0);
    const double g = std::fabs(sigma);
    if (g <= kEpsilon) return 3;
    const double alpha = 1.0 / (2.0 * g * g);
    const double beta = two_d ? 1.0 / (2.0 * kPi * g * g) : 1.0 / (std::sqrt(2.0 * kPi) * g);
    for (int width = 5;; width += 2) {
        const int j = (width - 1) / 2;
        double normalize = 0.0;
        if (two_d) {
            for (int v = -j; v <= j; ++v)
                for (int u = -j; u <= j; ++u) normalize += std::exp(-(u * u + v * v) * alpha) * beta;
        } else {
            for (int u = -j; u <= j; ++u) normalize += std::exp(-(u * u) * alpha) * beta;
        }
        const double value = std::exp(-(j * j) * alpha) * beta / normalize;
        if (value < kQuantumScale || value < kEpsilon) return width - 2;
    }
}

/// Unnormalised 1-D Gaussian exp(-u^2 / 2 sigma^2) of the given odd width.
std::vector<double> gaussian(int width, double sigma) {
    const double s = std::fabs(sigma) < kEpsilon ? kEpsilon : sigma;
    std::vector<double> k(width);
    const int j = (width - 1) / 2;
    for (int u = -j; u <= j; ++u) k[u + j] = std::exp(-(u * u) / (2.0 * s * s));
    return k;
}

/// morphology.c's "blur" kernel: a Gaussian sampled three times per pixel and folded.
std::vector<double> blur_kernel(double radius, double sigma) {
    sigma = std::fabs(sigma);
    const int width = radius >= 1.0 ? static_cast<int>(radius) * 2 + 1 : optimal_width(radius, sigma, false);
    std::vector<double> k(width, 0.0);
    if (sigma <= kEpsilon) {
        k[(width - 1) / 2] = 1.0;
        return k;
    }
    constexpr int kRank = 3;
    const int v = (width * kRank - 1) / 2;
    const double s = sigma * kRank, alpha = 1.0 / (2.0 * s * s);
    for (int u = -v; u <= v; ++u) k[(u + v) / kRank] += std::exp(-(u * u) * alpha);
    return k;
}

std::vector<double> normalised(std::vector<double> k) {
    double sum = 0;
    for (double v : k) sum += v;
    for (double& v : k) v /= sum;
    return k;
}

/// Horizontal pass of one row with replicated edges, in Q16 units.
void convolve_row(const Pixels& in, int y, const std::vector<double>& k, std::vector<double>& out) {
    const int w = in.width(), ch = in.channels(), r = static_cast<int>(k.size() / 2);
    const uint8_t* row8 = in.row(y);
    const uint16_t* row16 = reinterpret_cast<const uint16_t*>(row8);
    const bool wide = in.bytes_per_sample() == 2;
    for (int x = 0; x < w; ++x)
        for (int c = 0; c < ch; ++c) {
            double s = 0;
            for (int i = 0; i < static_cast<int>(k.size()); ++i) {
                const size_t j = static_cast<size_t>(std::clamp(x + i - r, 0, w - 1)) * ch + c;
                s += k[i] * (wide ? row16[j] : row8[j] * 257.0);
            }
            out[static_cast<size_t>(x) * ch + c] = s;
        }
}

/// Separable convolution kx (rows) then ky (columns), all in double; `emit(y, sums)` receives
/// each output row. Threads take bands of rows, each with its own ring of row results.
template <class Emit>
void separable(const Pixels& in, const std::vector<double>& kx, const std::vector<double>& ky, int threads,
               Emit&& emit) {
    const int h = in.height(), ry = static_cast<int>(ky.size() / 2), n = static_cast<int>(ky.size());
    const size_t row_len = static_cast<size_t>(in.width()) * in.channels();
    parallel_rows(h, threads, [&](int y0, int y1) {
        std::vector<std::vector<double>> ring(n, std::vector<double>(row_len));
        std::vector<int> held(n, -1);  // which source row each ring slot holds
        std::vector<double> sum(row_len);
        for (int y = y0; y < y1; ++y) {
            std::fill(sum.begin(), sum.end(), 0.0);
            for (int i = 0; i < n; ++i) {
                const int sy = std::clamp(y + i - ry, 0, h - 1);
                const int slot = sy % n;
                if (held[slot] != sy) {
                    convolve_row(in, sy, kx, ring[slot]);
                    held[slot] = sy;
                }
                const double* r = ring[slot].data();
                const double kv = ky[i];
                for (size_t j = 0; j < row_len; ++j) sum[j] += kv * r[j];
            }
            emit(y, sum);
        }
    });
}

struct Args {
    double radius, sigma, amount, threshold;
};

Args parse(const OpCall& call) {
    GeometryInfo g{};
    MagickStatusType flags = ParseGeometry(call.arg(0).c_str(), &g);
    Args a{g.rho, (flags & SigmaValue) ? g.sigma : 1.0, (flags & XiValue) ? g.xi : 1.0, (flags & PsiValue) ? g.psi : 0.05};
    return a;
}

/// Alpha-weighted convolution is left to ImageMagick, as are colour-model changes.
void require_opaque(const Image& in) {
    if (in.layout().alpha) throw Decline{"alpha"};
}

std::vector<Image> run_gaussian_blur(Image& in, OpCall& call) {
    require_opaque(in);
    Args a = parse(call);
    const int width = a.radius >= 1.0 ? static_cast<int>(a.radius) * 2 + 1 : optimal_width(a.radius, a.sigma, true);
    std::vector<double> k = normalised(gaussian(width, a.sigma));
    auto out = std::make_shared<Pixels>(in.width(), in.height(), in.pixels().channels(),
                                        result_bps(in.pixels(), call.ctx));
    separable(in.pixels(), k, k, call.ctx.threads, [&](int y, const std::vector<double>& s) {
        for (size_t i = 0; i < s.size(); ++i) store_q16(*out, y, i, s[i]);
    });
    return {in.derive(std::move(out))};
}

/// BlurImage: two morphology passes (rows, then columns) with a Q16 image between them and a
/// Q16 result, written into `out` (which may be 8-bit).
void blur_into(const Pixels& in, Pixels& out, double radius, double sigma, int threads) {
    std::vector<double> k = normalised(blur_kernel(radius, sigma));
    const std::vector<double> one{1.0};
    Pixels mid(in.width(), in.height(), in.channels(), 2);
    separable(in, k, one, threads, [&](int y, const std::vector<double>& s) {
        for (size_t i = 0; i < s.size(); ++i) store_q16(mid, y, i, s[i]);
    });
    separable(mid, one, k, threads, [&](int y, const std::vector<double>& s) {
        for (size_t i = 0; i < s.size(); ++i) store_q16(out, y, i, s[i]);
    });
}

std::vector<Image> run_blur(Image& in, OpCall& call) {
    require_opaque(in);
    Args a = parse(call);
    auto out = std::make_shared<Pixels>(in.width(), in.height(), in.pixels().channels(),
                                        result_bps(in.pixels(), call.ctx));
    blur_into(in.pixels(), *out, a.radius, a.sigma, call.ctx.threads);
    return {in.derive(std::move(out))};
}

std::vector<Image> run_sharpen(Image& in, OpCall& call) {
    require_opaque(in);
    Args a = parse(call);
    const int width = optimal_width(a.radius, a.sigma, true);
    // IM's kernel: -G everywhere, centre replaced by 2*sum(G), normalised. With G = g x g:
    // out = ((2S + G0) p - (G * p)) / (S + G0), where S = sum(G) and G0 = G's centre.
    std::vector<double> g = gaussian(width, a.sigma);
    double s1 = 0;
    for (double v : g) s1 += v;
    const double S = s1 * s1, G0 = 1.0;  // g's centre is exp(0) = 1
    const double A = (2 * S + G0) / (S + G0), B = 1.0 / (S + G0);
    const Pixels& src = in.pixels();
    auto out = std::make_shared<Pixels>(in.width(), in.height(), src.channels(), result_bps(src, call.ctx));
    separable(src, g, g, call.ctx.threads, [&](int y, const std::vector<double>& s) {
        for (size_t i = 0; i < s.size(); ++i) store_q16(*out, y, i, A * q16(src, y, i) - B * s[i]);
    });
    return {in.derive(std::move(out))};
}

std::vector<Image> run_unsharp(Image& in, OpCall& call) {
    require_opaque(in);
    Args a = parse(call);
    const Pixels& src = in.pixels();
    Pixels blurred(src.width(), src.height(), src.channels(), 2);
    blur_into(src, blurred, a.radius, a.sigma, call.ctx.threads);
    auto out = std::make_shared<Pixels>(in.width(), in.height(), src.channels(), result_bps(src, call.ctx));
    const double limit = 65535.0 * a.threshold;
    const size_t n = static_cast<size_t>(src.width()) * src.channels();
    parallel_rows(src.height(), call.ctx.threads, [&](int y0, int y1) {
        for (int y = y0; y < y1; ++y)
            for (size_t i = 0; i < n; ++i) {
                const double p = q16(src, y, i);
                const double d = p - blurred.row16(y)[i];
                store_q16(*out, y, i, std::fabs(2.0 * d) < limit ? p : p + d * a.amount);
            }
    });
    return {in.derive(std::move(out))};
}

}  // namespace

extern const OpSpec blur_op{.names = {"-blur"}, .kind = OpKind::simple, .arity = 1,
    .demand = Demand::neighbourhood, .summary = "reduce image noise and detail levels (separable)", .run = &run_blur};
extern const OpSpec gaussian_blur_op{.names = {"-gaussian-blur"}, .kind = OpKind::simple, .arity = 1,
    .demand = Demand::neighbourhood, .summary = "reduce image noise and detail levels (separable)",
    .run = &run_gaussian_blur};
extern const OpSpec sharpen_op{.names = {"-sharpen"}, .kind = OpKind::simple, .arity = 1,
    .demand = Demand::neighbourhood, .summary = "sharpen the image (separable)", .run = &run_sharpen};
extern const OpSpec unsharp_op{.names = {"-unsharp"}, .kind = OpKind::simple, .arity = 1,
    .demand = Demand::neighbourhood, .summary = "sharpen the image with an unsharp mask", .run = &run_unsharp};

}  // namespace mtool::ops
