#include "src/exec/executor.h"

#include <dlfcn.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "cache/tiers.h"
#include "src/codecs/codec.h"
#include "src/core/magick.h"
#include "src/exec/io.h"
#include "src/exec/option_parser.h"
#include "src/ops/op_spec.h"
#include "src/ops/parallel.h"

namespace mtool::exec {
namespace fs = std::filesystem;

namespace {

constexpr const char* kWhere = "convert.c/ConvertImageCommand";

/// convert.c's option parser: accepted options, their arities and checks, its errors' locations.
const OptionParser& parser() {
    static const OptionParser p(Tool::convert);
    return p;
}
std::string where_for(const std::string& option, const std::string& tag) {
    return parser().where_for(option, tag);
}
std::string where_fixed(const char* tag, int index = 0) { return parser().where_fixed(tag, index); }

/// Words an option takes within a segment: what MogrifyImage's table says, or what convert's
/// parser consumed when that is more (+shade's geometry, which MogrifyImage reads regardless).
size_t segment_arity(const std::string& option, const magick::OptionInfo& oi) {
    return static_cast<size_t>(std::max({oi.arity, parser().arity(option), 0}));
}

Error option_error(const std::string& reason, const std::string& context, const std::string& where = kWhere) {
    return Error(Severity::option_error, reason, context, where);
}

/// argv view for ImageMagick's C functions. A few of its option handlers read the word after an
/// option even for forms that take none (+precision reads argv[i+1]): a "0" stands after the
/// last argument, as convert's own argv always has more words there.
struct Argv {
    explicit Argv(const std::vector<std::string>& v) {
        for (const auto& s : v) ptrs.push_back(s.c_str());
        ptrs.push_back("0");
        ptrs.push_back(nullptr);
    }
    int argc() const { return static_cast<int>(ptrs.size()) - 2; }
    const char** argv() { return ptrs.data(); }
    std::vector<const char*> ptrs;
};

/// -monitor for native operators: ImageMagick's progress lines as rows complete (whole percents,
/// serialised across the worker threads).
class MonitorSink : public ops::ProgressSink {
public:
    MonitorSink(::Image* shell, std::string tag) : shell_(shell), tag_(std::move(tag)) {}
    void advance(long done, long total) override {
        std::lock_guard lock(mu_);
        // ImageMagick's monitor prints offsets that are multiples of 50: report the latest
        // such offset reached.
        const long step = 50;
        const long offset = done / step * step;
        if (offset <= last_ || done >= total) return;  // the executor reports the end itself
        last_ = offset;
        SetImageProgress(shell_, tag_.c_str(), offset, static_cast<MagickSizeType>(total));
    }

private:
    ::Image* shell_;
    std::string tag_;
    std::mutex mu_;
    long last_ = 0;
};

bool is_operator(long flags) { return (flags & (SimpleOperatorOptionFlag | ListOperatorOptionFlag)) != 0; }

bool is_write(const std::string& option) { return option == "-write" || option == "+write"; }

/// A + form 6.9.11's table flags only as deprecated (and as a firing point, for list
/// operators), whose - form is an operator of `kind`: MogrifyImage and MogrifyImageList run the
/// operator's branch whatever the sign (+shade shades in colour, +flatten flattens).
bool deprecated_plus_of(const std::string& option, long kind) {
    if (option.size() < 2 || option[0] != '+') return false;
    const magick::OptionInfo plus = magick::option_info(option);
    if (!plus.known || (plus.flags & ~static_cast<long>(FireOptionFlag)) != DeprecateOptionFlag) return false;
    const magick::OptionInfo minus = magick::option_info("-" + option.substr(1));
    if (!minus.known) return false;
    if (kind == ListOperatorOptionFlag)
        return (minus.flags & ListOperatorOptionFlag) != 0 || option == "+minimum";
    return (minus.flags & SimpleOperatorOptionFlag) && !(minus.flags & ListOperatorOptionFlag);
}

/// List operators, the deprecated + forms included.
bool is_list_operator(const std::string& option, long flags) {
    // The table flags -minimum as an image setting (a slip: MogrifyImageList has it, like -maximum).
    return (flags & ListOperatorOptionFlag) || option == "-minimum" ||
           deprecated_plus_of(option, ListOperatorOptionFlag);
}

/// Options ImageMagick's table flags as settings but MogrifyImage applies to pixels.
bool acts_as_operator(const std::string& option) {
    if (option == "-colors" || option == "-region" || option == "+region") return true;
    return deprecated_plus_of(option, SimpleOperatorOptionFlag) ||
           deprecated_plus_of(option, ListOperatorOptionFlag);
}

/// Whether args[from, to) holds an operator (one that ImageMagick keeps pending until an image is
/// read, then runs on it).
bool pending_operator(const std::vector<std::string>& args, size_t from, size_t to) {
    for (size_t k = from; k < to;) {
        const magick::OptionInfo oi = magick::option_info(args[k]);
        if (!oi.known || is_operator(oi.flags)) return true;
        k += 1 + static_cast<size_t>(std::max(0, oi.arity));
    }
    return false;
}

/// Whether a read may decode at a reduced size (or a region) for the geometry step after it: not when turned
/// off (-define mtool:shrink-on-load=false), not under -verbose (which reports the read's size),
/// not with a read modifier ("file[...]" selects or resizes first), and not when a -filter or a
/// filter:* define asks for a particular resampling of the full image.
bool shrink_on_load(::ImageInfo* info, const std::string& filename) {
    const char* on = GetImageOption(info, "mtool:shrink-on-load");
    if ((on && IsStringNotFalse(on) == MagickFalse) || info->verbose || filename.empty() ||
        filename.back() == ']' || GetImageOption(info, "filter"))
        return false;
    ResetImageOptionIterator(info);
    while (const char* key = GetNextImageOption(info))
        if (std::strncmp(key, "filter:", 7) == 0) return false;
    return true;
}

}  // namespace

Executor::Executor(Context& ctx) : ctx_(ctx) {}

int thread_limit() {
    return static_cast<int>(std::clamp<MagickSizeType>(GetMagickResourceLimit(ThreadResource), 1, 64));
}

void check_time_limit() {
    static const auto start = std::chrono::steady_clock::now();
    MagickSizeType limit = GetMagickResourceLimit(TimeResource);
    if (limit == MagickResourceInfinity) return;
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(static_cast<long long>(limit)))
        throw Error(Severity::fatal_error, "time limit exceeded", "Operation canceled",
                    magick::where::time_limit);
}

