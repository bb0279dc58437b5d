// -blur, -gaussian-blur, -sharpen, -unsharp as separable Gaussians. ImageMagick 6 builds a 2-D
// kernel for -gaussian-blur and -sharpen and convolves in O(r^2); both are separable (sharpen is
// a scaled identity minus a Gaussian), so mtool convolves rows then columns in O(r) per pixel,
// streaming the column pass through a ring of row results. Kernel sizes and values follow
// ImageMagick's (GetOptimalKernelWidth, morphology.c's oversampled "blur" kernel), edges are
// replicated like its default virtual-pixel method, and -blur keeps its intermediate Q16 image.
#include <sys/sysinfo.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "src/core/magick.h"
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
                    magick::where::nexus_limit(b.width));
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

/// ClampToQuantum of a finite sum (convolutions make no NaN), through a signed conversion, which
/// vectorises where the unsigned one does not (the same value: it is at most 65535.5).
inline int quantum_int(double q) {
    q = q <= 0 ? 0 : (q >= kQuantumRange ? kQuantumRange : q);
    return static_cast<int>(q + 0.5);
}

/// out[j] = sum over taps i of k[i] * src[i][j] for j in [0, n): the multiply-add every pass is
/// made of. Each sample sums its taps in order, from 0.0, exactly as a direct loop would (no
/// reassociation, never FMA: -ffp-contract=off), so vectorising across samples keeps every sum's
/// bits. Taps go in groups of kGroup: a block of samples is accumulated in registers over a
/// group, then carried in `out` to the next (a partial sum stored and reloaded is the same
/// double), so the rows a block reads stay few enough to stream from cache.
constexpr int kGroup = 13;

template <int V, int U>
inline __attribute__((always_inline)) void taps_group(double* __restrict out, const double* const* src,
                                                      const double* k, int ntaps, size_t n, bool carry) {
    typedef double vec __attribute__((vector_size(V * sizeof(double))));
    constexpr size_t block = static_cast<size_t>(V) * U;
    size_t j = 0;
    for (; j + block <= n; j += block) {
        vec acc[U];
        for (int u = 0; u < U; ++u) {
            if (carry)
                std::memcpy(&acc[u], out + j + u * V, sizeof(vec));
            else
                acc[u] = vec{} + 0.0;
        }
        for (int i = 0; i < ntaps; ++i) {
            const double* s = src[i] + j;
            const double ki = k[i];
            for (int u = 0; u < U; ++u) {
                vec x;
                std::memcpy(&x, s + u * V, sizeof(vec));
                acc[u] += ki * x;
            }
        }
        for (int u = 0; u < U; ++u) std::memcpy(out + j + u * V, &acc[u], sizeof(vec));
    }
    for (; j < n; ++j) {
        double acc = carry ? out[j] : 0.0;
        for (int i = 0; i < ntaps; ++i) acc += k[i] * src[i][j];
        out[j] = acc;
    }
}

/// ClampToQuantum then ImageMagick's rounding of sums to Q16, 8 (16 for bytes) at a time, in the
/// forms the stores need: `Q16` kept as doubles (-blur's intermediate image), 16-bit samples,
/// ScaleQuantumToChar's rounded 8 bits (`round8`), or the truncating /257. Every lane computes
/// what quantum_int and RowOut::store compute for one sample (the same comparisons, the same
/// truncating conversion of a value at most 65535.5), so results are identical to the scalar
/// loops, which also do each tail.
enum class Quantize { q16, u16, u8_round, u8_trunc };

