#include "src/core/json_io.h"

#include "src/core/error.h"
#include "src/core/files.h"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>
#include <unistd.h>

namespace cwd {

namespace fs = std::filesystem;

void write_file_atomic(const std::string& path, const std::function<void(const std::string& tmp)>& write) {
  check_replaceable(path);
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  if (ec) throw Error(fmt::format("cannot create folder '{}': {}", target.parent_path().string(), ec.message()));
  const std::string tmp = fmt::format("{}.tmp.{}", path, static_cast<long>(::getpid()));
  fs::remove(tmp, ec);  // left by a dead process that had this pid
  try {
    write(tmp);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw Error(fmt::format("cannot move '{}' into place: {}", path, ec.message()));
  }
}

void write_bytes_atomic(const std::string& path, const std::vector<std::pair<const char*, size_t>>& pieces) {
  write_file_atomic(path, [&](const std::string& tmp) {
    try {
      write_new_file(tmp, pieces);
    } catch (const Error& e) {
      // Name the file the user asked for, not the temporary one.
      std::string text = e.what();
      const auto at = text.find(tmp);
      if (at != std::string::npos) text.replace(at, tmp.size(), path);
      throw Error(text);
    }
  });
}

void write_text_atomic(const std::string& path, const std::string& text) {
  write_bytes_atomic(path, {{text.data(), text.size()}});
}

void write_json_atomic(const std::string& path, const nlohmann::json& value) {
  write_text_atomic(path, value.dump(2) + "\n");
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("cannot read '{}' (no such file or not readable)", path));
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("'{}' is not valid JSON ({})", path, e.what()));
  }
}

std::string utc_timestamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void StableHasher::update(const char* data, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    state_ ^= static_cast<unsigned char>(data[i]);
    state_ *= 1099511628211ULL;
  }
}

std::string StableHasher::hex() const { return fmt::format("{:016x}", state_); }

std::string stable_hash(const std::string& text) {
  StableHasher h;
  h.update(text.data(), text.size());
  return h.hex();
}

std::string file_hash(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot read '{}'", path));
  StableHasher h;
  std::vector<char> buf(1 << 16);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    h.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  return h.hex();
}

}  // namespace cwd
