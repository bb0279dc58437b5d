#pragma once
// PNG image data compressed on several threads. Rows are filtered with libpng's own choice
// (the adaptive heuristic picks, per row, the allowed filter with the smallest sum of absolute
// byte values), then the filtered stream is cut into chunks that are deflated independently:
// each chunk is primed with the 32 KiB that precede it and ends with a sync flush, so the
// concatenation is one valid zlib stream (the pigz construction); the Adler-32 checksums of
// the chunks are combined. Pixels are exactly those libpng would write; the file differs only
// by a few bytes per chunk. Memory: one batch of (threads x chunk) rows.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace mtool::codecs {

class ParallelIdat {
public:
    struct Settings {
        int level = 6;           ///< zlib level; -1 for zlib's default
        int strategy = -1;       ///< zlib strategy; -1: libpng's default (filtered unless no filter)
        int filter_mask = 0xf8;  ///< as png_set_filter: 1..4 one filter, else NONE|SUB|UP|AVG|PAETH bits
        bool unfiltered_default = false;  ///< what 0 means: libpng's default is no filtering for
                                          ///< palette and sub-byte images, adaptive otherwise
        int threads = 2;
        /// mtool's default level: each chunk at zlib level 5 with hash chains of 16 (twice as
        /// fast as level 7 on photographs, files at most 8% larger), and again at level 7 when
        /// it shrinks below 1/8 (drawings and text, where level 5 made files up to 1.8 times
        /// ImageMagick's); `level` is then not used.
        bool adaptive = false;
        int width = 0, height = 0;  ///< the image's, in pixels (1 rules filters out, as libpng)
    };

    /// Writes IDAT chunks to `out` (after the header chunks libpng wrote) for rows of
    /// `row_bytes` packed bytes with `bpp` bytes per complete pixel (1 for sub-byte depths).
    ParallelIdat(std::FILE* out, size_t row_bytes, int bpp, Settings s);
    /// Adds the next packed row.
    void add_row(const uint8_t* row);
    /// Compresses what is left, writes the checksum and the IEND chunk. False on a write error
    /// (errno set).
    bool finish();

    /// Rows compressed this way: all with the adaptive level, else those worth threads (below
    /// 2 MiB libpng's single stream is as fast).
    static bool worthwhile(size_t row_bytes, int height, int threads, bool adaptive);

private:
    void flush_batch(bool last);
    void emit(const uint8_t* data, size_t n);
    void write_chunk(const char type[4], const uint8_t* data, size_t n);

    std::FILE* out_;
    size_t row_bytes_;
    int bpp_;
    Settings s_;
    size_t chunk_rows_;
    std::vector<uint8_t> raw_;      ///< batch rows (row_bytes each), preceded by the previous raw row
    size_t rows_ = 0;               ///< rows in the batch
    std::vector<uint8_t> history_;  ///< the last <= 32 KiB of filtered data already compressed
    uint32_t adler_ = 1;
    std::vector<uint8_t> idat_;  ///< pending IDAT payload
    bool ok_ = true;
    bool header_done_ = false;
};

}  // namespace mtool::codecs
