// -blur, -gaussian-blur, -sharpen, -unsharp as separable Gaussians. ImageMagick 6 builds a 2-D
// kernel for -gaussian-blur and -sharpen and convolves in O(r^2); both are separable (sharpen is
// a scaled identity minus a Gaussian), so mtool convolves rows then columns in O(r) per pixel,
// streaming the column pass through a ring of row results. Kernel sizes and values follow
// ImageMagick's (GetOptimalKernelWidth, morphology.c's oversampled "blur" kernel), edges are
// replicated like its default virtual-pixel method, and -blur keeps its intermediate Q16 image.
#include <sys/sysinfo.h>

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
/// ImageMagick sums the whole kernel again for every candidate width (O(width^2)); past a width
/// where that gets slow the sum is carried forward instead, which only differs in rounding.
int optimal_width(double radius, double sigma, bool two_d) {
    if (radius > kEpsilon) return static_cast<int>(2.0 * std::ceil(radius) + 1.0);
    const double g = std::fabs(sigma);
    if (g <= kEpsilon) return 3;
    const double alpha = 1.0 / (2.0 * g * g);
    const double beta = two_d ? 1.0 / (2.0 * kPi * g * g) : 1.0 / (std::sqrt(2.0 * kPi) * g);
    constexpr int kExactUpTo = 2001;
    double carried = 0.0;
    for (int width = 5;; width += 2) {
        const int j = (width - 1) / 2;
        double normalize = 0.0;
        if (two_d) {
            for (int v = -j; v <= j; ++v)
                for (int u = -j; u <= j; ++u) normalize += std::exp(-(u * u + v * v) * alpha) * beta;
        } else if (width <= kExactUpTo) {
            for (int u = -j; u <= j; ++u) normalize += std::exp(-(u * u) * alpha) * beta;
            carried = normalize;
        } else {
            carried += 2.0 * std::exp(-(static_cast<double>(j) * j) * alpha) * beta;
            normalize = carried;
        }
        const double value = std::exp(-(static_cast<double>(j) * j) * alpha) * beta / normalize;
        if (value < kQuantumScale || value < kEpsilon) return width - 2;
    }
}

/// ImageMagick's failures for kernels it cannot apply, raised before any work (the operator
/// then leaves the image as it was, as ImageMagick's does): a 2-D kernel (-gaussian-blur,
/// -sharpen) whose allocation no machine of this size could satisfy, and a convolution whose
/// virtual row or column (image plus kernel) exceeds the width/height limit.
void check_kernel(const Image& in, int width, const char* alloc_where) {
    const ::Image* shell = in.shell();
    if (alloc_where) {
        struct sysinfo si {};
        const double memory =
            sysinfo(&si) == 0 ? (static_cast<double>(si.totalram) + si.totalswap) * si.mem_unit : 1e18;
        if (static_cast<double>(width) * width * sizeof(double) > memory)
            throw Error(Severity::resource_limit_error, "memory allocation failed", shell->filename,
                        alloc_where);
    }
    const cache::Budgets b = in.pixels().manager().budgets();
    const uint64_t span = static_cast<uint64_t>(width) - 1;
    if (static_cast<uint64_t>(in.width()) + span > b.width ||
        static_cast<uint64_t>(in.height()) + span > b.height)
        throw Error(Severity::image_error, "width or height exceeds limit",
                    std::string(shell->filename) + "[" + std::to_string(shell->scene) + "]",
                    "cache.c/SetPixelCacheNexusPixels/5233");
}

/// Unnormalised 1-D Gaussian exp(-u^2 / 2 sigma^2) of the given odd width.
std::vector<double> gaussian(int width, double sigma) {
    const double s = std::fabs(sigma) < kEpsilon ? kEpsilon : sigma;
    std::vector<double> k(width);
    const int j = (width - 1) / 2;
    for (int u = -j; u <= j; ++u) k[u + j] = std::exp(-(u * u) / (2.0 * s * s));
    return k;
}

/// The width of morphology.c's "blur" kernel.
int blur_width(double radius, double sigma) {
    return radius >= 1.0 ? static_cast<int>(radius) * 2 + 1 : optimal_width(radius, std::fabs(sigma), false);
}

