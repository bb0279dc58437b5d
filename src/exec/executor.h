#pragma once
// The command engine: ImageMagick 6 `convert` semantics (settings, simple and list operators,
// fire points, parenthesised image stacks, -clone) re-implemented over mtool images. Each
// operator runs natively when src/ops has a spec for it, otherwise through the Magick bridge.
#include <string>
#include <vector>

#include <map>
#include <memory>
#include <optional>

#include "cache/netcache.h"
#include "src/codecs/codec.h"
#include "src/core/context.h"
#include "src/core/image.h"
#include "src/exec/plan.h"

namespace mtool::exec {

/// Throws ImageMagick's fatal "time limit exceeded" once -limit time has passed.
void check_time_limit();
/// Worker threads for native work: -limit thread / MAGICK_THREAD_LIMIT / policy, as for IM's.
int thread_limit();

using ImageList = std::vector<Image>;

/// Set on a thread computing a band of a streamed image: nothing may go to ImageMagick there.
inline thread_local bool in_band = false;

/// How the outputs of a command reduce Q16 samples to 8 bits (see Executor::convert).
enum class Reduction { none, truncate, round };

class Executor {
public:
    explicit Executor(Context& ctx);

    /// Runs convert-style arguments (without argv[0]); returns the exit status.
    int convert(const std::vector<std::string>& args);

    /// Reads one filename (with ImageMagick's modifiers) under the given settings.
    /// `hint`: the geometry step that directly follows this read (see codecs::ReadRequest).
    bool read(const ::ImageInfo* info, const std::string& filename, ImageList& out,
              const codecs::LoadHint& hint = {});
    /// Writes a list to `filename` atomically (stage in the same directory, then rename).
    bool write(const ::ImageInfo* info, ImageList& images, const std::string& filename);
    /// Applies one segment of options to a list, as ImageMagick's MogrifyImages(post=true).
    bool mogrify(::ImageInfo* info, const std::vector<std::string>& segment, ImageList& images);

    Context& context() { return ctx_; }

    /// The plan of convert-style arguments (src/exec/plan.h): nothing is decoded or written and
    /// nothing reported; `failures` gets the errors the run would meet.
    std::vector<PlanEntry> plan(const std::vector<std::string>& args, std::vector<std::string>& failures);

private:
    friend class BandProducer;
    int convert_streaming(const std::vector<std::string>& args);
    int convert_once(const std::vector<std::string>& args);
    /// Adds an entry to the plan being made, or to the record of the run (-debug plan).
    void record(PlanEntry e);
    std::vector<PlanEntry>* log_ = nullptr;           ///< entries being recorded, or none
    bool planning_ = false;                           ///< this pass makes the plan: headers only
    bool log_band_ = false;                           ///< a band's steps are recorded (the first band)
    bool stream_abandoned_ = false;                   ///< a streamed run was abandoned for the ordinary one
    std::map<std::string, ImageList> plan_registry_;  ///< mpr: images written while planning
    /// A plan's read: the file's header (pinged where that is safe), as the read would give it.
    bool plan_read(const ::ImageInfo* info, const std::string& filename, ImageList& out);
    bool read_any(const ::ImageInfo* info, const std::string& filename, ImageList& out,
                  const codecs::LoadHint& hint);
    bool write_any(const ::ImageInfo* info, ImageList& images, const std::string& filename);
    /// The images of an ImageMagick read (or ping) that carry on; false on an error.
    bool take_read(::Image* list, bool error, bool ping, ImageList& out);
    size_t read_arg_ = std::string::npos;              ///< argument index of the read under way
    size_t write_arg_ = std::string::npos;             ///< argument index of the write under way
    bool read_native_ = false, write_native_ = false;  ///< how the last read, write went
    bool write_engine_either_ = false;                 ///< a planned write the pixels decide
    std::string read_why_, write_why_, write_facts_;
    /// The streamed result of the read at args[i] and every step after it up to the output, or
    /// nothing when the command is not one to stream (see src/exec/stream.cpp).
    std::optional<Image> stream_read(::ImageInfo* info, const std::vector<std::string>& args, size_t i);
    bool streaming_ = false;  ///< this run may stream
    bool pull_read_ = false;  ///< stream_read chose a pulled read for the read it was asked about
    bool mogrify_one(::ImageInfo* info, const std::vector<std::string>& seg, ImageList& images,
                     size_t& index);
    /// Runs a token list through ImageMagick's MogrifyImageList (the bridge for list operators).
    bool bridge_list(::ImageInfo* info, const std::vector<std::string>& tokens, ImageList& images);
    bool mogrify_list(::ImageInfo* info, const std::vector<std::string>& seg, ImageList& images);
    bool fill_pattern(const ::ImageInfo* info, const std::string& value);
    bool run_bridged_simple(::ImageInfo* local, const std::vector<std::string>& argv, ImageList& images,
                            size_t& index);
    bool write_native(const ::ImageInfo* info, ImageList& images, const std::string& target,
                      const std::string& magick, bool single);
    bool read_from(const ::ImageInfo* info, const std::string& filename, const std::string& open_path,
                   ImageList& out, const codecs::LoadHint& hint);
    /// The write cache's local staging directory for these settings ("" when off).
    std::string writecache_root(const ::ImageInfo* info);
    std::unique_ptr<class OutputStage> make_stage(const ::ImageInfo* info, const std::string& path,
                                                  bool single, bool native);
    /// The network cache for the settings in force (nullptr when off).
    cache::NetCache* netcache(const ::ImageInfo* info);

    /// Whether the operator at `seg_index` of the segment being applied is the command's last.
    bool is_final_operator(size_t seg_index) const;

    Context& ctx_;
    std::unique_ptr<cache::NetCache> netcache_;
    Reduction reduction_ = Reduction::none;  ///< how every output reduces Q16 to 8 bits
    size_t last_op_ = std::string::npos;     ///< argument index of the command's last operator
    size_t seg_base_ = std::string::npos;    ///< argument index of the segment being applied
    /// Argument ranges [from, to] from an -alpha off|deactivate to a later -alpha on|activate:
    /// ImageMagick keeps the alpha values of a deactivated channel and brings them back, so
    /// the operators there run in ImageMagick, where the hidden channel lives.
    std::vector<std::pair<size_t, size_t>> hidden_alpha_;
    bool in_hidden_alpha(size_t seg_index) const;
};

/// Expands globs and the like exactly as ImageMagick does (ExpandFilenames).
std::vector<std::string> expand_filenames(const std::vector<std::string>& args, Context& ctx);
/// Converts a list to an ImageMagick linked list (ownership passes to the caller).
::Image* to_magick_list(ImageList& images, Diagnostics& diag);
/// Takes ownership of an ImageMagick list.
ImageList from_magick_list(::Image* list);
/// Parses ImageMagick index lists (`0`, `-1`, `0,2`, `1-3`, `1--1`); false if out of range.
/// An index list as ImageMagick's CloneImages reads it (-clone, -duplicate): `out` gets the
/// indexes that exist, in order; false when it reports an invalid index (some part matched nothing).
bool parse_indexes(const std::string& spec, size_t count, std::vector<size_t>& out);
/// -delete: removes the images DeleteImages would (ranges, negatives; the rest ignored).
void delete_indexes(const std::string& spec, std::vector<Image>& list);

}  // namespace mtool::exec
