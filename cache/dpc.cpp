#include "cache/dpc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>
#include <utility>

#include "cache/tiers.h"
#include "src/core/error.h"
#include "src/core/magick.h"

namespace mtool::cache::dpc {

std::string shared_secret() {
    std::string s;
    if (char* v = GetPolicyValue("cache:shared-secret")) {
        s = v;
        RelinquishMagickMemory(v);
    }
    return s;
}

std::array<uint8_t, 16> derive_key(const std::string& secret) {
    uint64_t k0 = 0x0706050403020100ull, k1 = 0x0f0e0d0c0b0a0908ull;
    for (size_t i = 0; i < secret.size(); ++i) {
        const uint64_t b = static_cast<uint8_t>(secret[i]);
        k0 ^= b;
        k0 *= 0x100000001b3ull;
        k1 ^= b << ((i & 7) * 8);
        k1 = (k1 << 5) | (k1 >> 59);
    }
    std::array<uint8_t, 16> key{};
    put_u64(key.data(), k0);
    put_u64(key.data() + 8, k1);
    return key;
}

std::array<uint8_t, 8> siphash24(const std::array<uint8_t, 16>& key, const uint8_t* data, size_t n) {
    std::array<uint8_t, 8> out{};
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
    EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
    size_t size = 8, len = 0;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                           OSSL_PARAM_construct_end()};
    const bool ok = ctx && EVP_MAC_init(ctx, key.data(), key.size(), params) == 1 &&
                    EVP_MAC_update(ctx, data, n) == 1 &&
                    EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == 8;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    if (!ok)
        throw Error(Severity::fatal_error, "SipHash unavailable in OpenSSL", "SIPHASH", "distribute-cache.c");
    return out;
}

std::array<uint8_t, 8> gen3_key(const std::string& secret, const uint8_t* nonce, size_t n) {
    return siphash24(derive_key(secret), nonce, n);
}

std::array<uint8_t, 8> gen1_key(const uint8_t* nonce, size_t n) {
    const uint32_t prefix[4] = {MAGICKCORE_QUANTUM_DEPTH, MAGICKCORE_HDRI_ENABLE, MagickLibInterface, 1};
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(prefix), sizeof prefix);
    crc = crc32(crc, nonce, static_cast<uInt>(n));
    std::array<uint8_t, 8> key{};
    put_u64(key.data(), static_cast<uint32_t>(crc));
    return key;
}

int protocol_from(const std::string& value) {
    if (value == "1" || value == "gen1") return 1;
    if (value == "3" || value == "gen3") return 3;
    if (value.empty() || value == "4" || value == "gen4") return 4;
    throw Error(Severity::option_error, "unrecognized distribute-cache protocol", value,
                "distribute-cache.c/DistributePixelCacheServer");
}

double parse_timeout(const std::string& value) {
    char* end = nullptr;
    const double d = std::strtod(value.c_str(), &end);
    if (value.empty() || *end || !(d > 0) || d > 1e6)
        throw Error(Severity::option_error, "invalid distribute-cache timeout", value, "distribute-cache.c");
    return d;
}

ClientConfig& client_config() {
    static ClientConfig c;
    return c;
}

void put_u64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_i32(uint8_t* p, int32_t v) {
    const auto u = static_cast<uint32_t>(v);
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(u >> (8 * i));
}
uint64_t get_u64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
int32_t get_i32(const uint8_t* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
    return static_cast<int32_t>(v);
}

// ---- Socket ----------------------------------------------------------------------------------

Socket::~Socket() {
    if (fd_ >= 0) ::close(fd_);
}

