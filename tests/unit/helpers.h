#pragma once
// Shared fixtures for the unit tests: synthetic native images, running one native operator,
// running ImageMagick as the oracle, and pixel comparisons.
#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "src/ops/op_spec.h"

namespace test {

using MImage = mtool::Image;

/// A gradient with a distinguishable corner: asymmetric, so every transform shows.
MImage plasma(int w, int h, int depth);
/// An image read by ImageMagick from `spec` (e.g. "rose:", "gradient:red-blue"), made native.
MImage from_magick(const std::string& spec, int w = 0, int h = 0);
/// A native image with the given layout, filled by `fill(x, y, c)` in 0..1.
MImage synthetic(int w, int h, mtool::Layout layout, int bytes_per_sample,
                 const std::function<float(int, int, int)>& fill);

/// Runs one native operator (REQUIREs that it is native and accepts the arguments).
MImage apply(const std::string& op, std::vector<std::string> args, MImage in,
             const std::vector<std::pair<std::string, std::string>>& settings = {});
/// Runs the same option through ImageMagick's MogrifyImage (the bridge) for comparison.
MImage apply_magick(const std::string& op, std::vector<std::string> args, MImage in,
                    const std::vector<std::pair<std::string, std::string>>& settings = {});

bool same_pixels(const MImage& a, const MImage& b);
/// PSNR in dB over the visible RGBA values (gray expanded, missing alpha = opaque); 999 if equal.
double psnr(const MImage& a, const MImage& b);

}  // namespace test