std::vector<std::string> expand_filenames(const std::vector<std::string>& args, Context& ctx) {
    std::vector<std::string> full = {ctx.client};
    full.insert(full.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : full) argv.push_back(const_cast<char*>(s.c_str()));
    int argc = static_cast<int>(argv.size());
    char** p = argv.data();
    if (ExpandFilenames(&argc, &p) == MagickFalse)
        throw Error(Severity::resource_limit_error, "memory allocation failed", "", kWhere);
    std::vector<std::string> out(p + 1, p + argc);
    // ExpandFilenames returns a fresh vector when it expanded something.
    if (p != argv.data()) {
        for (int i = 0; i < argc; ++i) RelinquishMagickMemory(p[i]);
        RelinquishMagickMemory(p);
    }
    return out;
}

::Image* to_magick_list(ImageList& images, Diagnostics& diag) {
    ::Image* head = nullptr;
    for (auto& img : images) AppendImageToList(&head, img.release_magick(diag));
    images.clear();
    return head;
}

ImageList from_magick_list(::Image* list) {
    ImageList out;
    list = GetFirstImageInList(list);
    while (list) {
        ::Image* next = list->next;
        list->next = nullptr;
        list->previous = nullptr;
        if (next) next->previous = nullptr;
        out.emplace_back(magick::ImagePtr(list));
        list = next;
    }
    return out;
}

namespace {

/// One part of an index list as list.c reads them: spaces and commas, a number, optionally
/// "-number". False when no number is there (ImageMagick's loops would never end; its parsers
/// never let such a list through).
bool next_range(const char*& p, long& first, long& last) {
    while (std::isspace(static_cast<unsigned char>(*p)) || *p == ',') ++p;
    char* end;
    first = std::strtol(p, &end, 10);
    const bool advanced = end != p;
    p = end;
    last = first;
    while (std::isspace(static_cast<unsigned char>(*p))) ++p;
    if (*p == '-') {
        last = std::strtol(p + 1, &end, 10);
        p = end;
        return true;
    }
    return advanced || !*p;
}

}  // namespace

bool parse_indexes(const std::string& spec, size_t count, std::vector<size_t>& out) {
    // CloneImages (list.c): ranges "first-last" (reversed ones count down), negative indexes
    // from the end, bounds clamped to the length; an index of a range that matches no image,
    // before any of that range did, is reported. A trailing comma reads one more "0", as there.
    out.clear();
    bool valid = true;
    const long n = static_cast<long>(count);
    auto clamp = [n](long v) { return v < 0 ? v + n : std::min(v, n); };
    for (const char* p = spec.c_str(); *p;) {
        long first, last;
        if (!next_range(p, first, last)) return false;
        first = clamp(first);
        last = clamp(last);
        bool match = false;
        const long step = first > last ? -1 : 1;
        for (; step > 0 ? last - first >= 0 : last - first <= 0; first += step) {
            if (first >= 0 && first < n) {
                out.push_back(static_cast<size_t>(first));
                match = true;
            }
            if (!match) valid = false;
        }
    }
    return valid;
}

void delete_indexes(const std::string& spec, std::vector<Image>& list) {
    // DeleteImages (list.c): as above, but reversed ranges and indexes out of range are skipped,
    // quietly, and each image goes once.
    const long n = static_cast<long>(list.size());
    std::vector<bool> doomed(list.size(), false);
    for (const char* p = spec.c_str(); *p;) {
        long first, last;
        if (!next_range(p, first, last)) return;
        if (first < 0) first += n;
        if (last < 0) last += n;
        for (long i = std::max(first, 0L); i <= last && i < n; ++i) doomed[static_cast<size_t>(i)] = true;
    }
    std::vector<Image> kept;
    for (size_t i = 0; i < list.size(); ++i)
        if (!doomed[i]) kept.push_back(std::move(list[i]));
    list = std::move(kept);
}

// ---------------------------------------------------------------------------------------------
// Segment application (MogrifyImages with post=true)

bool Executor::mogrify(::ImageInfo* info, const std::vector<std::string>& seg, ImageList& images) {
    bool ok = true;
    for (size_t i = 0; i < images.size(); ++i) ok &= mogrify_one(info, seg, images, i);
    ok &= mogrify_list(info, seg, images);
    return ok;
}

