#include "src/core/magick.h"

#include <mutex>

namespace mtool::magick {

void initialize(const char* argv0) {
    static std::once_flag once;
    std::call_once(once, [&] {
        MagickCoreGenesis(argv0, MagickFalse);
        MagickWandGenesis();
        // mtool prints diagnostics itself; ImageMagick's handlers would print twice.
        SetWarningHandler(nullptr);
        SetErrorHandler(nullptr);
    });
}

void terminate() {
    // Destroys the registry (mpr: images and their pixel caches) and removes every temporary
    // file ImageMagick still holds, as its own tools do on exit.
    MagickWandTerminus();
}

void ImageDeleter::operator()(::Image* image) const {
    if (image) DestroyImage(image);
}
void InfoDeleter::operator()(::ImageInfo* info) const {
    if (info) DestroyImageInfo(info);
}

InfoPtr clone_info(const ::ImageInfo* info) { return InfoPtr(CloneImageInfo(info)); }

Exception::Exception() : ex_(AcquireExceptionInfo()) {}
Exception::~Exception() { DestroyExceptionInfo(ex_); }

static Severity to_severity(ExceptionType type) {
    int t = static_cast<int>(type);
    if (t < 400) return Severity::warning;
    if (t >= 700) return Severity::fatal_error;
    return static_cast<Severity>(t);
}

static std::string message_of(const char* reason, const char* description) {
    std::string text = reason ? reason : "";
    if (description && *description) text += std::string(" (") + description + ")";
    return text;
}

bool Exception::drain(Diagnostics& out) { return drain_exception(ex_, out); }

bool drain_exception(::ExceptionInfo* ex_, Diagnostics& out) {
    bool error = false;
    if (ex_->severity == UndefinedException) return false;
    // ImageMagick keeps every thrown exception in a list; the head holds the worst one.
    auto* list = static_cast<LinkedListInfo*>(ex_->exceptions);
    if (list) {
        ResetLinkedListIterator(list);
        for (auto* p = static_cast<ExceptionInfo*>(GetNextValueInLinkedList(list)); p;
             p = static_cast<ExceptionInfo*>(GetNextValueInLinkedList(list))) {
            Severity s = to_severity(p->severity);
            if (static_cast<int>(s) >= 400) error = true;
            out.add(Diagnostic{s, message_of(p->reason, p->description)});
        }
    } else {
        Severity s = to_severity(ex_->severity);
        error = static_cast<int>(s) >= 400;
        out.add(Diagnostic{s, message_of(ex_->reason, ex_->description)});
    }
    ClearMagickException(ex_);
    return error;
}

void Exception::throw_if_error(Diagnostics& out) {
    if (ex_->severity == UndefinedException) return;
    if (ex_->severity < ErrorException) {
        drain(out);
        return;
    }
    Severity s = to_severity(ex_->severity);
    std::string first = message_of(ex_->reason, ex_->description);
    Diagnostics tmp;
    drain(tmp);
    for (const auto& d : tmp.all())
        if (d.text != first) out.add(d);
    throw Error(s, first);
}

OptionInfo option_info(const std::string& option) {
    OptionInfo info;
    if (option.size() < 2 || (option[0] != '-' && option[0] != '+')) return info;
    // ImageMagick's table lookup ignores case, but convert recognises lower-case names only.
    for (char c : option)
        if (c >= 'A' && c <= 'Z') return info;
    // Missing from 6.9.11's table, handled by name in convert.c and mogrify.c.
    if (option == "-function" || option == "+function") {
        info.known = true;
        info.arity = option[0] == '-' ? 2 : 0;
        info.flags = SimpleOperatorOptionFlag;
        return info;
    }
    if (option == "-precision" || option == "+precision") {
        info.known = true;
        info.arity = option[0] == '-' ? 1 : 0;
        info.flags = ImageInfoOptionFlag;
        return info;
    }
    ssize_t arity = ParseCommandOption(MagickCommandOptions, MagickFalse, option.c_str());
    if (arity < 0) return info;
    info.known = true;
    info.arity = static_cast<int>(arity);
    // The 6.9.11 table says 0 for these, but convert.c and MogrifyImage consume an argument.
    if (option == "-charcoal" || option == "-attenuate") info.arity = 1;
    info.flags = GetCommandOptionFlags(MagickCommandOptions, MagickFalse, option.c_str());
    return info;
}

bool is_command_option(const std::string& token) { return IsCommandOption(token.c_str()) != MagickFalse; }

bool policy_allows(::PolicyDomain domain, ::PolicyRights rights, const std::string& pattern) {
    return IsRightsAuthorized(domain, rights, pattern.c_str()) != MagickFalse;
}

std::string known_format(const std::string& name) {
    if (name.empty()) return {};
    ExceptionInfo* ex = AcquireExceptionInfo();
    const MagickInfo* mi = GetMagickInfo(name.c_str(), ex);
    DestroyExceptionInfo(ex);
    return mi && mi->name ? std::string(mi->name) : std::string();
}

namespace where {
namespace {

/// Runs `probe` and returns the location of the exception it raised (ImageMagick appends
/// " @ error/file.c/Function/LINE" to the reason) when that names `site` and the reason
/// contains `must`, else `fallback`.
template <class Probe>
std::string ask(const std::string& site, const std::string& fallback, const char* must, Probe&& probe) {
    ExceptionInfo* e = AcquireExceptionInfo();
    probe(e);
    const std::string reason = e->reason ? e->reason : "";
    DestroyExceptionInfo(e);
    const size_t marker = reason.rfind(" @ ");
    const size_t slash = marker == std::string::npos ? marker : reason.find('/', marker);
    if (slash == std::string::npos || reason.find(must) == std::string::npos) return fallback;
    const std::string found = reason.substr(slash + 1);
    const std::string prefix = site + "/";
    const bool named = found.size() > prefix.size() && found.compare(0, prefix.size(), prefix) == 0 &&
                       found.find_first_not_of("0123456789", prefix.size()) == std::string::npos;
    return named ? found : fallback;
}

/// A 1x1 image for the cache probes (no pixels are allocated before the checks fail).
struct Probe1 {
    ImageInfo* info = AcquireImageInfo();
    ::Image* image = AcquireImage(info);
    ~Probe1() {
        if (image) DestroyImage(image);
        DestroyImageInfo(info);
    }
};

/// Pings `name` (a read that fails in OpenBlob). The probes name paths below /dev/null, which no
/// one can create, so no planted file is ever parsed.
void ping(const char* name, ExceptionInfo* e) {
    ImageInfo* info = AcquireImageInfo();
    CopyMagickString(info->filename, name, MaxTextExtent);
    if (::Image* img = PingImage(info, e)) DestroyImageList(img);
    DestroyImageInfo(info);
}

}  // namespace

const std::string& open_blob() {
    static const std::string at = ask("blob.c/OpenBlob", "blob.c/OpenBlob/3014", "unable to open",
                                      [](ExceptionInfo* e) { ping("gif:/dev/null/mtool-probe.gif", e); });
    return at;
}

const std::string& open_blob_policy() {
    static const std::string at = ask("blob.c/OpenBlob", "blob.c/OpenBlob/2737", "security policy",
                                      [](ExceptionInfo* e) { ping("gif:@/dev/null/mtool-probe", e); });
    return at;
}

const std::string& open_pixel_cache_limit(uint64_t width_limit, uint64_t height_limit) {
    static const std::string at =
        ask("cache.c/OpenPixelCache", "cache.c/OpenPixelCache/4039", "exceeds limit", [&](ExceptionInfo* e) {
            Probe1 p;
            if (!p.image) return;
            if (width_limit < (1ull << 30))
                (void)SetImageExtent(p.image, static_cast<size_t>(width_limit) + 1, 1);
            else if (height_limit < (1ull << 30))
                (void)SetImageExtent(p.image, 1, static_cast<size_t>(height_limit) + 1);
            InheritException(e, &p.image->exception);
        });
    return at;
}

const std::string& nexus_limit(uint64_t width_limit) {
    static const std::string at =
        ask("cache.c/SetPixelCacheNexusPixels", "cache.c/SetPixelCacheNexusPixels/5457", "exceeds limit",
            [&](ExceptionInfo* e) {
                Probe1 p;
                if (p.image && SetImageExtent(p.image, 1, 1) != MagickFalse && width_limit < (1ull << 40))
                    (void)GetVirtualPixels(p.image, 0, 0, static_cast<size_t>(width_limit) + 1, 1, e);
            });
    return at;
}

}  // namespace where

}  // namespace mtool::magick
