#include "src/codecs/codec.h"

namespace mtool::codecs {
namespace {
bool sniff_png(const unsigned char*, size_t) { return false; }
Image read_png(const ReadRequest&) { throw Error(Severity::coder_error, "not implemented", "", "png"); }
void write_png(Image&, const WriteRequest&) { throw Error(Severity::coder_error, "not implemented", "", "png"); }
}  // namespace
extern const CodecSpec png_codec{"PNG", {}, 100, &sniff_png, &read_png, &write_png, ""};
}  // namespace mtool::codecs
