#pragma once
// Per-command state passed down explicitly (no process globals): diagnostics, client name,
// thread count and flags that change how errors are reported.
#include <functional>
#include <string>

#include "src/core/error.h"

namespace mtool {

struct Context {
    std::string client = "mtool";  ///< basename of argv[0], used as message prefix
    Diagnostics diag;
    bool quiet = false;            ///< -quiet: warnings are not printed
    bool regard_warnings = false;  ///< -regard-warnings: warnings make the exit status 1
    bool debug_cache = false;      ///< -debug cache
    bool debug_netcache = false;   ///< -debug netcache
    bool debug_plan = false;       ///< -debug plan: print the plan, then check the run against it
    bool netcache_reads = true;    ///< false for identify without -verbose: it reports headers, so
                                   ///< it must not copy whole files into the network cache
    int threads = 2;               ///< worker threads for native operators
    /// Native results keep ImageMagick's Q16 precision (16-bit samples) even for 8-bit images.
    /// The executor clears it when every output is a native 8-bit writer, which reduces to 8
    /// bits exactly as ImageMagick would: then 8-bit storage is exact and half the memory.
    bool precise = true;
    bool native_reads = true;  ///< false: decode through ImageMagick (identify -verbose wants its
                               ///< full reader's properties and statistics)
    bool native_ping = false;  ///< native codecs read headers only: identify reports nothing
                               ///< their pixels would change (ImageMagick reads them anyway
                               ///< once any option is given)

    /// Prints `-list WHAT` (set by the command line: mtool's lists and ImageMagick's).
    std::function<void(const std::string& what)> print_list;

    /// Exit status the way ImageMagick computes it.
    int exit_status(bool ok) const {
        if (!ok || diag.has_error()) return 1;
        if (regard_warnings && diag.has_warning()) return 1;
        return 0;
    }
};

}  // namespace mtool
