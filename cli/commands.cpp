// convert, identify, mogrify, compare, composite and montage: argv rewrites and thin drivers over
// the one engine (src/exec). No operator is implemented here.
#include "cli/commands.h"

#include <strings.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "src/core/magick.h"
#include "src/exec/executor.h"
#include "src/exec/io.h"
#include "src/exec/option_parser.h"

namespace mtool::cli {

namespace {

void usage(const char* tool) {
    std::printf("Version: mtool %s (ImageMagick 6 compatible)\n", MTOOL_VERSION);
    std::printf("Usage: %s [options ...] file [ [options ...] file ...] [options ...] file\n", tool);
    std::printf("Run `mtool -help` for the list of options and `man mtool` for details.\n");
}

/// Tokens as an argv for ImageMagick's option handlers, which read one word past some options
/// (see exec Argv).
std::vector<const char*> magick_argv(const std::vector<std::string>& tokens) {
    std::vector<const char*> argv;
    for (auto& t : tokens) argv.push_back(t.c_str());
    argv.push_back("0");
    argv.push_back(nullptr);
    return argv;
}

/// Applies setting tokens to an ImageInfo as ImageMagick's tools do.
bool apply_settings(::ImageInfo* info, const std::vector<std::string>& tokens, Context& ctx) {
    std::vector<const char*> argv = magick_argv(tokens);
    magick::Exception ex;
    MogrifyImageInfo(info, static_cast<int>(tokens.size()), argv.data(), ex);
    return !ex.drain(ctx.diag);
}

}  // namespace

const std::vector<Command>& commands() {
    static const std::vector<Command> list = {
        {"convert", "convert between image formats and apply operators", &run_convert},
        {"magick", "the same as convert", &run_convert},
        {"identify", "describe the format and characteristics of images", &run_identify},
        {"mogrify", "apply operators to images in place", &run_mogrify},
        {"compare", "mathematically and visually compare two images", &run_compare},
        {"composite", "overlap one image over another", &run_composite},
        {"montage", "create a composite image by combining several images", &run_montage},
        {"netcache", "inspect the network cache: stats, list, purge", &run_netcache},
        {"plan", "print the plan of a convert command without running it", &run_plan},
    };
    return list;
}

const Command* find_command(const std::string& name) {
    for (const auto& c : commands())
        if (name == c.name) return &c;
    return nullptr;
}

/// `mtool plan ARGS`: the plan of `mtool ARGS` (src/exec/plan.h), on stdout; nothing is decoded
/// or written. Exit 1 when the run would fail (its errors follow the plan).
int run_plan(Context& ctx, std::vector<std::string>& args) {
    if (args.empty()) {
        std::printf("Usage: %s plan [convert arguments]\n", ctx.client.c_str());
        return 1;
    }
    exec::Executor engine(ctx);
    std::vector<std::string> failures;
    const std::vector<exec::PlanEntry> plan = engine.plan(args, failures);
    for (const exec::PlanEntry& e : plan) std::printf("%s\n", exec::describe(e).c_str());
    for (const std::string& f : failures) std::printf("fails: %s\n", f.c_str());
    return failures.empty() ? 0 : 1;
}

int run_convert(Context& ctx, std::vector<std::string>& args) {
    int status = 0;
    if (handle_info_option(ctx, args, status)) return status;
    if (args.size() < 2) {
        usage(ctx.client.c_str());
        return 0;
    }
    for (const auto& a : args) {
        if (a == "-quiet") ctx.quiet = true;
        if (a == "-regard-warnings") ctx.regard_warnings = true;
    }
    exec::Executor engine(ctx);
    return engine.convert(args);
}

/// Whether an identify -format string needs nothing but what a header read gives (so a native
/// codec may ping): one-letter escapes other than %k (colours), %r (class), %# and %@, and
/// %[...] names of attributes, file properties and metadata, never statistics or pixels.
static bool header_only_format(const std::string& f) {
    static const std::string letters = "bcdefghilmnopqstuwxyzABCDFGHMNOPQSTUWXYZ%";
    static const char* const names[] = {
        "width",     "height",      "page",         "magick",       "base",  "basename",
        "directory", "extension",   "filename",     "input",        "name",  "scene",
        "scenes",    "orientation", "resolution.x", "resolution.y", "units", "compression",
        "quality",   "depth",       "channels",     "colorspace",   "size",  "copyright",
        "version",   "printsize.x", "printsize.y",  "comment",      "label"};
    static const char* const prefixes[] = {"exif:", "date:", "png:",  "jpeg:",   "jp2:",      "icc:",
                                           "iptc:", "xmp:",  "tiff:", "option:", "artifact:", "filename:"};
    for (size_t i = 0; i < f.size(); ++i) {
        if (f[i] != '%') continue;
        if (++i >= f.size()) break;
        if (f[i] == '[') {
            size_t end = f.find(']', i);
            if (end == std::string::npos) return false;
            std::string name = f.substr(i + 1, end - i - 1);
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            bool ok = false;
            for (const char* n : names) ok |= name == n;
            for (const char* p : prefixes) ok |= name.rfind(p, 0) == 0;
            if (!ok) return false;
            i = end;
        } else if (std::isdigit(static_cast<unsigned char>(f[i])) ||
                   letters.find(f[i]) == std::string::npos) {
            return false;
        }
    }
    return true;
}

int run_identify(Context& ctx, std::vector<std::string>& raw) {
    static const exec::OptionParser identify_parser(exec::Tool::identify);
    int status = 0;
    if (handle_info_option(ctx, raw, status)) return status;
    if (raw.empty()) {
        usage("identify");
        return 0;
    }
    std::vector<std::string> args = exec::expand_filenames(raw, ctx);
    exec::Executor engine(ctx);
    magick::InfoPtr info(AcquireImageInfo());
    bool ok = true;
    bool verbose = false;
    std::vector<std::string> options;  // every option so far, as identify.c's FireImageStack sees them
    ctx.netcache_reads = false;
    // ImageMagick pings until the first option, and reads pixels after any option but -ping.
    // Native codecs report the same header facts either way, so they keep pinging unless the
    // output needs pixels (-verbose, statistics escapes).
    info->ping = MagickTrue;
    ctx.native_ping = true;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (magick::is_command_option(a)) {
            if (a == "-list" && i + 1 < args.size()) {
                // identify.c lists, then returns.
                if (!exec::is_mtool_list(args[i + 1])) identify_parser.check(args, i, args.size());
                print_list(args[i + 1]);
                return ctx.exit_status(ok);
            }
            const size_t arity = static_cast<size_t>(identify_parser.check(args, i, args.size()));
            std::vector<std::string> tokens(args.begin() + static_cast<long>(i),
                                            args.begin() + static_cast<long>(i + arity + 1));
            if (a == "-verbose") verbose = true;
            if (a == "+verbose") verbose = false;
            ctx.native_reads = !verbose;
            ctx.netcache_reads = verbose;
            info->ping = MagickFalse;
            if (a == "-quiet") ctx.quiet = true;
            if (a == "-regard-warnings") ctx.regard_warnings = true;
            ok &= apply_settings(info.get(), tokens, ctx);
            if (a == "-ping") info->ping = MagickTrue;
            options.insert(options.end(), tokens.begin(), tokens.end());
            i += arity;
            continue;
        }
        {
            const char* format = GetImageOption(info.get(), "format");
            ctx.native_ping = !verbose && (!format || header_only_format(format));
        }
        exec::ImageList images;
        {
            // identify.c reads with a copy of its settings whose verbose is off: -verbose is
            // for the report on stdout, not ReadImage's one-line summary on stderr.
            const MagickBooleanType v = info->verbose;
            info->verbose = MagickFalse;
            if (!engine.read(info.get(), a, images)) ok = false;
            info->verbose = v;
            // What that read leaves behind in ImageMagick (the report lists it among artifacts).
            if (v)
                for (auto& img : images) SetImageArtifact(img.shell(), "verbose", "true");
        }
        // identify.c's FinalizeImageSettings after each read: every option given so far runs on
        // what was read as MogrifyImages runs it (-crop, -colorspace, -depth, -alpha change the
        // report), and the settings reach the images (-features, -moments, -unique, -set).
        if (!images.empty() && !info->ping) {
            std::vector<const char*> argv = magick_argv(options);
            magick::Exception ex;
            ::Image* list = exec::to_magick_list(images, ctx.diag);
            if (MogrifyImages(info.get(), MagickTrue, static_cast<int>(options.size()), argv.data(), &list,
                              ex) == MagickFalse)
                ok = false;
            images = exec::from_magick_list(list);
            for (auto& img : images) SyncImageSettings(info.get(), img.shell());
            if (ex.drain(ctx.diag)) ok = false;
        }
        const char* format = GetImageOption(info.get(), "format");
        size_t n = images.size();
        for (size_t k = 0; k < n; ++k) {
            Image& img = images[k];
            ::Image* im = info->ping ? img.shell() : img.make_magick(ctx.diag);
            // Present the frames as one list so %n, %p and the [scene] suffix are right.
            im->scene = im->scene ? im->scene : k;
            magick::Exception ex;
            if (format) {
                ::Image* list = nullptr;
                for (auto& other : images) {
                    ::Image* o = other.shell();
                    o->previous = o->next = nullptr;
                }
                for (size_t m = 0; m < n; ++m) {
                    ::Image* o = images[m].shell();
                    if (m > 0) {
                        images[m - 1].shell()->next = o;
                        o->previous = images[m - 1].shell();
                    }
                    if (!list) list = o;
                }
                char* text = InterpretImageProperties(info.get(), im, format);
                InheritException(ex, &im->exception);
                for (auto& other : images) other.shell()->previous = other.shell()->next = nullptr;
                if (text) {
                    std::fputs(text, stdout);
                    DestroyString(text);
                }
            } else {
                if (n > 1) {
                    for (size_t m = 0; m + 1 < n; ++m) {
                        images[m].shell()->next = images[m + 1].shell();
                        images[m + 1].shell()->previous = images[m].shell();
                    }
                }
                IdentifyImage(im, stdout, verbose ? MagickTrue : MagickFalse);
                for (auto& other : images) other.shell()->previous = other.shell()->next = nullptr;
            }
            if (ex.drain(ctx.diag)) ok = false;
        }
        std::fflush(stdout);
    }
    // identify.c's "missing an image filename" check after its loop can never fire (the loop
    // always ends at argc): options and no file succeed, printing nothing.
    return ctx.exit_status(ok);
}