/// morphology.c's "blur" kernel: a Gaussian sampled three times per pixel and folded.
std::vector<double> blur_kernel(double radius, double sigma) {
    sigma = std::fabs(sigma);
    const int width = blur_width(radius, sigma);
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

/// out[j] += k * in[j]: the multiply-add every pass is made of. Element-wise, so vectorising it
/// (AVX2 where the CPU has it; never FMA, which would round differently) keeps every sum's bits.
__attribute__((target_clones("avx512f", "avx2", "default"))) void add_scaled(double* __restrict out,
                                                                             const double* __restrict in,
                                                                             double k, size_t n) {
    for (size_t j = 0; j < n; ++j) out[j] += k * in[j];
}

/// Horizontal pass of columns [x0, x1) of one row with replicated edges, in Q16 units. The row is
/// widened once into `line`, padded by the kernel's radius of replicated pixels on each side; tap
/// i then adds k[i] times the line shifted by i pixels, so each sample sums its taps in the same
/// order as a direct loop would, with contiguous vector work instead of a clamp per tap.
void convolve_row(const Pixels& in, int y, const std::vector<double>& k, int x0, int x1,
                  std::vector<double>& line, std::vector<double>& out) {
    const int w = in.width(), ch = in.channels(), r = static_cast<int>(k.size() / 2);
    const uint8_t* row8 = in.row(y);
    const uint16_t* row16 = reinterpret_cast<const uint16_t*>(row8);
    const bool wide = in.bytes_per_sample() == 2;
    const size_t n = static_cast<size_t>(x1 - x0) * ch;
    line.resize(n + 2 * static_cast<size_t>(r) * ch);
    double* l = line.data();
    for (int x = x0 - r; x < x1 + r; ++x) {
        const size_t from = static_cast<size_t>(std::clamp(x, 0, w - 1)) * ch;
        for (int c = 0; c < ch; ++c) *l++ = wide ? row16[from + c] : row8[from + c] * 257.0;
    }
    std::fill(out.begin(), out.begin() + n, 0.0);
    for (size_t i = 0; i < k.size(); ++i) add_scaled(out.data(), line.data() + i * ch, k[i], n);
}

/// Separable convolution kx (rows) then ky (columns), all in double; `emit(y, x0, sums)` receives
/// the samples of output row y from column x0 on. Threads take bands of rows, each with its own
/// ring of row results: min(|ky|, height) rows, since rows past the edges repeat. The rings are
/// working memory charged to the tier manager's budget; where full-width rings would take more
/// than half of it, the image is done in vertical stripes narrow enough that they do not (but
/// never narrower than 64 columns: a floor, as pinned strips are).
template <class Emit>
void separable(const Pixels& in, const std::vector<double>& kx, const std::vector<double>& ky, int threads,
               Emit&& emit) {
    const int w = in.width(), h = in.height(), ch = in.channels();
    const int ry = static_cast<int>(ky.size() / 2), n = static_cast<int>(ky.size());
    const int slots = std::min(n, h);
    const int workers = std::max(1, std::min(threads, h / 64 + 1));  // as parallel_rows decides
    const uint64_t per_column = (static_cast<uint64_t>(slots) + 1) * ch * sizeof(double) * workers;
    const uint64_t budget = in.manager().budgets().memory;
    constexpr uint64_t kMinStripe = 64;
    int stripe = w;
    if (budget != cache::kUnlimited && per_column * w > budget / 2)
        stripe = static_cast<int>(std::clamp<uint64_t>(
            budget / 2 / per_column, std::min<uint64_t>(kMinStripe, w), static_cast<uint64_t>(w)));
    cache::Scratch scratch(in.manager(), per_column * stripe);
    for (int x0 = 0; x0 < w; x0 += stripe) {
        const int x1 = std::min(w, x0 + stripe);
        const size_t row_len = static_cast<size_t>(x1 - x0) * ch;
        parallel_rows(h, threads, [&](int y0, int y1) {
            std::vector<std::vector<double>> ring(slots, std::vector<double>(row_len));
            std::vector<int> held(slots, -1);  // which source row each ring slot holds
            std::vector<double> sum(row_len), line;
            for (int y = y0; y < y1; ++y) {
                std::fill(sum.begin(), sum.end(), 0.0);
                for (int i = 0; i < n; ++i) {
                    const int sy = std::clamp(y + i - ry, 0, h - 1);
                    const int slot = sy % slots;
                    if (held[slot] != sy) {
                        convolve_row(in, sy, kx, x0, x1, line, ring[slot]);
                        held[slot] = sy;
                    }
                    add_scaled(sum.data(), ring[slot].data(), ky[i], row_len);
                }
                emit(y, static_cast<size_t>(x0) * ch, sum);
            }
        });
    }
}

/// Stores one row's sums from sample `at` on, fetching the row once.
void store_row(Pixels& out, int y, size_t at, const std::vector<double>& s) {
    const RowOut o = row_out(out, y);
    for (size_t i = 0; i < s.size(); ++i) o.store(at + i, s[i]);
}

struct Args {
    double radius, sigma, amount, threshold;
};

Args parse(const OpCall& call) {
    GeometryInfo g{};
    MagickStatusType flags = ParseGeometry(call.arg(0).c_str(), &g);
    Args a{g.rho, (flags & SigmaValue) ? g.sigma : 1.0, (flags & XiValue) ? g.xi : 1.0,
           (flags & PsiValue) ? g.psi : 0.05};
    return a;
}

/// Native convolution replicates edge pixels, which is ImageMagick's default (undefined = edge)
/// virtual-pixel method; any other -virtual-pixel runs through ImageMagick.
bool accepts_convolve(const OpCall& call) {
    const char* vp = GetImageOption(call.info, "virtual-pixel");
    if (!vp) return true;
    const ssize_t m = ParseCommandOption(MagickVirtualPixelOptions, MagickFalse, vp);
    return m == UndefinedVirtualPixelMethod || m == EdgeVirtualPixelMethod;
}

/// Alpha-weighted convolution is left to ImageMagick, as are colour-model changes.
const char* declines_convolve(const Image& in, const OpCall&) {
    return in.layout().alpha ? "alpha" : nullptr;
}
void require_opaque(const Image& in, const OpCall& call) {
    if (const char* why = declines_convolve(in, call)) throw Decline{why};
}

std::vector<Image> run_gaussian_blur(Image& in, OpCall& call) {
    require_opaque(in, call);
    Args a = parse(call);
    const int width =
        a.radius >= 1.0 ? static_cast<int>(a.radius) * 2 + 1 : optimal_width(a.radius, a.sigma, true);
    check_kernel(in, width, "effect.c/GaussianBlurImageChannel/1893");
    std::vector<double> k = normalised(gaussian(width, a.sigma));
    auto out = std::make_shared<Pixels>(in.width(), in.height(), in.pixels().channels(),
                                        result_bps(in.pixels(), call.ctx));
    separable(in.pixels(), k, k, call.ctx.threads,
              [&](int y, size_t at, const std::vector<double>& s) { store_row(*out, y, at, s); });
    return {in.derive(std::move(out))};
}

/// BlurImage: two morphology passes (rows, then columns) with a Q16 image between them and a
/// Q16 result, written into `out` (which may be 8-bit).
void blur_into(const Pixels& in, Pixels& out, double radius, double sigma, int threads) {
    std::vector<double> k = normalised(blur_kernel(radius, sigma));
    const std::vector<double> one{1.0};
    Pixels mid(in.width(), in.height(), in.channels(), 2);
    separable(in, k, one, threads,
              [&](int y, size_t at, const std::vector<double>& s) { store_row(mid, y, at, s); });
    separable(mid, one, k, threads,
              [&](int y, size_t at, const std::vector<double>& s) { store_row(out, y, at, s); });
}

std::vector<Image> run_blur(Image& in, OpCall& call) {
    require_opaque(in, call);
    Args a = parse(call);
    check_kernel(in, blur_width(a.radius, a.sigma), nullptr);
    auto out = std::make_shared<Pixels>(in.width(), in.height(), in.pixels().channels(),
                                        result_bps(in.pixels(), call.ctx));
    blur_into(in.pixels(), *out, a.radius, a.sigma, call.ctx.threads);
    return {in.derive(std::move(out))};
}

std::vector<Image> run_sharpen(Image& in, OpCall& call) {
    require_opaque(in, call);
    Args a = parse(call);
    const int width = optimal_width(a.radius, a.sigma, true);
    check_kernel(in, width, "effect.c/SharpenImageChannel/4349");
    // IM's kernel: -G everywhere, centre replaced by 2*sum(G), normalised. With G = g x g:
    // out = ((2S + G0) p - (G * p)) / (S + G0), where S = sum(G) and G0 = G's centre.
    std::vector<double> g = gaussian(width, a.sigma);
    double s1 = 0;
    for (double v : g) s1 += v;
    const double S = s1 * s1, G0 = 1.0;  // g's centre is exp(0) = 1
    const double A = (2 * S + G0) / (S + G0), B = 1.0 / (S + G0);
    const Pixels& src = in.pixels();
    auto out = std::make_shared<Pixels>(in.width(), in.height(), src.channels(), result_bps(src, call.ctx));
    separable(src, g, g, call.ctx.threads, [&](int y, size_t at, const std::vector<double>& s) {
        const RowIn p = row_in(src, y);
        const RowOut o = row_out(*out, y);
        for (size_t i = 0; i < s.size(); ++i) o.store(at + i, A * p[at + i] - B * s[i]);
    });
    return {in.derive(std::move(out))};
}

std::vector<Image> run_unsharp(Image& in, OpCall& call) {
    require_opaque(in, call);
    Args a = parse(call);
    check_kernel(in, blur_width(a.radius, a.sigma), nullptr);
    const Pixels& src = in.pixels();
    Pixels blurred(src.width(), src.height(), src.channels(), 2);
    blur_into(src, blurred, a.radius, a.sigma, call.ctx.threads);
    auto out = std::make_shared<Pixels>(in.width(), in.height(), src.channels(), result_bps(src, call.ctx));
    const double limit = 65535.0 * a.threshold;
    const size_t n = static_cast<size_t>(src.width()) * src.channels();
    parallel_rows(src.height(), call.ctx.threads, [&](int y0, int y1) {
        for (int y = y0; y < y1; ++y) {
            const RowIn in_row = row_in(src, y);
            const uint16_t* b = blurred.row16(y);
            const RowOut o = row_out(*out, y);
            for (size_t i = 0; i < n; ++i) {
                const double p = in_row[i];
                const double d = p - b[i];
                o.store(i, std::fabs(2.0 * d) < limit ? p : p + d * a.amount);
            }
        }
    });
    return {in.derive(std::move(out))};
}

}  // namespace

