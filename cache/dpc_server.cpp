// `mtool -distribute-cache PORT`: a pixel server for ImageMagick's distributed pixel cache
// protocol (see cache/dpc.h). Each connection is one session holding at most one image (and
// its index channel), kept in the process's tier manager so the server's own -limit values
// bound its memory (it spills to its map and disk files instead of growing). Sessions are keyed
// by the connection: no request can name another connection's image.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <list>
#include <memory>
#include <thread>

#include "cache/dpc.h"
#include "cache/tiers.h"
#include "src/core/error.h"
#include "src/core/image.h"
#include "src/core/magick.h"

namespace mtool::cache::dpc {

namespace {

int stop_pipe[2] = {-1, -1};

void on_stop(int) {
    const char c = 's';
    ssize_t r = ::write(stop_pipe[1], &c, 1);
    (void)r;
}

struct ServerConfig {
    std::string client;
    std::string bind = "127.0.0.1";
    std::string port;
    int protocol = kDefaultProtocol;
    bool verbose = false;
    double auth_timeout = 5;
    double io_timeout = 30;
    double idle_timeout = 3600;
    size_t max_clients = 128;
    size_t max_unauthenticated = 16;
    int spin_us = 50;
    std::string secret;
};

std::mutex log_mu;

void log_line(const ServerConfig& cfg, const char* fmt, ...) {
    char buf[1024];
    std::va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    std::lock_guard lock(log_mu);
    std::fprintf(stderr, "%s: distribute-cache: %s\n", cfg.client.c_str(), buf);
    std::fflush(stderr);
}

uint64_t saturating_add(uint64_t a, uint64_t b) { return a > kUnlimited - b ? kUnlimited : a + b; }

/// Bytes the tier manager charges for an image's strips at most (whole pages each).
uint64_t footprint(const Pixels& px) {
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    const uint64_t strip = static_cast<uint64_t>(px.stride()) * px.rows_per_strip();
    const uint64_t strips =
        (static_cast<uint64_t>(px.height()) + px.rows_per_strip() - 1) / px.rows_per_strip();
    return strips * ((strip + page - 1) / page * page);
}

/// Bytes of session images the server has agreed to hold, against memory + map + disk.
std::atomic<uint64_t> committed{0};
/// Connections that have not authenticated yet (capped apart: they cannot lock clients out).
std::atomic<size_t> unauthenticated{0};

struct Session {
    uint64_t id = 0;
    std::string peer;
    std::unique_ptr<Socket> sock;
    std::atomic<bool> done{false};
};

std::string peer_name(const sockaddr_storage& ss) {
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
        return std::string(host) + ":" + std::to_string(port);
    }
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
}

/// One connection: handshake, then requests until `d`, EOF, a timeout or a bad request.
class Worker {
public:
    Worker(const ServerConfig& cfg, Session& s) : cfg_(cfg), s_(s), sock_(*s.sock) {}
    ~Worker() {
        drop_image();
        authenticated();
    }

