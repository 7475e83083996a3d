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

/// SIGINT or SIGTERM stopped the work after it saved what it had (src/core/interrupt.h). The CLI
/// prints the message and exits 130.
class Interrupted : public Error {
 public:
  explicit Interrupted(const std::string& message) : Error(message) {}
};

/// The work finished and its files are complete and honest, but some runs in them diverged (they
/// are listed apart from the statistics). The CLI prints the message and exits 3.
class PartialResult : public Error {
 public:
  explicit PartialResult(const std::string& message) : Error(message) {}
};

}  // namespace cwd