extern const OpSpec blur_op{.names = {"-blur"},
                            .kind = OpKind::simple,
                            .arity = 1,
                            .demand = Demand::neighbourhood,
                            .summary = "reduce image noise and detail levels (separable)",
                            .run = &run_blur,
                            .accepts = &accepts_convolve,
                            .declines = &declines_convolve,
                            .uses_channel = true};
extern const OpSpec gaussian_blur_op{.names = {"-gaussian-blur"},
                                     .kind = OpKind::simple,
                                     .arity = 1,
                                     .demand = Demand::neighbourhood,
                                     .summary = "reduce image noise and detail levels (separable)",
                                     .run = &run_gaussian_blur,
                                     .accepts = &accepts_convolve,
                                     .declines = &declines_convolve,
                                     .uses_channel = true};
extern const OpSpec sharpen_op{.names = {"-sharpen"},
                               .kind = OpKind::simple,
                               .arity = 1,
                               .demand = Demand::neighbourhood,
                               .summary = "sharpen the image (separable)",
                               .run = &run_sharpen,
                               .accepts = &accepts_convolve,
                               .declines = &declines_convolve,
                               .uses_channel = true};
extern const OpSpec unsharp_op{.names = {"-unsharp"},
                               .kind = OpKind::simple,
                               .arity = 1,
                               .demand = Demand::neighbourhood,
                               .summary = "sharpen the image with an unsharp mask",
                               .run = &run_unsharp,
                               .accepts = &accepts_convolve,
                               .declines = &declines_convolve,
                               .uses_channel = true};

}  // namespace mtool::ops
