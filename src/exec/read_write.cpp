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

bool Executor::read(const ::ImageInfo* info, const std::string& filename, ImageList& out,
                    const codecs::LoadHint& hint) {
    Target t = split_target(filename);
    // Inputs on slow file systems are read from the network cache's local copy; a ping reads
    // only headers and never copies. Anything wrong with the copy: read the original.
    if (!info->ping && ctx_.netcache_reads && plain_path(t.path) && !has_read_modifier(filename) &&
        magick::policy_allows(PathPolicyDomain, ReadPolicyRights, t.path)) {
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
                    out.push_back(codec->read(req));
                    // As ReadImage under -verbose: the one-line summary of what was read.
                    if (info->verbose) IdentifyImage(out.back().shell(), stderr, MagickFalse);
                    return true;
                } catch (const Error& e) {
                    ctx_.diag.add(e);
                    return false;
                } catch (const codecs::Decline&) {
                    // fall through to ImageMagick
                }
            }
        }
    }
    magick::InfoPtr read_info = magick::clone_info(info);
    std::string imfile = filename;
    if (!open_path.empty()) imfile = (t.raw_prefix.empty() ? "" : t.raw_prefix + ":") + open_path;
    CopyMagickString(read_info->filename, imfile.c_str(), MaxTextExtent);
    SetImageOption(read_info.get(), "filename", filename.c_str());
    magick::Exception ex;
    ::Image* list = info->ping ? PingImages(read_info.get(), ex) : ReadImages(read_info.get(), ex);
    bool error = ex.drain(ctx_.diag);
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
            if (error && !info->ping) continue;
        }
        out.push_back(std::move(img));
    }
    return !error;
}

bool Executor::write(const ::ImageInfo* info, ImageList& images, const std::string& filename) {
    if (images.empty()) return false;
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
        if (codec && all_native && file && (t.prefix.empty() || codecs::for_magick(t.prefix) == codec)) {
            try {
                return write_native(info, images, t.path, magick_name, single);
            } catch (const codecs::Decline&) {
                // this layout needs ImageMagick's writer
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
                             "blob.c/OpenBlob/2998");
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