void Socket::tune() {
    int fl = fcntl(fd_, F_GETFL);
    if (fl >= 0) fcntl(fd_, F_SETFL, fl | O_NONBLOCK);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    int idle = 30, intvl = 10, cnt = 3;
    setsockopt(fd_, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd_, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd_, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

void Socket::shutdown_both() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

void Socket::set_deadline(double seconds) {
    deadline_ = std::chrono::steady_clock::now() +
                std::chrono::milliseconds(static_cast<int64_t>(std::min(seconds, 1e7) * 1000));
    has_deadline_ = true;
}

Socket::Status Socket::wait(short events, int ms) {
    pollfd p{fd_, events, 0};
    for (;;) {
        if (has_deadline_) {
            // The whole request (or handshake) must finish by the deadline, however the peer
            // trickles its bytes.
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  deadline_ - std::chrono::steady_clock::now())
                                  .count();
            if (left <= 0) return Status::timeout;
            if (ms < 0 || left < ms) ms = static_cast<int>(std::min<int64_t>(left, INT32_MAX));
        }
        int r = ::poll(&p, 1, ms);
        if (r > 0) return Status::ok;
        if (r == 0) return Status::timeout;
        if (errno != EINTR) {
            errno_ = errno;
            return Status::error;
        }
    }
}

Socket::Status Socket::read(void* out, size_t n, int first_timeout_ms) {
    auto* p = static_cast<uint8_t*>(out);
    bool first = true;
    while (n > 0) {
        if (pos_ < end_) {
            const size_t take = std::min(n, end_ - pos_);
            std::memcpy(p, buf_.data() + pos_, take);
            pos_ += take;
            p += take;
            n -= take;
            first = false;
            continue;
        }
        pos_ = end_ = 0;
        const int wait_ms = first && first_timeout_ms != -2 ? first_timeout_ms : timeout_ms_;
        if (drained_ && spin_us_ > 0) {
            // A client that sends its next request right after our reply (ImageMagick's: one
            // request at a time) finds us awake: no sleep and wake-up per request.
            const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us_);
            uint8_t probe;
            while (::recv(fd_, &probe, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN &&
                   std::chrono::steady_clock::now() < until) {
            }
            drained_ = false;
        }
        if (drained_) {  // the last receive emptied the socket: wait first, saves an EAGAIN
            Status s = wait(POLLIN, wait_ms);
            if (s != Status::ok) return s;
        }
        const bool direct = n >= 16384;  // large payloads land in place
        const size_t want = direct ? n : buf_.size();
        ssize_t r = ::recv(fd_, direct ? p : buf_.data(), want, 0);
        drained_ = r >= 0 && static_cast<size_t>(r) < want;
        if (r > 0) {
            // ImageMagick's client (Nagle on) sends a request's header and payload apart and
            // expects no reply to writes: every receive is ACKed at once, or it waits ~40 ms.
            if (quickack_) quickack();
            if (direct) {
                p += r;
                n -= static_cast<size_t>(r);
            } else {
                end_ = static_cast<size_t>(r);
            }
            first = false;
            continue;
        }
        if (r == 0) return Status::eof;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            errno_ = errno;
            return Status::error;
        }
        Status s = wait(POLLIN, wait_ms);
        if (s != Status::ok) return s;
    }
    return Status::ok;
}

