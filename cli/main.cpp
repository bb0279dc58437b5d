// mtool's entry point: picks the tool from argv[0] (symlinks named convert, identify, ...) or
// from the first argument, and turns errors into ImageMagick-shaped text and exit codes.
#include <malloc.h>
#include <strings.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cache/dpc.h"
#include "cache/tiers.h"
#include "cli/commands.h"
#include "src/core/magick.h"
#include "src/exec/staging_registry.h"

int main(int argc, char** argv) {
    using namespace mtool;
    // One malloc arena for every thread. mtool's threads (row workers, the band computed ahead,
    // the PNG deflaters) allocate large short-lived buffers; with an arena per thread each one
    // keeps what it freed, and a streamed 6000x4000 sharpen -> png peaked at 73 MB instead of
    // 54 MB, with no change of wall time. MALLOC_ARENA_MAX in the environment still decides.
    if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 1);
    std::string arg0 = argv[0];
    auto slash = arg0.rfind('/');
    std::string client = slash == std::string::npos ? arg0 : arg0.substr(slash + 1);
    std::vector<std::string> args(argv + 1, argv + argc);
    magick::initialize(argv[0]);
    exec::staging_registry::install_signal_handlers();

    std::string tool = client;
    if (tool == "mtool" || cli::find_command(tool) == nullptr) {
        tool = "convert";
        if (!args.empty() && cli::find_command(args[0])) {
            tool = args[0];
            args.erase(args.begin());
        }
    }
    Context ctx;
    ctx.client = client;
    ctx.print_list = cli::print_list;
    // -debug cache / netcache / all (comma-separated like ImageMagick's event list).
    for (size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] != "-debug") continue;
        std::string events = args[i + 1] + ",";
        for (size_t a = 0, b; (b = events.find(',', a)) != std::string::npos; a = b + 1) {
            std::string ev = events.substr(a, b - a);
            if (!strcasecmp(ev.c_str(), "cache") || !strcasecmp(ev.c_str(), "all"))
                ctx.debug_cache = cache::TierManager::global().debug = true;
            if (!strcasecmp(ev.c_str(), "netcache") || !strcasecmp(ev.c_str(), "all"))
                ctx.debug_netcache = true;
            if (!strcasecmp(ev.c_str(), "plan")) ctx.debug_plan = true;
        }
    }
    int status;
    try {
        // -distribute-cache PORT turns any tool into a pixel server (ImageMagick handles it
        // before every other option); -define distribute-cache:* configures the client side.
        for (size_t i = 0; i < args.size(); ++i) {
            if (args[i] == "-define" && i + 1 < args.size() &&
                args[i + 1].rfind("distribute-cache:", 0) == 0) {
                const std::string& d = args[i + 1];
                auto eq = d.find('=');
                std::string key = d.substr(17, eq == std::string::npos ? std::string::npos : eq - 17);
                std::string value = eq == std::string::npos ? "" : d.substr(eq + 1);
                auto& cfg = cache::dpc::client_config();
                if (key == "protocol") cfg.protocol = cache::dpc::protocol_from(value);
                if (key == "timeout") cfg.io_timeout = cfg.connect_timeout = cache::dpc::parse_timeout(value);
                if (key == "connect-timeout") cfg.connect_timeout = cache::dpc::parse_timeout(value);
            }
        }
        for (size_t i = 0; i < args.size(); ++i) {
            if (strcasecmp(args[i].c_str(), "-distribute-cache") != 0) continue;
            if (i + 1 >= args.size())
                throw Error(Severity::option_error, "missing an argument", args[i],
                            "mogrify.c/MogrifyImageCommand");
            std::vector<std::string> rest(args.begin(), args.begin() + static_cast<long>(i));
            rest.insert(rest.end(), args.begin() + static_cast<long>(i) + 2, args.end());
            status = cache::dpc::serve(args[i + 1], rest, ctx.client);
            magick::terminate();
            return status;
        }
        status = cli::find_command(tool)->run(ctx, args);
    } catch (const Error& e) {
        ctx.diag.add(e);
        status = 1;
    } catch (const std::exception& e) {
        ctx.diag.add(Diagnostic{Severity::fatal_error, std::string("unexpected failure: ") + e.what()});
        status = 1;
    }
    cache::thread_release_all();
    for (auto& w : cache::dpc::take_warnings()) ctx.diag.add(Diagnostic{Severity::warning, w});
    if (ctx.debug_cache) cache::TierManager::global().report(stderr);
    ctx.diag.flush(ctx.client, ctx.quiet);
    magick::terminate();
    return status;
}
