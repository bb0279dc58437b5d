// Every native simple operator against ImageMagick's own MogrifyImage on the same pixels:
// pixel equality (PSNR over visible RGBA), size and page offsets, for 8-bit, 16-bit, gray and
// alpha inputs. Plus properties that hold whatever ImageMagick does.
#include "tests/unit/helpers.h"

#include <algorithm>
#include <cmath>

using namespace test;
using mtool::Layout;

namespace {

struct Case {
    const char* op;
    std::vector<std::string> args;
    std::vector<std::pair<std::string, std::string>> settings;
    double min_psnr;
};

MImage photo(int depth, bool alpha, bool gray) {
    Layout l;
    l.color_channels = gray ? 1 : 3;
    l.alpha = alpha;
    return synthetic(73, 41, l, depth / 8, [](int x, int y, int c) -> float {
        if (c == 3) return 0.3f + 0.6f * x / 72.0f;
        float v = 0.5f + 0.4f * std::sin(0.21f * x * (c + 1) + 0.13f * y) * std::cos(0.07f * y * (2 - c % 2));
        return v;
    });
}

}  // namespace

TEST_CASE("native operators match ImageMagick's pixels, sizes and pages") {
    const Case cases[] = {
        {"-resize", {"50%"}, {}, 50},
        {"-resize", {"133x71!"}, {}, 50},
        {"-resize", {"180%"}, {}, 50},
        {"-resize", {"40%"}, {{"-filter", "Triangle"}}, 50},
        {"-thumbnail", {"30x30"}, {}, 50},
        {"-sample", {"37%"}, {}, 99},
        {"-scale", {"33%"}, {}, 50},
        {"-crop", {"30x20+5+7"}, {}, 99},
        {"-shave", {"5x3"}, {}, 99},
        {"-chop", {"10x5+3+3"}, {}, 99},
        {"-extent", {"90x50"}, {}, 50},
        {"-border", {"4x2"}, {}, 50},
        {"-trim", {}, {}, 99},
        {"-flip", {}, {}, 99},
        {"-rotate", {"270"}, {}, 99},
        {"-level", {"10%,90%"}, {}, 50},
        {"-level", {"5%,95%,1.4"}, {}, 50},
        {"-auto-level", {}, {}, 50},
        {"-normalize", {}, {}, 50},
        {"-gamma", {"1.7"}, {}, 50},
        {"-brightness-contrast", {"10x20"}, {}, 50},
        {"-threshold", {"50%"}, {}, 99},
        {"-modulate", {"110,80,120"}, {}, 55},
        {"-modulate", {"120,80,90"}, {}, 55},
        {"-modulate", {"100,100,50"}, {}, 55},
        {"-blur", {"0x1.5"}, {}, 50},
        {"-gaussian-blur", {"3x1"}, {}, 50},
        {"-sharpen", {"0x1"}, {}, 50},
        {"-unsharp", {"2x1+1.2+0.02"}, {}, 50},
        {"-negate", {}, {}, 99},
        {"-colorspace", {"Gray"}, {}, 50},
        {"-alpha", {"set"}, {}, 99},
        {"-alpha", {"off"}, {}, 99},
    };
    for (int depth : {8, 16})
        for (int kind = 0; kind < 3; ++kind) {
            const bool alpha = kind == 1, gray = kind == 2;
            for (const Case& k : cases) {
                const std::string name = k.op;
                const bool alpha_sensitive = name == "-blur" || name == "-gaussian-blur" ||
                                             name == "-sharpen" || name == "-unsharp" || name == "-modulate";
                if (alpha && alpha_sensitive) continue;  // declined to ImageMagick at run time
                if (gray && (name == "-modulate" || name == "-extent" || name == "-border")) continue;
                INFO(name << " " << (k.args.empty() ? "" : k.args[0]) << " depth " << depth << " alpha "
                          << alpha << " gray " << gray);
                MImage in = photo(depth, alpha, gray);
                MImage mine = apply(k.op, k.args, in, k.settings);
                MImage theirs = apply_magick(k.op, k.args, in, k.settings);
                CHECK(mine.width() == theirs.width());
                CHECK(mine.height() == theirs.height());
                CHECK(mine.shell()->page.x == theirs.shell()->page.x);
                CHECK(mine.shell()->page.y == theirs.shell()->page.y);
                CHECK(mine.layout().alpha == theirs.layout().alpha);
                CHECK(psnr(mine, theirs) >= k.min_psnr);
            }
        }
}

TEST_CASE("operator properties") {
    MImage img = photo(8, false, false);
    const mtool::Pixels& src = img.pixels();
    // Sampling up by 2 repeats every pixel in a 2x2 block; sampling that back down by 2 gives
    // the original: both compare computed images with independent expectations.
    MImage up = apply("-sample", {"200%"}, img);
    REQUIRE(up.width() == 146);
    bool blocks = true;
    for (int y = 0; y < up.height(); ++y)
        for (int x = 0; x < up.width(); ++x)
            for (int c = 0; c < 3; ++c) blocks &= up.pixels().get(x, y, c) == src.get(x / 2, y / 2, c);
    CHECK(blocks);
    CHECK(same_pixels(apply("-sample", {"50%"}, up), img));
    // A crop holds exactly the source's pixels at its offset.
    MImage part = apply("-crop", {"30x20+17+9"}, img);
    bool inside = part.width() == 30 && part.height() == 20;
    for (int y = 0; inside && y < 20; ++y)
        for (int x = 0; x < 30; ++x)
            for (int c = 0; c < 3; ++c) inside &= part.pixels().get(x, y, c) == src.get(x + 17, y + 9, c);
    CHECK(inside);
    // -level and -gamma against their formulas, computed here from the source samples; -negate
    // applied twice is the original.
    MImage lev = apply("-level", {"20%,80%"}, img), gam = apply("-gamma", {"2"}, img);
    double worst_level = 0, worst_gamma = 0;
    for (int y = 0; y < img.height(); ++y)
        for (int x = 0; x < img.width(); ++x)
            for (int c = 0; c < 3; ++c) {
                const double v = src.get(x, y, c);
                const double want_level = std::clamp((v - 0.2) / 0.6, 0.0, 1.0);
                worst_level = std::max(worst_level, std::fabs(lev.pixels().get(x, y, c) - want_level));
                worst_gamma = std::max(worst_gamma, std::fabs(gam.pixels().get(x, y, c) - std::pow(v, 0.5)));
            }
    CHECK(worst_level < 1.0 / 255 + 1e-6);
    CHECK(worst_gamma < 1.0 / 255 + 1e-6);
    CHECK(same_pixels(apply("-negate", {}, apply("-negate", {}, img)), img));
    CHECK_FALSE(same_pixels(apply("-negate", {}, img), img));
    // Shave then border by the same amount keeps the size.
    MImage sb = apply("-border", {"3"}, apply("-shave", {"3"}, img));
    CHECK(sb.width() == img.width());
    CHECK(sb.height() == img.height());
    // Tiles cover the image exactly.
    mtool::Context ctx;
    mtool::magick::InfoPtr info(AcquireImageInfo());
    mtool::ops::OpCall call{"-crop", {"20x20"}, info.get(), ctx};
    auto tiles = mtool::ops::find("-crop")->run(img, call);
    long area = 0;
    for (auto& t : tiles) area += static_cast<long>(t.width()) * t.height();
    CHECK(area == 73L * 41);
    CHECK(tiles.size() == 4u * 3u);
}
