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

}  // namespace mtool::magick
