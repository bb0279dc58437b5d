#include "tests/unit/helpers.h"

#include <cmath>
#include <cstring>

namespace test {

using mtool::Context;
using mtool::Diagnostics;
using mtool::Pixels;
namespace magick = mtool::magick;
namespace ops = mtool::ops;

MImage plasma(int w, int h, int depth) {
    magick::InfoPtr info(AcquireImageInfo());
    std::string size = std::to_string(w) + "x" + std::to_string(h);
    CloneString(&info->size, size.c_str());
    CopyMagickString(info->filename, "gradient:red-blue", MaxTextExtent);
    magick::Exception ex;
    ::Image* im = ReadImage(info.get(), ex);
    REQUIRE(im != nullptr);
    im->depth = depth;
    for (int y = 0; y < 3; ++y) {
        PixelPacket* q = GetAuthenticPixels(im, 0, y, 5, 1, ex);
        for (int x = 0; x < 5; ++x) q[x].green = static_cast<Quantum>(QuantumRange / (x + y + 2));
        SyncAuthenticPixels(im, ex);
    }
    MImage img{magick::ImagePtr(im)};
    Diagnostics d;
    img.make_native(d);
    return img;
}

MImage from_magick(const std::string& spec, int w, int h) {
    magick::InfoPtr info(AcquireImageInfo());
    if (w > 0) {
        std::string size = std::to_string(w) + "x" + std::to_string(h);
        CloneString(&info->size, size.c_str());
    }
    CopyMagickString(info->filename, spec.c_str(), MaxTextExtent);
    magick::Exception ex;
    ::Image* im = ReadImage(info.get(), ex);
    REQUIRE(im != nullptr);
    MImage img{magick::ImagePtr(im)};
    Diagnostics d;
    img.make_native(d);
    return img;
}

MImage synthetic(int w, int h, mtool::Layout layout, int bps,
                 const std::function<float(int, int, int)>& fill) {
    MImage base = from_magick("xc:black", 1, 1);
    magick::ImagePtr shell = mtool::shell_like(base.shell(), w, h);
    shell->colorspace = layout.gray() ? GRAYColorspace : layout.cmyk() ? CMYKColorspace : sRGBColorspace;
    shell->matte = layout.alpha ? MagickTrue : MagickFalse;
    shell->depth = bps * 8;
    shell->page = RectangleInfo{};
    auto px = std::make_shared<Pixels>(w, h, layout.channels(), bps);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < layout.channels(); ++c) px->set(x, y, c, fill(x, y, c));
    return MImage(std::move(shell), std::move(px));
}

static void apply_settings(::ImageInfo* info,
                           const std::vector<std::pair<std::string, std::string>>& settings) {
    for (const auto& [k, v] : settings) {
        const char* argv[2] = {k.c_str(), v.c_str()};
        magick::Exception ex;
        MogrifyImageInfo(info, v.empty() ? 1 : 2, argv, ex);
    }
}

MImage apply(const std::string& op, std::vector<std::string> args, MImage in,
             const std::vector<std::pair<std::string, std::string>>& settings) {
    Context ctx;
    magick::InfoPtr info(AcquireImageInfo());
    apply_settings(info.get(), settings);
    ops::OpCall call{op, std::move(args), info.get(), ctx};
    SyncImageSettings(info.get(), in.shell());  // as the executor does before every operator
    const ops::OpSpec* spec = ops::find(op);
    INFO(op);
    REQUIRE(spec != nullptr);
    REQUIRE((!spec->accepts || spec->accepts(call)));
    return spec->run(in, call).at(0);
}

MImage apply_magick(const std::string& op, std::vector<std::string> args, MImage in,
                    const std::vector<std::pair<std::string, std::string>>& settings) {
    magick::InfoPtr info(AcquireImageInfo());
    apply_settings(info.get(), settings);
    Diagnostics d;
    ::Image* im = in.release_magick(d);
    std::vector<const char*> argv{op.c_str()};
    for (auto& a : args) argv.push_back(a.c_str());
    magick::Exception ex;
    MogrifyImage(info.get(), static_cast<int>(argv.size()), argv.data(), &im, ex);
    MImage out{magick::ImagePtr(im)};
    out.make_native(d);
    return out;
}

bool same_pixels(const MImage& a, const MImage& b) {
    const Pixels &p = a.pixels(), &q = b.pixels();
    if (p.width() != q.width() || p.height() != q.height() || p.channels() != q.channels() ||
        p.bytes_per_sample() != q.bytes_per_sample())
        return false;
    for (int y = 0; y < p.height(); ++y)  // row by row: rows live in separate strips
        if (std::memcmp(p.row(y), q.row(y), p.stride()) != 0) return false;
    return true;
}

static void rgba(const MImage& im, int x, int y, double v[4]) {
    const Pixels& p = im.pixels();
    mtool::Layout l = im.layout();
    for (int c = 0; c < 3; ++c) v[c] = p.get(x, y, l.gray() ? 0 : c);
    v[3] = l.alpha ? p.get(x, y, p.channels() - 1) : 1.0;
}

double psnr(const MImage& a, const MImage& b) {
    if (a.width() != b.width() || a.height() != b.height()) return 0;
    double se = 0;
    for (int y = 0; y < a.height(); ++y)
        for (int x = 0; x < a.width(); ++x) {
            double u[4], v[4];
            rgba(a, x, y, u);
            rgba(b, x, y, v);
            for (int c = 0; c < 4; ++c) se += (u[c] - v[c]) * (u[c] - v[c]);
        }
    double mse = se / (4.0 * a.width() * a.height());
    return mse == 0 ? 999 : 10 * std::log10(1.0 / mse);
}

}  // namespace test
