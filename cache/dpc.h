#pragma once
// ImageMagick 6's distributed pixel cache protocol ("DPC"), both ends: the handshake keys and
// payload sealing of its three generations in use, the request framing (`o r R w W d`, one
// byte, the 8-byte session key, a 40-byte region header, host byte order) and a socket with
// timeouts. The generations:
//  - gen 4 (Debian 12's package from 6.9.11.60+dfsg-1.6+deb12u16): a 16-byte server nonce, the
//    session key SipHash-2-4 of it keyed from the policy's shared secret, and every pixel
//    payload (`w W` requests, `r R` replies) sealed: a 32-byte tag, HMAC-SHA256 of the
//    plaintext, then the payload XORed with a keystream (see Seal);
//  - gen 3 (Debian's packages deb12u12..u15): the same key over an 8-byte nonce, plain payloads;
//  - gen 1 (stock 6.9.11-60): a CRC-32 of build constants and the nonce, plain payloads.
//
// The server (cache/dpc_server.cpp) serves ImageMagick's clients and mtool's; the client
// (RemoteStore, used by the tier manager's REMOTE tier) talks to either server.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mtool::cache::dpc {

constexpr int kDefaultPort = 6668;
constexpr size_t kNonceBytes = 8;    ///< gen 1 and 3
constexpr size_t kNonceBytes4 = 16;  ///< gen 4
constexpr size_t kTagBytes = 32;     ///< gen 4: HMAC-SHA256 before every pixel payload
constexpr int kDefaultProtocol = 4;
constexpr size_t kRegionHeader = 40;  ///< width, height (u64), x, y (i64), length (u64)
constexpr size_t kOpenPayload = 32;   ///< storage_class, colorspace (i32), channels, columns, rows (u64)

/// `cache:shared-secret` from policy.xml (ImageMagick's search path, MAGICK_CONFIGURE_PATH
/// honoured); empty when there is none or it is empty.
std::string shared_secret();

/// ImageMagick's key derivation for gen 3 (an FNV-like mix of the secret into 16 bytes).
std::array<uint8_t, 16> derive_key(const std::string& secret);
/// SipHash-2-4 of `data` under `key` (OpenSSL's implementation), as ImageMagick puts it on the
/// wire: the 8 bytes of the 64-bit value, little-endian.
std::array<uint8_t, 8> siphash24(const std::array<uint8_t, 16>& key, const uint8_t* data, size_t n);
/// The gen 3 session key for `nonce`.
std::array<uint8_t, 8> gen3_key(const std::string& secret, const uint8_t* nonce, size_t n);
/// The gen 1 session key: CRC-32 over (quantum depth, HDRI, library interface, 1) as host u32
/// followed by the nonce, zero-extended to 8 bytes (ImageMagick's GetMagickCoreSignature).
std::array<uint8_t, 8> gen1_key(const uint8_t* nonce, size_t n);

/// Protocol generation: 4 (default), 3 or 1, from `-define distribute-cache:protocol=N`.
int protocol_from(const std::string& value);
/// Nonce bytes the server sends in generation `protocol`.
inline size_t nonce_bytes(int protocol) { return protocol == 4 ? kNonceBytes4 : kNonceBytes; }

/// Gen 4 payload sealing, both directions, as Debian's deb12u16 library does it (read from its
/// wire traffic and machine code): with mac = HMAC-SHA256(secret, session key || 'm') and
/// enc = HMAC-SHA256(secret, session key || 'e'), a payload P travels as
///   tag = HMAC-SHA256(mac, P)   (32 bytes), then
///   P[i] ^ SHA-256(enc || tag || u64le(i / 32))[i % 32]   for every byte i.
/// The receiver decrypts and compares the tag in constant time; a mismatch fails the request.
class Seal {
public:
    Seal(const std::string& secret, const std::array<uint8_t, 8>& session_key);
    ~Seal();
    Seal(const Seal&) = delete;
    Seal& operator=(const Seal&) = delete;
    /// The tag over a payload given in pieces: begin, add each piece in order, finish.
    void mac_begin();
    void mac_add(const uint8_t* p, size_t n);
    std::array<uint8_t, kTagBytes> mac_finish();
    /// The tag of a payload given whole.
    std::array<uint8_t, kTagBytes> tag_of(const uint8_t* p, size_t n) {
        mac_begin();
        mac_add(p, n);
        return mac_finish();
    }
    /// XORs the keystream of `tag` at payload offsets [off, off + n) into `p` (in place).
    void crypt(const std::array<uint8_t, kTagBytes>& tag, uint64_t off, uint8_t* p, size_t n);
    /// Encrypts the `n` plaintext bytes at payload offset `off` into `buf`, 64 KiB at a time
    /// (the source stays as it is), handing each chunk to `send`; false when `send` was.
    template <class Send>
    bool crypt_out(const std::array<uint8_t, kTagBytes>& tag, uint64_t off, const uint8_t* p, uint64_t n,
                   std::vector<uint8_t>& buf, Send&& send) {
        constexpr uint64_t kChunk = 64 << 10;
        for (uint64_t done = 0; done < n;) {
            const size_t k = static_cast<size_t>(std::min(kChunk, n - done));
            if (buf.size() < k) buf.resize(k);
            std::memcpy(buf.data(), p + done, k);
            crypt(tag, off + done, buf.data(), k);
            if (!send(buf.data(), k)) return false;
            done += k;
        }
        return true;
    }

private:
    struct State;
    std::unique_ptr<State> s_;
};