bool Executor::run_bridged_simple(::ImageInfo* local, const std::vector<std::string>& argv, ImageList& images,
                                  size_t& index) {
    if (in_band) throw StreamAbort{};  // a band runs native steps only
    Image& img = images[index];
    // ImageMagick runs a simple operator on an image that is part of its list: -identify prints
    // `name[scene]' for a list, and escapes (%[fx:t], %n, %[fx:u[1].r]) see the list's length,
    // the image's index and the other images. So the image goes in linked to its neighbours,
    // which are handed over to ImageMagick first when an escape might read their pixels.
    const bool escapes = std::any_of(argv.begin(), argv.end(),
                                     [](const std::string& w) { return w.find('%') != std::string::npos; });
    const bool identify = std::any_of(
        argv.begin(), argv.end(), [](const std::string& w) { return w == "-identify" || w == "+identify"; });
    const bool linked = images.size() > 1 && (escapes || identify);
    if (linked && escapes)
        for (size_t k = 0; k < images.size(); ++k)
            if (k != index) images[k].make_magick(ctx_.diag);
    ::Image* im = img.release_magick(ctx_.diag);
    ::Image* next_shell = index + 1 < images.size() ? images[index + 1].shell() : nullptr;
    if (linked) {
        ::Image* prev = nullptr;
        for (size_t k = 0; k < images.size(); ++k) {
            ::Image* cur = k == index ? im : images[k].shell();
            cur->previous = prev;
            cur->next = nullptr;
            if (prev) prev->next = cur;
            prev = cur;
        }
    }
    magick::Exception ex;
    Argv a(argv);
    bool ok = MogrifyImage(local, a.argc(), a.argv(), &im, ex) != MagickFalse;
    if (ex.drain(ctx_.diag)) ok = false;
    if (linked) {
        // Cut the result (one image, or those it became) out of the list again.
        if (im) {
            im->previous = nullptr;
            ::Image* last = im;
            while (last->next && last->next != next_shell) last = last->next;
            last->next = nullptr;
        }
        for (size_t k = 0; k < images.size(); ++k)
            if (k != index) images[k].shell()->previous = images[k].shell()->next = nullptr;
    }
    ImageList produced = from_magick_list(im);
    for (auto& img : produced) img.mark_computed();
    images.erase(images.begin() + static_cast<long>(index));
    size_t n = produced.size();
    images.insert(images.begin() + static_cast<long>(index), std::make_move_iterator(produced.begin()),
                  std::make_move_iterator(produced.end()));
    if (n == 0) {
        --index;  // the image vanished; the caller's ++ lands on the next one
        return ok;
    }
    index += n - 1;
    return ok;
}

/// MogrifyImage's -fill/-stroke for each image: a value that is not a colour is read as a
/// pattern image, so an unknown name gets ImageMagick's "unable to open image" errors even when
/// no operator uses it.
bool Executor::fill_pattern(const ::ImageInfo* info, const std::string& value) {
    if (planning_) return true;  // a plan reads no pattern
    PixelPacket colour;
    magick::Exception sans;
    if (QueryColorDatabase(value.c_str(), &colour, sans) != MagickFalse) return true;
    // Read once per name and kept in the registry under "cache:NAME", as mogrify.c does, so the
    // next image (and a later -write of that name) find it there.
    const std::string key = "cache:" + value;
    {
        magick::Exception sans2;
        if (::Image* cached =
                static_cast<::Image*>(GetImageRegistry(ImageRegistryType, key.c_str(), sans2))) {
            DestroyImage(cached);
            return true;
        }
    }
    magick::InfoPtr read_info = magick::clone_info(info);
    CopyMagickString(read_info->filename, value.c_str(), MaxTextExtent);
    magick::Exception ex;
    if (::Image* pattern = ReadImage(read_info.get(), ex)) {
        SetImageRegistry(ImageRegistryType, key.c_str(), pattern, ex);
        DestroyImageList(pattern);
    }
    return !ex.drain(ctx_.diag);
}

