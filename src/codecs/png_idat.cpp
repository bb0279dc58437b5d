#include "src/codecs/png_idat.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace mtool::codecs {

namespace {

constexpr size_t kWindow = 32768;
constexpr size_t kIdatSize = 32768;       // ImageMagick's compression buffer: its IDAT size
constexpr size_t kChunkBytes = 1u << 20;  // filtered bytes per independently deflated chunk

// libpng's filter bits (png.h), kept here so this file does not depend on png.h.
constexpr int kNone = 0x08, kSub = 0x10, kUp = 0x20, kAvg = 0x40, kPaeth = 0x80;

/// What libpng 1.6 makes of png_set_filter's argument (measured, not what png.h suggests): 0
/// leaves its default (no filtering for palette and sub-byte images, adaptive otherwise), the
/// values 1..7 end up unfiltered, and a mask of filter bits is used as given.
int normalise_mask(int filters, bool unfiltered_default) {
    if (filters == 0) return unfiltered_default ? kNone : kNone | kSub | kUp | kAvg | kPaeth;
    return (filters & 0xf8) ? (filters & 0xf8) : kNone;
}

inline unsigned cost(uint8_t v) { return v < 128 ? v : 256u - v; }

inline uint8_t paeth(int a, int b, int c) {
    int p = b - c, q = a - c;
    int pa = std::abs(p), pb = std::abs(q), pc = std::abs(p + q);
    return static_cast<uint8_t>(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
}

/// Filters one row into out[0] (type) and out[1..], choosing as png_write_find_filter does:
/// the allowed filter with the smallest sum, the earliest on ties.
void filter_row(const uint8_t* raw, const uint8_t* prev, size_t n, int bpp, int mask, uint8_t* out,
                std::vector<uint8_t>& scratch) {
    scratch.resize(n);
    const int single = mask == kNone || mask == kSub || mask == kUp || mask == kAvg || mask == kPaeth;
    size_t best_sum = SIZE_MAX;
    int best = -1;
    auto consider = [&](int type, auto&& fn) {
        uint8_t* dst = single ? out + 1 : scratch.data();
        size_t sum = 0;
        for (size_t i = 0; i < n; ++i) {
            uint8_t a = i >= static_cast<size_t>(bpp) ? raw[i - bpp] : 0;
            uint8_t c = i >= static_cast<size_t>(bpp) ? prev[i - bpp] : 0;
            dst[i] = static_cast<uint8_t>(raw[i] - fn(a, prev[i], c));
            sum += cost(dst[i]);
        }
        if (single) {
            best = type;
            return;
        }
        if (sum < best_sum) {
            best_sum = sum;
            best = type;
            std::memcpy(out + 1, dst, n);
        }
    };
    if (mask & kNone) consider(0, [](uint8_t, uint8_t, uint8_t) { return 0; });
    if (mask & kSub) consider(1, [](uint8_t a, uint8_t, uint8_t) { return a; });
    if (mask & kUp) consider(2, [](uint8_t, uint8_t b, uint8_t) { return b; });
    if (mask & kAvg) consider(3, [](uint8_t a, uint8_t b, uint8_t) { return (a + b) >> 1; });
    if (mask & kPaeth) consider(4, [](uint8_t a, uint8_t b, uint8_t c) { return paeth(a, b, c); });
    out[0] = static_cast<uint8_t>(best);
}

struct Deflated {
    std::vector<uint8_t> bytes;
    uint32_t adler = 1;
    bool ok = true;
};

Deflated deflate_once(const uint8_t* dict, size_t dict_len, const uint8_t* in, size_t n, bool last,
                      const ParallelIdat::Settings& s, int level, bool short_chains) {
    Deflated d;
    d.adler = static_cast<uint32_t>(adler32(1, in, static_cast<uInt>(n)));
    z_stream z{};
    int strategy = s.strategy >= 0 ? s.strategy : Z_FILTERED;
    if (deflateInit2(&z, level, Z_DEFLATED, -15, 9, strategy) != Z_OK) {
        d.ok = false;
        return d;
    }
    // zlib's level 5 searches hash chains of 32; 16 halves the time on photographs.
    if (short_chains) deflateTune(&z, 8, 16, 32, 16);
    if (dict_len) deflateSetDictionary(&z, dict, static_cast<uInt>(dict_len));
    d.bytes.resize(deflateBound(&z, n) + 64);
    z.next_in = const_cast<Bytef*>(in);
    z.avail_in = static_cast<uInt>(n);
    z.next_out = d.bytes.data();
    z.avail_out = static_cast<uInt>(d.bytes.size());
    int flush = last ? Z_FINISH : Z_SYNC_FLUSH;
    int rc;
    while ((rc = deflate(&z, flush)) == Z_OK || rc == Z_BUF_ERROR) {
        if (z.avail_in == 0 && (flush == Z_SYNC_FLUSH && z.avail_out > 0)) break;
        size_t used = d.bytes.size() - z.avail_out;
        d.bytes.resize(d.bytes.size() * 2);
        z.next_out = d.bytes.data() + used;
        z.avail_out = static_cast<uInt>(d.bytes.size() - used);
    }
    d.ok = last ? rc == Z_STREAM_END : (rc == Z_OK || rc == Z_BUF_ERROR) && z.avail_in == 0;
    d.bytes.resize(d.bytes.size() - z.avail_out);
    deflateEnd(&z);
    return d;
}

Deflated deflate_chunk(const uint8_t* dict, size_t dict_len, const uint8_t* in, size_t n, bool last,
                       const ParallelIdat::Settings& s) {
    if (!s.adaptive) return deflate_once(dict, dict_len, in, n, last, s, s.level, false);
    // Level 5 with short chains; a chunk that shrinks below 1/8 (drawings, text, flat areas,
    // where long matches pay) again at ImageMagick's level 7, keeping the smaller.
    Deflated d = deflate_once(dict, dict_len, in, n, last, s, 5, true);
    if (d.ok && d.bytes.size() * 8 < n) {
        Deflated e = deflate_once(dict, dict_len, in, n, last, s, 7, false);
        if (e.ok && e.bytes.size() < d.bytes.size()) return e;
    }
    return d;
}

template <class Fn>
void on_threads(size_t n, int threads, Fn&& fn) {
    if (n <= 1 || threads <= 1) {
        for (size_t i = 0; i < n; ++i) fn(i);
        return;
    }
    std::vector<std::thread> pool;
    for (size_t i = 0; i < n; ++i) pool.emplace_back([&fn, i] { fn(i); });
    for (auto& t : pool) t.join();
}

}  // namespace

ParallelIdat::ParallelIdat(std::FILE* out, size_t row_bytes, int bpp, Settings s)
    : out_(out), row_bytes_(row_bytes), bpp_(std::max(1, bpp)), s_(s) {
    s_.filter_mask = normalise_mask(s.filter_mask, s.unfiltered_default);
    // As libpng's png_write_start_row: no filter that reads a missing neighbour.
    if (s.height == 1) s_.filter_mask &= ~(kUp | kAvg | kPaeth);
    if (s.width == 1) s_.filter_mask &= ~(kSub | kAvg | kPaeth);
    if (s_.filter_mask == 0) s_.filter_mask = kNone;
    // libpng deflates with Z_FILTERED unless rows are unfiltered by mask or by default; the
    // values 1..7 leave rows unfiltered but still select Z_FILTERED (measured with 1.6.39).
    const bool value_form = s.filter_mask >= 1 && s.filter_mask <= 7;
    if (s_.strategy < 0)
        s_.strategy = s_.filter_mask == kNone && !value_form ? Z_DEFAULT_STRATEGY : Z_FILTERED;
    s_.threads = std::max(1, s.threads);
    chunk_rows_ = std::max<size_t>(1, kChunkBytes / (row_bytes + 1));
    raw_.assign(row_bytes_, 0);  // the row before the first; the batch grows as rows come
}

bool ParallelIdat::worthwhile(size_t row_bytes, int height, int threads, bool adaptive) {
    // Always for the adaptive level (libpng's stream would be level 7 throughout, which cost a
    // 400x267 RGBA thumbnail 50 ms more than level 5).
    return adaptive || (threads > 1 && row_bytes * static_cast<size_t>(height) >= 2 * kChunkBytes);
}

void ParallelIdat::add_row(const uint8_t* row) {
    const size_t need = (2 + rows_) * row_bytes_;
    if (raw_.size() < need)
        raw_.resize(std::min((1 + chunk_rows_ * s_.threads) * row_bytes_, std::max(need, 2 * raw_.size())));
    std::memcpy(raw_.data() + (1 + rows_) * row_bytes_, row, row_bytes_);
    if (++rows_ == chunk_rows_ * s_.threads) flush_batch(false);
}

void ParallelIdat::flush_batch(bool last) {
    const size_t fr = row_bytes_ + 1;
    const size_t h = history_.size();
    std::vector<uint8_t> filtered(h + rows_ * fr);
    if (h) std::memcpy(filtered.data(), history_.data(), h);
    const size_t chunks = (rows_ + chunk_rows_ - 1) / chunk_rows_;
    on_threads(chunks, s_.threads, [&](size_t j) {
        std::vector<uint8_t> scratch;
        size_t a = j * chunk_rows_, b = std::min(rows_, a + chunk_rows_);
        for (size_t r = a; r < b; ++r)
            filter_row(raw_.data() + (1 + r) * row_bytes_, raw_.data() + r * row_bytes_, row_bytes_, bpp_,
                       s_.filter_mask, filtered.data() + h + r * fr, scratch);
    });
    std::vector<Deflated> out(std::max<size_t>(chunks, last ? 1 : 0));
    on_threads(out.size(), s_.threads, [&](size_t j) {
        size_t start = h + std::min(rows_, j * chunk_rows_) * fr;
        size_t end = h + std::min(rows_, (j + 1) * chunk_rows_) * fr;
        size_t dict = std::min(start, kWindow);
        out[j] = deflate_chunk(filtered.data() + start - dict, dict, filtered.data() + start, end - start,
                               last && j + 1 == out.size(), s_);
    });
    if (!header_done_) {
        // zlib header: deflate, 32 KiB window, FLEVEL as zlib derives it from the level.
        const int level = s_.adaptive ? 5 : s_.level < 0 ? 6 : s_.level;
        const int strategy = s_.strategy >= 0 ? s_.strategy : Z_FILTERED;
        int flevel = (strategy >= Z_HUFFMAN_ONLY || level < 2) ? 0 : level < 6 ? 1 : level == 6 ? 2 : 3;
        uint8_t hdr[2] = {0x78, static_cast<uint8_t>(flevel << 6)};
        hdr[1] = static_cast<uint8_t>(hdr[1] + 31 - ((hdr[0] << 8) + hdr[1]) % 31);
        emit(hdr, 2);
        header_done_ = true;
    }
    for (size_t j = 0; j < out.size(); ++j) {
        if (!out[j].ok) {
            ok_ = false;
            errno = ENOMEM;
        }
        size_t start = h + std::min(rows_, j * chunk_rows_) * fr;
        size_t end = h + std::min(rows_, (j + 1) * chunk_rows_) * fr;
        adler_ =
            static_cast<uint32_t>(adler32_combine(adler_, out[j].adler, static_cast<z_off_t>(end - start)));
        emit(out[j].bytes.data(), out[j].bytes.size());
    }
    size_t keep = std::min(filtered.size(), kWindow);
    history_.assign(filtered.end() - static_cast<std::ptrdiff_t>(keep), filtered.end());
    if (rows_) std::memcpy(raw_.data(), raw_.data() + rows_ * row_bytes_, row_bytes_);
    rows_ = 0;
}

void ParallelIdat::emit(const uint8_t* data, size_t n) {
    while (n) {
        size_t take = std::min(n, kIdatSize - idat_.size());
        idat_.insert(idat_.end(), data, data + take);
        data += take;
        n -= take;
        if (idat_.size() == kIdatSize) {
            write_chunk("IDAT", idat_.data(), idat_.size());
            idat_.clear();
        }
    }
}

void ParallelIdat::write_chunk(const char type[4], const uint8_t* data, size_t n) {
    uint8_t head[8] = {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                       static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
    std::memcpy(head + 4, type, 4);
    uLong crc = crc32(0, head + 4, 4);
    if (n) crc = crc32(crc, data, static_cast<uInt>(n));
    uint8_t tail[4] = {static_cast<uint8_t>(crc >> 24), static_cast<uint8_t>(crc >> 16),
                       static_cast<uint8_t>(crc >> 8), static_cast<uint8_t>(crc)};
    if (std::fwrite(head, 1, 8, out_) != 8 || (n && std::fwrite(data, 1, n, out_) != n) ||
        std::fwrite(tail, 1, 4, out_) != 4)
        ok_ = false;
}

bool ParallelIdat::finish() {
    flush_batch(true);
    const uint8_t trailer[4] = {static_cast<uint8_t>(adler_ >> 24), static_cast<uint8_t>(adler_ >> 16),
                                static_cast<uint8_t>(adler_ >> 8), static_cast<uint8_t>(adler_)};
    emit(trailer, 4);
    if (!idat_.empty()) write_chunk("IDAT", idat_.data(), idat_.size());
    idat_.clear();
    write_chunk("IEND", nullptr, 0);
    if (ok_ && std::fflush(out_) != 0) ok_ = false;
    return ok_;
}

}  // namespace mtool::codecs