    void run() {
        sock_.tune();
        sock_.set_quickack(true);
        sock_.set_spin(cfg_.spin_us);
        sock_.set_timeout(cfg_.io_timeout);
        uint8_t nonce[kNonceBytes4];
        const size_t nn = nonce_bytes(cfg_.protocol);
        if (RAND_bytes(nonce, static_cast<int>(nn)) != 1) return end("no random nonce");
        if (sock_.write(nonce, nn) != Socket::Status::ok) return end("peer gone during handshake");
        sock_.set_deadline(cfg_.auth_timeout);  // the whole key, not just its first byte
        if (cfg_.protocol != 1) {
            uint8_t got[8];
            Socket::Status st = sock_.read(got, sizeof got);
            if (st != Socket::Status::ok)
                return end("handshake: " + status_text(st, sock_.last_errno()), true);
            try {
                key_ = gen3_key(cfg_.secret, nonce, nn);
                if (CRYPTO_memcmp(got, key_.data(), 8) != 0) {
                    // A gen 3 client read 8 of the 16 nonce bytes and keyed those: say so.
                    const bool gen3 =
                        cfg_.protocol == 4 &&
                        CRYPTO_memcmp(got, gen3_key(cfg_.secret, nonce, kNonceBytes).data(), 8) == 0;
                    return end(gen3 ? "authentication failed: a gen 3 client (this server speaks gen 4; "
                                      "-define distribute-cache:protocol=3 serves it)"
                                    : "authentication failed (wrong key)",
                               true);
                }
                if (cfg_.protocol == 4) seal_ = std::make_unique<Seal>(cfg_.secret, key_);
            } catch (const Error& e) {
                return end("handshake: " + e.text(), true);
            }
        } else {
            key_ = gen1_key(nonce, nn);
        }
        sock_.clear_deadline();
        authenticated();
        if (cfg_.verbose) log("authenticated (protocol gen %d)", cfg_.protocol);
        for (;;) {
            uint8_t head[9];
            const int idle = static_cast<int>(std::min(cfg_.idle_timeout * 1000, 2e9));
            Socket::Status st = sock_.read(head, 1, idle);
            // From its first byte a request has io_timeout to arrive and be answered in full.
            sock_.set_deadline(cfg_.io_timeout);
            if (st == Socket::Status::ok) st = sock_.read(head + 1, 8);
            if (st == Socket::Status::eof)
                return end(image_ ? "closed without destroying its cache" : "closed", image_ != nullptr);
            if (st == Socket::Status::timeout)
                return end(requests_ ? "idle timeout" : "timed out before a request", true);
            if (st != Socket::Status::ok)
                return end("read failed: " + status_text(st, sock_.last_errno()), true);
            if (CRYPTO_memcmp(head + 1, key_.data(), 8) != 0) return refuse("wrong session key");
            ++requests_;
            bool go = false;
            try {
                go = dispatch(head[0]);
            } catch (const Error& e) {
                cache::thread_release_all();
                return refuse("server cache failed: " + e.text());
            }
            cache::thread_release_all();  // an idle session pins nothing
            sock_.clear_deadline();
            if (!go) return;
        }
    }

private:
    void authenticated() {
        if (!counted_) return;
        counted_ = false;
        --unauthenticated;
    }
    void log(const char* fmt, ...) const {
        char buf[768];
        std::va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        log_line(cfg_, "#%llu %s: %s", static_cast<unsigned long long>(s_.id), s_.peer.c_str(), buf);
    }
    void end(const std::string& why, bool notable = false) {
        if (notable || cfg_.verbose)
            log("%s; connection closed after %llu requests (%llu bytes in, %llu out)", why.c_str(),
                static_cast<unsigned long long>(requests_), static_cast<unsigned long long>(in_),
                static_cast<unsigned long long>(out_));
    }
    /// A failed request: status false, then the connection closes (ImageMagick's server does the
    /// same, so its clients see the failure).
    void refuse(const std::string& why) {
        uint8_t st[4] = {0, 0, 0, 0};
        (void)sock_.write(st, 4);
        end("refused: " + why, true);
    }
    bool reply(bool ok) {
        uint8_t st[4];
        put_i32(st, ok ? 1 : 0);
        return sock_.write(st, 4) == Socket::Status::ok;
    }
    void drop_image() {
        image_.reset();
        index_.reset();
        committed -= bytes_;
        bytes_ = 0;
    }

    bool dispatch(uint8_t cmd) {
        switch (cmd) {
            case 'o':
                return open_image();
            case 'r':
            case 'R':
                return read_region(cmd == 'R');
            case 'w':
            case 'W':
                return write_region(cmd == 'W');
            case 'd': {
                const bool had = image_ != nullptr;
                drop_image();
                reply(had);
                end(had ? "destroyed its cache" : "destroy without a cache", !had);
                return false;
            }
            default: {
                char what[32];
                std::snprintf(what, sizeof what, "unknown command 0x%02x", cmd);
                refuse(what);
                return false;
            }
        }
    }

