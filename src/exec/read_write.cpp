// Executor::read and Executor::write: native codecs when the file and settings allow it,
// ImageMagick's ReadImages/WriteImages otherwise. Outputs are staged and renamed.
#include <strings.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cache/tiers.h"
#include "src/codecs/codec.h"
#include "src/codecs/common.h"
#include "src/core/magick.h"
#include "src/exec/executor.h"
#include "src/exec/io.h"

namespace mtool::exec {

namespace {

bool has_read_modifier(const std::string& name) {
    return name.size() > 2 && name.back() == ']' && name.find('[') != std::string::npos;
}

}  // namespace

std::string Executor::writecache_root(const ::ImageInfo* info) {
    // Write cache: outputs are written locally first, then copied in one sequential pass.
    if (cache::NetCache* nc = netcache(info); nc && nc->config().writecache) return nc->staging_dir();
    return "";
}

std::unique_ptr<OutputStage> Executor::make_stage(const ::ImageInfo* info, const std::string& path,
                                                  bool single, bool native) {
    if (std::string local = writecache_root(info); !local.empty()) {
        try {
            return std::make_unique<OutputStage>(path, single, native, local);
        } catch (const Error&) {
            // no local staging: stage beside the target as usual
        }
    }
    return std::make_unique<OutputStage>(path, single, native);
}

cache::NetCache* Executor::netcache(const ::ImageInfo* info) {
    cache::NetCacheConfig cfg = cache::NetCacheConfig::resolve(info);
    cfg.debug = cfg.debug || ctx_.debug_netcache;
    if (cfg.dir.empty()) return nullptr;
    if (!netcache_ || netcache_->config().dir != cfg.dir || netcache_->config().size != cfg.size ||
        netcache_->config().paths != cfg.paths || netcache_->config().exclude != cfg.exclude ||
        netcache_->config().writecache != cfg.writecache)
        netcache_ = std::make_unique<cache::NetCache>(cfg, ctx_.diag);
    return netcache_->enabled() ? netcache_.get() : nullptr;
}

namespace {

/// A read's header facts for the plan: "JPEG 6000x4000 sRGB 8-bit, 3 channels".
std::string header_facts(const ImageList& images) {
    if (images.empty() || !images.front().shell()) return "no image";
    const ::Image* s = images.front().shell();
    if (!plan_known(s)) return "header known only when read";
    const Layout l = layout_of(s);
    std::string f = std::string(s->magick) + " " + std::to_string(s->columns) + "x" +
                    std::to_string(s->rows) + " " +
                    CommandOptionToMnemonic(MagickColorspaceOptions, s->colorspace) + " " +
                    std::to_string(s->depth) + "-bit, " + std::to_string(l.channels()) + " channels";
    if (images.size() > 1) f += ", " + std::to_string(images.size()) + " frames";
    if (const char* how = GetImageArtifact(s, codecs::kPlanDecodeArtifact))
        f += ", decoded " + std::string(how);
    return f;
}

}  // namespace

bool Executor::read(const ::ImageInfo* info, const std::string& filename, ImageList& out,
                    const codecs::LoadHint& hint) {
    const size_t before = out.size();
    read_native_ = false;
    read_why_.clear();
    const bool ok = read_any(info, filename, out, hint);
    if (log_) {
        ImageList got(out.begin() + static_cast<long>(before), out.end());
        PlanEntry e{PlanEntry::Kind::read,
                    read_arg_,
                    filename,
                    "",
                    read_native_ ? "native" : "ImageMagick",
                    read_why_,
                    "",
                    header_facts(got),
                    "",
                    ok ? plan_geometry(got) : "error"};
        record(std::move(e));
        for (auto& img : out)
            if (img.shell()) DeleteImageArtifact(img.shell(), codecs::kPlanDecodeArtifact);
    }
    return ok;
}

bool Executor::read_any(const ::ImageInfo* info, const std::string& filename, ImageList& out,
                        const codecs::LoadHint& hint) {
    Target t = split_target(filename);
    // Inputs on slow file systems are read from the network cache's local copy; a ping reads
    // only headers and never copies. Anything wrong with the copy: read the original.
    if (!planning_ && !info->ping && ctx_.netcache_reads && plain_path(t.path) &&
        !has_read_modifier(filename) && magick::policy_allows(PathPolicyDomain, ReadPolicyRights, t.path)) {
        if (cache::NetCache* nc = netcache(info)) {
            if (auto lease = nc->open(t.path)) {
                ImageList got;
                Diagnostics saved = ctx_.diag;
                if (read_from(info, filename, lease->path(), got, hint) && !got.empty()) {
                    // The images describe the original: its name and its file times.
                    struct stat st;
                    const bool have = ::stat(t.path.c_str(), &st) == 0;
                    char modify[MaxTextExtent], create[MaxTextExtent];
                    if (have) {
                        FormatMagickTime(st.st_mtime, MaxTextExtent, modify);
                        FormatMagickTime(st.st_ctime, MaxTextExtent, create);
                    }
                    for (auto& img : got) {
                        CopyMagickString(img.shell()->filename, filename.c_str(), MaxTextExtent);
                        CopyMagickString(img.shell()->magick_filename, t.path.c_str(), MaxTextExtent);
                        if (have) {
                            SetImageProperty(img.shell(), "date:modify", modify);
                            SetImageProperty(img.shell(), "date:create", create);
                        }
                        out.push_back(std::move(img));
                    }
                    return true;
                }
                ctx_.diag = saved;
                if (ctx_.debug_netcache)
                    std::fprintf(stderr, "netcache: reading the copy of %s failed: reading the original\n",
                                 t.path.c_str());
            }
        }
    }
    return read_from(info, filename, "", out, hint);
}

bool Executor::read_from(const ::ImageInfo* info, const std::string& filename, const std::string& open_path,
                         ImageList& out, const codecs::LoadHint& hint) {
    Target t = split_target(filename);
    const std::string shown = t.path;
    if (!open_path.empty()) t.path = open_path;
    // Native codecs open a file twice (sniff, then decode): only regular files. A FIFO or a
    // device is read once, by ImageMagick (the second open of a FIFO waited for ever).
    struct stat st {};
    const bool regular = ::stat(t.path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    if (ctx_.native_reads && !has_read_modifier(filename) && plain_path(t.path) && info->extract == nullptr &&
        regular) {
        if (std::FILE* f = std::fopen(t.path.c_str(), "rb")) {
            unsigned char head[64];
            size_t n = std::fread(head, 1, sizeof head, f);
            std::fclose(f);
            const codecs::CodecSpec* codec = codecs::sniff(head, n);
            bool prefix_ok = t.prefix.empty() || (codec && codecs::for_magick(t.prefix) == codec);
            if (codec && prefix_ok) {
                try {
                    // The coder as ReadImage names it: an explicit prefix, upper-cased, else
                    // the format the magic bytes say.
                    std::string coder = codec->name;
                    if (!t.raw_prefix.empty()) {
                        coder = t.raw_prefix;
                        for (char& ch : coder)
                            ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
                    }
                    check_policy(shown, coder, ReadPolicyRights);
                    check_time_limit();
                    ctx_.threads = thread_limit();
                    cache::set_current_label(shown);
                    magick::InfoPtr pinging;
                    if (ctx_.native_ping && !info->ping) {
                        pinging = magick::clone_info(info);
                        pinging->ping = MagickTrue;
                    }
                    codecs::ReadRequest req{t.path, nullptr,     pinging ? pinging.get() : info,
                                            ctx_,   hint.shrink, pinging != nullptr};
                    req.crop_hint = hint.crop;
                    req.plan = planning_;
                    // (Not a network cache's copy: its descriptor is gone once the read returns,
                    // and pulling reopens the file.)
                    req.lazy = hint.lazy && !planning_ && !pinging && open_path.empty();
                    out.push_back(codec->read(req));
                    read_native_ = true;
                    // As ReadImage under -verbose: the one-line summary of what was read.
                    if (info->verbose && !planning_) IdentifyImage(out.back().shell(), stderr, MagickFalse);
                    return true;
                } catch (const Error& e) {
                    ctx_.diag.add(e);
                    return false;
                } catch (const codecs::Decline& d) {
                    // fall through to ImageMagick
                    read_why_ = "the native decoder declines: " + d.why;
                }
            } else {
                read_why_ = codec ? "the prefix names another format" : "no native decoder for it";
            }
        }
    } else if (read_why_.empty()) {
        read_why_ = !ctx_.native_reads                                        ? "ImageMagick's reader wanted"
                    : has_read_modifier(filename) || info->extract != nullptr ? "a read modifier"
                    : !plain_path(t.path)                                     ? "not a plain file"
                                                                              : "not a regular file";
    }
    if (planning_) return plan_read(info, filename, out);
    magick::InfoPtr read_info = magick::clone_info(info);
    std::string imfile = filename;
    if (!open_path.empty()) imfile = (t.raw_prefix.empty() ? "" : t.raw_prefix + ":") + open_path;
    CopyMagickString(read_info->filename, imfile.c_str(), MaxTextExtent);
    SetImageOption(read_info.get(), "filename", filename.c_str());
    magick::Exception ex;
    ::Image* list = info->ping ? PingImages(read_info.get(), ex) : ReadImages(read_info.get(), ex);
    const bool error = ex.drain(ctx_.diag);
    return take_read(list, error, info->ping != MagickFalse, out);
}

bool Executor::plan_read(const ::ImageInfo* info, const std::string& filename, ImageList& out) {
    // ImageMagick's reader, for a plan: a header read of what has no side effect to read, the
    // images an earlier step wrote to mpr:, and for anything else an image known only by reading.
    const Target t = split_target(filename);
    std::string magick = t.raw_prefix;
    for (char& ch : magick) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    struct stat st {};
    const bool regular = !t.path.empty() && ::stat(t.path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    if (magick == "MPR") {
        auto it = plan_registry_.find(t.path);
        if (it == plan_registry_.end()) return false;
        for (const Image& img : it->second) out.push_back(img);
        return true;
    }
    magick::InfoPtr read_info = magick::clone_info(info);
    CopyMagickString(read_info->filename, filename.c_str(), MaxTextExtent);
    if (magick.empty() && regular) {
        magick::Exception sans;
        SetImageInfo(read_info.get(), 0, sans);
        magick = read_info->magick;
    }
    // Generated images read no file; the rest must be regular files.
    static const char* const generated[] = {
        "XC",       "CANVAS",          "ROSE",    "LOGO", "GRANITE", "NETSCAPE", "WIZARD",
        "GRADIENT", "RADIAL-GRADIENT", "PATTERN", "HALD", "NULL",    "LABEL",    "CAPTION",
        "PLASMA",   "CHECKERBOARD"};
    bool gen = false;
    for (const char* g : generated) gen |= magick == g;
    // A plain name that does not exist: ImageMagick's reader fails on it without opening anything.
    // Not a name ImageMagick reads something else for: fd:N, |command, a prefix it knows.
    const bool missing = magick.empty() && !t.path.empty() && t.path != "-" && filename[0] != '|' &&
                         filename.find_first_of("%[*?:") == std::string::npos &&
                         ::stat(t.path.c_str(), &st) != 0 && errno == ENOENT;
    if (!missing && (!plan_may_ping(magick) || (!gen && !regular))) {
        magick::Exception sans;
        Image unknown(magick::ImagePtr(AcquireImage(info)));
        CopyMagickString(unknown.shell()->filename, filename.c_str(), MaxTextExtent);
        CopyMagickString(unknown.shell()->magick, magick.empty() ? "?" : magick.c_str(), MaxTextExtent);
        unknown.shell()->columns = unknown.shell()->rows = 1;
        mark_unknown(unknown, false);
        read_why_ += read_why_.empty() ? "" : "; ";
        read_why_ += "not opened by the plan: known only when read";
        out.push_back(std::move(unknown));
        return true;
    }
    read_info = magick::clone_info(info);
    CopyMagickString(read_info->filename, filename.c_str(), MaxTextExtent);
    read_info->ping = MagickTrue;
    read_info->verbose = MagickFalse;
    magick::Exception ex;
    ::Image* list = ReadImages(read_info.get(), ex);
    const size_t before = out.size();
    const bool ok = take_read(list, ex.drain(ctx_.diag), false, out);
    // A read modifier or -extract changes the size after the header: only reading tells.
    if (has_read_modifier(filename) || info->extract)
        for (size_t k = before; k < out.size(); ++k) mark_unknown(out[k], false);
    return ok;
}

bool Executor::take_read(::Image* list, bool error, bool ping, ImageList& out) {
    if (!list) return false;
    for (auto& img : from_magick_list(list)) {
        // A coder that failed in the header may still hand back an empty image (jpeg.c returns
        // 0x0 after "Unsupported marker type"): there is nothing to carry on with.
        ::Image* im = img.shell();
        if (im->columns == 0 || im->rows == 0) {
            if (im->exception.severity >= ErrorException) {
                error |= magick::drain_exception(&im->exception, ctx_.diag);
                continue;
            }
            if (error && !ping) continue;
        }
        out.push_back(std::move(img));
    }
    return !error;
}

bool Executor::write(const ::ImageInfo* info, ImageList& images, const std::string& filename) {
    if (images.empty()) return false;
    write_native_ = false;
    write_why_.clear();
    write_facts_.clear();
    const std::string input = log_ ? plan_geometry(images) : "";
    write_engine_either_ = false;
    const bool ok = write_any(info, images, filename);
    if (log_)
        record(PlanEntry{PlanEntry::Kind::write, write_arg_, filename, "",
                         write_engine_either_ ? kEitherEngine
                         : write_native_      ? "native"
                                              : "ImageMagick",
                         write_why_, "", write_facts_, input, ""});
    return ok;
}

bool Executor::write_any(const ::ImageInfo* info, ImageList& images, const std::string& filename) {
    Target t = split_target(filename);
    // The format as WriteImages resolves it: prefix, writable extension, else the image's.
    const OutputFormat format = output_format(info, filename, images.size(), images.front().shell()->magick);
    const std::string& magick_name = format.magick;
    // One file named as the user wrote it, or one file per frame derived from the name.
    const bool single = (images.size() == 1 || format.adjoin) && t.path.find('%') == std::string::npos;
    const codecs::CodecSpec* codec = codecs::for_magick(magick_name);
    bool all_native = true;
    for (auto& img : images) all_native &= img.native() || codec != nullptr;
    const bool file = plain_path(t.path) && !writes_no_file(magick_name);
    try {
        if (file) {
            // Checked against the user's path and the format as ImageMagick resolves it (the
            // writers below only ever see a staged path).
            check_policy(t.path, magick_name, WritePolicyRights);
        }
        write_facts_ = magick_name + (single ? "" : ", a file per image");
        const bool native =
            codec && all_native && file && (t.prefix.empty() || codecs::for_magick(t.prefix) == codec);
        write_why_ = native ? "" : !codec ? "no native encoder" : !file ? "not a plain file" : "the prefix";
        if (planning_) {
            // The plan: the encoder the header and settings choose; nothing is written.
            write_native_ = native;
            if (native && codec->write_declines) {
                codecs::WriteRequest req{nullptr, t.path, magick_name, info, ctx_};
                for (const Image& img : images)
                    if (const char* why = codec->write_declines(img, req)) {
                        write_native_ = false;
                        write_why_ = std::string("the native encoder declines: ") + why;
                    }
            }
            // Where the pixels decide: a PNG's colour type and palette (a palette image, a
            // translucent or coloured background), an image ImageMagick may have left Gray-labelled
            // with colour pixels.
            if (write_native_)
                for (const Image& img : images) {
                    const ::Image* s = img.shell();
                    const PixelPacket& bg = s->background_color;
                    const char* why = pixels_decide(s);
                    if (!why && !plan_known(s)) why = "an image known only when read";
                    if (!why && codec == &codecs::png_codec && strcasecmp(magick_name.c_str(), "PNG") == 0 &&
                        (s->storage_class == PseudoClass || held_as_palette(s) ||
                         bg.opacity != OpaqueOpacity || !(bg.red == bg.green && bg.green == bg.blue)))
                        why = "the colour type and palette come from the pixels";
                    if (why) {
                        write_why_ = why;
                        write_engine_either_ = true;
                    }
                }
            if (strcasecmp(t.prefix.c_str(), "mpr") == 0) plan_registry_[t.path] = images;
            return true;
        }
        if (native) {
            try {
                write_native_ = true;
                return write_native(info, images, t.path, magick_name, single);
            } catch (const codecs::Decline& d) {
                // this layout needs ImageMagick's writer
                write_native_ = false;
                write_why_ = "the native encoder declines: " + d.why;
            }
        }
        ::Image* list = to_magick_list(images, ctx_.diag);
        BridgedOutput out;
        try {
            out = bridge_output(info, filename, format, single, writecache_root(info));
        } catch (...) {
            images = from_magick_list(list);
            throw;
        }
        magick::Exception ex;
        // WriteImage's -verbose summary would name the staged file: it is printed here instead,
        // with the user's names (once for a file that holds every frame, else per frame).
        // (info: and the like print the verbose report itself: they keep the setting.)
        const bool to_file = !writes_no_file(magick_name) && strcasecmp(magick_name.c_str(), "INFO") != 0;
        magick::InfoPtr quiet = magick::clone_info(info);
        if (to_file) quiet->verbose = MagickFalse;
        bool ok = WriteImages(quiet.get(), list, out.name.c_str(), ex) != MagickFalse;
        if (ok && info->verbose && to_file)
            for (::Image* p = list; p; p = single ? nullptr : p->next) {
                const std::string staged = p->filename;
                CopyMagickString(p->filename, out.user_text(staged).c_str(), MaxTextExtent);
                IdentifyImage(p, stderr, MagickFalse);
                CopyMagickString(p->filename, staged.c_str(), MaxTextExtent);
            }
        // Messages name the user's file, never the staging directory.
        Diagnostics got;
        bool error = ex.drain(got);
        for (Diagnostic d : got.all()) {
            d.text = out.user_text(d.text);
            ctx_.diag.add(std::move(d));
        }
        // Keep the user's name on the images (it shows in later %f/%d escapes).
        if (out.stage)
            for (::Image* p = list; p; p = p->next)
                CopyMagickString(p->filename, filename.c_str(), MaxTextExtent);
        images = from_magick_list(list);
        if (ok && !error && out.stage) out.stage->commit();
        return ok && !error;
    } catch (const Error& e) {
        ctx_.diag.add(e);
        // ImageMagick's PNG encoder adds its own line to any failed open of its output.
        if (is_png_family(magick_name) && (e.severity() == Severity::file_open_error ||
                                           (e.severity() == Severity::policy_error &&
                                            e.text().find("blob.c/OpenBlob") != std::string::npos)))
            ctx_.diag.add(
                Error(Severity::coder_error, "WriteBlob Failed", t.path, "png.c/MagickPNGErrorHandler/1645"));
        return false;
    }
}

bool Executor::write_native(const ::ImageInfo* info, ImageList& images, const std::string& path,
                            const std::string& magick_name, bool single) {
    const codecs::CodecSpec* codec = codecs::for_magick(magick_name);
    ctx_.threads = thread_limit();
    std::unique_ptr<OutputStage> stage = make_stage(info, path, single, true);
    // Scene numbering and file names follow WriteImages: consistent scenes, then one file per
    // frame (`out-0.png`, or the printf pattern in the name).
    for (size_t k = 1; k < images.size(); ++k)
        if (images[k - 1].shell()->scene >= images[k].shell()->scene) {
            size_t first = images.front().shell()->scene;
            for (size_t m = 0; m < images.size(); ++m) images[m].shell()->scene = first + m;
            break;
        }
    const std::string base = stage->writer_path();
    for (auto& img : images) {
        char name[MaxTextExtent];
        InterpretImageFilename(info, img.shell(), base.c_str(), static_cast<int>(img.shell()->scene), name);
        std::string out = name;
        if (images.size() > 1 && out == base) {
            auto dot = base.rfind('.');
            auto slash = base.rfind('/');
            std::string scene = std::to_string(img.shell()->scene);
            if (dot != std::string::npos && (slash == std::string::npos || dot > slash))
                out = base.substr(0, dot) + "-" + scene + base.substr(dot);
            else
                out = base + "-" + scene;
        }
        const std::string shown = stage->user_text(out);
        std::FILE* f = std::fopen(out.c_str(), "wb");
        if (!f)
            throw file_error(Severity::file_open_error, "unable to open image", shown, errno,
                             magick::where::open_blob());
        try {
            img.make_native(ctx_.diag);
            codecs::WriteRequest req{f, shown, magick_name, info, ctx_};
            codec->write(img, req);
        } catch (...) {
            std::fclose(f);
            throw;
        }
        if (std::fflush(f) != 0 || std::ferror(f)) {
            int err = errno;
            std::fclose(f);
            throw file_error(Severity::file_open_error, "unable to write image", shown, err,
                             "blob.c/WriteBlob");
        }
        const long written = std::ftell(f);
        if (std::fclose(f) != 0)
            throw file_error(Severity::file_open_error, "unable to write image", shown, errno,
                             "blob.c/WriteBlob");
        if (info->verbose) {
            // As WriteImage under -verbose: the one-line summary of what was written, on stderr.
            ::Image* s = img.shell();
            CopyMagickString(s->filename, shown.c_str(), MaxTextExtent);
            s->extent = written > 0 ? static_cast<MagickSizeType>(written) : 0;
            const bool linked = images.size() > 1;
            if (linked) s->next = s;  // any neighbour: the summary then names the scene
            IdentifyImage(s, stderr, MagickFalse);
            if (linked) s->next = nullptr;
        }
        CopyMagickString(img.shell()->filename, path.c_str(), MaxTextExtent);
    }
    stage->commit();
    return true;
}

}  // namespace mtool::exec
