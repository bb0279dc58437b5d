#include "src/exec/option_parser.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "src/core/error.h"
#include "src/core/magick.h"

namespace mtool::exec {
namespace {

enum class Kind { Geometry, Scene, Number, Enum, Channel };

struct Where {
    const char* location;
    bool swapped;  // "invalid argument for option `ARG': OPTION" (mogrify.c)
};
struct Arity {
    const char* option;
    int minus, plus;
};
struct Check {
    const char* option;
    char sign;  // the form it applies to: '-', '+' or '*' (both)
    int arg;
    Kind kind;
    CommandOption table;
    const char* tag;
    int line;
};
struct Line {
    const char* option;
    const char* tag;
    int line;
};
struct Letter {
    char letter;
    int line;
};
struct Fixed {
    const char* tag;
    int index, line;
};
struct Table {
    Where where;
    const Arity* arity;
    const Check* checks;
    const Line* lines;
    const Letter* letters;
    const Fixed* fixed;
};

namespace convert_t {
#define MTOOL_LINES "src/exec/convert_lines.inc"
#include "src/exec/option_table_arrays.h"
#undef MTOOL_LINES
}  // namespace convert_t
namespace identify_t {
#define MTOOL_LINES "src/exec/identify_lines.inc"
#include "src/exec/option_table_arrays.h"
#undef MTOOL_LINES
}  // namespace identify_t
namespace mogrify_t {
#define MTOOL_LINES "src/exec/mogrify_lines.inc"
#include "src/exec/option_table_arrays.h"
#undef MTOOL_LINES
}  // namespace mogrify_t

const Table& table(Tool tool) {
    switch (tool) {
        case Tool::identify:
            return identify_t::kTable;
        case Tool::mogrify:
            return mogrify_t::kTable;
        case Tool::convert:
            break;
    }
    return convert_t::kTable;
}

/// The option's name as the parser compares it: the text after the sign. Its switch is on the
/// first letter as given (lower-case only); LocaleCompare ignores the case of the rest.
bool same_name(const char* name, const std::string& option) {
    return option.size() > 1 && option[1] >= 'a' && option[1] <= 'z' &&
           strcasecmp(name, option.c_str() + 1) == 0;
}

bool check_passes(const Check& c, const std::string& value) {
    const char* v = value.c_str();
    switch (c.kind) {
        case Kind::Geometry:
            return IsGeometry(v) != MagickFalse;
        case Kind::Scene:
            return IsSceneGeometry(v, MagickFalse) != MagickFalse;
        case Kind::Number: {
            char* end = nullptr;
            (void)InterpretLocaleValue(v, &end);  // StringToDouble, as the parser calls it
            return end != v || strcasecmp(v, "unlimited") == 0;
        }
        case Kind::Enum:
            if (c.table == MagickLogEventOptions) {
                // mtool's own events (-debug netcache, -debug plan) join ImageMagick's in the list.
                std::string rest, events = value + ",";
                for (size_t a = 0, b; (b = events.find(',', a)) != std::string::npos; a = b + 1) {
                    std::string ev = events.substr(a, b - a);
                    if (strcasecmp(ev.c_str(), "netcache") != 0 && strcasecmp(ev.c_str(), "plan") != 0)
                        rest += (rest.empty() ? "" : ",") + ev;
                }
                if (rest.empty() && !value.empty()) return true;
                return ParseCommandOption(c.table, MagickFalse, rest.c_str()) >= 0;
            }
            return ParseCommandOption(c.table, c.table == MagickMetricOptions ? MagickTrue : MagickFalse,
                                      v) >= 0;
        case Kind::Channel:
            return ParseChannelOption(v) >= 0;
    }
    return true;
}

}  // namespace

bool is_mtool_list(const std::string& what) { return strcasecmp(what.c_str(), "operator") == 0; }

std::string option_message(const char* tag) {
    const char* text = GetLocaleExceptionMessage(OptionError, tag);
    return text && *text ? std::string(text) : std::string(tag);
}

OptionParser::OptionParser(Tool tool) : tool_(tool) {}

int OptionParser::arity(const std::string& option) const {
    if (option.size() < 2 || (option[0] != '-' && option[0] != '+')) return -1;
    for (const Arity* a = table(tool_).arity; a->option; ++a)
        if (same_name(a->option, option)) return option[0] == '-' ? a->minus : a->plus;
    return -1;
}

namespace {

/// The line of the installed library's throw for an unknown option of `tool` (its `z' branch),
/// or 0 when it cannot be read.
int probe_unknown_option_line(Tool tool) {
    magick::InfoPtr info(AcquireImageInfo());
    ExceptionInfo* ex = AcquireExceptionInfo();
    const char* name = tool == Tool::identify ? "identify" : tool == Tool::mogrify ? "mogrify" : "convert";
    char a0[16], a1[] = "-zzmtoolprobe", a2[] = "mtool-probe-no-such-file";
    std::strcpy(a0, name);
    char* argv[] = {a0, a1, a2, nullptr};
    char* meta = nullptr;
    switch (tool) {
        case Tool::convert:
            ConvertImageCommand(info.get(), 3, argv, &meta, ex);
            break;
        case Tool::identify:
            IdentifyImageCommand(info.get(), 3, argv, &meta, ex);
            break;
        case Tool::mogrify:
            MogrifyImageCommand(info.get(), 3, argv, &meta, ex);
            break;
    }
    if (meta) RelinquishMagickMemory(meta);
    int line = 0;
    if (ex->reason) {
        const std::string r = ex->reason;
        const std::string want = std::string(table(tool).where.location) + "/";
        if (auto at = r.rfind(want); at != std::string::npos) line = std::atoi(r.c_str() + at + want.size());
    }
    DestroyExceptionInfo(ex);
    return line;
}

}  // namespace

int installed_line(Tool tool, int table_line) {
    static std::once_flag once[3];
    static int shift[3];
    const int k = static_cast<int>(tool);
    std::call_once(once[k], [&] {
        // The table's line for that throw: the `z' branch, or the default one when there is none.
        int z = 0;
        for (const Letter* l = table(tool).letters; l->letter && !z; ++l)
            if (l->letter == 'z') z = l->line;
        for (const Letter* l = table(tool).letters; l->letter && !z; ++l)
            if (l->letter == '?') z = l->line;
        const int probed = probe_unknown_option_line(tool);
        shift[k] = probed > 0 && z > 0 ? probed - z : 0;
    });
    return table_line + shift[k];
}

namespace {
std::string at_line(Tool tool, int line) {
    return std::string(table(tool).where.location) + "/" + std::to_string(installed_line(tool, line));
}
}  // namespace

std::string OptionParser::where() const { return table(tool_).where.location; }

std::string OptionParser::where_for(const std::string& option, const std::string& tag) const {
    const Table& t = table(tool_);
    for (const Line* l = t.lines; l->option; ++l)
        if (same_name(l->option, option) && std::strncmp(l->tag, tag.c_str(), tag.size()) == 0)
            return at_line(tool_, l->line);
    if (tag == "UnrecognizedOption") {
        const char letter = option.size() > 1 ? option[1] : '?';
        for (const Letter* l = t.letters; l->letter; ++l)
            if (l->letter == letter) return at_line(tool_, l->line);
        for (const Letter* l = t.letters; l->letter; ++l)
            if (l->letter == '?') return at_line(tool_, l->line);
    }
    return where();
}

std::string OptionParser::where_fixed(const char* tag, int index) const {
    for (const Fixed* f = table(tool_).fixed; f->tag; ++f)
        if (!std::strcmp(f->tag, tag) && f->index == index) return at_line(tool_, f->line);
    return where();
}

int OptionParser::check(const std::vector<std::string>& args, size_t i, size_t end) const {
    const std::string& option = args[i];
    const int n = arity(option);
    if (n < 0)
        throw Error(Severity::option_error, option_message("UnrecognizedOption"), option,
                    where_for(option, "UnrecognizedOption"));
    // Argument by argument, as the parser reads them: the first one missing, or the first check
    // that fails, throws.
    const Table& t = table(tool_);
    for (int k = 0; k < n; ++k) {
        if (i + 1 + static_cast<size_t>(k) >= end) {
            int seen = 0;
            std::string location = where();
            for (const Line* l = t.lines; l->option; ++l)
                if (same_name(l->option, option) && !std::strcmp(l->tag, "MissingArgument") && seen++ <= k)
                    location = at_line(tool_, l->line);
            throw Error(Severity::option_error, option_message("MissingArgument"), option, location);
        }
        const std::string& value = args[i + 1 + static_cast<size_t>(k)];
        for (const Check* c = t.checks; c->option; ++c) {
            if (c->arg != k || (c->sign != '*' && c->sign != option[0]) || !same_name(c->option, option) ||
                check_passes(*c, value))
                continue;
            const std::string location = at_line(tool_, c->line);
            if (std::strcmp(c->tag, "InvalidArgument") == 0) {
                const std::string text = option_message("InvalidArgument") + " `" +
                                         (t.where.swapped ? value : option) +
                                         "': " + (t.where.swapped ? option : value);
                throw Error(Severity::option_error,
                            format_diagnostic(Severity::option_error, text, "", location));
            }
            throw Error(Severity::option_error, option_message(c->tag), value, location);
        }
    }
    return n;
}

}  // namespace mtool::exec
