// -resize, -thumbnail, -sample, -scale: geometry parsed by ImageMagick's own ParseRegionGeometry
// (so %, !, <, >, ^, @ behave identically), pixels resampled natively (src/ops/resample.cpp).
#include <sys/stat.h>

#include <cstring>

#include "src/ops/compose.h"
#include "src/ops/resample.h"
#include "src/ops/specs.h"

namespace mtool::ops {
namespace {

/// Target size for a geometry argument, as MogrifyImage computes it.
RectangleInfo region(const Image& in, const std::string& geometry) {
    RectangleInfo g{};
    magick::Exception ex;
    ParseRegionGeometry(in.shell(), geometry.c_str(), &g, ex);
    return g;
}

bool sane(const RectangleInfo& g) { return g.width > 0 && g.height > 0; }

bool accepts_resample(const OpCall& call) {
    if (has_filter_defines(call.info)) return false;
    const char* f = GetImageOption(call.info, "filter");
    if (f) {
        ssize_t type = ParseCommandOption(MagickFilterOptions, MagickFalse, f);
        if (type < 0 || !filter_for(static_cast<FilterTypes>(type), 1.0)) return false;
    }
    return true;
}

std::vector<Image> resize_to(Image& in, int w, int h, FilterTypes type, double blur, OpCall& call) {
    if (w == in.width() && h == in.height() && in.shell()->filter == UndefinedFilter && blur == 1.0)
        return {in};
    std::optional<Filter> f = filter_for(type, blur);
    if (!f) throw Error(Severity::option_error, "unsupported filter", "", "mtool/resize");
    // A streamed source (the executor's pulled read) gives a streamed result.
    auto px = in.pixels().streamed() ? resample_streamed(in.shared_pixels(), in.layout().alpha, w, h, *f,
                                                         result_bps(in.pixels(), call.ctx), call.ctx.threads)
                                     : resample(in.pixels(), in.layout().alpha, w, h, *f,
                                                result_bps(in.pixels(), call.ctx), call.ctx.threads);
    return {in.derive_scaled(std::move(px))};
}

std::vector<Image> run_resize(Image& in, OpCall& call) {
    RectangleInfo g = region(in, call.arg(0));
    if (!sane(g))
        throw Error(Severity::option_error, "negative or zero image size", in.shell()->filename,
                    "resize.c/ResizeImage");
    const int w = static_cast<int>(g.width), h = static_cast<int>(g.height);
    return resize_to(in, w, h, default_resize_filter(in.shell(), w, h), in.shell()->blur, call);
}

void set_thumbnail_properties(Image& out, const Image& in) {
    ::Image* t = out.shell();
    const ::Image* s = in.shell();
    char value[MaxTextExtent];
    RectangleInfo zero{};
    t->page = zero;
    t->depth = 8;
    t->interlace = NoInterlace;
    ResetImageProfileIterator(t);
    for (char* name = GetNextImageProfile(t); name;) {
        if (LocaleCompare(name, "icc") != 0 && LocaleCompare(name, "icm") != 0) {
            DeleteImageProfile(t, name);
            ResetImageProfileIterator(t);
        }
        name = GetNextImageProfile(t);
    }
    DeleteImageProperty(t, "comment");
    if (std::strstr(s->magick_filename, "//") == nullptr)
        FormatLocaleString(value, MaxTextExtent, "file://%s", s->magick_filename);
    else
        CopyMagickString(value, s->magick_filename, MaxTextExtent);
    SetImageProperty(t, "Thumb::URI", value);
    struct stat st {};
    if (stat(s->filename, &st) == 0) {
        FormatLocaleString(value, MaxTextExtent, "%.20g", static_cast<double>(st.st_mtime));
        SetImageProperty(t, "Thumb::MTime", value);
    }
    FormatMagickSize(static_cast<MagickSizeType>(st.st_size), MagickFalse, value);
    ConcatenateMagickString(value, "B", MaxTextExtent);
    SetImageProperty(t, "Thumb::Size", value);
    FormatLocaleString(value, MaxTextExtent, "image/%s", s->magick);
    LocaleLower(value);
    SetImageProperty(t, "Thumb::Mimetype", value);
    SetImageProperty(t, "software", MagickAuthoritativeURL);
    FormatLocaleString(value, MaxTextExtent, "%.20g", static_cast<double>(s->magick_columns));
    SetImageProperty(t, "Thumb::Image::Width", value);
    FormatLocaleString(value, MaxTextExtent, "%.20g", static_cast<double>(s->magick_rows));
    SetImageProperty(t, "Thumb::Image::Height", value);
    SetImageProperty(t, "Thumb::Document::Pages", "1");
}

std::vector<Image> run_thumbnail(Image& in, OpCall& call) {
    RectangleInfo g = region(in, call.arg(0));
    if (!sane(g))
        throw Error(Severity::option_error, "negative or zero image size", in.shell()->filename,
                    "resize.c/ThumbnailImage");
    const int w = static_cast<int>(g.width), h = static_cast<int>(g.height);
    constexpr int kSampleFactor = 5;
    const double xf = static_cast<double>(w) / in.width(), yf = static_cast<double>(h) / in.height();
    Image src = in;
    // ImageMagick samples to 5x the thumbnail first, even when that enlarges. An image that
    // shrink-on-load already decoded at 2x to 4x the thumbnail is resized directly instead:
    // sampling it up only adds blocks (text thumbnails: 36 dB from ImageMagick's, not 50).
    const bool shrunk = GetImageArtifact(in.shell(), kShrunkFromArtifact) != nullptr;
    const bool enlarges = in.width() < kSampleFactor * w || in.height() < kSampleFactor * h;
    if (!(xf * yf > 0.1) && kSampleFactor * w >= 128 && kSampleFactor * h >= 128 && !(shrunk && enlarges)) {
        auto px = sample(in.pixels(), kSampleFactor * w, kSampleFactor * h, 0.5 - 1e-12, 0.5 - 1e-12,
                         call.ctx.threads);
        src = in.derive_scaled(std::move(px));
    }
    Image out = resize_to(src, w, h, default_resize_filter(src.shell(), w, h), in.shell()->blur, call).at(0);
    if (!out.layout().alpha) {
        // ImageMagick's thumbnails always carry an (opaque) alpha channel.
        auto px = with_alpha(out.pixels(), out.layout().color_channels, false, true);
        out = out.derive(std::move(px));
        out.shell()->matte = MagickTrue;
    }
    set_thumbnail_properties(out, in);
    return {std::move(out)};
}

bool accepts_sample(const OpCall& call) { return GetImageOption(call.info, "sample:offset") == nullptr; }

std::vector<Image> run_sample(Image& in, OpCall& call) {
    RectangleInfo g = region(in, call.arg(0));
    if (!sane(g))
        throw Error(Severity::option_error, "negative or zero image size", in.shell()->filename,
                    "resize.c/SampleImage/3092");
    if (static_cast<int>(g.width) == in.width() && static_cast<int>(g.height) == in.height()) return {in};
    auto px = sample(in.pixels(), static_cast<int>(g.width), static_cast<int>(g.height), 0.5 - 1e-12,
                     0.5 - 1e-12, call.ctx.threads);
    return {in.derive_scaled(std::move(px))};
}

std::vector<Image> run_scale(Image& in, OpCall& call) {
    RectangleInfo g = region(in, call.arg(0));
    if (!sane(g))
        throw Error(Severity::option_error, "negative or zero image size", in.shell()->filename,
                    "resize.c/ScaleImage");
    if (static_cast<int>(g.width) == in.width() && static_cast<int>(g.height) == in.height()) return {in};
    auto px = scale_area(in.pixels(), in.layout().alpha, static_cast<int>(g.width),
                         static_cast<int>(g.height), result_bps(in.pixels(), call.ctx), call.ctx.threads);
    return {in.derive_scaled(std::move(px))};
}

}  // namespace

extern const OpSpec resize_op{.names = {"-resize"},
                              .kind = OpKind::simple,
                              .arity = 1,
                              .demand = Demand::neighbourhood,
                              .summary = "resize the image (ImageMagick's filters, -filter)",
                              .run = &run_resize,
                              .accepts = &accepts_resample};
extern const OpSpec thumbnail_op{.names = {"-thumbnail"},
                                 .kind = OpKind::simple,
                                 .arity = 1,
                                 .demand = Demand::neighbourhood,
                                 .summary = "create a thumbnail of the image",
                                 .run = &run_thumbnail,
                                 .accepts = &accepts_resample};
extern const OpSpec sample_op{.names = {"-sample"},
                              .kind = OpKind::simple,
                              .arity = 1,
                              .demand = Demand::neighbourhood,
                              .summary = "scale image with pixel sampling",
                              .run = &run_sample,
                              .accepts = &accepts_sample,
                              .keeps_class = true};
extern const OpSpec scale_op{.names = {"-scale"},
                             .kind = OpKind::simple,
                             .arity = 1,
                             .demand = Demand::neighbourhood,
                             .summary = "scale the image (area average)",
                             .run = &run_scale};

}  // namespace mtool::ops
