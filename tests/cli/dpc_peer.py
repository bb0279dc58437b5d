#!/usr/bin/env python3
"""Scripted peers of ImageMagick's distributed pixel cache protocol for tests/cli/distributed.sh.

  dpc_peer.py gen1-server PORT [BAD]    a stock 6.9.11-60 style (gen 1, CRC key) server; BAD makes it
                                        misbehave: ack_writes, overlong_reads, junk_after_open
  dpc_peer.py gen4-server PORT SECRET [BAD]  a Debian deb12u16 style (gen 4, sealed payloads) server;
                                        BAD: tamper_reads (flips one ciphertext bit of every reply)
  dpc_peer.py stall PORT                accepts, sends a gen 4 nonce, then never answers
  dpc_peer.py probe PORT SECRET [GEN]   protocol checks against a server (edge cases, isolation)
  dpc_peer.py fuzz PORT SECRET N SEED   N random and mutated requests; the server must survive
  dpc_peer.py flood PORT N [K]          N connections opened at once, silent or sending K key bytes
  dpc_peer.py hold PORT SECRET          one authenticated session with an image, kept open

Written from the protocol description (little-endian, Q16 PixelPacket), independent of mtool's
C++ implementation. Gen 4 sealing: mac = HMAC-SHA256(secret, key || "m"), enc = HMAC-SHA256(secret,
key || "e"); a payload P goes as tag = HMAC-SHA256(mac, P), then P XOR SHA-256(enc || tag ||
u64le(i // 32))[i % 32]. Loopback only; every loop is bounded.
"""
import hashlib
import hmac
import os
import random
import select
import socket
import struct
import sys
import threading
import time
import zlib

MASK = (1 << 64) - 1


def rotl(x, b):
    return ((x << b) | (x >> (64 - b))) & MASK


def siphash24(key, msg):
    k0, k1 = struct.unpack("<QQ", key)
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573

    def rnd():
        nonlocal v0, v1, v2, v3
        v0 = (v0 + v1) & MASK; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
        v2 = (v2 + v3) & MASK; v3 = rotl(v3, 16); v3 ^= v2
        v0 = (v0 + v3) & MASK; v3 = rotl(v3, 21); v3 ^= v0
        v2 = (v2 + v1) & MASK; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)

    n = len(msg)
    full = n - n % 8
    for i in range(0, full, 8):
        m = struct.unpack("<Q", msg[i:i + 8])[0]
        v3 ^= m; rnd(); rnd(); v0 ^= m
    last = (n & 0xFF) << 56
    for i, b in enumerate(msg[full:]):
        last |= b << (8 * i)
    v3 ^= last; rnd(); rnd(); v0 ^= last
    v2 ^= 0xFF
    for _ in range(4):
        rnd()
    return struct.pack("<Q", v0 ^ v1 ^ v2 ^ v3)


def derive(secret):
    k0, k1 = 0x0706050403020100, 0x0F0E0D0C0B0A0908
    for i, b in enumerate(secret.encode()):
        k0 ^= b; k0 = (k0 * 0x100000001B3) & MASK
        k1 ^= b << ((i & 7) * 8); k1 = rotl(k1, 5)
    return struct.pack("<QQ", k0, k1)


def gen1_key(nonce):
    return struct.pack("<Q", zlib.crc32(struct.pack("<IIII", 16, 0, 6, 1) + nonce))


def seal_keys(secret, key):
    s = secret.encode()
    return (hmac.new(s, key + b"m", hashlib.sha256).digest(), hmac.new(s, key + b"e", hashlib.sha256).digest())


