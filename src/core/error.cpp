#include "src/core/error.h"

#include <mutex>

#include <cstdio>
#include <cstring>

namespace mtool {

std::string format_diagnostic(Severity severity, const std::string& reason, const std::string& context,
                              const std::string& where) {
    std::string text = reason;
    if (!context.empty()) text += " `" + context + "'";
    const int level = static_cast<int>(severity);
    const char* kind = level >= 700 ? "fatal" : level >= 400 ? "error" : "warning";
    text += " @ ";
    text += kind;
    text += "/" + where;
    return text;
}

Error::Error(Severity severity, const std::string& reason, const std::string& context,
             const std::string& where)
    : Error(severity, format_diagnostic(severity, reason, context, where)) {}

Error::Error(Severity severity, std::string preformatted)
    : std::runtime_error(preformatted), severity_(severity), text_(std::move(preformatted)) {}

Error file_error(Severity severity, const std::string& reason, const std::string& path, int err,
                 const std::string& where) {
    const char* kind = static_cast<int>(severity) >= 400 ? "error" : "warning";
    return Error(severity, reason + " `" + path + "': " + std::strerror(err) + " @ " + kind + "/" + where);
}

namespace {
std::mutex diagnostics_mu;  // a streamed image's band thread reports next to the writer
}

void Diagnostics::add(Diagnostic d) {
    std::lock_guard lock(diagnostics_mu);
    // ImageMagick reports an exception repeated right after itself once.
    if (!items_.empty() && items_.back().text == d.text) return;
    items_.push_back(std::move(d));
}

size_t Diagnostics::count() const {
    std::lock_guard lock(diagnostics_mu);
    return items_.size();
}

void Diagnostics::warn(const std::string& reason, const std::string& context, const std::string& where) {
    add(Diagnostic{Severity::warning, format_diagnostic(Severity::warning, reason, context, where)});
}

bool Diagnostics::has_error() const {
    for (const auto& d : items_)
        if (d.is_error()) return true;
    return false;
}

bool Diagnostics::has_warning() const {
    for (const auto& d : items_)
        if (!d.is_error()) return true;
    return false;
}

void Diagnostics::flush(const std::string& client, bool quiet) {
    for (const auto& d : items_) {
        if (quiet && !d.is_error()) continue;
        std::fprintf(stderr, "%s: %s.\n", client.c_str(), d.text.c_str());
    }
    std::fflush(stderr);
    items_.clear();
}

}  // namespace mtool
