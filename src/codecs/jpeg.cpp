#include "src/codecs/codec.h"

namespace mtool::codecs {
namespace {
bool sniff_jpeg(const unsigned char*, size_t) { return false; }
Image read_jpeg(const ReadRequest&) { throw Error(Severity::coder_error, "not implemented", "", "jpeg"); }
void write_jpeg(Image&, const WriteRequest&) { throw Error(Severity::coder_error, "not implemented", "", "jpeg"); }
}  // namespace
extern const CodecSpec jpeg_codec{"JPEG", {}, 100, &sniff_jpeg, &read_jpeg, &write_jpeg, ""};
}  // namespace mtool::codecs
