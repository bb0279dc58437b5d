// Where bugs live: images spanning many strips (64 KiB strips under a 1 MiB memory budget) and
// worked on by two threads, for every native operator and every native codec layout, compared
// with ImageMagick.
#include "tests/unit/helpers.h"  // doctest before ImageMagick's headers (IsNaN macro)

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "src/codecs/codec.h"

using namespace test;
using mtool::Layout;
namespace codecs = mtool::codecs;
namespace magick = mtool::magick;

namespace {

/// A 1 MiB memory limit for the test's lifetime: new images get 64 KiB strips.
struct SmallStrips {
    MagickSizeType old = GetMagickResourceLimit(MemoryResource);
    SmallStrips() { SetMagickResourceLimit(MemoryResource, 1 << 20); }
    ~SmallStrips() { SetMagickResourceLimit(MemoryResource, old); }
};

Layout layout(int color, bool alpha) {
    Layout l;
    l.color_channels = color;
    l.alpha = alpha;
    return l;
}

MImage photo(int w, int h, int bps, Layout l) {
    return synthetic(w, h, l, bps, [&](int x, int y, int c) -> float {
        if (l.alpha && c == l.channels() - 1) return 0.3f + 0.6f * x / (w - 1.0f);
        return 0.5f + 0.4f * std::sin(0.05f * x * (c + 1) + 0.031f * y) * std::cos(0.017f * y * (2 - c % 2));
    });
}

struct TempFile {
    std::string path;
    explicit TempFile(const char* ext) {
        char name[] = "/tmp/mtool-strips-XXXXXX";
        int fd = mkstemp(name);
        REQUIRE(fd >= 0);
        close(fd);
        std::remove(name);
        path = std::string(name) + ext;
    }
    ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

TEST_CASE("native operators on images of many strips, two threads: as ImageMagick") {
    SmallStrips small;
    struct Case {
        const char* op;
        std::vector<std::string> args;
    };
    const Case cases[] = {
        {"-resize", {"47%"}},
        {"-resize", {"150%"}},
        {"-thumbnail", {"100x100"}},
        {"-sample", {"61%"}},
        {"-scale", {"33%"}},
        {"-crop", {"200x90+33+41"}},
        {"-shave", {"17x9"}},
        {"-chop", {"40x20+30+30"}},
        {"-extent", {"350x260"}},
        {"-border", {"7x5"}},
        {"-trim", {}},
        {"-flip", {}},
        {"-flop", {}},
        {"-transpose", {}},
        {"-rotate", {"90"}},
        {"-rotate", {"270"}},
        {"-level", {"10%,90%"}},
        {"-auto-level", {}},
        {"-normalize", {}},
        {"-gamma", {"1.7"}},
        {"-negate", {}},
        {"-threshold", {"50%"}},
        {"-brightness-contrast", {"10x20"}},
        {"-blur", {"0x2.5"}},
        {"-gaussian-blur", {"4x1.5"}},
        {"-sharpen", {"0x1"}},
        {"-unsharp", {"2x1+1.2+0.02"}},
        {"-modulate", {"110,80,120"}},
        {"-colorspace", {"Gray"}},
        {"-alpha", {"set"}},
    };
    for (int bps : {1, 2})
        for (Layout l : {layout(3, false), layout(3, true), layout(1, false)}) {
            MImage in = photo(400, 520, bps, l);
            REQUIRE(in.pixels().rows_per_strip() * 3 < in.height());  // at least three strips
            for (const Case& k : cases) {
                const std::string name = k.op;
                if (l.alpha && (name == "-blur" || name == "-gaussian-blur" || name == "-sharpen" ||
                                name == "-unsharp" || name == "-modulate"))
                    continue;  // alpha-weighted filters are ImageMagick's
                if (l.gray() && (name == "-modulate" || name == "-extent" || name == "-border")) continue;
                INFO(name << " " << (k.args.empty() ? "" : k.args[0]) << " bps " << bps << " channels "
                          << l.channels());
                MImage mine = apply(k.op, k.args, in);
                MImage theirs = apply_magick(k.op, k.args, in);
                CHECK(mine.width() == theirs.width());
                CHECK(mine.height() == theirs.height());
                CHECK(psnr(mine, theirs) >= 50);
            }
        }
}

TEST_CASE("native codecs on images of many strips: round trips and ImageMagick's decode") {
    SmallStrips small;
    mtool::Context ctx;
    for (int bps : {1, 2})
        for (Layout l : {layout(1, false), layout(1, true), layout(3, false), layout(3, true)})
            for (bool interlace : {false, true}) {
                INFO("bps " << bps << " channels " << l.channels() << " interlace " << interlace);
                MImage img = photo(520, 600, bps, l);
                TempFile t(".png");
                magick::InfoPtr info(AcquireImageInfo());
                if (interlace) info->interlace = PNGInterlace;
                std::FILE* f = std::fopen(t.path.c_str(), "wb");
                REQUIRE(f != nullptr);
                codecs::WriteRequest w{f, t.path, "PNG", info.get(), ctx};
                codecs::png_codec.write(img, w);
                std::fclose(f);
                magick::InfoPtr rinfo(AcquireImageInfo());
                codecs::ReadRequest r{t.path, nullptr, rinfo.get(), ctx};
                MImage back = codecs::png_codec.read(r);
                CHECK(back.pixels().rows_per_strip() * 3 < back.height());
                CHECK(psnr(back, img) == 999);
                CHECK(psnr(from_magick(t.path), back) == 999);
            }
    for (const char* spec : {"-colorspace Gray", "", "-interlace JPEG", "-sampling-factor 2x2"}) {
        INFO("jpeg " << spec);
        TempFile t(".jpg");
        std::string cmd =
            std::string("/usr/bin/convert -size 640x480 plasma: -seed 5 ") + spec + " " + t.path;
        REQUIRE(std::system(cmd.c_str()) == 0);
        magick::InfoPtr rinfo(AcquireImageInfo());
        codecs::ReadRequest r{t.path, nullptr, rinfo.get(), ctx};
        MImage mine = codecs::jpeg_codec.read(r);
        CHECK(mine.pixels().rows_per_strip() * 3 < mine.height());
        CHECK(psnr(mine, from_magick(t.path)) == 999);
        // Encoding many strips on two threads: ImageMagick decodes what was written.
        TempFile o(".jpg");
        magick::InfoPtr winfo(AcquireImageInfo());
        std::FILE* f = std::fopen(o.path.c_str(), "wb");
        codecs::WriteRequest w{f, o.path, "JPEG", winfo.get(), ctx};
        codecs::jpeg_codec.write(mine, w);
        std::fclose(f);
        CHECK(psnr(from_magick(o.path), mine) > 35);
    }
    for (int bps : {1, 2}) {
        INFO("jp2 bps " << bps);
        MImage img = photo(500, 400, bps, layout(3, false));
        TempFile t(".jp2");
        magick::InfoPtr info(AcquireImageInfo());
        std::FILE* f = std::fopen(t.path.c_str(), "wb");
        codecs::WriteRequest w{f, t.path, "JP2", info.get(), ctx};
        codecs::jp2_codec.write(img, w);
        std::fclose(f);
        magick::InfoPtr rinfo(AcquireImageInfo());
        codecs::ReadRequest r{t.path, nullptr, rinfo.get(), ctx};
        MImage back = codecs::jp2_codec.read(r);
        CHECK(psnr(back, img) == 999);
        CHECK(psnr(from_magick(t.path), back) == 999);
    }
}