int run_mogrify(Context& ctx, std::vector<std::string>& raw) {
    static const exec::OptionParser mogrify_parser(exec::Tool::mogrify);
    int status = 0;
    if (handle_info_option(ctx, raw, status)) return status;
    std::vector<std::string> args = exec::expand_filenames(raw, ctx);
    // As mogrify.c: each file gets all the options given before it (those after the last file
    // are never applied), as settings for its read and then as operators on its images; -format
    // and -path name its output as they stand when the file comes.
    struct Job {
        std::string file, out;
        std::vector<std::string> options;
    };
    std::vector<Job> jobs;
    std::vector<std::string> options;
    std::string format, path;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (!magick::is_command_option(a)) {
            std::string out = a;
            if (!format.empty()) {
                auto dot = out.rfind('.');
                auto slash = out.rfind('/');
                if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) out.erase(dot);
                out += "." + format;
            }
            if (!path.empty()) {
                auto slash = out.rfind('/');
                out = path + "/" + (slash == std::string::npos ? out : out.substr(slash + 1));
            }
            jobs.push_back({a, out, options});
            continue;
        }
        if (a == "-list" && i + 1 < args.size()) {
            // mogrify.c lists, then returns.
            if (!exec::is_mtool_list(args[i + 1])) mogrify_parser.check(args, i, args.size());
            print_list(args[i + 1]);
            return 0;
        }
        // mogrify.c renames the option in place before it checks for the argument.
        if (a == "-format" && i + 1 == args.size())
            throw Error(Severity::option_error, exec::option_message("MissingArgument"), "-sans",
                        mogrify_parser.where_for(a, "MissingArgument"));
        const int arity = mogrify_parser.check(args, i, args.size());
        if (a == "-format" || a == "+format") {
            format = a[0] == '-' ? args[i + 1] : std::string();
            i += static_cast<size_t>(arity);
            continue;
        }
        if (a == "-path" || a == "+path") {
            path = a[0] == '-' ? args[i + 1] : std::string();
            i += static_cast<size_t>(arity);
            continue;
        }
        // -dft and -idft pass mogrify's parser but neither MogrifyImage nor MogrifyImageList has
        // a branch for them: the file is only rewritten.
        if (a.size() > 1 && (!strcasecmp(a.c_str() + 1, "dft") || !strcasecmp(a.c_str() + 1, "idft"))) {
            i += static_cast<size_t>(arity);
            continue;
        }
        // Each file runs as convert would run these options; where mogrify's parser gives an
        // option more words than convert's (+blur 0x2, -smush 5 5), they are passed as
        // MogrifyImage uses them: +blur, +kuwahara and +unsharp read their argument whatever
        // the sign (the - form), the others ignore what convert's parser would not take.
        static const exec::OptionParser convert_parser(exec::Tool::convert);
        const int taken = convert_parser.arity(a);
        if (taken >= 0 && taken < arity) {
            const char* name = a.c_str() + 1;
            const bool sign_blind =
                !strcasecmp(name, "blur") || !strcasecmp(name, "kuwahara") || !strcasecmp(name, "unsharp");
            if (sign_blind && a[0] == '+' && convert_parser.arity("-" + a.substr(1)) == arity) {
                options.push_back("-" + a.substr(1));
                for (int k = 1; k <= arity; ++k) options.push_back(args[i + static_cast<size_t>(k)]);
            } else {
                for (int k = 0; k <= taken; ++k) options.push_back(args[i + static_cast<size_t>(k)]);
            }
            i += static_cast<size_t>(arity);
            continue;
        }
        for (int k = 0; k <= arity; ++k) options.push_back(args[i + static_cast<size_t>(k)]);
        i += static_cast<size_t>(arity);
    }
    // As mogrify.c: no arguments print the usage; options without a file succeed doing nothing
    // (its "missing an image filename" check after the loop can never fire).
    if (raw.empty()) {
        usage("mogrify");
        return 0;
    }
    int worst = 0;
    for (const Job& job : jobs) {
        // convert OPTIONS FILE OUT: as in mogrify.c, the options set before the read (the
        // stack is empty, so they only reach the settings) and operate once it is done.
        std::vector<std::string> conv = job.options;
        conv.push_back(job.file);
        conv.push_back(job.out);
        exec::Executor engine(ctx);
        worst = std::max(worst, engine.convert(conv));
    }
    return worst;
}

