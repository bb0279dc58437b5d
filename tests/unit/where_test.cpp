// The locations mtool repeats in ImageMagick-style messages, asked of the installed library
// (src/core/magick.h, namespace where): each must equal what the library itself reports when
// the same failure comes through another entry point, so a security update that moves a line
// cannot leave mtool quoting the old one.
#include "tests/unit/helpers.h"  // doctest before ImageMagick's headers (IsNaN macro)

#include "src/core/magick.h"

namespace {
/// The `file.c/Function/LINE` of the exception `fn` raises, or "".
template <class F>
std::string raised(F&& fn) {
    ExceptionInfo* e = AcquireExceptionInfo();
    fn(e);
    std::string r = e->reason ? e->reason : "";
    DestroyExceptionInfo(e);
    const size_t at = r.rfind(" @ ");
    const size_t slash = at == std::string::npos ? at : r.find('/', at);
    return slash == std::string::npos ? "" : r.substr(slash + 1);
}
std::string read_of(const char* name) {
    return raised([&](ExceptionInfo* e) {
        ImageInfo* info = AcquireImageInfo();
        CopyMagickString(info->filename, name, MaxTextExtent);
        if (::Image* img = ReadImage(info, e)) DestroyImageList(img);
        DestroyImageInfo(info);
    });
}
}  // namespace

TEST_CASE("where: OpenBlob's lines as the library reports them") {
    const std::string open = read_of("png:/nonexistent-mtool-test/a.png");
    REQUIRE(open.rfind("blob.c/OpenBlob/", 0) == 0);
    CHECK(mtool::magick::where::open_blob() == open);
    const std::string policy = read_of("png:@mtool-test");  // Debian's policy denies "@*" paths
    if (policy.rfind("blob.c/OpenBlob/", 0) == 0 && policy != open)
        CHECK(mtool::magick::where::open_blob_policy() == policy);
    else
        MESSAGE("the loaded policy does not deny @ paths: open_blob_policy not compared");
}

TEST_CASE("where: OpenPixelCache's width limit as the library reports it") {
    const MagickSizeType old = GetMagickResourceLimit(WidthResource);
    REQUIRE(SetMagickResourceLimit(WidthResource, 100) != MagickFalse);
    const std::string lib = raised([](ExceptionInfo* e) {
        ImageInfo* info = AcquireImageInfo();
        ::Image* img = AcquireImage(info);
        (void)SetImageExtent(img, 300, 2);
        InheritException(e, &img->exception);
        DestroyImage(img);
        DestroyImageInfo(info);
    });
    const std::string mine = mtool::magick::where::open_pixel_cache_limit(100, 1ull << 40);
    const std::string nexus = mtool::magick::where::nexus_limit(100);
    SetMagickResourceLimit(WidthResource, old);
    REQUIRE(lib.rfind("cache.c/OpenPixelCache/", 0) == 0);
    CHECK(mine == lib);
    CHECK(nexus.rfind("cache.c/SetPixelCacheNexusPixels/", 0) == 0);
}
