#pragma once
// Separable resampling with ImageMagick's filters and weight arithmetic (resize.c): the same
// filter table, the same "bisect" sample positions, support scaled by the reduction factor, and
// alpha-weighted colour sums. Used by -resize, -thumbnail and the geometry operators.
#include <memory>
#include <optional>
#include <string>

#include "src/core/context.h"
#include "src/core/image.h"

namespace mtool::ops {

/// One 1-D reconstruction filter as ImageMagick defines it: weighting function times window.
struct Filter {
    enum class Fn { box, triangle, cubic_bc, sinc, gaussian, hann, hamming, blackman };
    Fn filter = Fn::box;
    Fn window = Fn::box;        ///< box = no windowing
    double support = 0.5;       ///< before blur
    double window_scale = 1.0;  ///< window(x * window_scale) (first zero crossing / support)
    double blur = 1.0;
    double b = 0, c = 0;  ///< cubic coefficients
    double weight(double x) const;
};

/// ImageMagick's filter for a FilterTypes value; nullopt for filters mtool leaves to it
/// (Jinc-based, Kaiser, Lagrange, ... and any filter:* expert define).
std::optional<Filter> filter_for(FilterTypes type, double blur);

/// IM's default choice for ResizeImage: Lanczos; Mitchell when enlarging, for palettes or alpha.
FilterTypes default_resize_filter(const ::Image* shell, int columns, int rows);

/// True when filter:* defines are set (expert settings stay with ImageMagick).
bool has_filter_defines(const ::ImageInfo* info);

/// Resamples to columns x rows; the pass order follows ImageMagick (the larger factor first).
/// `out_bps` 2 keeps ImageMagick's Q16 result; 1 stores it reduced as IM reduces to depth 8.
std::shared_ptr<Pixels> resample(const Pixels& in, bool alpha, int columns, int rows, const Filter& filter,
                                 int out_bps, int threads);

/// The same resample of a streamed image, itself streamed: its rows are computed as they are
/// asked for, front to back, from the source rows they need (taken front to back), with the
/// arithmetic of resample() (the same pixels).
std::shared_ptr<Pixels> resample_streamed(std::shared_ptr<const Pixels> in, bool alpha, int columns, int rows,
                                          const Filter& filter, int out_bps, int threads);

/// Point sampling as ImageMagick's SampleImage (offset 0.5 unless sample:offset says otherwise).
std::shared_ptr<Pixels> sample(const Pixels& in, int columns, int rows, double offset_x, double offset_y,
                               int threads);

/// Area averaging as ImageMagick's ScaleImage (every source pixel weighted by its coverage).
std::shared_ptr<Pixels> scale_area(const Pixels& in, bool alpha, int columns, int rows, int out_bps,
                                   int threads);

/// Sample size for a computed result of `in`: Q16 unless 8 bits are known to be exact enough.
int result_bps(const Pixels& in, const Context& ctx);

}  // namespace mtool::ops
