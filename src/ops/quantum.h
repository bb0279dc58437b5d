#pragma once
// ImageMagick's Q16 arithmetic on native pixels: every computing operator reads samples as Q16
// values and stores results the way ImageMagick would hold them at the image's storage depth.
#include <cstddef>

#include "src/core/image.h"

namespace mtool::ops {

inline constexpr double kQuantumRange = 65535.0;
inline constexpr double kMagickEpsilon = 1.0e-12;
inline constexpr double kPi = 3.14159265358979323846;

/// One row's samples as Q16 values, through a pointer fetched once per row (valid under the
/// pin rules of Pixels::row): the hot loops use these instead of per-sample lookups.
struct RowIn {
    const uint8_t* p;
    bool wide;
    double operator[](size_t i) const {
        return wide ? reinterpret_cast<const uint16_t*>(p)[i] : p[i] * 257.0;
    }
};

/// Stores Q16 results into one row: ClampToQuantum, then 6.9.11's reduction to 8 bits
/// (truncation, as SetImageDepth and the PNG writer do). Alpha is held as opacity there, so the
/// opacity truncates.
struct RowOut {
    uint8_t* p;
    bool wide;
    bool round8 = false;  ///< JPEG-bound results: ScaleQuantumToChar's rounding
    void store(size_t i, double q, bool is_alpha = false) const {
        q = q <= 0 ? 0 : (q >= kQuantumRange ? kQuantumRange : q);
        const unsigned v = static_cast<unsigned>(q + 0.5);
        if (wide)
            reinterpret_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(v);
        else if (round8)
            p[i] = static_cast<uint8_t>(((v + 128u) - ((v + 128u) >> 8)) >> 8);
        else if (is_alpha)
            p[i] = static_cast<uint8_t>(255 - (65535 - v) / 257);
        else
            p[i] = static_cast<uint8_t>(v / 257);
    }
};

inline RowIn row_in(const Pixels& px, int y) { return {px.row(y), px.bytes_per_sample() == 2}; }
inline RowOut row_out(Pixels& px, int y) { return {px.row(y), px.bytes_per_sample() == 2, px.rounds_8bit()}; }

/// Sample `i` of row `y` as a Q16 value (8-bit samples scaled by 257, as ScaleCharToQuantum).
inline double q16(const Pixels& p, int y, size_t i) { return row_in(p, y)[i]; }

/// Stores a Q16 result at sample `i` of row `y` (see RowOut::store).
inline void store_q16(Pixels& p, int y, size_t i, double q, bool is_alpha = false) {
    row_out(p, y).store(i, q, is_alpha);
}

/// The same, addressed by pixel and channel.
inline double q16_at(const Pixels& p, int x, int y, int c) {
    return q16(p, y, static_cast<size_t>(x) * p.channels() + c);
}
inline void store_q16_at(Pixels& p, int x, int y, int c, double q, bool is_alpha = false) {
    store_q16(p, y, static_cast<size_t>(x) * p.channels() + c, q, is_alpha);
}

}  // namespace mtool::ops
