#pragma once
// An operator is declared once in an OpSpec: its ImageMagick spelling, kind, how it demands
// pixels and its native run function. ImageMagick's own option table supplies arity and class;
// a unit test checks that every spec agrees with it. Operators without a spec (or whose
// `accepts` declines the arguments) run through the Magick bridge.
#include <string>
#include <vector>

#include "src/core/context.h"
#include "src/core/image.h"

namespace mtool::ops {

enum class OpKind { simple, list };

/// How an operator reads its input; used by the executor and, later, the memory model.
enum class Demand { pointwise, neighbourhood, whole_image, metadata };

/// One invocation: `-op args` with the settings in force.
struct OpCall {
    std::string option;             ///< as written: "-resize", "+repage"
    std::vector<std::string> args;  ///< arguments (0..2)
    ::ImageInfo* info;              ///< settings in force (ImageMagick's record, synced)
    Context& ctx;
    bool plus() const { return !option.empty() && option[0] == '+'; }
    const std::string& arg(size_t i) const { return args.at(i); }
};

struct OpSpec {
    std::vector<std::string> names;  ///< "-flip"; both forms when both are native
    OpKind kind = OpKind::simple;
    int arity = 0;  ///< must match ImageMagick's table
    Demand demand = Demand::pointwise;
    const char* summary = "";
    /// Native run for a simple operator: returns the new image(s) (crop may yield many).
    std::vector<Image> (*run)(Image& in, OpCall& call) = nullptr;
    /// Native run for a list operator.
    void (*run_list)(std::vector<Image>& list, OpCall& call) = nullptr;
    /// Optional: false when this call needs ImageMagick (unsupported argument forms).
    bool (*accepts)(const OpCall& call) = nullptr;
    /// Optional: why this call on this image needs ImageMagick (a layout, colorspace or setting
    /// it leaves there), nullptr when it runs natively. Reads only the image's header (size,
    /// layout, colorspace, the settings synced to it), so the plan (src/exec/plan.cpp) decides
    /// native or bridge before any pixel exists; the run asks the same question first.
    const char* (*declines)(const Image& in, const OpCall& call) = nullptr;
    /// The same for a list operator, from the list's headers.
    const char* (*declines_list)(const std::vector<Image>& list, const OpCall& call) = nullptr;
    /// ImageMagick keeps a palette (PseudoClass) image a palette image through this operator
    /// (it moves or maps pixels, or works on the colormap); other operators' results are
    /// DirectClass. Which class an image has changes ImageMagick's later choices (the default
    /// resize filter, the PNG colour type). -colorspace Gray and -type Grayscale keep it only
    /// for an image that is gray already.
    bool keeps_class = false;
    /// The operator works on the channels -channel selects (ImageMagick's XxxImageChannel
    /// functions); with a selection other than the default it runs through the bridge. Operators
    /// that move pixels (geometry) ignore -channel, as ImageMagick's do.
    bool uses_channel = false;
};

/// Thrown by a native run that meets a case it leaves to ImageMagick (e.g. a gray image given a
/// coloured border); the executor then runs the same option through the bridge. Not an error.
using mtool::Decline;

const std::vector<const OpSpec*>& all();
/// -crop's results (CropImageToTiles) from an image's header alone: their sizes and pages, no
/// pixels; for a plan (src/exec/plan.cpp).
std::vector<Image> crop_headers(Image& in, OpCall& call);
const OpSpec* find(const std::string& option);

}  // namespace mtool::ops
