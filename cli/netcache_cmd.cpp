// `mtool netcache stats|list|purge [-define netcache:dir=DIR] [-define netcache:size=N]`:
// inspection of the network cache (cache/netcache.h). Without a define the directory comes
// from policy.xml or MTOOL_NETCACHE_DIR, as for any other command.
#include <cstdio>
#include <ctime>

#include "cache/netcache.h"
#include "cli/commands.h"
#include "src/core/magick.h"

namespace mtool::cli {

int run_netcache(Context& ctx, std::vector<std::string>& args) {
    const char* what = args.empty() ? "" : args[0].c_str();
    magick::InfoPtr info(AcquireImageInfo());
    for (size_t i = 1; i < args.size(); ++i) {
        if ((args[i] == "-define" || args[i] == "-debug") && i + 1 < args.size()) {
            if (args[i] == "-define") {
                std::string kv = args[++i];
                auto eq = kv.find('=');
                SetImageOption(info.get(), kv.substr(0, eq).c_str(),
                               eq == std::string::npos ? "" : kv.c_str() + eq + 1);
            } else {
                ++i;
            }
            continue;
        }
        throw Error(Severity::option_error, "unrecognized option", args[i], "netcache.c/NetCacheCommand");
    }
    cache::NetCacheConfig cfg = cache::NetCacheConfig::resolve(info.get());
    cfg.debug = ctx.debug_netcache;
    if (cfg.dir.empty())
        throw Error(Severity::option_error, "no network cache directory (-define netcache:dir=DIR)", what,
                    "netcache.c/NetCacheCommand");
    std::string sub = what;
    if (sub != "stats" && sub != "list" && sub != "purge")
        throw Error(Severity::option_error, "unrecognized netcache command (stats, list, purge)", what,
                    "netcache.c/NetCacheCommand");
    cache::NetCache nc(cfg, ctx.diag);
    if (!nc.enabled()) return 1;
    if (sub == "stats") {
        cache::NetCacheStats s = nc.stats();
        std::printf(
            "Directory: %s\nSize limit: %llu\nEntries: %llu\nBytes: %llu\nHits: %llu\nMisses: %llu\n"
            "Copies: %llu\nBytes saved: %llu\n",
            cfg.dir.c_str(), static_cast<unsigned long long>(cfg.size),
            static_cast<unsigned long long>(s.entries), static_cast<unsigned long long>(s.bytes),
            static_cast<unsigned long long>(s.hits), static_cast<unsigned long long>(s.misses),
            static_cast<unsigned long long>(s.copies), static_cast<unsigned long long>(s.bytes_saved));
    } else if (sub == "list") {
        for (const auto& e : nc.list()) {
            char when[32];
            std::time_t t = static_cast<std::time_t>(e.last_use / 1000000000);
            std::tm tm{};
            gmtime_r(&t, &tm);
            std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
            std::printf("%12llu %s %s\n", static_cast<unsigned long long>(e.size), when, e.path.c_str());
        }
    } else {
        std::printf("%zu entries removed\n", nc.purge());
    }
    return ctx.exit_status(true);
}

}  // namespace mtool::cli
