#!/usr/bin/env python3
"""Valid-but-damaged inputs for the safety suite: PNGs that make libpng warn and JPEGs with
recoverable (and some unrecoverable) libjpeg errors. Usage: gen_damaged.py OUTDIR BASE.jpg PROG.jpg
(BASE a baseline JPEG, PROG a progressive one, both made by /usr/bin/convert). Writes
png-*.png and jpg-*.jpg; a name ending in -hdr is a header error (ImageMagick's own recovery
differs there, so only the first message is compared)."""
import os, struct, sys, zlib

out, base, prog = sys.argv[1:4]
os.makedirs(out, exist_ok=True)

def chunk(t, data, crc=None):
    c = zlib.crc32(t + data) & 0xffffffff if crc is None else crc
    return struct.pack(">I", len(data)) + t + data + struct.pack(">I", c)

W, H = 40, 30
raw = b"".join(b"\0" + bytes(v for x in range(W) for v in ((x * 6) & 255, (y * 8) & 255, (x + y) * 3 & 255))
               for y in range(H))
SIG, IHDR = b"\x89PNG\r\n\x1a\n", chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
IDAT, IEND = chunk(b"IDAT", zlib.compress(raw)), chunk(b"IEND", b"")

def png(name, pre=b"", post=b""):
    open(os.path.join(out, "png-" + name + ".png"), "wb").write(SIG + IHDR + pre + IDAT + IEND + post)

def icc(declared=None, pad=0, space=b"RGB "):
    body = bytearray(132)
    body[8:12], body[12:16], body[16:20], body[20:24], body[36:40] = bytes((2, 0x10, 0, 0)), b"mntr", space, b"XYZ ", b"acsp"
    body += b"\0" * pad
    body[0:4] = struct.pack(">I", len(body) if declared is None else declared)
    return bytes(body)

png("iccp-long", chunk(b"iCCP", b"bad\0\0" + zlib.compress(icc(declared=4000), 0)))
png("iccp-short", chunk(b"iCCP", b"bad\0\0" + zlib.compress(icc(declared=100), 0)))
png("iccp-gray", chunk(b"iCCP", b"bad\0\0" + zlib.compress(icc(space=b"GRAY"), 0)))
png("iccp-zlib", chunk(b"iCCP", b"bad\0\0" + b"\x78\x9c" + b"garbage" * 20))
png("gama-zero", chunk(b"gAMA", struct.pack(">I", 0)))
png("gama-huge", chunk(b"gAMA", struct.pack(">I", 0xffffffff)))
png("gama-dup", chunk(b"gAMA", struct.pack(">I", 45455)) * 2)
png("chrm-zero", chunk(b"cHRM", struct.pack(">8I", *([0] * 8))))
png("chrm-bad", chunk(b"cHRM", struct.pack(">8I", 31270, 32900, 90000, 90000, 30000, 60000, 15000, 6000)))
png("crc-text", chunk(b"tEXt", b"Comment\0hello", crc=0xdeadbeef))
png("crc-private", chunk(b"prIv", b"xyz", crc=0x12345678))
png("after-iend", post=b"GARBAGE AFTER IEND\n" * 4)

def markers(d):
    i, found = 2, []
    while i < len(d) - 1:
        if d[i] != 0xFF or d[i + 1] in (0, 0xFF):
            i += 1
            continue
        m = d[i + 1]
        if 0xD0 <= m <= 0xD9:
            found.append((m, i, 0))
            i += 2
            continue
        n = int.from_bytes(d[i + 2:i + 4], "big")
        found.append((m, i, n))
        i += 2 + n
    return found

def first(d, m): return next(p for mm, p, _ in markers(d) if mm == m)
def segment(d, m):
    p, n = next((p, n) for mm, p, n in markers(d) if mm == m)
    return d[p:p + 2 + n]
def jpg(name, data): open(os.path.join(out, "jpg-" + name + ".jpg"), "wb").write(data)

b, pr = open(base, "rb").read(), open(prog, "rb").read()
eoi, sof, sos = len(b) - 2, first(b, 0xC0), first(b, 0xDA)
mid = sos + (eoi - sos) // 2
jpg("junk-before-eoi", b[:eoi] + b"\x12\x34\x56" + b[eoi:])
jpg("junk7-before-eoi", b[:eoi] + b"\x12" * 7 + b[eoi:])
jpg("junk-in-header", b[:first(b, 0xDB)] + b"\x12\x34\x56" + b[first(b, 0xDB):])
jpg("app5", b[:sof] + b"\xff\xe5\x00\x06junk" + b[sof:])
jpg("marker-in-scan", b[:mid] + b"\xff\xf0\x00\x04\x00\x00" + b[mid:])
jpg("sof-after-scan", b[:eoi] + segment(b, 0xC0) + b[eoi:])
jpg("eoi-in-scan", b[:mid] + b"\xff\xd9")
jpg("truncated-half", b[:mid])
jpg("truncated-no-eoi", b[:eoi])
progressive_sos = [p for m, p, _ in markers(pr) if m == 0xDA]
jpg("progressive-truncated", pr[:progressive_sos[2] + 100])
jpg("two-sof-hdr", b[:sof] + segment(b, 0xC0) + b[sof:])
jpg("unknown-marker-hdr", b[:sof] + b"\xff\xf0\x00\x04\x00\x00" + b[sof:])
jpg("truncated-header-hdr", b[:first(b, 0xC4) + 10])
# Restart markers every MCU row with junk before each: more warnings than ImageMagick keeps.
