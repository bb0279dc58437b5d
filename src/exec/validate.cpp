// Parse-time checks of option arguments, as ImageMagick's convert does before any image is
// read: geometry-shaped arguments, numbers and enumerations. Returns "" when the argument is ok.
#include <cstring>
#include <string>
#include <utility>

#include "src/core/magick.h"
#include "src/exec/validate.h"

namespace mtool::exec {
namespace {

enum class Arg { geometry, scene, number, enumeration };

struct Rule {
    const char* option;  // without the leading sign
    Arg kind;
    CommandOption table = MagickUndefinedOptions;
    const char* what =
        nullptr;  // "image colorspace" for "unrecognized image colorspace `Foo'"; "!Tag" prints Tag
};

const Rule kRules[] = {
    {"adaptive-blur", Arg::geometry},
    {"adaptive-resize", Arg::geometry},
    {"adaptive-sharpen", Arg::geometry},
    {"blur", Arg::geometry},
    {"border", Arg::geometry},
    {"brightness-contrast", Arg::geometry},
    {"charcoal", Arg::geometry},
    {"chop", Arg::geometry},
    {"crop", Arg::geometry},
    {"density", Arg::geometry},
    {"edge", Arg::geometry},
    {"emboss", Arg::geometry},
    {"extent", Arg::geometry},
    {"frame", Arg::geometry},
    {"gamma", Arg::number},
    {"gaussian-blur", Arg::geometry},
    {"geometry", Arg::geometry},
    {"level", Arg::geometry},
    {"median", Arg::geometry},
    {"modulate", Arg::geometry},
    {"motion-blur", Arg::geometry},
    {"quality", Arg::number},
    {"repage", Arg::geometry},
    {"resample", Arg::geometry},
    {"resize", Arg::geometry},
    {"rotate", Arg::geometry},
    {"sample", Arg::geometry},
    {"scale", Arg::geometry},
    {"sharpen", Arg::geometry},
    {"shave", Arg::geometry},
    {"size", Arg::geometry},
    {"thumbnail", Arg::geometry},
    {"threshold", Arg::geometry},
    {"unsharp", Arg::geometry},
    {"posterize", Arg::number},
    {"depth", Arg::number},
    {"colors", Arg::number},
    {"delay", Arg::geometry},
    {"loop", Arg::number},
    {"scene", Arg::number},
    {"fuzz", Arg::geometry},
    {"sepia-tone", Arg::number},
    {"swap", Arg::scene},
    {"delete", Arg::scene},
    {"duplicate", Arg::geometry},
    {"insert", Arg::number},
    {"shadow", Arg::geometry},
    {"sampling-factor", Arg::geometry},
    {"auto-level", Arg::geometry},
    {"colorspace", Arg::enumeration, MagickColorspaceOptions, "image colorspace"},
    {"gravity", Arg::enumeration, MagickGravityOptions, "gravity type"},
    {"filter", Arg::enumeration, MagickFilterOptions, "image filter"},
    {"compose", Arg::enumeration, MagickComposeOptions, "compose operator"},
    {"type", Arg::enumeration, MagickTypeOptions, "image type"},
    {"interlace", Arg::enumeration, MagickInterlaceOptions, "interlace type"},
    {"units", Arg::enumeration, MagickResolutionOptions, "units type"},
    {"alpha", Arg::enumeration, MagickAlphaOptions, "!UnrecognizedAlphaChannelType"},
    {"compress", Arg::enumeration, MagickCompressOptions, "image compression"},
    {"layers", Arg::enumeration, MagickLayerOptions, "!UnrecognizedLayerMethod"},
    {"virtual-pixel", Arg::enumeration, MagickVirtualPixelOptions, "virtual pixel method"},
    {"dispose", Arg::enumeration, MagickDisposeOptions, "dispose method"},
    {"intent", Arg::enumeration, MagickIntentOptions, "intent type"},
    {"channel", Arg::enumeration, MagickChannelOptions, "channel type"},
    {"limit", Arg::enumeration, MagickResourceOptions, "resource type"},
};

}  // namespace

std::string validate_argument(const std::string& option, const std::string& value, std::string& reason) {
    const char* name = option.c_str() + 1;
    for (const Rule& r : kRules) {
        if (std::strcmp(r.option, name) != 0) continue;
        bool ok = true;
        switch (r.kind) {
            case Arg::geometry:
                ok = IsGeometry(value.c_str()) != MagickFalse;
                break;
            case Arg::scene:
                ok = IsSceneGeometry(value.c_str(), MagickFalse) != MagickFalse;
                break;
            case Arg::number:
                ok = IsGeometry(value.c_str()) != MagickFalse;
                break;
            case Arg::enumeration:
                if (ParseCommandOption(r.table, r.table == MagickChannelOptions ? MagickTrue : MagickFalse,
                                       value.c_str()) < 0) {
                    if (r.table == MagickChannelOptions && ParseChannelOption(value.c_str()) >= 0) break;
                    // "!Tag": ImageMagick has no text for the tag and prints it as it is.
                    reason =
                        r.what[0] == '!' ? std::string(r.what + 1) : std::string("unrecognized ") + r.what;
                    return value;
                }
                break;
        }
        if (!ok) {
            reason = "invalid argument for option `" + option + "'";
            return value;
        }
        return "";
    }
    return "";
}

}  // namespace mtool::exec