    bool open_image() {
        uint8_t p[kOpenPayload];
        Socket::Status st = sock_.read(p, sizeof p);
        if (st != Socket::Status::ok) {
            end("truncated open request: " + status_text(st, sock_.last_errno()), true);
            return false;
        }
        const int32_t storage = get_i32(p), colorspace = get_i32(p + 4);
        const uint64_t cols = get_u64(p + 16), rows = get_u64(p + 24);
        drop_image();
        const Budgets b = TierManager::global().budgets();
        char geo[96];
        std::snprintf(geo, sizeof geo, "%llux%llu", static_cast<unsigned long long>(cols),
                      static_cast<unsigned long long>(rows));
        if (cols == 0 || rows == 0 || cols > (1u << 30) || rows > (1u << 30) || cols > b.width ||
            rows > b.height) {
            refuse(std::string("open of a ") + geo + " cache: width or height exceeds the server's limits");
            return false;
        }
        has_index_ = storage == 2 || colorspace == 12;
        try {
            image_ = std::make_unique<Pixels>(static_cast<int>(cols), static_cast<int>(rows), 4, 2);
            if (has_index_)
                index_ = std::make_unique<Pixels>(static_cast<int>(cols), static_cast<int>(rows), 1, 2);
        } catch (const Error& e) {
            drop_image();
            refuse(std::string("open of a ") + geo + " cache: " + e.text());
            return false;
        }
        // Admission by what the tiers will charge (strips round up to whole pages), so an
        // image admitted here can always be held.
        const uint64_t bytes = footprint(*image_) + (index_ ? footprint(*index_) : 0);
        const uint64_t room = saturating_add(saturating_add(b.memory, b.map), b.disk);
        uint64_t now = committed.load();
        do {
            if (room != kUnlimited && (now > room || bytes > room - now)) {
                drop_image();
                refuse(std::string("open of a ") + geo +
                       " cache: exceeds the server's memory, map and disk limits");
                return false;
            }
        } while (!committed.compare_exchange_weak(now, now + bytes));
        bytes_ = bytes;
        cols_ = cols;
        rows_ = rows;
        if (cfg_.verbose)
            log("opened a %s cache (%s, colorspace %d, %llu bytes)", geo,
                storage == 2 ? "PseudoClass" : "DirectClass", colorspace,
                static_cast<unsigned long long>(bytes));
        return reply(true);
    }

    struct Region {
        uint64_t w, h;
        int64_t x, y;
        uint64_t length;
    };

    bool read_header(Region& r) {
        uint8_t p[kRegionHeader];
        Socket::Status st = sock_.read(p, sizeof p);
        if (st != Socket::Status::ok) {
            end("truncated region header: " + status_text(st, sock_.last_errno()), true);
            return false;
        }
        r.w = get_u64(p);
        r.h = get_u64(p + 8);
        r.x = static_cast<int64_t>(get_u64(p + 16));
        r.y = static_cast<int64_t>(get_u64(p + 24));
        r.length = get_u64(p + 32);
        return true;
    }

    /// Checks a region against the image: sizes that cannot overflow, a payload no longer than
    /// the region, and (for writes) a region inside the image.
    const char* check(const Region& r, int bpp, bool write) const {
        if (!image_) return "no cache opened on this connection";
        uint64_t area = 0, region_bytes = 0;
        if (r.w == 0 || r.h == 0 || __builtin_mul_overflow(r.w, r.h, &area) ||
            __builtin_mul_overflow(area, static_cast<uint64_t>(bpp), &region_bytes) || area > (1ull << 40))
            return "absurd region size";
        if (r.length > region_bytes) return "length exceeds the region";
        // Reads may reach outside the image (virtual pixels), but not by more than the image.
        const uint64_t cap = cols_ * rows_ * static_cast<uint64_t>(bpp) + (16u << 20);
        if (r.length > cap) return "length exceeds the image";
        const int64_t lim = int64_t{1} << 40;
        if (r.x < -lim || r.x > lim || r.y < -lim || r.y > lim) return "region outside any image";
        if (write && (r.x < 0 || r.y < 0 || static_cast<uint64_t>(r.x) + r.w > cols_ ||
                      static_cast<uint64_t>(r.y) + r.h > rows_))
            return "write outside the image";
        return nullptr;
    }

