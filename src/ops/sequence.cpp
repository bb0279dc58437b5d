// List bookkeeping operators: -delete, -swap, -insert, -duplicate, -reverse. They only move
// image handles, so they never need pixels (and never bridge).
#include <algorithm>
#include <cstdlib>

#include "src/exec/executor.h"
#include "src/exec/option_parser.h"
#include "src/ops/specs.h"

namespace mtool::ops {
namespace {

// MogrifyImageList's reports (mogrify.c in Debian's 6.9.11 build) and CloneImages'.
// MogrifyImageList's throws, at the installed mogrify.c's lines (see exec::installed_line).
std::string mogrify_list_where(int line) {
    return "mogrify.c/MogrifyImageList/" + std::to_string(exec::installed_line(exec::Tool::mogrify, line));
}
constexpr const char* kCloneWhere = "list.c/CloneImages/294";

void run_delete(std::vector<Image>& list, OpCall& call) {
    if (call.plus()) {
        if (!list.empty()) list.pop_back();
        return;
    }
    exec::delete_indexes(call.arg(0), list);
}

void run_swap(std::vector<Image>& list, OpCall& call) {
    // ParseGeometry's rho and sigma: "-swap N" swaps N and the last.
    long a = -2, b = -1;
    if (!call.plus()) {
        GeometryInfo g{};
        const MagickStatusType flags = ParseGeometry(call.arg(0).c_str(), &g);
        a = static_cast<long>(g.rho);
        if (flags & SigmaValue) b = static_cast<long>(g.sigma);
    }
    const long n = static_cast<long>(list.size());
    if (a < 0) a += n;
    if (b < 0) b += n;
    if (a < 0 || b < 0 || a >= n || b >= n)
        throw Error(Severity::option_error, "no such image", list.front().shell()->filename,
                    mogrify_list_where(8803));
    std::swap(list[static_cast<size_t>(a)], list[static_cast<size_t>(b)]);
}

void run_insert(std::vector<Image>& list, OpCall& call) {
    if (list.empty()) return;
    // The last image comes out, then: index 0 prepends, the new length appends, any other goes
    // after the image GetImageFromList(index - 1) finds (negatives count from the end, so -1
    // lands before the last). When there is none the image is lost, as in ImageMagick.
    Image last = std::move(list.back());
    list.pop_back();
    const long n = static_cast<long>(list.size());
    const long index = call.plus() ? 0 : std::strtol(call.arg(0).c_str(), nullptr, 10);
    if (index == 0) {
        list.insert(list.begin(), std::move(last));
        return;
    }
    if (index == n) {
        list.push_back(std::move(last));
        return;
    }
    long after = index - 1;
    if (after < 0) after += n;
    if (after < 0 || after >= n)
        throw Error(Severity::option_error, "no such image", call.arg(0), mogrify_list_where(8317));
    list.insert(list.begin() + after + 1, std::move(last));
}

void run_duplicate(std::vector<Image>& list, OpCall& call) {
    if (list.empty()) return;
    // DuplicateImages: COUNT times CloneImages of the indexes (default the last).
    long count = 1;
    std::string which = "-1";
    if (!call.plus()) {
        const std::string& s = call.arg(0);
        count = std::strtol(s.c_str(), nullptr, 10);
        auto comma = s.find(',');
        if (comma != std::string::npos) which = s.substr(comma + 1);
    }
    std::vector<size_t> idx;
    if (!exec::parse_indexes(which, list.size(), idx))
        call.ctx.diag.add(Diagnostic{Severity::option_error,
                                     format_diagnostic(Severity::option_error, "InvalidImageIndex",
                                                       list.front().shell()->filename, kCloneWhere)});
    std::vector<Image> copies;
    for (long c = 0; c < count; ++c)
        for (size_t k : idx) copies.push_back(list[k]);
    for (auto& img : copies) list.push_back(std::move(img));
}

void run_reverse(std::vector<Image>& list, OpCall&) { std::reverse(list.begin(), list.end()); }

}  // namespace

extern const OpSpec delete_op{.names = {"-delete", "+delete"},
                              .kind = OpKind::list,
                              .arity = 1,
                              .demand = Demand::metadata,
                              .summary = "delete the image from the image sequence",
                              .run_list = &run_delete};
extern const OpSpec swap_op{.names = {"-swap", "+swap"},
                            .kind = OpKind::list,
                            .arity = 1,
                            .demand = Demand::metadata,
                            .summary = "swap two images in the image sequence",
                            .run_list = &run_swap};
extern const OpSpec insert_op{.names = {"-insert", "+insert"},
                              .kind = OpKind::list,
                              .arity = 1,
                              .demand = Demand::metadata,
                              .summary = "insert last image into the image sequence",
                              .run_list = &run_insert};
extern const OpSpec duplicate_op{.names = {"-duplicate", "+duplicate"},
                                 .kind = OpKind::list,
                                 .arity = 1,
                                 .demand = Demand::metadata,
                                 .summary = "duplicate an image one or more times",
                                 .run_list = &run_duplicate};
extern const OpSpec reverse_op{.names = {"-reverse"},
                               .kind = OpKind::list,
                               .arity = 0,
                               .demand = Demand::metadata,
                               .summary = "reverse image sequence",
                               .run_list = &run_reverse};

}  // namespace mtool::ops