bool Executor::mogrify_one(::ImageInfo* info, const std::vector<std::string>& seg, ImageList& images,
                           size_t& index) {
    bool ok = true;
    magick::InfoPtr local = magick::clone_info(info);
    // -region changes how every later operator of the segment writes back: leave it all to IM.
    if (auto r = std::find(seg.begin(), seg.end(), "-region"); r != seg.end()) {
        PlanEntry e{PlanEntry::Kind::step,
                    seg_base_ + static_cast<size_t>(r - seg.begin()),
                    "-region",
                    r + 1 < seg.end() ? *(r + 1) : "",
                    "ImageMagick",
                    "the segment's operators",
                    "whole-image, whole image in ImageMagick",
                    "",
                    "[" + std::to_string(index) + "] " + plan_geometry(images[index].shell()),
                    ""};
        if (planning_) {
            e.output = plan_geometry(images[index].shell());
            record(std::move(e));
            return true;
        }
        const size_t first = index;
        ok = run_bridged_simple(local.get(), seg, images, index);
        e.output = index == static_cast<size_t>(-1) || index < first
                       ? "no image"
                       : plan_geometry(ImageList(images.begin() + static_cast<long>(first),
                                                 images.begin() + static_cast<long>(index + 1)));
        record(std::move(e));
        return ok;
    }
    std::vector<std::string> settings;  // setting tokens seen so far, replayed for bridged ops
    // -fill/-stroke values ImageMagick's MogrifyImage would look at for this image: a bridged
    // operator replays them (and ImageMagick reports what it reports); otherwise they are
    // checked at the end of the segment.
    std::vector<std::string> pending_fills;
    for (size_t i = 0; i < seg.size(); ++i) {
        const std::string& option = seg[i];
        if (!magick::is_command_option(option)) continue;
        magick::OptionInfo oi = magick::option_info(option);
        size_t count = segment_arity(option, oi);
        if (i + count >= seg.size()) break;
        {
            magick::Exception ex;
            std::vector<std::string> part(seg.begin() + static_cast<long>(i),
                                          seg.begin() + static_cast<long>(i + count + 1));
            Argv a(part);
            MogrifyImageInfo(local.get(), a.argc(), a.argv(), ex);
            if (ex.drain(ctx_.diag)) ok = false;
        }
        std::vector<std::string> tokens(seg.begin() + static_cast<long>(i),
                                        seg.begin() + static_cast<long>(i + count + 1));
        i += count;
        bool simple = ((oi.flags & SimpleOperatorOptionFlag) && !(oi.flags & ListOperatorOptionFlag)) ||
                      (acts_as_operator(option) && !is_list_operator(option, oi.flags));
        if (!simple) {
            if (!is_operator(oi.flags) || is_list_operator(option, oi.flags))
                settings.insert(settings.end(), tokens.begin(), tokens.end());
            if ((option == "-fill" || option == "-stroke") && index < images.size())
                pending_fills.push_back(tokens[1]);
            continue;
        }
        if (index >= images.size()) break;
        if ((option == "-set" || option == "+set") && tokens[1].rfind("option:", 0) == 0) {
            // MogrifyImage's -set option:KEY: a global option (seen by later escapes, label:
            // and caption: reads, -annotate text) and an artifact of the image.
            const std::string key = tokens[1].substr(7);
            ::Image* shell = images[index].shell();
            if (option[0] == '+') {
                DeleteImageOption(info, key.c_str());
                DeleteImageOption(local.get(), key.c_str());
                DeleteImageArtifact(shell, key.c_str());
                continue;
            }
            if (char* value = InterpretImageProperties(local.get(), shell, tokens[2].c_str())) {
                SetImageOption(info, key.c_str(), value);
                SetImageOption(local.get(), key.c_str(), value);
                SetImageArtifact(shell, key.c_str(), value);
                DestroyString(value);
            }
            continue;
        }
        const ops::OpSpec* spec = ops::find(option);
        ctx_.precise = !is_final_operator(i - count);
        round_new_8bit = !ctx_.precise && reduction_ == Reduction::round;
        ops::OpCall call{option, std::vector<std::string>(tokens.begin() + 1, tokens.end()), local.get(),
                         ctx_};
        // Native or bridge, decided before any pixel is touched (the plan asks the same).
        std::string why;
        if (!spec || !spec->run)
            why = "no native operator";
        else if (spec->accepts && !spec->accepts(call))
            why = "its arguments or settings";
        else if (spec->uses_channel && local->channel != DefaultChannels)
            why = "-channel";  // a channel selection: ImageMagick's XxxImageChannel does it
        else if (in_hidden_alpha(i - count))
            why = "hidden alpha";
        else if (spec->declines) {
            SyncImageSettings(local.get(), images[index].shell());
            if (const char* d = spec->declines(images[index], call)) why = d;
        }
        bool native = why.empty();
        // The step's plan entry (or the record of its run): only when one is being kept.
        PlanEntry entry;
        if (log_)
            entry = PlanEntry{PlanEntry::Kind::step,
                              seg_base_ + (i - count),
                              option,
                              join_args(call.args),
                              native ? "native" : "ImageMagick",
                              why,
                              "",
                              "",
                              "[" + std::to_string(index) + "] " + plan_geometry(images[index].shell()),
                              ""};
        ImageList produced;
        if (planning_) {
            // The plan: what this step would give, from the image's header, with the settings
            // the run syncs into the image first (-gravity for a crop of a paged image).
            SyncImageSettings(local.get(), images[index].shell());
            if (native)
                if (const char* p = pixels_decide(images[index].shell())) {
                    entry.engine = kEitherEngine;
                    entry.reason = p;
                }
            produced =
                predict_simple(option, call.args, images[index], local.get(), ctx_, native, entry.demand);
            entry.output = plan_geometry(produced);
            record(std::move(entry));
            images.erase(images.begin() + static_cast<long>(index));
            const size_t n = produced.size();
            images.insert(images.begin() + static_cast<long>(index),
                          std::make_move_iterator(produced.begin()), std::make_move_iterator(produced.end()));
            if (n == 0) {
                --index;
                break;
            }
            index += n - 1;
            continue;
        }
        if (native) {
            try {
                Image& img = images[index];
                check_time_limit();
                cache::set_current_label(img.shell()->filename);
                ctx_.threads = thread_limit();
                SyncImageSettings(local.get(), img.shell());
                img.make_native(ctx_.diag);
                // -monitor: ImageMagick's progress lines (on stderr) for the native operator too.
                std::string tag = option.substr(1) + "/Image";
                tag[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(tag[0])));
                const bool monitor = img.shell()->progress_monitor != nullptr;
                const auto rows = static_cast<MagickSizeType>(std::max(1, img.height()));
                if (monitor) SetImageProgress(img.shell(), tag.c_str(), 0, rows);
                MonitorSink sink(img.shell(), tag);
                ops::progress_sink = monitor ? &sink : nullptr;
                try {
                    produced = spec->run(img, call);
                } catch (...) {
                    ops::progress_sink = nullptr;
                    round_new_8bit = false;
                    throw;
                }
                ops::progress_sink = nullptr;
                round_new_8bit = false;
                const bool keeps = spec->keeps_class &&
                                   ((option != "-colorspace" && option != "-type") || img.layout().gray());
                for (auto& p : produced)
                    if (p.shell() && !keeps) set_held_as_palette(p.shell(), false);
                if (monitor && !produced.empty() && produced.front().shell())
                    SetImageProgress(produced.front().shell(), tag.c_str(),
                                     static_cast<MagickOffsetType>(rows - 1), rows);
                cache::thread_release_all();
            } catch (const ops::Decline& d) {
                cache::thread_release_all();
                round_new_8bit = false;
                native = false;
                entry.engine = "ImageMagick";
                entry.reason = "declined when run: " + d.why;
            } catch (const Error& e) {
                cache::thread_release_all();
                round_new_8bit = false;
                ctx_.diag.add(e);
                if (e.severity() >= Severity::resource_limit_error) ok = false;
                entry.output = "error";
                record(std::move(entry));
                continue;
            }
        }
        if (!native) {
            std::vector<std::string> argv = settings;
            argv.insert(argv.end(), tokens.begin(), tokens.end());
            const size_t first = index;
            ok &= run_bridged_simple(local.get(), argv, images, index);
            pending_fills.clear();
            if (log_) {
                const bool gone = index == static_cast<size_t>(-1) || index < first;
                entry.output = gone ? "no image"
                                    : plan_geometry(ImageList(images.begin() + static_cast<long>(first),
                                                              images.begin() + static_cast<long>(index + 1)));
                record(std::move(entry));
            }
            if (index == static_cast<size_t>(-1) || index >= images.size()) break;
            continue;
        }
        if (log_) {
            entry.output = plan_geometry(produced);
            record(std::move(entry));
        }
        images.erase(images.begin() + static_cast<long>(index));
        const size_t n = produced.size();
        images.insert(images.begin() + static_cast<long>(index), std::make_move_iterator(produced.begin()),
                      std::make_move_iterator(produced.end()));
        if (n == 0) {
            --index;
            break;
        }
        index += n - 1;
    }
    for (const std::string& value : pending_fills) ok &= fill_pattern(local.get(), value);
    return ok;
}