/// Process-wide client settings (from -define distribute-cache:*, read by the CLI before the
/// command runs).
struct ClientConfig {
    int protocol = kDefaultProtocol;
    double connect_timeout = 10;  ///< seconds
    double io_timeout = 30;       ///< seconds without progress inside a request
};
ClientConfig& client_config();
/// Seconds from a -define value: a number in (0, 10^6]; anything else is an option error.
double parse_timeout(const std::string& value);

/// A TCP connection with per-wait timeouts (no progress for `timeout` seconds is an error),
/// buffered reads, TCP_NODELAY, and optionally TCP_QUICKACK re-armed after every receive.
class Socket {
public:
    explicit Socket(int fd = -1) : fd_(fd) {}
    ~Socket();
    Socket(const Socket&) = delete;
    Socket& operator=(const Socket&) = delete;
    int fd() const { return fd_; }
    void set_timeout(double seconds) {
        timeout_ms_ = seconds <= 0 ? -1 : static_cast<int>(std::min(seconds, 1e6) * 1000);
    }
    /// Every wait from now on ends by now + `seconds` (a request or handshake as a whole).
    void set_deadline(double seconds);
    void clear_deadline() { has_deadline_ = false; }
    /// Bytes the peer sent that nobody asked for (buffered or waiting in the socket).
    bool unsolicited();
    /// TCP_QUICKACK re-armed after every receive (the kernel clears it on its own).
    void set_quickack(bool on) { quickack_ = on; }
    /// Microseconds to poll for the next bytes before sleeping in the kernel (0: never).
    void set_spin(int us) { spin_us_ = us; }
    void quickack();
    /// Configures the accepted or connected socket: non-blocking, TCP_NODELAY, keepalive.
    void tune();

    enum class Status { ok, eof, timeout, error };
    /// Reads exactly n bytes. `first_timeout_ms` (if >= 0) applies to the wait for the first
    /// byte only (idle time between requests).
    Status read(void* buf, size_t n, int first_timeout_ms = -2);
    /// Reads whatever arrives in one receive (up to n bytes); returns the count, 0 on failure.
    size_t read_some(void* buf, size_t n);
    Status write(const void* buf, size_t n);
    int last_errno() const { return errno_; }
    void shutdown_both();

private:
    Status wait(short events, int ms);
    int fd_;
    int timeout_ms_ = 30000;
    bool quickack_ = false;
    bool drained_ = false;
    int spin_us_ = 0;
    bool has_deadline_ = false;
    std::chrono::steady_clock::time_point deadline_{};
    int errno_ = 0;
    std::vector<uint8_t> buf_ = std::vector<uint8_t>(64 << 10);
    size_t pos_ = 0, end_ = 0;
};

/// Text for a socket failure: strerror, "timed out", "connection closed by peer".
std::string status_text(Socket::Status s, int err);

/// Little-endian (host order on every peer mtool supports) field access.
void put_u64(uint8_t* p, uint64_t v);
void put_i32(uint8_t* p, int32_t v);
uint64_t get_u64(const uint8_t* p);
int32_t get_i32(const uint8_t* p);

/// One `host:port` of `registry:cache:hosts` (IPv6 as [addr]:port or a bare address).
struct Host {
    std::string name;
    int port = kDefaultPort;
    std::string text() const;
};
/// Splits ImageMagick's host list (commas or spaces); an empty list is 127.0.0.1:6668.
std::vector<Host> parse_hosts(const std::string& list);

/// The remote home of one image's strips: one connection to a pixel server holding one
/// remote "image" whose rows are slots for the strips. Strips travel as opaque bytes packed
/// into 8-byte pixels (the server never interprets them), one request per strip.
class RemoteStore {
public:
    /// Opens a store for `strips` strips of at most `strip_bytes` bytes on the next host of
    /// `hosts` (round-robin per image over the process, as ImageMagick picks), skipping hosts
    /// that refuse or fail with a warning naming them. Throws mtool::Error when none works.
    static std::shared_ptr<RemoteStore> open(const std::vector<Host>& hosts, uint64_t strips,
                                             uint64_t strip_bytes);
    ~RemoteStore();
    void write(uint64_t slot, const uint8_t* data, uint64_t bytes);
    void read(uint64_t slot, uint8_t* data, uint64_t bytes);
    const Host& host() const { return host_; }

private:
    RemoteStore() = default;
    bool connect_to(const Host& h, uint64_t strips, uint64_t strip_bytes, std::string& why);
    void header(uint8_t cmd, uint8_t* out, uint64_t w, uint64_t h, int64_t x, int64_t y, uint64_t len) const;
    /// One strip request: `w` sends `out`, `r` fills `in`.
    void request(uint8_t cmd, uint64_t slot, const uint8_t* out, uint8_t* in, uint64_t bytes);
    [[noreturn]] void fail(const char* reason, Socket::Status s);
    [[noreturn]] void fail(const char* reason, const std::string& why);
    std::unique_ptr<Socket> sock_;
    Host host_;
    std::array<uint8_t, 8> key_{};
    std::unique_ptr<Seal> seal_;   ///< gen 4
    std::vector<uint8_t> sealed_;  ///< gen 4: a chunk of ciphertext on its way out
    uint64_t columns_ = 0, slot_rows_ = 0;
    std::mutex mu_;  ///< reads run outside the tier manager's lock, from any thread
    bool broken_ = false;
    std::string failure_;
};

/// Warnings met by the client (a host skipped), drained by the CLI into its diagnostics.
void add_warning(const std::string& text);
std::vector<std::string> take_warnings();

/// Runs `-distribute-cache PORT` with the remaining arguments (-limit, -define
/// distribute-cache:*, -verbose); returns the exit status.
int serve(const std::string& port, const std::vector<std::string>& args, const std::string& client);

}  // namespace mtool::cache::dpc
