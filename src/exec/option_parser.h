#pragma once
// The option parsers of ImageMagick 6.9.11's convert, identify and mogrify, as tables generated
// from their sources (src/exec/gen/convert_lines.py): which options each accepts, how many
// arguments it consumes, the checks it makes on them before anything runs, and the message and
// source location of each error, so mtool rejects exactly what they reject, with their words.
#include <string>
#include <vector>

namespace mtool::exec {

enum class Tool { convert, identify, mogrify };

class OptionParser {
public:
    explicit OptionParser(Tool tool);

    /// Arguments the tool's parser consumes after `option` ("-resize", "+shade"), or -1 when it
    /// does not know the option.
    int arity(const std::string& option) const;
    bool accepts(const std::string& option) const { return arity(option) >= 0; }

    /// Checks args[i], an option: known, given its arguments (within args[0, end)), and those
    /// pass the parser's checks. Returns its arity; throws ImageMagick's error otherwise.
    int check(const std::vector<std::string>& args, size_t i, size_t end) const;

    /// "convert.c/ConvertImageCommand"
    std::string where() const;
    /// The location of the option's first throw of `tag` (a prefix such as "Unrecognized"
    /// matches the first such tag); unknown options by their first letter.
    std::string where_for(const std::string& option, const std::string& tag) const;
    /// The parser's own throws (parentheses, filenames): the index-th of `tag`.
    std::string where_fixed(const char* tag, int index = 0) const;

private:
    Tool tool_;
};

/// The line in the installed ImageMagick's source of `tool`'s command file (convert.c,
/// identify.c, mogrify.c) for a line of the tables, which hold the lines of the build they were
/// generated against. Debian's security updates move those files' lines (6.9.11.60+dfsg-1.6
/// +deb12u11 and +deb12u15 differ by 5 in convert.c); the shift is measured once, when a message
/// first needs it, from the installed library's own throw for an unknown option.
int installed_line(Tool tool, int table_line);

/// Whether `-list WHAT` names a list only mtool has ("operator"): the parsers' check of the
/// argument does not apply to it.
bool is_mtool_list(const std::string& what);

/// ImageMagick's text for an OptionError tag ("UnrecognizedColorspace" → "unrecognized image
/// colorspace"); the tag itself when it has none, as ImageMagick prints it.
std::string option_message(const char* tag);

}  // namespace mtool::exec