def keystream_xor(enc, tag, data):
    out = bytearray(data)
    for blk in range(0, len(out), 32):
        ks = hashlib.sha256(enc + tag + struct.pack("<Q", blk // 32)).digest()
        for i in range(min(32, len(out) - blk)):
            out[blk + i] ^= ks[i]
    return bytes(out)


def seal(secret, key, plain):
    mac, enc = seal_keys(secret, key)
    tag = hmac.new(mac, plain, hashlib.sha256).digest()
    return tag + keystream_xor(enc, tag, plain)


def unseal(secret, key, tag, cipher):
    """The plaintext, or None when the tag does not match."""
    mac, enc = seal_keys(secret, key)
    plain = keystream_xor(enc, tag, cipher)
    return plain if hmac.compare_digest(hmac.new(mac, plain, hashlib.sha256).digest(), tag) else None


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        try:
            chunk = s.recv(n - len(out))
        except ConnectionResetError:
            return out
        if not chunk:
            return out
        out += chunk
    return out


def listener(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    print("ready", flush=True)
    return ls


BAD = ""  # scripted-server misbehaviour: ack_writes, overlong_reads, junk_after_open (gen 1),
#           tamper_reads (gen 4: flips one ciphertext bit of every reply)


def serve(port, handshake):
    """Serves connections (one image each, a thread each) until killed."""
    ls = listener(port)
    for _ in range(1000):
        c, _ = ls.accept()
        threading.Thread(target=session, args=(c, handshake), daemon=True).start()


def gen1_handshake(c):
    nonce = os.urandom(8)
    c.sendall(nonce)
    return gen1_key(nonce), None


def gen4_handshake(secret):
    def run(c):
        nonce = os.urandom(16)
        c.sendall(nonce)
        key = siphash24(derive(secret), nonce)
        return (key, secret) if recv_exact(c, 8) == key else (None, None)
    return run


def session(c, handshake):
    """One connection: `handshake` gives the session key and, for gen 4, the secret that seals."""
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key, secret = handshake(c)
    img = idx = None
    cols = rows = 0
    while key:
        head = recv_exact(c, 9)
        if len(head) < 9:
            break
        if head[1:] != key:
            c.sendall(b"\0\0\0\0")
            break
        cmd = head[:1]
        if cmd == b"o":
            sc, cs, _ch, cols, rows = struct.unpack("<iiQQQ", recv_exact(c, 32))
            img = bytearray(cols * rows * 8)
            idx = bytearray(cols * rows * 2) if sc == 2 or cs == 12 else None
            c.sendall(struct.pack("<i", 1) + (b"junk" * 750 if BAD == "junk_after_open" else b""))
        elif cmd in (b"r", b"R", b"w", b"W"):
            w, h, x, y, length = struct.unpack("<QQqqQ", recv_exact(c, 40))
            buf, bpp = (img, 8) if cmd in (b"r", b"w") else (idx, 2)
            if cmd in (b"w", b"W"):
                tag = recv_exact(c, 32) if secret else None
                data = recv_exact(c, length)
                if secret:
                    data = unseal(secret, key, tag, data)
                    if data is None:
                        c.sendall(b"\0\0\0\0")
                        break
                for j in range(h):
                    part = data[j * w * bpp:(j + 1) * w * bpp]
                    at = ((y + j) * cols + x) * bpp
                    buf[at:at + len(part)] = part
                if BAD == "ack_writes":
                    c.sendall(struct.pack("<i", 1))
            else:
                out = bytearray()
                for j in range(h):
                    yy = min(max(y + j, 0), rows - 1)
                    for i in range(w):
                        xx = min(max(x + i, 0), cols - 1)
                        at = (yy * cols + xx) * bpp
                        out += buf[at:at + bpp]
                reply = bytearray(seal(secret, key, bytes(out[:length])) if secret else out[:length])
                if BAD == "tamper_reads" and len(reply) > 32:
                    reply[32 + (len(reply) - 32) // 2] ^= 0x10
                c.sendall(bytes(reply) + (b"x" * 37 if BAD == "overlong_reads" else b""))
        elif cmd == b"d":
            c.sendall(struct.pack("<i", 1))
            break
        else:
            c.sendall(b"\0\0\0\0")
            break
    c.close()


def stall(port):
    ls = listener(port)
    conns = []
    for _ in range(64):
        c, _ = ls.accept()
        c.sendall(os.urandom(16))
        conns.append(c)  # never answered, never closed until the test kills us


class Client:
    def __init__(self, port, secret, gen=4):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.gen, self.secret = gen, secret
        nonce = recv_exact(self.s, 16 if gen == 4 else 8)
        if gen != 1:
            self.key = siphash24(derive(secret), nonce)
            self.s.sendall(self.key)
        else:
            self.key = gen1_key(nonce)

    def sealed(self, payload):
        return seal(self.secret, self.key, payload) if self.gen == 4 and payload else payload

    def open(self, cols, rows, storage=1, colorspace=13):
        self.s.sendall(b"o" + self.key + struct.pack("<iiQQQ", storage, colorspace, 0, cols, rows))
        return recv_exact(self.s, 4)

    def region(self, cmd, w, h, x, y, length, payload=b"", raw=False):
        body = payload if raw else self.sealed(payload)
        self.s.sendall(cmd + self.key + struct.pack("<QQqqQ", w, h, x, y, length) + body)

    def read(self, cmd, w, h, x, y, length):
        self.region(cmd, w, h, x, y, length)
        if self.gen != 4:
            return recv_exact(self.s, length)
        tag = recv_exact(self.s, 32)
        return unseal(self.secret, self.key, tag, recv_exact(self.s, length)) if len(tag) == 32 else None

    def closed_with_status0(self):
        got = recv_exact(self.s, 8)
        return got == b"\0\0\0\0"


def px(b, g, r, o=0):
    return struct.pack("<HHHH", b, g, r, o)


def probe(port, secret, gen):
    fails = 0

    def check(name, cond):
        nonlocal fails
        print(("ok   " if cond else "FAIL ") + name)
        fails += 0 if cond else 1

    c = Client(port, secret, gen)
    check("open 4x3 DirectClass", c.open(4, 3) == b"\1\0\0\0")
    rows = [b"".join(px(100 * y + x, 2, 3) for x in range(4)) for y in range(3)]
    c.region(b"w", 4, 3, 0, 0, 96, b"".join(rows))
    check("read back 4x3", c.read(b"r", 4, 3, 0, 0, 96) == b"".join(rows))
    check("sub-region 2x1 at (1,1)", c.read(b"r", 2, 1, 1, 1, 16) == rows[1][8:24])
    # Edge virtual pixels: 3x1 at (-1,1) -> pixel(0,1), pixel(0,1), pixel(1,1).
    check("virtual pixels left of the image", c.read(b"r", 3, 1, -1, 1, 24) == rows[1][0:8] * 2 + rows[1][8:16])
    check("virtual pixels below and right", c.read(b"r", 2, 1, 3, 5, 16) == rows[2][24:32] * 2)
    check("short length gets the first bytes", c.read(b"r", 4, 1, 0, 2, 10) == rows[2][:10])
    c.s.sendall(b"d" + c.key)
    check("destroy: status 1", recv_exact(c.s, 4) == b"\1\0\0\0")
    check("destroy: then closed", recv_exact(c.s, 1) == b"")

    c = Client(port, secret, gen)
    check("open PseudoClass 5x2", c.open(5, 2, storage=2) == b"\1\0\0\0")
    c.region(b"W", 5, 2, 0, 0, 20, bytes(range(20)))
    check("index round trip", c.read(b"R", 5, 2, 0, 0, 20) == bytes(range(20)))
    check("CMYK index needs colorspace 12", Client(port, secret, gen).open(2, 2, 1, 12) == b"\1\0\0\0")

    d = Client(port, secret, gen)
    check("index read without an index channel refused", d.open(2, 2) == b"\1\0\0\0")
    d.region(b"R", 2, 2, 0, 0, 8)
    check("  -> status 0 and close", d.closed_with_status0())

    # Isolation: a second connection using the first's key is closed, never served.
    e = Client(port, secret, gen)
    e.s.sendall(b"r" + c.key + struct.pack("<QQqqQ", 5, 2, 0, 0, 80))
    got = recv_exact(e.s, 80)
    check("another connection's key reads nothing", len(got) <= 4 and got.strip(b"\0") == b"")
    check("owner still served", c.read(b"R", 5, 2, 0, 0, 20) == bytes(range(20)))

    f = Client(port, secret, gen)
    f.open(4, 4)
    f.region(b"w", 4, 1, 2, 0, 32, b"x" * 32)
    check("write outside the image refused", f.closed_with_status0())
    g = Client(port, secret, gen)
    g.open(4, 4)
    g.region(b"r", 4, 1, 0, 0, 33)
    check("length beyond the region refused", g.closed_with_status0())
    h = Client(port, secret, gen)
    check("open 0x5 refused", h.open(0, 5) == b"\0\0\0\0")
    i = Client(port, secret, gen)
    check("open 2^40 x 2^40 refused", i.open(1 << 40, 1 << 40) == b"\0\0\0\0")
    j = Client(port, secret, gen)
    j.s.sendall(b"?" + j.key)
    check("unknown command refused", j.closed_with_status0())
    if gen == 4:
        t = Client(port, secret, gen)
        t.open(4, 1)
        body = bytearray(t.sealed(bytes(range(32))))
        body[40] ^= 1  # one ciphertext bit
        t.region(b"w", 4, 1, 0, 0, 32, bytes(body), raw=True)
        check("gen 4: a tampered write refused", t.closed_with_status0())
        t = Client(port, secret, gen)
        t.open(4, 1)
        t.region(b"w", 4, 1, 0, 0, 32, bytes(32) + bytes(range(32)), raw=True)  # plaintext, a null tag
        check("gen 4: an unsealed write refused", t.closed_with_status0())
        t = Client(port, secret, gen)
        t.open(4, 1)
        t.region(b"w", 4, 1, 0, 0, 32, bytes(range(32)))
        t.region(b"r", 4, 1, 0, 0, 32)
        tag, body = recv_exact(t.s, 32), recv_exact(t.s, 32)
        check("gen 4: a reply is encrypted", body != bytes(range(32)))
        check("gen 4: and authenticated", unseal(secret, t.key, tag, body) == bytes(range(32)))
    k = Client(port, secret, gen)
    k.s.sendall(b"r" + k.key + b"\1\2")
    k.s.shutdown(socket.SHUT_WR)
    check("truncated header: closed", recv_exact(k.s, 8) == b"")
    return 1 if fails else 0


def fuzz(port, secret, n, seed):
    """Random and mutated requests over many connections; counts requests sent."""
    rnd = random.Random(seed)
    sent = 0
    conns = 0
    valid = [
        lambda k: b"o" + k + struct.pack("<iiQQQ", rnd.choice([1, 2]), rnd.choice([13, 12, 2]), 0,
                                         rnd.randint(1, 64), rnd.randint(1, 64)),
        lambda k: b"w" + k + struct.pack("<QQqqQ", 8, 1, 0, 0, 64) + sealer(bytes(64)),
        lambda k: b"r" + k + struct.pack("<QQqqQ", rnd.randint(1, 40), rnd.randint(1, 3), rnd.randint(-50, 50),
                                         rnd.randint(-50, 50), rnd.randint(0, 64)),
        lambda k: b"R" + k + struct.pack("<QQqqQ", 2, 1, 0, 0, 4),
        lambda k: b"W" + k + struct.pack("<QQqqQ", 2, 1, 0, 0, 4) + sealer(bytes(4)),
    ]
    c = None

    def sealer(payload):
        return c.sealed(payload)

    while sent < n:
        conns += 1
        try:
            c = Client(port, secret, 4)
        except OSError as e:
            print("connect failed after %d requests: %s" % (sent, e))
            return 1
        c.s.settimeout(5)
        for _ in range(rnd.randint(1, 200)):
            kind = rnd.random()
            if kind < 0.55:
                req = rnd.choice(valid)(c.key)
            elif kind < 0.8:  # mutate a valid request
                req = bytearray(rnd.choice(valid)(c.key))
                for _ in range(rnd.randint(1, 4)):
                    req[rnd.randrange(len(req))] = rnd.randrange(256)
                if rnd.random() < 0.3:
                    req = req[:rnd.randrange(len(req))]
                req = bytes(req)
            elif kind < 0.9:  # absurd sizes
                req = bytes([rnd.choice(b"orRwW")]) + c.key + struct.pack(
                    "<QQqqQ", rnd.getrandbits(64), rnd.getrandbits(64), rnd.getrandbits(63), rnd.getrandbits(63),
                    rnd.getrandbits(64))
            else:  # random bytes
                req = os.urandom(rnd.randint(1, 80))
            sent += 1
            try:
                c.s.sendall(req)
                while select.select([c.s], [], [], 0)[0]:  # drain replies without waiting
                    if not c.s.recv(65536):
                        raise ConnectionResetError
            except OSError:
                break
            if sent >= n:
                break
        c.s.close()
    print("sent %d requests over %d connections" % (sent, conns))
    return 0


def flood(port, n, key_bytes=0):
    """n connections left silent, or sending only `key_bytes` bytes of the key each."""
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            if key_bytes:
                recv_exact(s, 16)
                s.sendall(b"\0" * key_bytes)
            socks.append(s)
        except OSError:
            break
    print("opened %d" % len(socks), flush=True)
    time.sleep(30)  # hold them until the test kills us (bounded)
    return 0


def hold(port, secret):
    c = Client(port, secret, 4)
    ok = c.open(4, 4) == b"\1\0\0\0"
    print("held" if ok else "refused", flush=True)
    time.sleep(60)  # until the test kills us (bounded)
    return 0


def main():
    mode = sys.argv[1]
    global BAD
    if mode == "gen1-server":
        BAD = sys.argv[3] if len(sys.argv) > 3 else ""
        serve(int(sys.argv[2]), gen1_handshake)
    elif mode == "stall":
        stall(int(sys.argv[2]))
    elif mode == "probe":
        sys.exit(probe(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 4))
    elif mode == "gen4-server":
        BAD = sys.argv[4] if len(sys.argv) > 4 else ""
        serve(int(sys.argv[2]), gen4_handshake(sys.argv[3]))
    elif mode == "fuzz":
        sys.exit(fuzz(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
    elif mode == "hold":
        sys.exit(hold(int(sys.argv[2]), sys.argv[3]))
    elif mode == "flood":
        sys.exit(flood(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
