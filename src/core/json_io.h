#pragma once
// Atomic file output: write to a temporary file beside the target, then rename, so a reader never
// sees a half-written record.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cwd {

/// Writes a file atomically: `write` fills a temporary file beside `path` (its argument, named
/// "<path>.tmp.<pid>"), which then replaces `path` by rename. Creates parent folders. `path` must
/// be absent or a regular file (check_replaceable: never a link, device or FIFO). If `write`
/// throws, the temporary file is removed and the exception propagates; `path` is never left
/// half-written.
void write_file_atomic(const std::string& path, const std::function<void(const std::string& tmp)>& write);

/// The pieces, in order, as the file `path`, atomically (write_file_atomic + write_new_file:
/// synced, and a full disk is one cwd::Error "no space left on the device writing 'path'; ...").
void write_bytes_atomic(const std::string& path, const std::vector<std::pair<const char*, size_t>>& pieces);

/// Writes `text` to `path` atomically (temp file in the same folder + rename). Creates parent
/// folders. Throws cwd::Error naming the path when it cannot be written.
void write_text_atomic(const std::string& path, const std::string& text);

/// Pretty-printed JSON (2-space indent, trailing newline), atomically.
void write_json_atomic(const std::string& path, const nlohmann::json& value);

/// Reads a JSON file; throws cwd::Error naming the path for a missing file or bad JSON.
nlohmann::json read_json(const std::string& path);

/// UTC time as "2026-11-27T17:33:10Z".
std::string utc_timestamp();

/// FNV-1a 64-bit hash, fed in pieces (a string, or a file in chunks).
class StableHasher {
 public:
  void update(const char* data, size_t size);
  /// 16 hex digits (stable across platforms).
  std::string hex() const;

 private:
  uint64_t state_ = 1469598103934665603ULL;
};

/// FNV-1a 64-bit hash of a string, as 16 hex digits (stable across platforms).
std::string stable_hash(const std::string& text);

/// FNV-1a 64-bit hash of a file's bytes; throws cwd::Error naming the path when unreadable.
std::string file_hash(const std::string& path);

}  // namespace cwd