namespace {

using MagickCommand = MagickBooleanType (*)(::ImageInfo*, int, char**, char**, ::ExceptionInfo*);

/// montage, composite and compare are ImageMagick's own command drivers, so their options and
/// semantics are exactly ImageMagick's; the output named last goes through mtool's safe write
/// (the driver writes a staged file, which becomes the user's once the command succeeded) and
/// the security policy is checked against the user's path.
int run_magick_command(Context& ctx, std::vector<std::string>& raw, const char* tool, MagickCommand command,
                       bool compare) {
    int status = 0;
    if (handle_info_option(ctx, raw, status)) return status;
    for (const auto& a : raw) {
        if (a == "-quiet") ctx.quiet = true;
        if (a == "-regard-warnings") ctx.regard_warnings = true;
    }
    std::vector<std::string> args = {tool};
    args.insert(args.end(), raw.begin(), raw.end());
    magick::InfoPtr info(AcquireImageInfo());
    exec::BridgedOutput out;
    const bool has_output = raw.size() >= 3 && !magick::is_command_option(raw.back());
    if (has_output) {
        try {
            const exec::OutputFormat format = exec::output_format(info.get(), raw.back(), 1, "MIFF");
            out = exec::bridge_output(info.get(), raw.back(), format, false);
            args.back() = out.name;
        } catch (const Error& e) {
            ctx.diag.add(e);
            return compare ? 2 : 1;
        }
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // As their main programs call them: compare collects (and drops) metadata, the others none.
    char* metadata = nullptr;
    magick::Exception ex;
    const bool ok = command(info.get(), static_cast<int>(args.size()), argv.data(),
                            compare ? &metadata : nullptr, ex) != MagickFalse;
    if (metadata) DestroyString(metadata);
    Diagnostics got;
    const bool error = ex.drain(got);
    for (Diagnostic d : got.all()) {
        d.text = out.user_text(d.text);
        ctx.diag.add(std::move(d));
    }
    if (ok && out.stage) {
        try {
            out.stage->commit();
        } catch (const Error& e) {
            ctx.diag.add(e);
            return compare ? 2 : 1;
        }
    }
    if (compare) {
        // ImageMagick's compare: 1 when the images differ, 2 on error, else 0.
        const char* dissimilar = GetImageOption(info.get(), "compare:dissimilar");
        if (dissimilar && IsStringTrue(dissimilar) != MagickFalse) return 1;
        return ok ? 0 : 2;
    }
    return ctx.exit_status(ok && !error);
}

}  // namespace

int run_composite(Context& ctx, std::vector<std::string>& raw) {
    return run_magick_command(ctx, raw, "composite", &CompositeImageCommand, false);
}

int run_compare(Context& ctx, std::vector<std::string>& raw) {
    return run_magick_command(ctx, raw, "compare", &CompareImageCommand, true);
}

int run_montage(Context& ctx, std::vector<std::string>& raw) {
    return run_magick_command(ctx, raw, "montage", &MontageImageCommand, false);
}

}  // namespace mtool::cli
