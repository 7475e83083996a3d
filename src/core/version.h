#pragma once

namespace cwd {
/// The project version ("0.1.0").
const char* version();
/// The git commit the binary was built from ("-dirty" appended when the tree had changes).
const char* git_commit();
}  // namespace cwd
