// The explicit list of native operators. Order only matters for -list operator output.
#include <cstring>

#include "src/ops/op_spec.h"
#include "src/ops/specs.h"

namespace mtool::ops {

const std::vector<const OpSpec*>& all() {
    static const std::vector<const OpSpec*> list = {
#define MTOOL_OP(name) &name,
#include "src/ops/op_list.inc"
#undef MTOOL_OP
    };
    return list;
}

const OpSpec* find(const std::string& option) {
    for (const OpSpec* spec : all())
        for (const auto& n : spec->names)
            if (n == option) return spec;
    return nullptr;
}

}  // namespace mtool::ops
