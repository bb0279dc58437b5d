// Native operators: algebraic properties and pixel equality with ImageMagick's own functions.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>

#include "tests/unit/helpers.h"

using namespace test;
using mtool::Context;
using mtool::Diagnostics;
using mtool::Pixels;
namespace magick = mtool::magick;
namespace ops = mtool::ops;

namespace {

/// The same transform through ImageMagick (the oracle), exported back.
MImage oracle(::Image* (*fn)(const ::Image*, ExceptionInfo*), const MImage& in) {
    MImage copy = in;
    Diagnostics d;
    ::Image* im = copy.make_magick(d);
    magick::Exception ex;
    MImage out{magick::ImagePtr(fn(im, ex))};
    out.make_native(d);
    return out;
}

}  // namespace

TEST_CASE("flip, flop, transpose twice are the identity; rotate 90 four times too") {
    for (int depth : {8, 16}) {
        MImage img = plasma(37, 23, depth);
        CHECK(same_pixels(apply("-flip", {}, apply("-flip", {}, img)), img));
        CHECK(same_pixels(apply("-flop", {}, apply("-flop", {}, img)), img));
        CHECK(same_pixels(apply("-transpose", {}, apply("-transpose", {}, img)), img));
        MImage r = img;
        for (int i = 0; i < 4; ++i) r = apply("-rotate", {"90"}, r);
        CHECK(same_pixels(r, img));
        CHECK_FALSE(same_pixels(apply("-rotate", {"90"}, img), img));
        CHECK(same_pixels(apply("-negate", {}, apply("-negate", {}, img)), img));
    }
}

TEST_CASE("native transforms equal ImageMagick's pixel for pixel") {
    MImage img = plasma(41, 29, 8);
    CHECK(same_pixels(apply("-flip", {}, img), oracle(&FlipImage, img)));
    CHECK(same_pixels(apply("-flop", {}, img), oracle(&FlopImage, img)));
    CHECK(same_pixels(apply("-transpose", {}, img), oracle(&TransposeImage, img)));
    CHECK(same_pixels(apply("-transverse", {}, img), oracle(&TransverseImage, img)));
}

TEST_CASE("rotate declines angles that are not multiples of 90 and honours > and <") {
    Context ctx;
    magick::InfoPtr info(AcquireImageInfo());
    const ops::OpSpec* spec = ops::find("-rotate");
    ops::OpCall c30{"-rotate", {"30"}, info.get(), ctx};
    CHECK_FALSE(spec->accepts(c30));
    MImage wide = plasma(40, 20, 8);
    CHECK(apply("-rotate", {"90<"}, wide).width() == 40);  // only when taller than wide
    CHECK(apply("-rotate", {"90>"}, wide).width() == 20);
}

TEST_CASE("every native operator agrees with ImageMagick's option table") {
    for (const ops::OpSpec* spec : ops::all())
        for (const auto& name : spec->names) {
            magick::OptionInfo oi = magick::option_info(name);
            INFO(name);
            CHECK(oi.known);
            if (name[0] == '-') CHECK(oi.arity == spec->arity);
            bool list = (oi.flags & ListOperatorOptionFlag) != 0;
            CHECK(list == (spec->kind == ops::OpKind::list));
        }
}

TEST_CASE("native pixels handed to ImageMagick are opaque where the image has no alpha") {
    // ImportImagePixels sets only its map's channels; a cache allocated where freed memory held
    // anything else once left the opacity of an opaque image as that garbage, which some of
    // ImageMagick's operators read (-enhance weighs neighbours by it). Dirty the heap with
    // blocks of the cache's size first, so that the cache reuses them.
    for (mtool::Layout layout : {mtool::Layout{3, false}, mtool::Layout{1, false}}) {
        MImage img = synthetic(300, 200, layout, 1, [](int x, int y, int c) {
            return static_cast<float>((x + y + c) % 7) / 7.0f;
        });
        const size_t bytes = 300 * 200 * sizeof(PixelPacket);
        for (int k = 0; k < 3; ++k) {
            void* p = std::malloc(bytes);
            std::memset(p, 0xAB, bytes);
            std::free(p);
        }
        Diagnostics d;
        ::Image* im = img.make_magick(d);
        magick::Exception ex;
        bool opaque = true;
        for (size_t y = 0; y < im->rows && opaque; ++y) {
            const PixelPacket* q = GetVirtualPixels(im, 0, static_cast<ssize_t>(y), im->columns, 1, ex);
            REQUIRE(q);
            for (size_t x = 0; x < im->columns; ++x) opaque &= q[x].opacity == OpaqueOpacity;
        }
        CHECK(opaque);
    }
}