void Socket::quickack() {
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

size_t Socket::read_some(void* out, size_t n) {
    if (pos_ < end_) {
        const size_t take = std::min(n, end_ - pos_);
        std::memcpy(out, buf_.data() + pos_, take);
        pos_ += take;
        return take;
    }
    for (;;) {
        ssize_t r = ::recv(fd_, out, n, 0);
        if (r > 0) return static_cast<size_t>(r);
        if (r == 0) return 0;
        if (errno == EINTR) continue;
        if ((errno != EAGAIN && errno != EWOULDBLOCK) || wait(POLLIN, timeout_ms_) != Status::ok) {
            errno_ = errno;
            return 0;
        }
    }
}

bool Socket::unsolicited() {
    if (pos_ < end_) return true;
    uint8_t b;
    ssize_t r = ::recv(fd_, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return r > 0;
}

Socket::Status Socket::write(const void* buf, size_t n) {
    const auto* p = static_cast<const uint8_t*>(buf);
    while (n > 0) {
        ssize_t r = ::send(fd_, p, n, MSG_NOSIGNAL);
        if (r > 0) {
            p += r;
            n -= static_cast<size_t>(r);
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            Status s = wait(POLLOUT, timeout_ms_);
            if (s != Status::ok) return s;
            continue;
        }
        errno_ = r < 0 ? errno : EPIPE;
        return Status::error;
    }
    return Status::ok;
}

std::string status_text(Socket::Status s, int err) {
    switch (s) {
        case Socket::Status::ok:
            return "Success";
        case Socket::Status::eof:
            return "connection closed by the peer";
        case Socket::Status::timeout:
            return "timed out";
        case Socket::Status::error:
            return std::strerror(err);
    }
    return "?";
}

// ---- hosts -----------------------------------------------------------------------------------

std::string Host::text() const {
    return (name.find(':') != std::string::npos ? "[" + name + "]" : name) + ":" + std::to_string(port);
}

std::vector<Host> parse_hosts(const std::string& list) {
    std::vector<Host> hosts;
    std::string item;
    auto flush = [&] {
        if (item.empty()) return;
        Host h;
        std::string port;
        if (item[0] == '[') {  // [v6]:port
            auto close = item.find(']');
            h.name = item.substr(1, close == std::string::npos ? std::string::npos : close - 1);
            if (close != std::string::npos && close + 1 < item.size() && item[close + 1] == ':')
                port = item.substr(close + 2);
        } else if (std::count(item.begin(), item.end(), ':') > 1) {  // bare IPv6 address
            h.name = item;
        } else {
            auto colon = item.find(':');
            h.name = item.substr(0, colon);
            if (colon != std::string::npos) port = item.substr(colon + 1);
        }
        if (!port.empty()) {
            char* end = nullptr;
            long v = std::strtol(port.c_str(), &end, 10);
            if (*end || v <= 0 || v > 65535)
                throw Error(Severity::option_error, "invalid distributed cache host", item,
                            "distribute-cache.c/GetHostname");
            h.port = static_cast<int>(v);
        }
        if (h.name.empty()) h.name = "127.0.0.1";
        hosts.push_back(h);
        item.clear();
    };
    for (char c : list) {
        if (c == ',' || c == ' ' || c == '\t' || c == '\n') {
            flush();
        } else {
            item += c;
        }
    }
    flush();
    if (hosts.empty()) hosts.push_back(Host{"127.0.0.1", kDefaultPort});
    return hosts;
}

// ---- warnings --------------------------------------------------------------------------------

namespace {
std::mutex warnings_mu;
std::vector<std::string> warnings;
std::map<std::string, std::string> dead_hosts;  ///< host -> why it failed (guarded by warnings_mu)

/// Connects with a timeout; returns the fd or -1 with `err` set.
int connect_host(const Host& h, double timeout, int& err) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(h.port);
    int rc = getaddrinfo(h.name.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) {
        err = -rc;  // negative: a resolver error (gai_strerror)
        return -1;
    }
    int fd = -1;
    err = ECONNREFUSED;
    for (addrinfo* a = res; a && fd < 0; a = a->ai_next) {
        int s = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (s < 0) {
            err = errno;
            continue;
        }
        if (::connect(s, a->ai_addr, a->ai_addrlen) == 0) {
            fd = s;
            break;
        }
        if (errno != EINPROGRESS) {
            err = errno;
            ::close(s);
            continue;
        }
        pollfd p{s, POLLOUT, 0};
        int r;
        do r = ::poll(&p, 1, static_cast<int>(timeout * 1000));
        while (r < 0 && errno == EINTR);
        int soerr = 0;
        socklen_t len = sizeof soerr;
        if (r == 0) {
            err = ETIMEDOUT;
        } else if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0) {
            fd = s;
            break;
        } else {
            err = soerr ? soerr : errno;
        }
        ::close(s);
    }
    freeaddrinfo(res);
    return fd;
}

std::atomic<uint64_t> next_host{0};

}  // namespace

void add_warning(const std::string& text) {
    std::lock_guard lock(warnings_mu);
    warnings.push_back(text);
}

std::vector<std::string> take_warnings() {
    std::lock_guard lock(warnings_mu);
    return std::exchange(warnings, {});
}

// ---- RemoteStore -----------------------------------------------------------------------------

std::shared_ptr<RemoteStore> RemoteStore::open(const std::vector<Host>& hosts, uint64_t strips,
                                               uint64_t strip_bytes) {
    const std::string secret = shared_secret();
    const ClientConfig& cfg = client_config();
    if (cfg.protocol != 1 && secret.empty())
        throw Error(Severity::cache_error, "shared secret required",
                    "DistributedPixelCache " + hosts[0].text(), "distribute-cache.c/ConnectPixelCacheServer");
    const uint64_t first = next_host.fetch_add(1);
    std::vector<std::string> skipped;
    std::string failures;
    for (size_t i = 0; i < hosts.size(); ++i) {
        const Host& h = hosts[(first + i) % hosts.size()];
        std::shared_ptr<RemoteStore> store(new RemoteStore);
        std::string why;
        {
            // A host that failed once is not waited for again by this process.
            std::lock_guard lock(warnings_mu);
            auto it = dead_hosts.find(h.text());
            if (it != dead_hosts.end()) {
                failures += (failures.empty() ? "`" : ", `") + h.text() + "': " + it->second;
                continue;
            }
        }
        const bool ok = store->connect_to(h, strips, strip_bytes, why);
        store->broken_ = !ok;  // nothing to destroy on a server that did not take the image
        if (ok) {
            // Hosts skipped on the way are warnings; the image is safe on this one.
            for (auto& w : skipped) add_warning(w);
            return store;
        }
        skipped.push_back("distributed pixel cache host skipped `" + h.text() + "': " + why +
                          " @ warning/distribute-cache.c/ConnectPixelCacheServer");
        failures += (failures.empty() ? "`" : ", `") + h.text() + "': " + why;
        std::lock_guard lock(warnings_mu);
        dead_hosts.emplace(h.text(), why);
    }
    throw Error(Severity::cache_error, "unable to open pixel cache " + failures, current_label(),
                "distribute-cache.c/ConnectPixelCacheServer");
}

