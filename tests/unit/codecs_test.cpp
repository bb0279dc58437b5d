// Native codecs: round trips at every bit depth and colour type, the encoder's colour-type
// choice, and decoding equal to ImageMagick's own reader.
#include "tests/unit/helpers.h"  // doctest before ImageMagick's headers (IsNaN macro)

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "src/codecs/codec.h"
#include "src/codecs/common.h"

using namespace test;
using mtool::Context;
using mtool::Layout;
namespace codecs = mtool::codecs;
namespace magick = mtool::magick;

namespace {

struct TempFile {
    std::string path;
    TempFile() {
        char name[] = "/tmp/mtool-unit-XXXXXX";
        int fd = mkstemp(name);
        REQUIRE(fd >= 0);
        close(fd);
        path = name;
    }
    ~TempFile() { std::remove(path.c_str()); }
};

void write_with(const codecs::CodecSpec& codec, MImage& img, const std::string& path,
                const std::string& magick,
                const std::vector<std::pair<std::string, std::string>>& defines = {}) {
    Context ctx;
    magick::InfoPtr info(AcquireImageInfo());
    for (const auto& [k, v] : defines) SetImageOption(info.get(), k.c_str(), v.c_str());
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    codecs::WriteRequest req{f, path, magick, info.get(), ctx};
    codec.write(img, req);
    std::fclose(f);
}

MImage read_with(const codecs::CodecSpec& codec, const std::string& path) {
    Context ctx;
    magick::InfoPtr info(AcquireImageInfo());
    codecs::ReadRequest req{path, nullptr, info.get(), ctx};
    return codec.read(req);
}

MImage read_magick(const std::string& path) { return from_magick(path); }

bool same_file(const std::string& a, const std::string& b) {
    auto slurp = [](const std::string& p) {
        std::string s;
        if (std::FILE* f = std::fopen(p.c_str(), "rb")) {
            char buf[65536];
            size_t n;
            while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
            std::fclose(f);
        }
        return s;
    };
    std::string x = slurp(a);
    return !x.empty() && x == slurp(b);
}

/// PNG header fields: bit depth and colour type.
std::pair<int, int> png_header(const std::string& path) {
    unsigned char h[26] = {};
    std::FILE* f = std::fopen(path.c_str(), "rb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fread(h, 1, sizeof h, f) == sizeof h);
    std::fclose(f);
    return {h[24], h[25]};
}

Layout layout(int color, bool alpha) {
    Layout l;
    l.color_channels = color;
    l.alpha = alpha;
    return l;
}

}  // namespace

TEST_CASE("PNG round trips every colour type at 8 and 16 bit, losslessly") {
    struct Case {
        int color;
        bool alpha;
        int bps;
        bool few_colors;
        int want_depth, want_type;
    };
    const Case cases[] = {
        {1, false, 1, false, 8, 0}, {1, false, 2, false, 16, 0}, {1, true, 1, false, 8, 4},
        {1, true, 2, false, 16, 4}, {3, false, 1, false, 8, 2},  {3, false, 2, false, 16, 2},
        {3, true, 1, false, 8, 6},  {3, true, 2, false, 16, 6},  {3, false, 1, true, 2, 3},
        {3, true, 1, true, 2, 3},   {1, false, 1, true, 2, 0},
    };
    for (const Case& k : cases) {
        INFO("color " << k.color << " alpha " << k.alpha << " bps " << k.bps << " few " << k.few_colors);
        MImage img = synthetic(53, 31, layout(k.color, k.alpha), k.bps, [&](int x, int y, int c) -> float {
            if (k.few_colors) return ((x / 7 + y / 5 + c) % 4) / 3.0f;  // 4 levels per channel
            if (k.alpha && c == (k.color == 1 ? 1 : 3)) return 0.25f + 0.7f * x / 52.0f;
            return std::fmod(0.013f * x * (c + 1) + 0.029f * y + (k.bps == 2 ? 0.00011f * x : 0), 1.0f);
        });
        if (k.few_colors && k.color == 3 && !k.alpha) {
            // Keep it colourful and within 4 colours.
            img = synthetic(53, 31, layout(3, false), 1,
                            [](int x, int, int c) -> float { return ((x / 13 + c) % 2) ? 1.0f : 0.0f; });
        }
        if (k.few_colors && k.alpha)
            img = synthetic(53, 31, layout(3, true), 1, [](int x, int, int c) -> float {
                return c == 3 ? (x % 2 ? 1.0f : 0.0f) : (x / 27 == c % 2 ? 1.0f : 0.0f);
            });
        TempFile tmp;
        write_with(codecs::png_codec, img, tmp.path, "PNG");
        auto [depth, type] = png_header(tmp.path);
        CHECK(type == k.want_type);
        if (!k.few_colors) CHECK(depth == k.want_depth);
        MImage back = read_with(codecs::png_codec, tmp.path);
        CHECK(psnr(back, img) == 999);
        // ImageMagick reads what we wrote identically.
        CHECK(psnr(read_magick(tmp.path), img) == 999);
        CHECK(back.depth() == (k.bps == 2 && !k.few_colors ? 16 : 8));
    }
}

TEST_CASE("PNG prefixes force the colour type; 16-bit samples that are v*257 are written at 8 bit") {
    MImage img = synthetic(40, 30, layout(3, false), 2, [](int x, int y, int c) -> float {
        return ((x * (11 + c) + y * (7 + 13 * c)) % 256) / 255.0f;
    });
    TempFile t;
    write_with(codecs::png_codec, img, t.path, "PNG");
    CHECK(png_header(t.path) == std::pair{8, 2});
    write_with(codecs::png_codec, img, t.path, "PNG64");
    CHECK(png_header(t.path) == std::pair{16, 6});
    write_with(codecs::png_codec, img, t.path, "PNG32");
    CHECK(png_header(t.path) == std::pair{8, 6});
    write_with(codecs::png_codec, img, t.path, "PNG48");
    CHECK(png_header(t.path) == std::pair{16, 2});
    CHECK(psnr(read_with(codecs::png_codec, t.path), img) == 999);
    CHECK_THROWS_AS(write_with(codecs::png_codec, img, t.path, "PNG8"), codecs::Decline);
    CHECK_THROWS_AS(write_with(codecs::png_codec, img, t.path, "PNG", {{"png:color-type", "2"}}),
                    codecs::Decline);
}

TEST_CASE("PNG compression level changes the size, not the pixels") {
    MImage img = synthetic(200, 120, layout(3, false), 1, [](int x, int y, int c) -> float {
        return ((x * x + y * 3 + c * 17) % 97) / 96.0f;
    });
    TempFile a, b;
    write_with(codecs::png_codec, img, a.path, "PNG", {{"png:compression-level", "0"}});
    write_with(codecs::png_codec, img, b.path, "PNG", {{"png:compression-level", "9"}});
    std::FILE* fa = std::fopen(a.path.c_str(), "rb");
    std::FILE* fb = std::fopen(b.path.c_str(), "rb");
    std::fseek(fa, 0, SEEK_END);
    std::fseek(fb, 0, SEEK_END);
    CHECK(std::ftell(fa) > std::ftell(fb));
    std::fclose(fa);
    std::fclose(fb);
    CHECK(psnr(read_with(codecs::png_codec, a.path), img) == 999);
    CHECK(psnr(read_with(codecs::png_codec, b.path), img) == 999);
}

TEST_CASE("PNG image data deflated on two threads: same pixels, size within 0.5% of one stream") {
    struct Case {
        int color;
        bool alpha;
        int bps;
        int quality;
    };
    // quality: tens digit zlib level, units digit filter (5 adaptive, 0..4 fixed, 8 RLE).
    for (Case k : {Case{3, false, 1, 75}, Case{3, true, 1, 95}, Case{1, false, 2, 75}, Case{3, false, 2, 61},
                   Case{1, true, 1, 14}, Case{3, false, 1, 98}, Case{3, false, 1, 5}}) {
        INFO("color " << k.color << " alpha " << k.alpha << " bps " << k.bps << " quality " << k.quality);
        MImage img =
            synthetic(1500, 1500, layout(k.color, k.alpha), k.bps, [&](int x, int y, int c) -> float {
                float v = 0.5f + 0.45f * std::sin(0.013f * x * (c + 1) + 0.007f * y) * std::cos(0.011f * y);
                return v + ((x * 7 + y * 13) % 5) * 0.004f;
            });
        std::map<int, std::string> written;
        std::map<int, long> size;
        TempFile one, two;
        for (int threads : {1, 2}) {
            const std::string& path = threads == 1 ? one.path : two.path;
            Context ctx;
            ctx.threads = threads;
            magick::InfoPtr info(AcquireImageInfo());
            info->quality = static_cast<size_t>(k.quality);
            std::FILE* f = std::fopen(path.c_str(), "wb");
            REQUIRE(f != nullptr);
            codecs::WriteRequest req{f, path, "PNG", info.get(), ctx};
            codecs::png_codec.write(img, req);
            size[threads] = std::ftell(f);
            std::fclose(f);
        }
        CHECK(psnr(read_with(codecs::png_codec, two.path), img) == 999);
        CHECK(psnr(read_magick(two.path), img) == 999);
        CHECK(std::abs(size[2] - size[1]) <= size[1] / 200 + 64);
        CHECK_FALSE(same_file(one.path, two.path));  // the threaded path really ran
    }
}

TEST_CASE("PNG decoding equals ImageMagick's, including interlaced and palette files") {
    for (const char* args : {"rose:", "gradient:red-blue", "xc:gray40", "pattern:checkerboard"}) {
        for (const char* interlace : {"none", "line"}) {
            INFO(args << " " << interlace);
            TempFile t;
            std::string cmd = std::string("/usr/bin/convert -size 61x37 ") + args + " -interlace " +
                              interlace + " PNG:" + t.path;
            REQUIRE(std::system(cmd.c_str()) == 0);
            CHECK(psnr(read_with(codecs::png_codec, t.path), read_magick(t.path)) == 999);
        }
    }
}

TEST_CASE("JPEG round trip at quality 95 stays close, gray stays gray") {
    for (int color : {1, 3}) {
        MImage img = synthetic(64, 48, layout(color, false), 1, [](int x, int y, int c) -> float {
            return 0.2f + 0.6f * (x + y * (c + 1)) / 160.0f;
        });
        TempFile t;
        write_with(codecs::jpeg_codec, img, t.path, "JPEG");
        MImage back = read_with(codecs::jpeg_codec, t.path);
        CHECK(back.layout().color_channels == color);
        CHECK(psnr(back, img) > 40);
        CHECK(psnr(back, read_magick(t.path)) > 45);
    }
}

namespace {

MImage jp2_test_image(int w, int h, Layout l, int bps) {
    return synthetic(w, h, l, bps, [&](int x, int y, int c) -> float {
        if (l.alpha && c == l.channels() - 1) return 0.2f + 0.75f * x / static_cast<float>(w);
        return std::fmod(0.011f * x * (c + 1) + 0.023f * y + (bps == 2 ? 0.00013f * x : 0), 1.0f);
    });
}

int run(const std::string& cmd) { return std::system(cmd.c_str()); }

}  // namespace

TEST_CASE("JPEG 2000 round trips losslessly at 8 and 16 bit and writes ImageMagick's own bytes") {
    for (const char* magick : {"JP2", "J2K"})
        for (int color : {1, 3})
            for (bool alpha : {false, true})
                for (int bps : {1, 2}) {
                    // A J2K codestream has no channel definitions: ImageMagick reads two
                    // components as gray without alpha, so that case goes to the bridge.
                    if (std::string(magick) == "J2K" && color == 1 && alpha) continue;
                    INFO(magick << " color " << color << " alpha " << alpha << " bps " << bps);
                    MImage img = jp2_test_image(67, 45, layout(color, alpha), bps);
                    TempFile ours, png, theirs;
                    write_with(codecs::jp2_codec, img, ours.path, magick);
                    MImage back = read_with(codecs::jp2_codec, ours.path);
                    CHECK(back.width() == 67);
                    CHECK(back.layout().channels() == img.layout().channels());
                    CHECK(back.depth() == bps * 8);
                    CHECK(static_cast<int>(back.shell()->depth) == bps * 8);
                    CHECK(psnr(back, img) == 999);
                    CHECK(psnr(read_magick(std::string(magick) + ":" + ours.path), img) == 999);
                    // ImageMagick's writer, given the same pixels, produces the same file.
                    write_with(codecs::png_codec, img, png.path, "PNG");
                    REQUIRE(run("/usr/bin/convert " + png.path + " " + magick + ":" + theirs.path) == 0);
                    CHECK(same_file(ours.path, theirs.path));
                }
}

TEST_CASE("JPEG 2000 -quality is a PSNR target; tiles via -extract; 12-bit decode equals ImageMagick's") {
    MImage img = from_magick("rose:", 0, 0);
    TempFile png, ours, theirs;
    write_with(codecs::png_codec, img, png.path, "PNG");
    {
        Context ctx;
        magick::InfoPtr info(AcquireImageInfo());
        info->quality = 40;
        std::FILE* f = std::fopen(ours.path.c_str(), "wb");
        codecs::WriteRequest req{f, ours.path, "JP2", info.get(), ctx};
        codecs::jp2_codec.write(img, req);
        std::fclose(f);
        double p = psnr(read_with(codecs::jp2_codec, ours.path), img);
        CHECK(p > 33);
        CHECK(p < 60);
        REQUIRE(run("/usr/bin/convert " + png.path + " -quality 40 JP2:" + theirs.path) == 0);
        CHECK(same_file(ours.path, theirs.path));
    }
    {
        // -extract sets the tile size; the tile-by-tile decoder and writer give IM's bytes/pixels.
        MImage big = jp2_test_image(150, 110, layout(3, true), 1);
        TempFile src, t_ours, t_theirs;
        write_with(codecs::png_codec, big, src.path, "PNG");
        Context ctx;
        magick::InfoPtr info(AcquireImageInfo());
        CloneString(&info->extract, "32x32");
        std::FILE* f = std::fopen(t_ours.path.c_str(), "wb");
        codecs::WriteRequest req{f, t_ours.path, "JP2", info.get(), ctx};
        codecs::jp2_codec.write(big, req);
        std::fclose(f);
        REQUIRE(run("/usr/bin/convert " + src.path +
                    " -define jp2:dummy=1 -extract 32x32 JP2:" + t_theirs.path) == 0);
        CHECK(same_file(t_ours.path, t_theirs.path));
        CHECK(psnr(read_with(codecs::jp2_codec, t_ours.path), big) == 999);
    }
    for (int depth : {4, 12}) {
        INFO("depth " << depth);
        TempFile d;
        REQUIRE(run("/usr/bin/convert rose: -depth " + std::to_string(depth) + " JP2:" + d.path) == 0);
        MImage ours_read = read_with(codecs::jp2_codec, d.path);
        CHECK(static_cast<int>(ours_read.shell()->depth) == depth);
        CHECK(psnr(ours_read, read_magick(d.path)) == 999);
    }
}

TEST_CASE("JPEG 2000 decodes at a reduced resolution for jp2:reduce-factor and a following -thumbnail") {
    MImage img = jp2_test_image(1201, 851, layout(3, false), 1);  // over a megapixel: worth shrinking
    TempFile t;
    write_with(codecs::jp2_codec, img, t.path, "JP2");
    Context ctx;
    magick::InfoPtr info(AcquireImageInfo());
    SetImageOption(info.get(), "jp2:reduce-factor", "1");
    MImage half = codecs::jp2_codec.read(codecs::ReadRequest{t.path, nullptr, info.get(), ctx});
    CHECK(half.width() == 601);
    CHECK(half.height() == 426);
    CHECK(static_cast<int>(half.shell()->columns) == 601);
    CHECK(GetImageArtifact(half.shell(), codecs::kShrunkArtifact) == nullptr);  // asked for, not a shrink
    magick::InfoPtr plain(AcquireImageInfo());
    struct Want {
        const char* geometry;
        int width;
        const char* shrunk_to;  // the step's exact target, as the executor then runs it
    };
    // 1201 wide: a 70x70 thumbnail (70x50) allows 1/8 (151 >= 140) but not 1/16 (76 < 140).
    for (Want k : {Want{"70x70", 151, "70x50!"}, Want{"30x30", 76, "30x21!"}, Want{"700x700", 1201, nullptr},
                   Want{"50%", 1201, nullptr}}) {
        INFO(k.geometry);
        MImage r = codecs::jp2_codec.read(codecs::ReadRequest{t.path, nullptr, plain.get(), ctx, k.geometry});
        CHECK(r.width() == k.width);
        const char* to = GetImageArtifact(r.shell(), codecs::kShrunkArtifact);
        CHECK((to ? std::string(to) : std::string("-")) == (k.shrunk_to ? k.shrunk_to : "-"));
    }
    // Under a megapixel nothing is worth saving: the full resolution.
    MImage small = jp2_test_image(301, 203, layout(3, false), 1);
    TempFile ts;
    write_with(codecs::jp2_codec, small, ts.path, "JP2");
    CHECK(codecs::jp2_codec.read(codecs::ReadRequest{ts.path, nullptr, plain.get(), ctx, "30x30"}).width() ==
          301);
}

TEST_CASE("JPEG shrink-on-load: 1/8, 1/4 or 1/2 of the size, never below twice the target") {
    MImage img = jp2_test_image(1601, 1200, layout(3, false), 1);
    TempFile t;
    write_with(codecs::jpeg_codec, img, t.path, "JPEG");
    Context ctx;
    magick::InfoPtr plain(AcquireImageInfo());
    struct Want {
        const char* geometry;
        int width, height;
        const char* shrunk_to;
    };
    // 1601x1200: 100x100 (100x75) fits 1/8 (201x150); 300x300 (300x225) only 1/2 (801x600).
    for (Want k : {Want{"100x100", 201, 150, "100x75!"}, Want{"300x300", 801, 600, "300x225!"},
                   Want{"200x", 401, 300, "200x150!"}, Want{"700x700", 1601, 1200, nullptr},
                   Want{"150%", 1601, 1200, nullptr}, Want{"nonsense", 1601, 1200, nullptr}}) {
        INFO(k.geometry);
        MImage r =
            codecs::jpeg_codec.read(codecs::ReadRequest{t.path, nullptr, plain.get(), ctx, k.geometry});
        CHECK(r.width() == k.width);
        CHECK(r.height() == k.height);
        CHECK(static_cast<int>(r.shell()->columns) == k.width);
        CHECK(r.shell()->magick_columns == 1601);  // what Thumb::Image::Width reports
        const char* to = GetImageArtifact(r.shell(), codecs::kShrunkArtifact);
        CHECK((to ? std::string(to) : std::string("-")) == (k.shrunk_to ? k.shrunk_to : "-"));
    }
    // An explicit jpeg:size wins (ImageMagick's own scaling, no rewritten step).
    magick::InfoPtr sized(AcquireImageInfo());
    SetImageOption(sized.get(), "jpeg:size", "800x600");
    MImage r = codecs::jpeg_codec.read(codecs::ReadRequest{t.path, nullptr, sized.get(), ctx, "100x100"});
    CHECK(r.width() == 801);
    CHECK(GetImageArtifact(r.shell(), codecs::kShrunkArtifact) == nullptr);
}
