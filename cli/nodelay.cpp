// TCP_NODELAY for ImageMagick's own distributed-cache client. Bridged steps keep their pixels in
// ImageMagick's pixel cache, which under tight limits opens connections to registry:cache:hosts
// itself; without TCP_NODELAY every small request after a reply-less write waits for the
// server's delayed ACK (about 40 ms: ImageMagick client + ImageMagick server runs ~100x slower
// than a local disk). This wrapper of connect(2), which the dynamic linker resolves for
// libMagickCore before libc's, sets TCP_NODELAY on every TCP socket the process connects.
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

extern "C" int connect(int fd, const struct sockaddr* addr, socklen_t len) {
    using Fn = int (*)(int, const struct sockaddr*, socklen_t);
    static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "connect"));
    if (!real) return -1;
    int rc = real(fd, addr, len);
    if (addr && (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) {
        int type = 0;
        socklen_t tl = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_STREAM) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
    }
    return rc;
}
