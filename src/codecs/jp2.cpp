#include "src/codecs/codec.h"

namespace mtool::codecs {
namespace {
bool sniff_jp2(const unsigned char*, size_t) { return false; }
Image read_jp2(const ReadRequest&) { throw Error(Severity::coder_error, "not implemented", "", "jp2"); }
void write_jp2(Image&, const WriteRequest&) { throw Error(Severity::coder_error, "not implemented", "", "jp2"); }
}  // namespace
extern const CodecSpec jp2_codec{"JP2", {}, 100, &sniff_jp2, &read_jp2, &write_jp2, ""};
}  // namespace mtool::codecs