namespace {

/// Settings of a segment persist on the command's ImageInfo after its operators ran.
void persist_settings(::ImageInfo* info, const std::vector<std::string>& seg, Diagnostics& diag) {
    magick::Exception ex;
    Argv a(seg);
    MogrifyImageInfo(info, a.argc(), a.argv(), ex);
    ex.drain(diag);
}

/// ImageMagick's Fourier transforms (fourier.c) run one OpenMP section per channel, each
/// rewriting whole rows of the same two output images. In a memory cache the rows are the pixels
/// themselves; in a map or disk cache they are copies, so the channels overwrite each other's
/// rows and the result changes from run to run (MAGICK_THREAD_LIMIT does not reach sections).
/// Those calls run on one OpenMP thread (libgomp is ImageMagick's, so found at run time).
class SerialOpenMP {
public:
    explicit SerialOpenMP(const std::vector<std::string>& tokens) {
        bool fourier = false;
        for (const std::string& t : tokens)
            fourier |= t.size() == 4 && (t[0] == '-' || t[0] == '+') &&
                       (!strcasecmp(t.c_str() + 1, "fft") || !strcasecmp(t.c_str() + 1, "ift"));
        if (!fourier) return;
        auto get = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
        set_ = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
        if (!get || !set_) {
            set_ = nullptr;
            return;
        }
        old_ = get();
        set_(1);
    }
    ~SerialOpenMP() {
        if (set_) set_(old_);
    }
    SerialOpenMP(const SerialOpenMP&) = delete;
    SerialOpenMP& operator=(const SerialOpenMP&) = delete;

private:
    void (*set_)(int) = nullptr;
    int old_ = 1;
};

}  // namespace

bool Executor::bridge_list(::ImageInfo* info, const std::vector<std::string>& tokens, ImageList& images) {
    if (in_band) throw StreamAbort{};
    ::Image* list = to_magick_list(images, ctx_.diag);
    magick::Exception ex;
    Argv a(tokens);
    SerialOpenMP serial(tokens);
    bool ok = MogrifyImageList(info, a.argc(), a.argv(), &list, ex) != MagickFalse;
    if (ex.drain(ctx_.diag)) ok = false;
    images = from_magick_list(list);
    for (auto& img : images) img.mark_computed();
    return ok;
}

bool Executor::mogrify_list(::ImageInfo* info, const std::vector<std::string>& seg, ImageList& images) {
    // Find the list operators of this segment; without one only the settings persist.
    bool all_native = true;
    bool any = false;
    bool writes = false;
    size_t first_op = 0;  // the first list operator's place in the segment
    for (size_t i = 0; i < seg.size(); ++i) {
        if (!magick::is_command_option(seg[i])) continue;
        magick::OptionInfo oi = magick::option_info(seg[i]);
        size_t count = segment_arity(seg[i], oi);
        if (i + count >= seg.size()) break;
        if (is_list_operator(seg[i], oi.flags)) {
            const ops::OpSpec* spec = ops::find(seg[i]);
            if (!any) first_op = i;
            any = true;
            if ((!spec || !spec->run_list) && !is_write(seg[i])) all_native = false;
            writes |= is_write(seg[i]);
        }
        i += count;
    }
    if (images.empty() || !any) {
        persist_settings(info, seg, ctx_.diag);
        return true;
    }
    auto list_entry = [&](size_t at, const std::string& engine, const std::string& why) {
        if (!log_) return PlanEntry{};  // nothing kept: no strings built for every list step
        const size_t n = segment_arity(seg[at], magick::option_info(seg[at]));
        return PlanEntry{PlanEntry::Kind::step,
                         seg_base_ + at,
                         seg[at],
                         join_args(std::vector<std::string>(seg.begin() + static_cast<long>(at + 1),
                                                            seg.begin() + static_cast<long>(at + 1 + n))),
                         engine,
                         why,
                         "",
                         "",
                         plan_geometry(images),
                         ""};
    };
    if (!all_native && !writes) {
        PlanEntry e = list_entry(first_op, "ImageMagick", "no native operator");
        if (planning_) {
            const size_t n = segment_arity(seg[first_op], magick::option_info(seg[first_op]));
            predict_list(seg[first_op],
                         std::vector<std::string>(seg.begin() + static_cast<long>(first_op + 1),
                                                  seg.begin() + static_cast<long>(first_op + 1 + n)),
                         images, info, ctx_, false, e.demand);
            e.output = plan_geometry(images);
            record(std::move(e));
            persist_settings(info, seg, ctx_.diag);
            return true;
        }
        const bool r = bridge_list(info, seg, images);
        e.output = plan_geometry(images);
        record(std::move(e));
        return r;
    }
    // One list operator at a time, settings replayed locally as ImageMagick does: native ones
    // here, -write/+write through the executor's safe write, others (and a native run that
    // declines before touching the list) through ImageMagick.
    bool ok = true;
    magick::InfoPtr local = magick::clone_info(info);
    std::vector<std::string> settings;
    for (size_t i = 0; i < seg.size(); ++i) {
        if (!magick::is_command_option(seg[i])) continue;
        magick::OptionInfo oi = magick::option_info(seg[i]);
        size_t count = segment_arity(seg[i], oi);
        if (i + count >= seg.size()) break;
        std::vector<std::string> tokens(seg.begin() + static_cast<long>(i),
                                        seg.begin() + static_cast<long>(i + count + 1));
        persist_settings(local.get(), tokens, ctx_.diag);
        i += count;
        if (!is_list_operator(seg[i], oi.flags)) {
            settings.insert(settings.end(), tokens.begin(), tokens.end());
            continue;
        }
        if (is_write(tokens[0])) {
            // MogrifyImageList's -write: settings synced, the registry's cached copy of that name
            // dropped, then the list itself (or, for +write, a copy) written.
            for (auto& img : images) SyncImageSettings(local.get(), img.shell());
            DeleteImageRegistry(("cache:" + tokens[1]).c_str());
            write_arg_ = seg_base_ + (i - count);
            if (tokens[0][0] == '+') {
                ImageList copy = images;
                ok &= write(local.get(), copy, tokens[1]);
            } else {
                ok &= write(local.get(), images, tokens[1]);
            }
            continue;
        }
        ctx_.precise = !is_final_operator(i - count);
        round_new_8bit = !ctx_.precise && reduction_ == Reduction::round;
        const ops::OpSpec* spec = ops::find(tokens[0]);
        ops::OpCall call{tokens[0], std::vector<std::string>(tokens.begin() + 1, tokens.end()), local.get(),
                         ctx_};
        bool native = spec && spec->run_list && (!spec->accepts || spec->accepts(call)) &&
                      !(spec->uses_channel && local->channel != DefaultChannels);
        std::string why = native                     ? ""
                          : !spec || !spec->run_list ? "no native operator"
                                                     : "its arguments or settings";
        if (native && spec->declines_list) {
            for (auto& img : images) SyncImageSettings(local.get(), img.shell());
            if (const char* d = spec->declines_list(images, call)) {
                native = false;
                why = d;
            }
        }
        PlanEntry entry = list_entry(i - count, native ? "native" : "ImageMagick", why);
        if (planning_) {
            for (auto& img : images) SyncImageSettings(local.get(), img.shell());
            predict_list(tokens[0], call.args, images, local.get(), ctx_, native, entry.demand);
            entry.output = plan_geometry(images);
            record(std::move(entry));
            round_new_8bit = false;
            if (images.empty()) break;
            continue;
        }
        if (native) {
            for (auto& img : images) SyncImageSettings(local.get(), img.shell());
            try {
                spec->run_list(images, call);
            } catch (const ops::Decline& d) {
                native = false;
                entry.engine = "ImageMagick";
                entry.reason = "declined when run: " + d.why;
            } catch (const Error& e) {
                ctx_.diag.add(e);
                if (e.severity() >= Severity::resource_limit_error) ok = false;
            }
        }
        round_new_8bit = false;
        if (!native) {
            std::vector<std::string> argv = settings;
            argv.insert(argv.end(), tokens.begin(), tokens.end());
            ok &= bridge_list(info, argv, images);
        }
        entry.output = plan_geometry(images);
        record(std::move(entry));
        if (images.empty()) break;
    }
    persist_settings(info, seg, ctx_.diag);
    return ok;
}

