// -version, -list and -help. The operator list is generated from ImageMagick's option table and
// mtool's native registry, so it cannot drift from what the engine does.
#include <strings.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "cache/dpc.h"
#include "cli/commands.h"
#include "src/codecs/codec.h"
#include "src/core/magick.h"
#include "src/ops/op_spec.h"

namespace mtool::cli {

namespace {

void print_version() {
    size_t depth = 0;
    const char* im = GetMagickVersion(&depth);
    // Scripts that look for ImageMagick's version on the first line still find it.
    std::string bridge = im;
    if (auto url = bridge.find(" http"); url != std::string::npos) bridge.erase(url);
    std::printf("Version: mtool %s (compatible with %s)\n", MTOOL_VERSION, bridge.c_str());
    std::printf("Bridge: %s\n", im);
    std::printf(
        "Features: native JPEG (libjpeg-turbo) PNG (libpng) JPEG-2000 (OpenJPEG); Magick bridge for the "
        "rest\n");
    std::printf("Delegates (built-in): %s\n", GetMagickDelegates());
}

void list_operators() {
    std::printf("%-26s %-7s %s\n", "operator", "engine", "kind");
    char** names = GetCommandOptions(MagickCommandOptions);
    for (char** p = names; p && *p; ++p) {
        std::string name = *p;
        magick::OptionInfo oi = magick::option_info(name);
        if (!(oi.flags & (SimpleOperatorOptionFlag | ListOperatorOptionFlag))) continue;
        if (oi.flags & (NonConvertOptionFlag | DeprecateOptionFlag)) continue;
        const ops::OpSpec* spec = ops::find(name);
        bool native = spec && (spec->run || spec->run_list);
        std::printf("%-26s %-7s %s\n", name.c_str(), native ? "native" : "magick",
                    (oi.flags & ListOperatorOptionFlag) ? "list" : "simple");
    }
    for (char** p = names; p && *p; ++p) RelinquishMagickMemory(*p);
    RelinquishMagickMemory(names);
}

void list_formats() {
    std::printf("   Format  Engine  Mode  Description\n");
    std::printf("-------------------------------------------------------------------------------\n");
    size_t n = 0;
    magick::Exception ex;
    const MagickInfo** list = GetMagickInfoList("*", &n, ex);
    for (size_t i = 0; i < n; ++i) {
        const MagickInfo* mi = list[i];
        if (!mi->name || mi->stealth) continue;
        const codecs::CodecSpec* native = codecs::for_magick(mi->name);
        bool r = mi->decoder != nullptr, w = mi->encoder != nullptr;
        std::printf("%9s  %-6s  %c%c%c   %s\n", mi->name, native ? "native" : "magick", r ? 'r' : '-',
                    w ? 'w' : '-', mi->adjoin ? '+' : '-', mi->description ? mi->description : "");
    }
    RelinquishMagickMemory(list);
}

void list_resources() {
    // ImageMagick's own listing: the tier manager takes its budgets from these same limits.
    magick::Exception ex;
    ListMagickResourceInfo(stdout, ex);
    // The REMOTE tier: the pixel servers images go to once map and disk are full.
    if (char* hosts = static_cast<char*>(GetImageRegistry(StringRegistryType, "cache:hosts", ex))) {
        std::string list;
        try {
            for (const auto& h : cache::dpc::parse_hosts(hosts))
                list += (list.empty() ? "" : ", ") + h.text();
        } catch (const Error& e) {
            list = std::string(hosts) + " (" + e.text() + ")";
        }
        RelinquishMagickMemory(hosts);
        std::printf("  Remote: %s (distributed pixel cache, protocol gen %d)\n", list.c_str(),
                    cache::dpc::client_config().protocol);
    }
}

void print_help() {
    std::printf("Usage: mtool [tool] [options ...] file [ [options ...] file ...] [options ...] file\n\n");
    std::printf("Tools (also reachable through symlinks of the same name):\n");
    for (const auto& c : commands()) std::printf("  %-10s %s\n", c.name, c.summary);
    std::printf("\nNative operators (everything else runs through the Magick bridge; see -list operator):\n");
    for (const ops::OpSpec* spec : ops::all()) {
        std::string names;
        for (const auto& n : spec->names) names += (names.empty() ? "" : " ") + n;
        std::printf("  %-28s %s\n", names.c_str(), spec->summary);
    }
    std::printf("\nInformation:\n  -version  -list format|operator|resource|<ImageMagick list>  -help\n");
}

}  // namespace

void print_list(const std::string& what) {
    if (strcasecmp(what.c_str(), "operator") == 0) {
        list_operators();
    } else if (strcasecmp(what.c_str(), "format") == 0) {
        list_formats();
    } else if (strcasecmp(what.c_str(), "resource") == 0) {
        list_resources();
    } else {
        // ImageMagick's own handler (colours, fonts, policies, option tables, ...).
        magick::InfoPtr info(AcquireImageInfo());
        const char* argv[] = {"-list", what.c_str(), nullptr};
        magick::Exception ex;
        MogrifyImageInfo(info.get(), 2, argv, ex);
    }
    std::fflush(stdout);
}

bool handle_info_option(Context& ctx, const std::vector<std::string>& args, int& status) {
    status = 0;
    if (args.empty()) return false;
    const std::string& a = args[0];
    if (a == "-version" || a == "--version") {
        print_version();
        return true;
    }
    if (a == "-help" || a == "--help" || a == "-h") {
        print_help();
        return true;
    }
    if (a == "-list" && args.size() == 1) {
        // As ImageMagick's tools take it: convert's usage; the others' missing argument.
        status = 0;
        return false;
    }
    return false;
}

}  // namespace mtool::cli