bool RemoteStore::connect_to(const Host& h, uint64_t strips, uint64_t strip_bytes, std::string& why) {
    const ClientConfig& cfg = client_config();
    host_ = h;
    int err = 0;
    int fd = connect_host(h, cfg.connect_timeout, err);
    if (fd < 0) {
        why = err < 0 ? gai_strerror(-err) : std::strerror(err);
        return false;
    }
    sock_ = std::make_unique<Socket>(fd);
    sock_->tune();
    sock_->set_timeout(cfg.io_timeout);
    sock_->set_deadline(cfg.io_timeout);  // the whole handshake and open
    uint8_t nonce[4096];
    size_t nn;
    if (cfg.protocol != 1) {
        Socket::Status s = sock_->read(nonce, kNonceBytes);
        if (s != Socket::Status::ok) {
            why = "handshake failed: " + status_text(s, sock_->last_errno());
            return false;
        }
        nn = kNonceBytes;
        if (cfg.protocol == 3 && sock_->unsolicited()) {
            // A gen 4 server sends 16 bytes at once and waits for the key.
            why =
                "handshake failed: the server sent a longer nonce (gen 4: "
                "-define distribute-cache:protocol=4)";
            return false;
        }
        if (cfg.protocol == 4) {
            // The server sends its 16 bytes at once; an older one sends 8 and waits for the key.
            s = sock_->read(nonce + kNonceBytes, kNonceBytes4 - kNonceBytes, 2000);
            if (s == Socket::Status::timeout) {
                why =
                    "handshake failed: the server sent an 8-byte nonce (an older protocol: "
                    "-define distribute-cache:protocol=3 or 1)";
                return false;
            }
            if (s != Socket::Status::ok) {
                why = "handshake failed: " + status_text(s, sock_->last_errno());
                return false;
            }
            nn = kNonceBytes4;
        }
        const std::string secret = shared_secret();
        key_ = gen3_key(secret, nonce, nn);
        if (cfg.protocol == 4) seal_ = std::make_unique<Seal>(secret, key_);
        if (Socket::Status s2 = sock_->write(key_.data(), key_.size()); s2 != Socket::Status::ok) {
            why = "handshake failed: " + status_text(s2, sock_->last_errno());
            return false;
        }
    } else {
        nn = sock_->read_some(nonce, sizeof nonce);
        if (nn == 0) {
            why = "handshake failed: connection closed by the server";
            return false;
        }
        key_ = gen1_key(nonce, nn);
    }
    // The remote image: rows of `columns_` 8-byte pixels, `slot_rows_` rows per strip; as narrow
    // as ImageMagick's default 16K width/height policy allows.
    columns_ = 2048;
    for (;;) {
        slot_rows_ = (strip_bytes + columns_ * 8 - 1) / (columns_ * 8);
        if (strips * slot_rows_ <= 16000 || columns_ >= 16000) break;
        columns_ = std::min<uint64_t>(columns_ * 2, 16000);
    }
    uint8_t req[9 + kOpenPayload];
    req[0] = 'o';
    std::memcpy(req + 1, key_.data(), 8);
    put_i32(req + 9, 1);    // DirectClass
    put_i32(req + 13, 13);  // sRGB
    put_u64(req + 17, 0);
    put_u64(req + 25, columns_);
    put_u64(req + 33, std::max<uint64_t>(1, strips * slot_rows_));
    uint8_t status[4];
    Socket::Status s = sock_->write(req, sizeof req);
    if (s == Socket::Status::ok) s = sock_->read(status, 4);
    // A gen 3 server closes the connection on a wrong key without a word.
    if (s == Socket::Status::eof || (s == Socket::Status::error && sock_->last_errno() == ECONNRESET)) {
        why = "authentication failed";
        return false;
    }
    if (s != Socket::Status::ok) {
        why = status_text(s, sock_->last_errno());
        return false;
    }
    if (sock_->unsolicited()) {
        why = "protocol error: unexpected bytes after the open reply";
        return false;
    }
    if (get_i32(status) != 1) {
        why = cfg.protocol == 1
                  ? "authentication failed or the server refused a " + std::to_string(columns_) + "x" +
                        std::to_string(strips * slot_rows_) + " cache (its limits)"
                  : "the server refused a " + std::to_string(columns_) + "x" +
                        std::to_string(strips * slot_rows_) + " cache (its limits)";
        return false;
    }
    return true;
}