// ---------------------------------------------------------------------------------------------
// The convert driver

namespace {

struct Stack {
    magick::InfoPtr info;
    ImageList images;
};

}  // namespace

namespace {

/// How every output of the command reduces Q16 to 8 bits when all are written by the native
/// PNG writer (truncation) or all by the JPEG writer (rounding) and nothing prints pixel
/// values: 8-bit results stored that way are then exactly what ImageMagick would write.
Reduction output_reduction(const std::vector<std::string>& args) {
    if (args.size() < 2) return Reduction::none;
    std::vector<std::string> outputs{args.back()};
    for (size_t i = 0; i + 1 < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "-write" || a == "+write") outputs.push_back(args[i + 1]);
        if (a == "-format" || a == "-print" || a == "+print" || a == "-identify" || a == "+identify" ||
            a == "-fx" || a == "+fx" || a == "-verbose" || a == "-depth" ||
            a.find("%[pixel") != std::string::npos || a.find("%[fx") != std::string::npos)
            return Reduction::none;
    }
    bool png = false, jpeg = false;
    for (const std::string& out : outputs) {
        Target t = split_target(out);
        std::string format = t.prefix;
        if (format.empty()) {
            size_t dot = t.path.rfind('.');
            if (dot == std::string::npos || t.path == "-") return Reduction::none;
            format = t.path.substr(dot + 1);
        }
        const codecs::CodecSpec* codec = codecs::for_magick(format);
        if (!codec || t.path.find('%') != std::string::npos) return Reduction::none;
        // PNG48/PNG64 keep 16 bits and JPEG 2000 scales Q16: only these two reduce to 8 bits.
        if (!strcasecmp(format.c_str(), "PNG48") || !strcasecmp(format.c_str(), "PNG64"))
            return Reduction::none;
        if (codec == &codecs::png_codec)
            png = true;
        else if (codec == &codecs::jpeg_codec)
            jpeg = true;
        else
            return Reduction::none;
    }
    if (png && jpeg) return Reduction::none;  // they reduce differently
    return jpeg ? Reduction::round : Reduction::truncate;
}

}  // namespace

/// Index of the last operator token in `args` (simple or list), or npos.
size_t last_operator(const std::vector<std::string>& args) {
    size_t last = std::string::npos;
    for (size_t k = 0; k + 1 < args.size(); ++k) {
        if (!magick::is_command_option(args[k])) continue;
        magick::OptionInfo oi = magick::option_info(args[k]);
        if (is_operator(oi.flags) || acts_as_operator(args[k]) || is_list_operator(args[k], oi.flags))
            last = k;
        k += static_cast<size_t>(std::max(parser().arity(args[k]), 0));
    }
    return last;
}

/// The [from, to] argument ranges of hidden alpha (see Executor::hidden_alpha_).
std::vector<std::pair<size_t, size_t>> hidden_alpha_ranges(const std::vector<std::string>& args) {
    std::vector<std::pair<size_t, size_t>> ranges;
    size_t from = std::string::npos;
    auto is = [&](size_t k, std::initializer_list<const char*> values) {
        if (args[k] != "-alpha" || k + 1 >= args.size()) return false;
        for (const char* v : values)
            if (strcasecmp(args[k + 1].c_str(), v) == 0) return true;
        return false;
    };
    for (size_t k = 0; k < args.size(); ++k) {
        if (from == std::string::npos && is(k, {"off", "deactivate"})) from = k;
        if (from != std::string::npos && is(k, {"on", "activate"})) {
            ranges.emplace_back(from, k);
            from = std::string::npos;
        }
    }
    return ranges;
}