template <Quantize Q>
inline __attribute__((always_inline)) void quantize_lanes(const double* v, void* dst, size_t n) {
    constexpr int L = 8;
    typedef double dvec __attribute__((vector_size(L * sizeof(double))));
    typedef int64_t lvec __attribute__((vector_size(L * sizeof(int64_t))));
    typedef int32_t ivec __attribute__((vector_size(L * sizeof(int32_t))));
    typedef int32_t ivec2 __attribute__((vector_size(2 * L * sizeof(int32_t))));
    typedef uint8_t bytes2 __attribute__((vector_size(2 * L * sizeof(int32_t))));
    typedef uint8_t bvec2 __attribute__((vector_size(2 * L)));
    typedef uint16_t wvec __attribute__((vector_size(L * sizeof(uint16_t))));
    const dvec zero = dvec{} + 0.0, top = dvec{} + static_cast<double>(kQuantumRange), half = dvec{} + 0.5;
    auto lanes = [&](const double* at, ivec& q) {
        dvec x;
        std::memcpy(&x, at, sizeof x);
        const lvec low = x <= zero, high = x >= top;
        x = low ? zero : (high ? top : x);
        q = __builtin_convertvector(x + half, ivec);
    };
    size_t j = 0;
    if constexpr (Q == Quantize::q16 || Q == Quantize::u16) {
        for (; j + L <= n; j += L) {
            ivec q;
            lanes(v + j, q);
            if constexpr (Q == Quantize::q16) {
                const dvec r = __builtin_convertvector(q, dvec);
                std::memcpy(static_cast<double*>(dst) + j, &r, sizeof r);
            } else {
                const wvec r = __builtin_convertvector(q, wvec);
                std::memcpy(static_cast<uint16_t*>(dst) + j, &r, sizeof r);
            }
        }
    } else {
        // Two groups of lanes at a time, whose results (0..255) are narrowed to their low bytes
        // by one shuffle (a plain conversion goes through scalars).
        for (; j + 2 * L <= n; j += 2 * L) {
            ivec a, b;
            lanes(v + j, a);
            lanes(v + j + L, b);
            ivec2 q = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            if constexpr (Q == Quantize::u8_round) {
                q += 128;
                q = (q - (q >> 8)) >> 8;
            } else {
                q /= 257;
            }
            bytes2 all;
            std::memcpy(&all, &q, sizeof all);
            const bvec2 r = __builtin_shufflevector(all, all, 0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48,
                                                    52, 56, 60);
            std::memcpy(static_cast<uint8_t*>(dst) + j, &r, sizeof r);
        }
    }
    for (; j < n; ++j) {
        const int q = quantum_int(v[j]);
        if constexpr (Q == Quantize::q16)
            static_cast<double*>(dst)[j] = q;
        else if constexpr (Q == Quantize::u16)
            static_cast<uint16_t*>(dst)[j] = static_cast<uint16_t>(q);
        else if constexpr (Q == Quantize::u8_round)
            static_cast<uint8_t*>(dst)[j] = static_cast<uint8_t>(((q + 128) - ((q + 128) >> 8)) >> 8);
        else
            static_cast<uint8_t*>(dst)[j] = static_cast<uint8_t>(q / 257);
    }
}

using TapsFn = void (*)(double*, const double* const*, const double*, int, size_t, bool);
using QuantizeFn = void (*)(const double*, void*, size_t);
/// One CPU's set of vector paths.
struct Simd {
    TapsFn taps;
    QuantizeFn quantize[4];  ///< by Quantize
};