RemoteStore::~RemoteStore() {
    if (!sock_ || broken_) return;
    uint8_t req[9];
    req[0] = 'd';
    std::memcpy(req + 1, key_.data(), 8);
    sock_->set_timeout(2);
    sock_->set_deadline(2);
    if (sock_->write(req, sizeof req) == Socket::Status::ok) {
        uint8_t status[4];
        (void)sock_->read(status, 4);
    }
}

void RemoteStore::header(uint8_t cmd, uint8_t* out, uint64_t w, uint64_t h, int64_t x, int64_t y,
                         uint64_t len) const {
    out[0] = cmd;
    std::memcpy(out + 1, key_.data(), 8);
    put_u64(out + 9, w);
    put_u64(out + 17, h);
    put_u64(out + 25, static_cast<uint64_t>(x));
    put_u64(out + 33, static_cast<uint64_t>(y));
    put_u64(out + 41, len);
}

void RemoteStore::fail(const char* reason, Socket::Status s) {
    fail(reason, status_text(s, sock_->last_errno()));
}

void RemoteStore::fail(const char* reason, const std::string& why) {
    // The first failure is the one reported: every later use of the store repeats it.
    if (!broken_ || failure_.empty())
        failure_ = format_diagnostic(
            Severity::cache_error, std::string(reason) + " `" + host_.text() + "': " + why, current_label(),
            reason[10] == 'r' ? "distribute-cache.c/ReadDistributePixelCachePixels"
                              : "distribute-cache.c/WriteDistributePixelCachePixels");
    broken_ = true;
    throw Error(Severity::cache_error, failure_);
}

void RemoteStore::request(uint8_t cmd, uint64_t slot, const uint8_t* out, uint8_t* in, uint64_t bytes) {
    const char* reason = cmd == 'w' ? "unable to write pixel cache" : "unable to read pixel cache";
    const char* stray = "protocol error: the server sent bytes nobody asked for";
    std::lock_guard lock(mu_);  // one request at a time on the connection
    if (broken_) fail(reason, Socket::Status::eof);
    sock_->set_deadline(client_config().io_timeout);
    if (sock_->unsolicited()) fail(reason, stray);
    uint8_t h[9 + kRegionHeader];
    header(cmd, h, columns_, (bytes + columns_ * 8 - 1) / (columns_ * 8), 0,
           static_cast<int64_t>(slot * slot_rows_), bytes);
    Socket::Status s = sock_->write(h, sizeof h);
    if (!seal_) {
        if (s == Socket::Status::ok) s = out ? sock_->write(out, bytes) : sock_->read(in, bytes);
        if (s != Socket::Status::ok) fail(reason, s);
        if (in && sock_->unsolicited()) fail(reason, stray);  // an over-long reply
        return;
    }
    std::array<uint8_t, kTagBytes> tag{};
    if (out) {
        // Gen 4: the tag over the plaintext first, then the ciphertext.
        tag = seal_->tag_of(out, bytes);
        if (s == Socket::Status::ok) s = sock_->write(tag.data(), tag.size());
        if (s == Socket::Status::ok)
            seal_->crypt_out(tag, 0, out, bytes, sealed_, [&](const uint8_t* p, size_t n) {
                s = sock_->write(p, n);
                return s == Socket::Status::ok;
            });
        if (s != Socket::Status::ok) fail(reason, s);
        return;
    }
    if (s == Socket::Status::ok) s = sock_->read(tag.data(), tag.size());
    if (s == Socket::Status::ok) s = sock_->read(in, bytes);
    if (s != Socket::Status::ok) fail(reason, s);
    if (sock_->unsolicited()) fail(reason, stray);
    seal_->crypt(tag, 0, in, bytes);
    if (CRYPTO_memcmp(seal_->tag_of(in, bytes).data(), tag.data(), tag.size()) != 0) {
        std::memset(in, 0, bytes);
        fail(reason, "payload authentication failed (a forged or corrupted reply)");
    }
}

void RemoteStore::write(uint64_t slot, const uint8_t* data, uint64_t bytes) {
    // Test hook: MTOOL_DPC_TEST_WRITE_DELAY_MS slows every strip write, widening the window in
    // which other threads run while a write is in flight (tests/cli/distributed.sh).
    static const int delay_ms = [] {
        const char* v = std::getenv("MTOOL_DPC_TEST_WRITE_DELAY_MS");
        return v ? std::atoi(v) : 0;
    }();
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    request('w', slot, data, nullptr, bytes);
}

void RemoteStore::read(uint64_t slot, uint8_t* data, uint64_t bytes) {
    request('r', slot, nullptr, data, bytes);
}

}  // namespace mtool::cache::dpc
