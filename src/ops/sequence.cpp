// List bookkeeping operators: -delete, -swap, -insert, -duplicate, -reverse. They only move
// image handles, so they never need pixels (and never bridge).
#include <algorithm>
#include <cstdlib>

#include "src/exec/executor.h"
#include "src/ops/specs.h"

namespace mtool::ops {
namespace {

constexpr const char* kWhere = "mogrify.c/MogrifyImageList";

void run_delete(std::vector<Image>& list, OpCall& call) {
    std::vector<size_t> idx;
    if (call.plus()) {
        if (!list.empty()) list.pop_back();
        return;
    }
    // Out-of-range indexes are silently ignored, as in ImageMagick.
    if (!exec::parse_indexes(call.arg(0), list.size(), idx)) return;
    std::sort(idx.begin(), idx.end());
    idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
    for (size_t k = idx.size(); k-- > 0;) list.erase(list.begin() + static_cast<long>(idx[k]));
}

void run_swap(std::vector<Image>& list, OpCall& call) {
    long a = -2, b = -1;
    if (!call.plus()) {
        const std::string& s = call.arg(0);
        char* end;
        a = std::strtol(s.c_str(), &end, 10);
        b = *end == ',' ? std::strtol(end + 1, nullptr, 10) : -1;  // "-swap N" swaps N and the last
    }
    long n = static_cast<long>(list.size());
    if (a < 0) a += n;
    if (b < 0) b += n;
    if (a < 0 || b < 0 || a >= n || b >= n)
        throw Error(Severity::option_error, "no such image", call.option, kWhere);
    std::swap(list[static_cast<size_t>(a)], list[static_cast<size_t>(b)]);
}

void run_insert(std::vector<Image>& list, OpCall& call) {
    if (list.empty()) return;
    Image last = std::move(list.back());
    list.pop_back();
    long n = static_cast<long>(list.size());
    long at = call.plus() ? n : std::strtol(call.arg(0).c_str(), nullptr, 10);
    if (at < 0) at += n + 1;
    if (at < 0 || at > n) {
        list.push_back(std::move(last));
        throw Error(Severity::option_error, "no such image", call.option, kWhere);
    }
    list.insert(list.begin() + at, std::move(last));
}

void run_duplicate(std::vector<Image>& list, OpCall& call) {
    if (list.empty()) return;
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
        throw Error(Severity::option_error, "no such image", call.option, kWhere);
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