#define MTOOL_SIMD_PATH(name, attr, V)                                                                 \
    attr void taps_##name(double* out, const double* const* src, const double* k, int ntaps, size_t n, \
                          bool carry) {                                                                \
        taps_group<V, 4>(out, src, k, ntaps, n, carry);                                                \
    }                                                                                                  \
    template <Quantize Q>                                                                              \
    attr void quantize_##name(const double* v, void* dst, size_t n) {                                  \
        quantize_lanes<Q>(v, dst, n);                                                                  \
    }                                                                                                  \
    const Simd simd_##name = {&taps_##name,                                                            \
                              {&quantize_##name<Quantize::q16>, &quantize_##name<Quantize::u16>,       \
                               &quantize_##name<Quantize::u8_round>, &quantize_##name<Quantize::u8_trunc>}};
MTOOL_SIMD_PATH(avx512, __attribute__((target("avx512f,avx512bw"))), 8)
MTOOL_SIMD_PATH(avx2, __attribute__((target("avx2"))), 4)
MTOOL_SIMD_PATH(sse2, , 2)
#undef MTOOL_SIMD_PATH

/// The widest path the CPU has; MTOOL_SIMD=avx2|sse2 picks a narrower one (the tests run each).
const Simd& pick_simd() {
    __builtin_cpu_init();
    const char* want = std::getenv("MTOOL_SIMD");
    const std::string w = want ? want : "";
    if (w != "avx2" && w != "sse2" && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        return simd_avx512;
    if (w != "sse2" && __builtin_cpu_supports("avx2")) return simd_avx2;
    return simd_sse2;
}
const Simd& simd() {
    static const Simd& s = pick_simd();
    return s;
}

/// The taps go in near-equal groups of at most kGroup (25 taps: 13 and 12; 27 taps: 9, 9, 9, not
/// 13, 13, 1): each group is one more pass over `out`.
void taps(double* out, const double* const* src, const std::vector<double>& k, size_t n) {
    const TapsFn fn = simd().taps;
    const int nt = static_cast<int>(k.size());
    const int groups = (nt + kGroup - 1) / kGroup;
    for (int g = 0, at = 0; g < groups; ++g) {
        const int size = (nt - at + (groups - g) - 1) / (groups - g);
        fn(out, src + at, k.data() + at, size, n, at > 0);
        at += size;
    }
}

/// Horizontal pass of columns [x0, x1) of one row with replicated edges, in Q16 units. The row is
/// widened once into `line`, padded by the kernel's radius of replicated pixels on each side; tap
/// i then reads the line shifted by i pixels, so each sample sums its taps in the same order as
/// a direct loop would, with contiguous vector work instead of a clamp per tap.
void convolve_row(const Pixels& in, int y, const std::vector<double>& k, int x0, int x1,
                  std::vector<double>& line, std::vector<const double*>& at, double* out) {
    const int w = in.width(), ch = in.channels(), r = static_cast<int>(k.size() / 2);
    const uint8_t* row8 = in.row(y);
    const uint16_t* row16 = reinterpret_cast<const uint16_t*>(row8);
    const bool wide = in.bytes_per_sample() == 2;
    const size_t n = static_cast<size_t>(x1 - x0) * ch;
    line.resize(n + 2 * static_cast<size_t>(r) * ch);
    double* l = line.data();
    const int inside0 = std::max(x0 - r, 0), inside1 = std::min(x1 + r, w);
    auto widen = [&](int x) {
        const size_t from = static_cast<size_t>(std::clamp(x, 0, w - 1)) * ch;
        for (int c = 0; c < ch; ++c) *l++ = wide ? row16[from + c] : row8[from + c] * 257.0;
    };
    for (int x = x0 - r; x < inside0; ++x) widen(x);
    const size_t from = static_cast<size_t>(inside0) * ch,
                 count = static_cast<size_t>(inside1 - inside0) * ch;
    if (wide)
        for (size_t i = 0; i < count; ++i) l[i] = row16[from + i];
    else
        for (size_t i = 0; i < count; ++i) l[i] = row8[from + i] * 257.0;
    l += count;
    for (int x = inside1; x < x1 + r; ++x) widen(x);
    at.resize(k.size());
    for (size_t i = 0; i < k.size(); ++i) at[i] = line.data() + i * ch;
    taps(out, at.data(), k, n);
}

/// Separable convolution kx (rows) then ky (columns), all in double; `emit(y, x0, sums)` receives
/// the samples of output row y from column x0 on. With `mid_q16` the row results are rounded to
/// Q16 first, as ImageMagick's -blur stores its first pass in a Q16 image (that image is never
/// made: its rows exist only in the ring). Threads take bands of rows, each with its own ring of
/// row results: min(|ky|, height) rows, since rows past the edges repeat. The image is done in
/// vertical stripes: narrow enough that a ring stays in a core's cache (the column pass reads
/// every ring row for every output row), but at least eight kernel radii wide (each stripe
/// recomputes its margins); and narrow enough that the rings, working memory charged to the
/// tier manager's budget, take at most half of it (never below 64 columns, a floor as pinned
/// strips are).
template <class Emit>
void separable(const Pixels& in, const std::vector<double>& kx, const std::vector<double>& ky, int threads,
               bool mid_q16, Emit&& emit) {
    const int w = in.width(), h = in.height(), ch = in.channels();
    const int ry = static_cast<int>(ky.size() / 2), n = static_cast<int>(ky.size());
    const int rx = static_cast<int>(kx.size() / 2);
    const int slots = std::min(n, h);
    const int workers = std::max(1, std::min(threads, h / 64));  // as parallel_rows decides
    const uint64_t per_column = (static_cast<uint64_t>(slots) + 1) * ch * sizeof(double) * workers;
    constexpr uint64_t kRingCache = 512 * 1024;  // half a core's L2 on the machines measured
    const uint64_t cached = kRingCache / (static_cast<uint64_t>(slots) * ch * sizeof(double));
    uint64_t stripe = std::clamp<uint64_t>(std::max<uint64_t>(cached, 8ull * std::max(rx, ry)), 1, w);
    const uint64_t budget = in.manager().budgets().memory;
    constexpr uint64_t kMinStripe = 64;
    if (budget != cache::kUnlimited && per_column * stripe > budget / 2)
        stripe = std::clamp<uint64_t>(budget / 2 / per_column, std::min<uint64_t>(kMinStripe, w), stripe);
    // Workers taking bands of rows each recompute 2 ry rows of their neighbours' horizontal
    // pass: a large share of a short image (a streamed band is a few hundred rows), where they
    // take stripes instead (as many for each). Every sample is computed the same either way.
    int stripes = static_cast<int>((w + stripe - 1) / stripe);
    const bool by_stripes = workers > 1 && 40 * ry > h / workers && w >= workers;
    if (by_stripes) {
        stripes = std::min(w, (stripes + workers - 1) / workers * workers);
        stripe = (w + stripes - 1) / stripes;
        stripes = static_cast<int>((w + stripe - 1) / stripe);
    }
    cache::Scratch scratch(in.manager(), per_column * stripe);
    auto work = [&](int s0, int s1, int y0, int y1) {
        const size_t max_len = static_cast<size_t>(stripe) * ch;
        std::vector<double> ring(static_cast<size_t>(slots) * max_len);
        std::vector<int> held(slots);
        std::vector<double> sum(max_len), line;
        std::vector<const double*> rows(n), at;
        for (int s = s0; s < s1; ++s) {
            const int x0 = s * static_cast<int>(stripe);
            const int x1 = std::min<int>(w, x0 + static_cast<int>(stripe));
            const size_t row_len = static_cast<size_t>(x1 - x0) * ch;
            std::fill(held.begin(), held.end(), -1);  // which source row each ring slot holds
            sum.resize(row_len);
            for (int y = y0; y < y1; ++y) {
                for (int i = 0; i < n; ++i) {
                    const int sy = std::clamp(y + i - ry, 0, h - 1);
                    const int slot = sy % slots;
                    double* s = ring.data() + static_cast<size_t>(slot) * max_len;
                    if (held[slot] != sy) {
                        convolve_row(in, sy, kx, x0, x1, line, at, s);
                        if (mid_q16) simd().quantize[static_cast<int>(Quantize::q16)](s, s, row_len);
                        held[slot] = sy;
                    }
                    rows[i] = s;
                }
                taps(sum.data(), rows.data(), ky, row_len);
                emit(y, static_cast<size_t>(x0) * ch, sum);
            }
        }
    };
    if (by_stripes)
        parallel_rows(
            stripes, workers, [&](int s0, int s1) { work(s0, s1, 0, h); }, 1);
    else
        parallel_rows(h, threads, [&](int y0, int y1) { work(0, stripes, y0, y1); });
}

/// Stores one row's sums from sample `at` on, fetching the row once.
void store_row(Pixels& out, int y, size_t at, const std::vector<double>& s) {
    const RowOut o = row_out(out, y);
    const size_t n = s.size();
    // RowOut::store (never alpha here: convolutions decline it).
    const Quantize q = o.wide ? Quantize::u16 : (o.round8 ? Quantize::u8_round : Quantize::u8_trunc);
    simd().quantize[static_cast<int>(q)](s.data(), o.p + at * (o.wide ? 2 : 1), n);
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
    separable(in.pixels(), k, k, call.ctx.threads, false,
              [&](int y, size_t at, const std::vector<double>& s) { store_row(*out, y, at, s); });
    return {in.derive(std::move(out))};
}

/// BlurImage: two morphology passes (rows, then columns) with a Q16 image between them and a
/// Q16 result, written into `out` (which may be 8-bit).
void blur_into(const Pixels& in, Pixels& out, double radius, double sigma, int threads) {
    std::vector<double> k = normalised(blur_kernel(radius, sigma));
    separable(in, k, k, threads, true,
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
    separable(src, g, g, call.ctx.threads, false, [&](int y, size_t at, const std::vector<double>& s) {
        // A p - B s per sample, one loop per source depth so that each vectorises.
        thread_local std::vector<double> t;
        t.resize(s.size());
        const uint8_t* p8 = src.row(y) + at * src.bytes_per_sample();
        if (src.bytes_per_sample() == 2) {
            const uint16_t* p = reinterpret_cast<const uint16_t*>(p8);
            for (size_t i = 0; i < s.size(); ++i) t[i] = A * p[i] - B * s[i];
        } else {
            for (size_t i = 0; i < s.size(); ++i) t[i] = A * (p8[i] * 257.0) - B * s[i];
        }
        store_row(*out, y, at, t);
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
