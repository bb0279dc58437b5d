#include <strings.h>

#include "src/codecs/codec.h"

namespace mtool::codecs {

const std::vector<const CodecSpec*>& all() {
    static const std::vector<const CodecSpec*> list = {&png_codec, &jpeg_codec, &jp2_codec};
    return list;
}

const CodecSpec* sniff(const unsigned char* head, size_t n) {
    const CodecSpec* best = nullptr;
    for (const CodecSpec* c : all())
        if (c->sniff(head, n) && (!best || c->priority > best->priority)) best = c;
    return best;
}

const CodecSpec* for_magick(const std::string& magick) {
    for (const CodecSpec* c : all())
        for (const auto& m : c->magicks)
            if (strcasecmp(m.c_str(), magick.c_str()) == 0) return c;
    return nullptr;
}

}  // namespace mtool::codecs