    /// Reads a region header and checks it; the pixels it addresses, or null (refused).
    Pixels* region(Region& r, bool index, bool write) {
        if (!read_header(r)) return nullptr;
        if (index && !index_) {
            refuse(write ? "index write on a cache without an index channel"
                         : "index read on a cache without an index channel");
            return nullptr;
        }
        if (const char* bad = check(r, index ? 2 : 8, write)) {
            refuse(bad);
            return nullptr;
        }
        return index ? index_.get() : image_.get();
    }

    bool read_region(bool index) {
        Region r;
        const Pixels* target = region(r, index, false);
        if (!target) return false;
        const Pixels& px = *target;
        const int bpp = index ? 2 : 8;
        if (!seal_) return pieces(px, r, bpp, [&](const uint8_t* p, uint64_t n) { return send(p, n); });
        // Gen 4: the tag over the whole reply first (a pass over the region), then the
        // ciphertext (a second pass, encrypted in chunks: the cache's rows stay as they are).
        seal_->mac_begin();
        pieces(px, r, bpp, [&](const uint8_t* p, uint64_t n) {
            seal_->mac_add(p, n);
            return true;
        });
        const auto tag = seal_->mac_finish();
        if (!send(tag.data(), tag.size())) return false;
        uint64_t off = 0;
        return pieces(px, r, bpp, [&](const uint8_t* p, uint64_t n) {
            const bool ok = seal_->crypt_out(tag, off, p, n, sealed_,
                                             [&](const uint8_t* q, size_t k) { return send(q, k); });
            off += n;
            return ok;
        });
    }

    /// The bytes of a read reply, in order, as pieces handed to `emit` (false stops).
    template <class Emit>
    bool pieces(const Pixels& px, const Region& r, int bpp, Emit&& emit) {
        uint64_t left = r.length;
        const int64_t cols = static_cast<int64_t>(cols_), rows = static_cast<int64_t>(rows_);
        uint64_t j = 0;
        if (r.x == 0 && r.w == cols_ && r.y >= 0) {
            // Whole rows inside the image: one send per run of rows that share a server strip.
            const int rps = px.rows_per_strip();
            while (j < r.h && left > 0 && r.y + static_cast<int64_t>(j) < rows) {
                const int y = static_cast<int>(r.y + static_cast<int64_t>(j));
                const uint64_t run = std::min<uint64_t>(
                    {r.h - j, static_cast<uint64_t>(rps - y % rps), static_cast<uint64_t>(rows - y)});
                const uint64_t n = std::min<uint64_t>(left, run * px.stride());
                if (!emit(px.row(y), n)) return false;
                cache::thread_release_all();  // one strip pinned at a time per session
                left -= n;
                j += run;
            }
        }
        for (; j < r.h && left > 0; ++j) {
            const int64_t yy = std::clamp<int64_t>(r.y + static_cast<int64_t>(j), 0, rows - 1);
            const uint8_t* src = px.row(static_cast<int>(yy));
            // Edge virtual pixels left of, inside and right of the image, in chunks.
            int64_t x = r.x;
            const int64_t xend = r.x + static_cast<int64_t>(r.w);
            while (x < xend && left > 0) {
                if (x >= 0 && x < cols) {
                    const int64_t run = std::min(xend, cols) - x;
                    const uint64_t n = std::min<uint64_t>(left, static_cast<uint64_t>(run) * bpp);
                    if (!emit(src + x * bpp, n)) return false;
                    left -= n;
                    x += run;
                    continue;
                }
                const uint8_t* edge = src + (x < 0 ? 0 : (cols - 1) * bpp);
                const int64_t run =
                    std::min<int64_t>(x < 0 ? std::min<int64_t>(0, xend) - x : xend - x, 4096);
                uint64_t n = std::min<uint64_t>(left, static_cast<uint64_t>(run) * bpp);
                chunk_.resize(static_cast<size_t>(run * bpp));
                for (int64_t k = 0; k < run; ++k) std::memcpy(chunk_.data() + k * bpp, edge, bpp);
                if (!emit(chunk_.data(), n)) return false;
                left -= n;
                x += run;
            }
            cache::thread_release_all();
        }
        return true;
    }