bool Executor::in_hidden_alpha(size_t seg_index) const {
    if (seg_base_ == std::string::npos) return false;
    const size_t at = seg_base_ + seg_index;
    for (const auto& [from, to] : hidden_alpha_)
        if (at >= from && at <= to) return true;
    return false;
}

bool Executor::is_final_operator(size_t seg_index) const {
    return reduction_ != Reduction::none && seg_base_ != std::string::npos &&
           seg_base_ + seg_index == last_op_;
}

void Executor::record(PlanEntry e) {
    if (!log_ || (in_band && !log_band_)) return;
    log_->push_back(std::move(e));
}

std::vector<PlanEntry> Executor::plan(const std::vector<std::string>& raw,
                                      std::vector<std::string>& failures) {
    // The command's own control flow over header-only images: reads ping, steps predict, writes
    // only say what they would do. Nothing it says or reports reaches the user.
    const Context saved = ctx_;
    std::vector<PlanEntry> entries;
    log_ = &entries;
    planning_ = true;
    streaming_ = true;
    try {
        convert_once(raw);
    } catch (const StreamAbort&) {
    } catch (const Decline&) {
    }
    for (const Diagnostic& d : ctx_.diag.all())
        if (d.severity >= Severity::resource_limit_error) failures.push_back(d.text);
    planning_ = streaming_ = false;
    log_ = nullptr;
    plan_registry_.clear();
    cache::thread_release_all();
    ctx_ = saved;
    return entries;
}

int Executor::convert(const std::vector<std::string>& raw) {
    std::vector<PlanEntry> planned, ran;
    if (ctx_.debug_plan) {
        std::vector<std::string> failures;
        planned = plan(raw, failures);
        std::string text = "plan:";
        for (const std::string& a : raw) text += " " + a;
        std::fprintf(stderr, "%s\n", text.c_str());
        for (const PlanEntry& e : planned) std::fprintf(stderr, "plan:   %s\n", describe(e).c_str());
        for (const std::string& f : failures) std::fprintf(stderr, "plan:   fails: %s\n", f.c_str());
        log_ = &ran;
    }
    const int rc = convert_streaming(raw);
    if (ctx_.debug_plan) {
        log_ = nullptr;
        const std::vector<std::string> diff = plan_differences(planned, ran);
        if (diff.empty()) std::fprintf(stderr, "plan: the run followed the plan (%zu entries)\n", ran.size());
        for (const std::string& d : diff) std::fprintf(stderr, "plan: differs: %s\n", d.c_str());
    }
    return rc;
}

int Executor::convert_streaming(const std::vector<std::string>& raw) {
    // A streamed run that meets anything unusual leaves nothing behind (its output was staged)
    // and the command runs again the ordinary way, with the context as it was.
    const Context saved = ctx_;
    streaming_ = true;
    try {
        const int rc = convert_once(raw);
        streaming_ = false;
        return rc;
    } catch (const StreamAbort&) {
        streaming_ = false;
        cache::thread_release_all();
        ctx_ = saved;
        if (log_) {
            log_->clear();
            stream_abandoned_ = true;
        }
    }
    return convert_once(raw);
}

