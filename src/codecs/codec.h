#pragma once
// A native codec: sniffed by magic bytes, with a cheap header read and row-sequential decode and
// encode. Everything without a native codec goes through ImageMagick (src/codecs/magick_bridge).
#include <cstdio>
#include <string>
#include <vector>

#include "src/core/context.h"
#include "src/core/image.h"

namespace mtool::codecs {

struct ReadRequest {
    std::string path;           ///< file to read ("" with `file` set for stdin)
    std::FILE* file = nullptr;  ///< already open stream (stdin); otherwise path is opened
    const ::ImageInfo* info;    ///< settings in force (ping, defines such as jpeg:size)
    Context& ctx;
    /// Geometry of a `-thumbnail` that follows the read directly: a codec may decode at a
    /// reduced resolution that stays at least twice that size.
    std::string shrink_hint = {};
    /// A header read standing in for a full read (identify with options ImageMagick would decode
    /// for): the shell reports what that read would, e.g. the file size.
    bool stand_in = false;
    /// Geometry of a `-crop` that follows the read directly: a codec may decode only a region
    /// around it, placed on the full image's page so that the crop gives the same result.
    std::string crop_hint = {};
    /// A header read for a plan (src/exec/plan.cpp): nothing is decoded, but the shell has the
    /// size the read would give (a reduced decode included, with its artifacts) and
    /// kPlanDecodeArtifact says how the file would be decoded.
    bool plan = false;
    /// A pulled read (src/exec/stream.cpp): the codec may return an image whose rows are
    /// decoded as they are asked for, front to back (a Pixels producer), instead of decoding it.
    bool lazy = false;
};

/// On a planned read's shell: how the codec would decode it ("1/4 scale", "rows 484-1516").
inline constexpr const char* kPlanDecodeArtifact = "mtool:plan-decode";

/// What the step right after a read lets a codec skip (see Executor::convert).
struct LoadHint {
    std::string shrink;  ///< ReadRequest::shrink_hint
    std::string crop;    ///< ReadRequest::crop_hint
    bool lazy = false;   ///< ReadRequest::lazy
};

/// Set on the shell of an image decoded at a reduced size for the geometry step after the read
/// (ReadRequest::shrink_hint): that step's exact target, "WxH!".
inline constexpr const char* kShrunkArtifact = "mtool:shrunk-to";

struct WriteRequest {
    std::FILE* file;          ///< destination stream
    std::string path;         ///< for messages
    std::string magick;       ///< resolved output format, e.g. "PNG8", "JPEG"
    const ::ImageInfo* info;  ///< write settings (quality, interlace, defines, ...)
    Context& ctx;
};

/// Rows of a file decoded front to back, for a streamed read (src/exec/stream.cpp). Anything
/// out of the ordinary (a warning, an error) makes read() return false: the caller then runs
/// the command the ordinary way, which reports it as ImageMagick would.
class RowReader {
public:
    virtual ~RowReader() = default;
    int width = 0, height = 0, channels = 0;
    int bytes_per_sample = 1;
    /// Decodes the next `n` rows into `dst` (n * width * channels * bytes_per_sample bytes).
    virtual bool read(uint8_t* dst, int n) = 0;
};
/// A row reader of a baseline or progressive RGB or gray JPEG; nullptr for anything else.
std::unique_ptr<RowReader> jpeg_rows(const std::string& path, unsigned shrink = 1);
/// Pixels of a sequential JPEG decoded (at 1/shrink DCT scale) as its rows are asked for: a
/// pulled read's image (ReadRequest::lazy). nullptr where the file is not one to pull (a
/// progressive or CMYK file, a warning in its header) or decodes to other than w x h.
std::shared_ptr<Pixels> pulled_pixels(const std::string& path, unsigned shrink, size_t w, size_t h);
/// A row reader of a non-interlaced PNG, rows as read_png decodes them; nullptr otherwise.
std::unique_ptr<RowReader> png_rows(const std::string& path);

struct CodecSpec {
    const char* name;                  ///< ImageMagick's format name
    std::vector<std::string> magicks;  ///< output names handled (JPEG, JPG, PNG24, ...)
    int priority;                      ///< higher wins when several sniff positive
    bool (*sniff)(const unsigned char* head, size_t n);
    Image (*read)(const ReadRequest& req);  ///< decode (or only the header when pinging)
    void (*write)(Image& image, const WriteRequest& req);
    const char* summary;
    /// Optional: why the writer would leave this image to ImageMagick's, from its header and
    /// the settings alone (nullptr: it writes it; `req.file` may be null). The writer asks the
    /// same first; declines that depend on the pixels (a PNG's colour type) come later.
    const char* (*write_declines)(const Image& image, const WriteRequest& req) = nullptr;
};

/// The explicit list of native codecs.
const std::vector<const CodecSpec*>& all();
const CodecSpec* sniff(const unsigned char* head, size_t n);
const CodecSpec* for_magick(const std::string& magick);

extern const CodecSpec jpeg_codec;
extern const CodecSpec png_codec;
extern const CodecSpec jp2_codec;

}  // namespace mtool::codecs
