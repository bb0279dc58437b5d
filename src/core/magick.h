#pragma once
// The thin C++ layer over MagickCore/MagickWand used by the bridge: RAII owners and
// exception conversion. Everything that talks to ImageMagick goes through these types.
#include <magick/MagickCore.h>
#include <wand/MagickWand.h>

#include <memory>
#include <string>
#include <vector>

#include "src/core/error.h"

namespace mtool::magick {

/// Starts ImageMagick once per process (idempotent).
void initialize(const char* argv0);
/// Shuts ImageMagick down at exit: registry images destroyed, its temporary files removed.
void terminate();

struct ImageDeleter {
    void operator()(::Image* image) const;
};
struct InfoDeleter {
    void operator()(::ImageInfo* info) const;
};
/// Owns one ImageMagick image (not a list).
using ImagePtr = std::unique_ptr<::Image, ImageDeleter>;
/// Owns one ImageInfo (ImageMagick's settings record).
using InfoPtr = std::unique_ptr<::ImageInfo, InfoDeleter>;

InfoPtr clone_info(const ::ImageInfo* info);

/// An ExceptionInfo that moves its messages into Diagnostics when it goes out of scope.
class Exception {
public:
    Exception();
    ~Exception();
    Exception(const Exception&) = delete;
    Exception& operator=(const Exception&) = delete;
    ::ExceptionInfo* get() { return ex_; }
    operator ::ExceptionInfo*() { return ex_; }
    /// Moves every collected message into `out`; returns true if one was an error.
    bool drain(Diagnostics& out);
    /// Throws the first error (if any) as mtool::Error; warnings go to `out`.
    void throw_if_error(Diagnostics& out);

private:
    ::ExceptionInfo* ex_;
};

/// Moves every message of an ImageMagick exception (e.g. an image's own) into `out` and clears
/// it; returns true if one was an error.
bool drain_exception(::ExceptionInfo* ex, Diagnostics& out);

/// Option flags and arity from ImageMagick's own option table.
struct OptionInfo {
    bool known = false;
    int arity = 0;
    long flags = 0;
};
OptionInfo option_info(const std::string& option);
bool is_command_option(const std::string& token);

/// True if `domain`/`pattern` is allowed `rights` by the loaded security policy.
bool policy_allows(::PolicyDomain domain, ::PolicyRights rights, const std::string& pattern);

/// Returns ImageMagick's name for a format if it knows one (`png` -> `PNG`), else "".
std::string known_format(const std::string& name);

/// Where (`file.c/Function/LINE`) the installed ImageMagick raises a message mtool repeats.
/// The lines move between Debian's security updates (deb12u16 moved OpenBlob's from 2998 to
/// 3014), so each is asked of the library once, by a probe that makes it raise that message
/// without touching any file or allocating pixels; the value after `/` of the fallback is
/// deb12u16's, used when a probe cannot run or names another place.
namespace where {
/// "unable to open image" (a file that cannot be opened, for reading or writing).
const std::string& open_blob();
/// A path the security policy denies, in OpenBlob.
const std::string& open_blob_policy();
/// "width or height exceeds limit" of a new pixel cache; `width_limit`/`height_limit` are the
/// limits in force (the probe asks for one pixel more).
const std::string& open_pixel_cache_limit(uint64_t width_limit, uint64_t height_limit);
/// "width or height exceeds limit" of a virtual row wider than `width_limit`.
const std::string& nexus_limit(uint64_t width_limit);
/// Not probed: raising them changes global state (resource limits) or ends the process.
inline constexpr const char* cache_exhausted = "cache.c/OpenPixelCache/4234";
inline constexpr const char* time_limit = "cache.c/GetImagePixelCache/1932";
inline constexpr const char* coder_policy = "constitute.c/IsCoderAuthorized/426";
}  // namespace where

}  // namespace mtool::magick
