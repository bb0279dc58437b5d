#pragma once
// Errors inside mtool are exceptions; the CLI edge turns them into ImageMagick-shaped text.
#include <stdexcept>
#include <string>
#include <vector>

namespace mtool {

/// ImageMagick's severity numbers (warnings are error - 100), so messages and exit codes line up.
enum class Severity : int {
    warning = 300,
    resource_limit_error = 400,
    option_error = 410,
    missing_delegate_error = 420,
    corrupt_image_error = 425,
    file_open_error = 430,
    blob_error = 435,
    cache_error = 445,
    coder_error = 450,
    image_error = 465,
    policy_error = 499,
    fatal_error = 700,
};

/// One diagnostic: `reason `context' @ error/module/function`.
/// Thrown where a native path (codec, operator, the image model) meets a case it leaves to
/// ImageMagick; the caller then takes the bridge for the same step. Not an error.
struct Decline {
    std::string why;
};

struct Diagnostic {
    Severity severity;
    std::string text;  ///< already formatted, without client prefix and final '.'
    bool is_error() const { return static_cast<int>(severity) >= 400; }
};

/// The exception every mtool layer throws. `text` follows ImageMagick's wording.
class Error : public std::runtime_error {
public:
    explicit Error(Severity severity, const std::string& reason, const std::string& context,
                   const std::string& where);
    explicit Error(Severity severity, std::string preformatted);
    Severity severity() const { return severity_; }
    const std::string& text() const { return text_; }
    Diagnostic diagnostic() const { return {severity_, text_}; }

private:
    Severity severity_;
    std::string text_;
};

/// Formats `reason `context' @ error/where` the way ImageMagick 6 does.
std::string format_diagnostic(Severity severity, const std::string& reason, const std::string& context,
                              const std::string& where);

/// `reason `path': strerror(err) @ error/where`, ImageMagick's shape for file errors.
Error file_error(Severity severity, const std::string& reason, const std::string& path, int err,
                 const std::string& where);

/// Collects warnings and errors of one command; printed once at the CLI edge.
class Diagnostics {
public:
    void add(Diagnostic d);
    void add(const Error& e) { add(e.diagnostic()); }
    void warn(const std::string& reason, const std::string& context, const std::string& where);
    bool has_error() const;
    bool has_warning() const;
    /// Prints every message as `client: text.` on stderr; warnings are skipped when quiet.
    void flush(const std::string& client, bool quiet);
    const std::vector<Diagnostic>& all() const { return items_; }
    /// How many messages there are (safe while another thread adds).
    size_t count() const;

private:
    std::vector<Diagnostic> items_;
};

}  // namespace mtool
