#pragma once
#include "src/ops/op_spec.h"

namespace mtool::ops {
#define MTOOL_OP(name) extern const OpSpec name;
#include "src/ops/op_list.inc"
#undef MTOOL_OP
}  // namespace mtool::ops
