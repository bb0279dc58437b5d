// The distributed pixel cache's handshake keys and gen 4 payload sealing against vectors
// captured from real ImageMagick (Debian 12's deb12u16 client for gen 4, its earlier gen 3
// server, a stock 6.9.11-60 gen 1 build), SipHash's reference vector, and the host-list parser.
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

namespace {
std::vector<uint8_t> unhex(const std::string& s) {
    std::vector<uint8_t> v;
    for (size_t i = 0; i + 1 < s.size(); i += 2)
        v.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
    return v;
}
}  // namespace

TEST_CASE("gen 4: key and sealed write as a live deb12u16 capture") {
    // `convert -define registry:cache:hosts=... h10.png -negate` (a 10x1 16-bit gradient) with
    // secret "s3cret", against ImageMagick's own server, traced with strace.
    const auto nonce = unhex("0a2666a6ade29796be52648953968143");
    auto key = gen3_key("s3cret", nonce.data(), nonce.size());
    CHECK(hex(key.data(), 8) == "5155818afde56726");
    const auto tagv = unhex("ffed73cd7fc4c158145fdc9eced27123de3372b42deb4fa698763065438495ca");
    const auto ct = unhex(
        "ffa1b721cce8a3e2a1d787c42dc0be17abb5299b9e60214a72c793f7609ca4f2b50a8fe7803ffaeb98ebf42c4d95c6c1c90c"
        "b02e9"
        "86c1812e21c98c06a10f2db46431be50f615bb26bc78e71b5b93cb3");
    const auto pt = unhex(
        "ffff0000000000008de30000721c00001cc70000e3380000aaaa000055550000388e0000c7710000c7710000388e00005555"
        "0000aaa"
        "a0000e33800001cc70000721c00008de3000000000000ffff0000");
    REQUIRE(ct.size() == 80);
    REQUIRE(pt.size() == 80);
    std::array<uint8_t, kTagBytes> tag{};
    std::copy(tagv.begin(), tagv.end(), tag.begin());
    Seal seal("s3cret", key);
    seal.mac_begin();
    seal.mac_add(pt.data(), 30);  // in pieces, across SHA-256 block bounds
    seal.mac_add(pt.data() + 30, 50);
    CHECK(seal.mac_finish() == tag);
    auto buf = ct;
    seal.crypt(tag, 0, buf.data(), buf.size());
    CHECK(buf == pt);
    // Pieces at odd offsets (keystream blocks are 32 bytes) give the same ciphertext.
    buf = pt;
    const size_t bounds[] = {0, 5, 31, 32, 33, 64, 79, 80};
    for (size_t i = 0; i + 1 < std::size(bounds); ++i)
        seal.crypt(tag, bounds[i], buf.data() + bounds[i], bounds[i + 1] - bounds[i]);
    CHECK(buf == ct);
    // Another secret, another session key or a flipped plaintext bit: another tag.
    Seal other("s3cres", key);
    other.mac_begin();
    other.mac_add(pt.data(), pt.size());
    CHECK(other.mac_finish() != tag);
    auto flipped = pt;
    flipped[40] ^= 1;
    seal.mac_begin();
    seal.mac_add(flipped.data(), flipped.size());
    CHECK(seal.mac_finish() != tag);
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
    CHECK(protocol_from("3") == 3);
    CHECK(protocol_from("4") == 4);
    CHECK(protocol_from("") == 4);
    CHECK_THROWS(protocol_from("2"));
    CHECK_THROWS(protocol_from("5"));
}
