// The distributed pixel cache's handshake keys against vectors captured from real ImageMagick
// (Debian 12's gen 3 server and a stock 6.9.11-60 gen 1 build), SipHash's reference vector,
// and the host-list parser.
#include "tests/unit/helpers.h"  // doctest before ImageMagick's headers (IsNaN macro)

#include "cache/dpc.h"

using namespace mtool::cache::dpc;

namespace {
std::string hex(const uint8_t* p, size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) {
        s += d[p[i] >> 4];
        s += d[p[i] & 15];
    }
    return s;
}
}  // namespace

TEST_CASE("SipHash-2-4 reference vector (key 00..0f, message 00..0e)") {
    std::array<uint8_t, 16> key{};
    for (int i = 0; i < 16; ++i) key[i] = static_cast<uint8_t>(i);
    uint8_t msg[15];
    for (int i = 0; i < 15; ++i) msg[i] = static_cast<uint8_t>(i);
    auto out = siphash24(key, msg, sizeof msg);
    CHECK(get_u64(out.data()) == 0xa129ca6149be45e5ull);
    CHECK(derive_key("") == key);  // ImageMagick's derivation of an empty secret is that key
}

TEST_CASE("gen 3 key: Derive and SipHash as a live Debian capture") {
    auto k = derive_key("correct-horse-battery");
    CHECK(get_u64(k.data()) == 0x38b1352db59781f6ull);
    CHECK(get_u64(k.data() + 8) == 0x9a4528c32f6a4b3eull);
    const uint8_t nonce[8] = {0xca, 0xce, 0xc4, 0x3f, 0xd5, 0xd0, 0x4b, 0x44};
    auto key = gen3_key("correct-horse-battery", nonce, 8);
    CHECK(hex(key.data(), 8) == "b87f555d049eeb4a");
    CHECK(gen3_key("correct-horse-batterz", nonce, 8) != key);
}

TEST_CASE("gen 1 key: CRC-32 of build constants and nonce as a live 6.9.11-60 capture") {
    const uint8_t nonce[8] = {0x1f, 0x3d, 0x44, 0x79, 0x69, 0x42, 0x59, 0x40};
    auto key = gen1_key(nonce, 8);
    CHECK(hex(key.data(), 8) == "edfb2f3000000000");
}

TEST_CASE("host lists: commas or spaces, default port, IPv6") {
    auto h = parse_hosts("192.168.100.50:6668,192.168.100.51");
    REQUIRE(h.size() == 2);
    CHECK(h[0].name == "192.168.100.50");
    CHECK(h[1].port == 6668);
    h = parse_hosts("[::1]:7000 ::1 localhost:6670");
    REQUIRE(h.size() == 3);
    CHECK(h[0].name == "::1");
    CHECK(h[0].port == 7000);
    CHECK(h[0].text() == "[::1]:7000");
    CHECK(h[1].port == 6668);
    CHECK(h[2].port == 6670);
    CHECK(parse_hosts("").size() == 1);
    CHECK_THROWS(parse_hosts("h:99999"));
    CHECK_THROWS(parse_hosts("h:x"));
    CHECK(protocol_from("1") == 1);
    CHECK(protocol_from("") == 3);
    CHECK_THROWS(protocol_from("2"));
}
