#pragma once
// One exception type for every user-facing error: its message is a single line that names the
// problem and, where there is one, the fix. The CLI prints it and exits non-zero.

#include <stdexcept>
#include <string>

namespace cwd {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace cwd