    bool send(const uint8_t* p, uint64_t n) {
        Socket::Status st = sock_.write(p, n);
        if (st != Socket::Status::ok) {
            end("send failed: " + status_text(st, sock_.last_errno()), true);
            return false;
        }
        out_ += n;
        return true;
    }

    bool write_region(bool index) {
        Region r;
        Pixels* target = region(r, index, true);
        if (!target) return false;
        Pixels& px = *target;
        const int bpp = index ? 2 : 8;
        uint64_t left = r.length;
        const bool whole_rows = r.x == 0 && r.w == cols_;
        const int rps = px.rows_per_strip();
        std::array<uint8_t, kTagBytes> tag{};
        if (seal_) {
            Socket::Status st = sock_.read(tag.data(), tag.size());
            if (st != Socket::Status::ok) {
                end("truncated write payload: " + status_text(st, sock_.last_errno()), true);
                return false;
            }
            seal_->mac_begin();
        }
        uint64_t off = 0;
        for (uint64_t j = 0; j < r.h && left > 0;) {
            const int y = static_cast<int>(r.y + static_cast<int64_t>(j));
            uint8_t* dst = px.row(y) + r.x * bpp;
            // Whole rows: one receive per run of rows that share a server strip.
            const uint64_t run =
                whole_rows ? std::min<uint64_t>(r.h - j, static_cast<uint64_t>(rps - y % rps)) : 1;
            const uint64_t n = std::min<uint64_t>(left, run * r.w * bpp);
            j += run;
            Socket::Status st = sock_.read(dst, n);
            if (st != Socket::Status::ok) {
                end("truncated write payload: " + status_text(st, sock_.last_errno()), true);
                return false;
            }
            if (seal_) {
                // Decrypted in place: a forged payload fails the request below and the session
                // ends with its image, so no one ever reads what it wrote.
                seal_->crypt(tag, off, dst, n);
                seal_->mac_add(dst, n);
                off += n;
            }
            cache::thread_release_all();  // a stalled payload pins one strip, not a ring of them
            in_ += n;
            left -= n;
        }
        if (seal_) {
            const auto want = seal_->mac_finish();
            if (CRYPTO_memcmp(want.data(), tag.data(), tag.size()) != 0) {
                drop_image();
                refuse("payload authentication failed (a forged or corrupted write)");
                return false;
            }
        }
        return true;
    }

    const ServerConfig& cfg_;
    Session& s_;
    Socket& sock_;
    std::array<uint8_t, 8> key_{};
    std::unique_ptr<Pixels> image_, index_;
    bool has_index_ = false;
    uint64_t cols_ = 0, rows_ = 0, bytes_ = 0;
    uint64_t requests_ = 0, in_ = 0, out_ = 0;
    std::vector<uint8_t> chunk_;
    std::unique_ptr<Seal> seal_;   ///< gen 4
    std::vector<uint8_t> sealed_;  ///< gen 4: a chunk of a reply, encrypted
    bool counted_ = true;          ///< still counted in `unauthenticated`
};

double parse_seconds(const std::string& v, const char* what) {
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || !(d >= 0) || d > 1e6)
        throw Error(Severity::option_error, std::string("invalid ") + what, v, "distribute-cache.c");
    return d;
}

std::string option(::ImageInfo* info, const char* key) {
    const char* v = GetImageOption(info, key);
    return v ? v : "";
}

}  // namespace

