// Gen 4 payload sealing of the distributed pixel cache (see Seal in cache/dpc.h).
//
// OpenSSL's low-level SHA-256 (deprecated in 3.0 but exported by Debian 12's libssl3) is used
// on purpose: the keystream is one compression per 32 bytes from a saved midstate (the first
// block, enc || tag, is the same for a whole payload), which the EVP interface cannot do
// without a context copy and a finalisation per block.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <cstring>

#include "cache/dpc.h"
#include "src/core/error.h"

namespace mtool::cache::dpc {

struct Seal::State {
    uint8_t mac_key[32];
    uint8_t enc_key[32];
    SHA256_CTX inner;  ///< HMAC's inner hash over the payload so far
    SHA256_CTX base;   ///< SHA-256 after the block enc || tag
    std::array<uint8_t, kTagBytes> base_tag{};
    bool has_base = false;
};

namespace {

void derive(const std::string& secret, const std::array<uint8_t, 8>& key, uint8_t label, uint8_t out[32]) {
    uint8_t msg[9];
    std::memcpy(msg, key.data(), 8);
    msg[8] = label;
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), msg, sizeof msg, out, &len) ||
        len != 32)
        throw Error(Severity::fatal_error, "HMAC-SHA256 unavailable in OpenSSL", "HMAC",
                    "distribute-cache.c");
}

void pad_key(const uint8_t key[32], uint8_t x, uint8_t block[64]) {
    for (int i = 0; i < 64; ++i) block[i] = static_cast<uint8_t>((i < 32 ? key[i] : 0) ^ x);
}

}  // namespace

Seal::Seal(const std::string& secret, const std::array<uint8_t, 8>& session_key) : s_(new State) {
    derive(secret, session_key, 'm', s_->mac_key);
    derive(secret, session_key, 'e', s_->enc_key);
}

Seal::~Seal() { OPENSSL_cleanse(s_.get(), sizeof(State)); }

void Seal::mac_begin() {
    uint8_t block[64];
    pad_key(s_->mac_key, 0x36, block);
    SHA256_Init(&s_->inner);
    SHA256_Update(&s_->inner, block, sizeof block);
    OPENSSL_cleanse(block, sizeof block);
}

void Seal::mac_add(const uint8_t* p, size_t n) {
    if (n) SHA256_Update(&s_->inner, p, n);
}

std::array<uint8_t, kTagBytes> Seal::mac_finish() {
    uint8_t ih[32], block[64];
    SHA256_Final(ih, &s_->inner);
    pad_key(s_->mac_key, 0x5c, block);
    SHA256_CTX outer;
    SHA256_Init(&outer);
    SHA256_Update(&outer, block, sizeof block);
    SHA256_Update(&outer, ih, sizeof ih);
    std::array<uint8_t, kTagBytes> tag{};
    SHA256_Final(tag.data(), &outer);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(ih, sizeof ih);
    OPENSSL_cleanse(&outer, sizeof outer);
    return tag;
}

void Seal::crypt(const std::array<uint8_t, kTagBytes>& tag, uint64_t off, uint8_t* p, size_t n) {
    State& s = *s_;
    if (!s.has_base || s.base_tag != tag) {
        SHA256_Init(&s.base);
        SHA256_Update(&s.base, s.enc_key, 32);
        SHA256_Update(&s.base, tag.data(), tag.size());  // exactly one block: compressed now
        s.base_tag = tag;
        s.has_base = true;
    }
    // The second (last) block of enc || tag || u64le(counter): the counter, SHA-256's padding
    // and the message length (72 bytes = 576 bits, big-endian).
    uint8_t block[64] = {};
    block[8] = 0x80;
    block[62] = 576 >> 8;
    block[63] = 576 & 0xff;
    uint8_t ks[32];
    uint64_t have = ~uint64_t{0};
    for (size_t i = 0; i < n;) {
        const uint64_t pos = off + i, counter = pos >> 5;
        if (counter != have) {
            for (int b = 0; b < 8; ++b) block[b] = static_cast<uint8_t>(counter >> (8 * b));
            SHA256_CTX c = s.base;
            SHA256_Transform(&c, block);
            for (int w = 0; w < 8; ++w)
                for (int b = 0; b < 4; ++b) ks[4 * w + b] = static_cast<uint8_t>(c.h[w] >> (24 - 8 * b));
            OPENSSL_cleanse(&c, sizeof c);
            have = counter;
        }
        const size_t at = static_cast<size_t>(pos & 31);
        const size_t take = std::min<size_t>(32 - at, n - i);
        for (size_t k = 0; k < take; ++k) p[i + k] ^= ks[at + k];
        i += take;
    }
    OPENSSL_cleanse(ks, sizeof ks);
}

}  // namespace mtool::cache::dpc
