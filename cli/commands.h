#pragma once
// The tools mtool answers to. Each is a thin driver over the one engine in src/exec.
#include <string>
#include <vector>

#include "src/core/context.h"

namespace mtool::cli {

struct Command {
    const char* name;
    const char* summary;
    int (*run)(Context& ctx, std::vector<std::string>& args);
};

const std::vector<Command>& commands();
const Command* find_command(const std::string& name);

int run_convert(Context& ctx, std::vector<std::string>& args);
int run_plan(Context& ctx, std::vector<std::string>& args);
int run_identify(Context& ctx, std::vector<std::string>& args);
int run_mogrify(Context& ctx, std::vector<std::string>& args);
int run_compare(Context& ctx, std::vector<std::string>& args);
int run_composite(Context& ctx, std::vector<std::string>& args);
int run_montage(Context& ctx, std::vector<std::string>& args);
int run_netcache(Context& ctx, std::vector<std::string>& args);

/// -version, -list, -help handling shared by the tools; returns true if it handled args.
/// -list WHAT: mtool's own lists (operator, format, resource) and ImageMagick's.
void print_list(const std::string& what);
bool handle_info_option(Context& ctx, const std::vector<std::string>& args, int& status);

}  // namespace mtool::cli