int serve(const std::string& port, const std::vector<std::string>& args, const std::string& client) {
    ServerConfig cfg;
    cfg.client = client;
    {
        char* end = nullptr;
        long p = std::strtol(port.c_str(), &end, 10);
        if (port.empty() || *end || p <= 0 || p > 65535)
            throw Error(Severity::option_error, "invalid argument for option", "-distribute-cache " + port,
                        "mogrify.c/MogrifyImageCommand");
        cfg.port = std::to_string(p);
    }
    // The other arguments are settings: -limit, -define distribute-cache:*, -verbose.
    magick::InfoPtr info(AcquireImageInfo());
    {
        std::vector<const char*> argv;
        for (auto& a : args) argv.push_back(a.c_str());
        ExceptionInfo* ex = AcquireExceptionInfo();
        if (!argv.empty()) MogrifyImageInfo(info.get(), static_cast<int>(argv.size()), argv.data(), ex);
        const bool bad = ex->severity >= ErrorException;
        std::string why = bad && ex->reason ? ex->reason : "";
        DestroyExceptionInfo(ex);
        if (bad) throw Error(Severity::option_error, why, "-distribute-cache", "mogrify.c/MogrifyImageInfo");
    }
    cfg.verbose = info->verbose != MagickFalse;
    if (auto v = option(info.get(), "distribute-cache:bind"); !v.empty()) cfg.bind = v;
    cfg.protocol = protocol_from(option(info.get(), "distribute-cache:protocol"));
    if (auto v = option(info.get(), "distribute-cache:timeout"); !v.empty())
        cfg.io_timeout = parse_seconds(v, "timeout");
    if (auto v = option(info.get(), "distribute-cache:idle-timeout"); !v.empty())
        cfg.idle_timeout = parse_seconds(v, "idle timeout");
    if (auto v = option(info.get(), "distribute-cache:auth-timeout"); !v.empty())
        cfg.auth_timeout = parse_seconds(v, "authentication timeout");
    if (auto v = option(info.get(), "distribute-cache:max-clients"); !v.empty())
        cfg.max_clients = static_cast<size_t>(std::max(1.0, parse_seconds(v, "client count")));
    if (auto v = option(info.get(), "distribute-cache:spin"); !v.empty())
        cfg.spin_us = static_cast<int>(std::min(parse_seconds(v, "spin microseconds"), 10000.0));
    if (auto v = option(info.get(), "distribute-cache:max-unauthenticated"); !v.empty())
        cfg.max_unauthenticated = static_cast<size_t>(std::max(1.0, parse_seconds(v, "client count")));
    cfg.secret = shared_secret();
    if (cfg.secret.empty())
        throw Error(
            Severity::fatal_error,
            "shared secret required: add <policy domain=\"cache\" name=\"shared-secret\" value=\"...\" "
            "stealth=\"true\"/> to policy.xml",
            "-distribute-cache " + cfg.port, "distribute-cache.c/DistributePixelCacheServer");

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (int rc = getaddrinfo(cfg.bind.c_str(), cfg.port.c_str(), &hints, &res); rc != 0)
        throw Error(Severity::fatal_error, std::string("unable to bind: ") + gai_strerror(rc), cfg.bind,
                    "distribute-cache.c/DistributePixelCacheServer");
    std::vector<int> listeners;
    std::vector<std::string> names;
    int last_err = 0;
    for (addrinfo* a = res; a; a = a->ai_next) {
        int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (a->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
            last_err = errno;
            ::close(fd);
            continue;
        }
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
        listeners.push_back(fd);
        names.push_back(peer_name(ss));
    }
    freeaddrinfo(res);
    if (listeners.empty())
        throw file_error(Severity::fatal_error, "unable to bind distributed pixel cache",
                         cfg.bind + ":" + cfg.port, last_err ? last_err : EADDRNOTAVAIL,
                         "distribute-cache.c/DistributePixelCacheServer");

    if (::pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        throw file_error(Severity::fatal_error, "unable to start", "pipe", errno, "distribute-cache.c");
    struct sigaction sa {};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);

    std::string where;
    for (auto& n : names) where += (where.empty() ? "" : ", ") + n;
    const Budgets b = TierManager::global().budgets();
    auto lim = [](uint64_t v) { return v == kUnlimited ? std::string("unlimited") : std::to_string(v); };
    log_line(cfg, "listening on %s (protocol gen %d%s; limits memory %s map %s disk %s)", where.c_str(),
             cfg.protocol,
             cfg.bind == "127.0.0.1" || cfg.bind == "::1" || cfg.bind == "localhost"
                 ? ", loopback only: -define distribute-cache:bind=ADDR to serve a network"
                 : "",
             lim(b.memory).c_str(), lim(b.map).c_str(), lim(b.disk).c_str());

    std::mutex mu;
    std::condition_variable cv;
    std::list<std::shared_ptr<Session>> sessions;
    uint64_t next_id = 0;
    std::vector<pollfd> fds;
    for (int fd : listeners) fds.push_back(pollfd{fd, POLLIN, 0});
    fds.push_back(pollfd{stop_pipe[0], POLLIN, 0});
    for (bool stop = false; !stop;) {
        for (auto& p : fds) p.revents = 0;
        int r = ::poll(fds.data(), fds.size(), 1000);
        if (r < 0 && errno != EINTR) break;
        if (fds.back().revents) break;
        {
            std::lock_guard lock(mu);
            sessions.remove_if([](const std::shared_ptr<Session>& s) { return s->done.load(); });
        }
        for (size_t i = 0; i + 1 < fds.size(); ++i) {
            if (!(fds[i].revents & POLLIN)) continue;
            sockaddr_storage ss{};
            socklen_t len = sizeof ss;
            int fd = ::accept4(fds[i].fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE) {
                    log_line(cfg, "accept: %s (waiting for sessions to end)", std::strerror(errno));
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                }
                continue;
            }
            auto s = std::make_shared<Session>();
            s->id = ++next_id;
            s->peer = peer_name(ss);
            s->sock = std::make_unique<Socket>(fd);
            if (unauthenticated.load() >= cfg.max_unauthenticated) {
                log_line(cfg,
                         "#%llu %s: refused: %zu connections not authenticated yet "
                         "(distribute-cache:max-unauthenticated)",
                         static_cast<unsigned long long>(s->id), s->peer.c_str(), cfg.max_unauthenticated);
                continue;
            }
            std::unique_lock lock(mu);
            if (sessions.size() >= cfg.max_clients) {
                lock.unlock();
                log_line(cfg, "#%llu %s: refused: %zu sessions already (distribute-cache:max-clients)",
                         static_cast<unsigned long long>(s->id), s->peer.c_str(), cfg.max_clients);
                continue;  // closes the socket
            }
            sessions.push_back(s);
            ++unauthenticated;  // the worker counts it down once the key checks out
            lock.unlock();
            if (cfg.verbose)
                log_line(cfg, "#%llu %s: connected", static_cast<unsigned long long>(s->id), s->peer.c_str());
            try {
                std::thread([s, &cfg, &mu, &cv] {
                    {
                        Worker w(cfg, *s);
                        w.run();
                    }
                    cache::thread_release_all();
                    s->sock->shutdown_both();
                    std::lock_guard l(mu);
                    s->done = true;
                    cv.notify_all();
                }).detach();
            } catch (const std::system_error& e) {
                log_line(cfg, "#%llu %s: refused: no thread (%s)", static_cast<unsigned long long>(s->id),
                         s->peer.c_str(), e.what());
                --unauthenticated;
                std::lock_guard l(mu);
                s->done = true;
            }
        }
    }
    // Stop: no new connections, every session dropped (its socket shut down wakes its thread).
    for (int fd : listeners) ::close(fd);
    std::unique_lock lock(mu);
    size_t live = 0;
    for (auto& s : sessions)
        if (!s->done) {
            s->sock->shutdown_both();
            ++live;
        }
    const bool all = cv.wait_for(lock, std::chrono::seconds(10), [&] {
        return std::all_of(sessions.begin(), sessions.end(), [](auto& s) { return s->done.load(); });
    });
    log_line(cfg, "stopped (%zu sessions dropped)", live);
    if (!all) std::_Exit(0);  // a thread stuck in the kernel: its state lives on this frame
    return 0;
}

}  // namespace mtool::cache::dpc
