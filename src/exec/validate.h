#pragma once
#include <string>

namespace mtool::exec {
/// Checks an option argument before anything runs. Returns "" when it is acceptable; otherwise
/// the offending text, with `reason` set to ImageMagick's wording.
std::string validate_argument(const std::string& option, const std::string& value, std::string& reason);
}  // namespace mtool::exec
