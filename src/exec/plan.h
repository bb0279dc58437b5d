#pragma once
// The plan of a convert command: before any pixel is decoded, the executor runs the command's
// own control flow (settings, deferred operators, parentheses, -clone, -write, mpr:) over images
// known only by their headers. Each read pings its file; each step decides native or bridge with
// the same questions the run asks (OpSpec::accepts, OpSpec::declines, -channel, hidden alpha),
// gets a demand class and predicts its output geometry; each write names its encoder; the
// streaming decision is the one the run takes. `-debug plan` prints the plan, runs the command
// recording what actually happened in the same form, and reports every difference.
#include <string>
#include <vector>

#include "src/core/context.h"
#include "src/core/image.h"

namespace mtool::exec {

struct PlanEntry {
    enum class Kind { read, step, write, stream };
    Kind kind = Kind::step;
    size_t arg = std::string::npos;  ///< index of the argument (after filename expansion)
    std::string what;                ///< the file name, or the option
    std::string args;                ///< the option's arguments, as run
    std::string engine;              ///< "native" or "ImageMagick"; a stream: "yes" or "no"
    std::string reason;              ///< why ImageMagick, or why not streamed
    std::string demand;              ///< a step's demand class
    std::string facts;               ///< a read's header and decode; a write's format
    std::string input;               ///< the image a step works on: "[index] WxH"
    std::string output;              ///< what it gives: "WxH", several, or "?" (known only by running)
};

/// One line of the plan.
std::string describe(const PlanEntry& e);
/// An option's arguments as one string.
std::string join_args(const std::vector<std::string>& args);
/// Where the run did not do what the plan said, one line each (empty: it did).
std::vector<std::string> plan_differences(const std::vector<PlanEntry>& planned,
                                          const std::vector<PlanEntry>& ran);

/// "WxH" of an image, or "?<=WxH" when a plan could not know it (an operator whose result only
/// running tells: trim, most of ImageMagick's).
std::string plan_geometry(const ::Image* image);
/// Geometries of a list, "WxH" for one image, "N images: WxH WxH ..." for more.
std::string plan_geometry(const std::vector<Image>& images);

/// The images a simple operator gives, predicted from its input's header (size, page, layout):
/// header-only images. `demand` gets its demand class. Results only running can tell are marked
/// (plan_geometry says "?").
std::vector<Image> predict_simple(const std::string& option, const std::vector<std::string>& args, Image& in,
                                  ::ImageInfo* info, Context& ctx, bool native, std::string& demand);
/// The list a list operator leaves, predicted likewise (false: it could not be; the list is left
/// as it was, marked unknown).
void predict_list(const std::string& option, const std::vector<std::string>& args, std::vector<Image>& list,
                  ::ImageInfo* info, Context& ctx, bool native, std::string& demand);
/// Why only the pixels can tell whether native steps and encoders take this planned image
/// (nullptr: its header tells).
const char* pixels_decide(const ::Image* image);
/// A plan's engine where the pixels decide: native, or ImageMagick's when they need it.
inline constexpr const char* kEitherEngine = "native?";
/// Marks an image's geometry as known only by running: `bounded`, its size is an upper bound.
void mark_unknown(Image& image, bool bounded);
/// Whether a plan knows the image's size.
bool plan_known(const ::Image* image);

/// Kernel half-height bound of a neighbourhood step's "RxS" geometry: its radius when given, else
/// 5 sigma + 1 (ImageMagick's optimal kernel stops near 4.7 sigma for Q16); -1 when unparsable.
int kernel_radius(const std::string& geometry);

/// Formats an ImageMagick reader may be asked to ping for a plan: raster files and generated
/// images whose header read has no side effect (no scripts, no network, no ephemeral files).
bool plan_may_ping(const std::string& magick);

}  // namespace mtool::exec
