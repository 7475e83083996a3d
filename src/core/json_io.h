#pragma once
// Atomic file output: write to a temporary file beside the target, then rename, so a reader never
// sees a half-written record.

#include <nlohmann/json.hpp>

#include <string>

namespace cwd {

/// Writes `text` to `path` atomically (temp file in the same folder + rename). Creates parent
/// folders. Throws cwd::Error naming the path when it cannot be written.
void write_text_atomic(const std::string& path, const std::string& text);

/// Pretty-printed JSON (2-space indent, trailing newline), atomically.
void write_json_atomic(const std::string& path, const nlohmann::json& value);

/// Reads a JSON file; throws cwd::Error naming the path for a missing file or bad JSON.
nlohmann::json read_json(const std::string& path);

/// UTC time as "2026-11-27T17:33:10Z".
std::string utc_timestamp();

/// FNV-1a 64-bit hash of a string, as 16 hex digits (stable across platforms).
std::string stable_hash(const std::string& text);

}  // namespace cwd