int Executor::convert_once(const std::vector<std::string>& raw) {
    std::vector<std::string> args = expand_filenames(raw, ctx_);
    // Native results stay Q16 between operators, as ImageMagick's do; only the command's last
    // operator may store 8 bits, when every output reduces exactly that way.
    reduction_ = output_reduction(args);
    last_op_ = last_operator(args);
    hidden_alpha_ = hidden_alpha_ranges(args);
    ctx_.precise = true;
    const size_t argc = args.size();
    std::vector<Stack> stacks;
    stacks.push_back({magick::InfoPtr(AcquireImageInfo()), {}});
    bool respect_parentheses = false;
    bool ok = true;
    bool pend = false;
    size_t j = 0;  // first token of the pending segment
    size_t i = 0;

    auto segment = [&](size_t from, size_t to) {
        return std::vector<std::string>(args.begin() + static_cast<long>(from),
                                        args.begin() + static_cast<long>(to + 1));
    };
    // FireImageStack: settings only while the list is empty, else the whole segment.
    auto fire = [&](bool really) {
        if (!(j <= i && i < argc)) return;
        Stack& s = stacks.back();
        if (s.images.empty()) {
            magick::Exception ex;
            auto seg = segment(j, i);
            Argv a(seg);
            ok &= MogrifyImageInfo(s.info.get(), a.argc(), a.argv(), ex) != MagickFalse;
            if (ex.drain(ctx_.diag)) ok = false;
        } else if (really) {
            seg_base_ = j;
            ok &= mogrify(s.info.get(), segment(j, i), s.images);
            seg_base_ = std::string::npos;
            j = i + 1;
            pend = false;
        }
    };

    try {
        for (i = 0; argc > 0 && i < argc - 1; ++i) {
            const std::string& option = args[i];
            if (option == "(") {
                fire(pend);
                if (stacks.size() > 128)
                    throw option_error("parenthesis nested too deeply", option,
                                       where_fixed("ParenthesisNestedTooDeeply"));
                stacks.push_back({magick::clone_info(stacks.back().info.get()), {}});
                continue;
            }
            if (option == ")") {
                fire(true);
                if (stacks.size() == 1)
                    throw option_error("unable to parse expression", option,
                                       where_fixed("UnableToParseExpression"));
                Stack inner = std::move(stacks.back());
                stacks.pop_back();
                Stack& outer = stacks.back();
                if (!respect_parentheses) outer.info = magick::clone_info(inner.info.get());
                for (auto& img : inner.images) outer.images.push_back(std::move(img));
                continue;
            }
            if (!magick::is_command_option(option)) {
                fire(pend);
                std::string filename = option;
                if (filename == "--" && i < argc - 1) filename = args[++i];
                Stack& s = stacks.back();
                ImageList got;
                // Shrink-on-load: a -thumbnail or -resize right after the first read of a list lets
                // a codec decode at a reduced resolution; the step then resizes to exactly the size
                // the full image would have been given.
                // Region-on-load likewise for a -crop (see codecs::ReadRequest::crop_hint).
                // Not when operators given before the read are pending (they run on the image
                // first, e.g. -repage), nor when the step's argument is the output name.
                if (s.images.empty() && !pending_operator(args, j, i))
                    if (std::optional<Image> streamed = stream_read(s.info.get(), args, i)) {
                        // The steps' settings still reach the writer, as they would through
                        // mogrify; the steps themselves run band by band inside the image.
                        auto steps = segment(i + 1, argc - 2);
                        Argv a(steps);
                        magick::Exception ex;
                        MogrifyImageInfo(s.info.get(), a.argc(), a.argv(), ex);
                        ex.drain(ctx_.diag);
                        SyncImageSettings(s.info.get(), streamed->shell());
                        s.images.push_back(std::move(*streamed));
                        DeleteImageOption(s.info.get(), "page");
                        i = argc - 2;
                        j = argc;
                        continue;
                    }
                codecs::LoadHint hint;
                hint.lazy = pull_read_;
                pull_read_ = false;
                if (i + 2 < argc - 1 && s.images.empty() && !pending_operator(args, j, i) &&
                    shrink_on_load(s.info.get(), filename)) {
                    if (args[i + 1] == "-thumbnail" || args[i + 1] == "-resize") hint.shrink = args[i + 2];
                    if (args[i + 1] == "-crop" && !GetImageOption(s.info.get(), "gravity") &&
                        !GetImageOption(s.info.get(), "page") && !s.info->page && !s.info->extract)
                        hint.crop = args[i + 2];
                }
                read_arg_ = i;
                ok &= read(s.info.get(), filename, got, hint);
                if (got.size() == 1)
                    if (const char* to = GetImageArtifact(got[0].shell(), codecs::kShrunkArtifact)) {
                        args[i + 2] = to;
                        DeleteImageArtifact(got[0].shell(), codecs::kShrunkArtifact);
                    }
                for (auto& img : got) {
                    SyncImageSettings(s.info.get(), img.shell());
                    s.images.push_back(std::move(img));
                }
                // A read consumes the -page option (ImageMagick 6.9.11, observed): later operators do
                // not re-apply it to earlier images, later reads keep only image_info->page.
                DeleteImageOption(s.info.get(), "page");
                // ImageMagick 6.9.11 aborts on an assertion here; mtool reports it.
                const MagickSizeType max_list = GetMagickResourceLimit(ListLengthResource);
                if (max_list != MagickResourceInfinity && s.images.size() > max_list)
                    throw Error(Severity::resource_limit_error, "list length exceeds limit", filename,
                                "list.c/AppendImageToList");
                continue;
            }
            pend = !stacks.back().images.empty();
            magick::OptionInfo oi = magick::option_info(option);
            if (!parser().accepts(option))
                throw option_error(option_message("UnrecognizedOption"), option,
                                   where_for(option, "UnrecognizedOption"));
            const std::string name = option.substr(1);
            if (name == "clone") {
                const ImageList& source =
                    stacks.size() == 1 ? stacks.back().images : stacks[stacks.size() - 2].images;
                if (source.empty())
                    throw Error(Severity::image_error, option_message("ImageSequenceRequired"), option,
                                where_for(option, "ImageSequenceRequired"));
                ImageList snapshot = source;
                fire(true);
                std::string spec = "-1";
                if (option[0] == '-') {
                    // convert.c checks -clone's argument only now, after firing the stack.
                    i += static_cast<size_t>(parser().check(args, i, argc));
                    spec = args[i];
                }
                std::vector<size_t> idx;
                // CloneImages' own report (list.c, line 294 in 6.9.11); convert's when nothing matched.
                if (!parse_indexes(spec, snapshot.size(), idx))
                    ctx_.diag.add(Diagnostic{
                        Severity::option_error,
                        format_diagnostic(Severity::option_error, "InvalidImageIndex",
                                          snapshot.front().shell()->filename, "list.c/CloneImages/294")});
                if (idx.empty())
                    throw option_error(option_message("NoSuchImage"), option,
                                       where_for(option, "NoSuchImage"));
                for (size_t k : idx) stacks.back().images.push_back(snapshot[k]);
                continue;
            }
            if (name == "respect-parentheses") respect_parentheses = option[0] == '-';
            if (name == "regard-warnings") ctx_.regard_warnings = option[0] == '-';
            if (name == "quiet") ctx_.quiet = option[0] == '-';
            if (name == "list" && option[0] == '-' && i + 1 < argc && ctx_.print_list) {
                // convert.c lists, then returns: nothing more is read or written.
                if (!is_mtool_list(args[i + 1])) parser().check(args, i, argc);
                if (planning_) return 0;
                ctx_.print_list(args[i + 1]);
                return ctx_.exit_status(ok);
            }
            i += static_cast<size_t>(parser().check(args, i, argc));
            if (oi.flags & FireOptionFlag) fire(true);
        }
        if (stacks.size() != 1)
            throw option_error("unbalanced parenthesis", args[std::min(i, argc - 1)],
                               where_fixed("UnbalancedParenthesis"));
        if (argc == 0 || i != argc - 1)
            throw option_error("missing an image filename", args.empty() ? "" : args.back(),
                               where_fixed("MissingAnImageFilename", 0));
        // FinalizeImageSettings
        fire(true);
        Stack& s = stacks.back();
        // FinalizeImageSettings: the settings in force reach every image before the write
        // (-scene numbers the output files, -density, -page, -type given last, ...).
        for (auto& img : s.images) SyncImageSettings(s.info.get(), img.shell());
        if (s.images.empty())
            throw option_error("no images defined", args.back(), where_fixed("NoImagesDefined"));
        if (magick::is_command_option(args.back()))
            throw option_error("missing an image filename", args.back(),
                               where_fixed("MissingAnImageFilename", 1));
        write_arg_ = argc - 1;
        ok &= write(s.info.get(), s.images, args.back());
    } catch (const Error& e) {
        ctx_.diag.add(e);
        return 1;
    }
    return ctx_.exit_status(ok);
}

}  // namespace mtool::exec
