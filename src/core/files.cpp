#include "src/core/files.h"

#include "src/core/error.h"
#include "src/core/json_io.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cwd {

namespace fs = std::filesystem;

namespace {

std::string kind_of(fs::file_type type) {
  switch (type) {
    case fs::file_type::symlink: return "a symbolic link";
    case fs::file_type::directory: return "a folder";
    case fs::file_type::character: return "a character device";
    case fs::file_type::block: return "a block device";
    case fs::file_type::fifo: return "a FIFO";
    case fs::file_type::socket: return "a socket";
    default: return "not a regular file";
  }
}

// The OS's reason for a failed write, with the fix where there is one.
std::string write_failure(const std::string& path, int err) {
  if (err == ENOSPC || err == EDQUOT) {
    return fmt::format("no space left on the device writing '{}'; free space or choose another --out", path);
  }
  if (err == EACCES || err == EPERM || err == EROFS) {
    return fmt::format("cannot write '{}': {}; choose a writable --out", path, std::strerror(err));
  }
  return fmt::format("cannot write '{}': {}", path, std::strerror(err));
}

}  // namespace

void check_replaceable(const std::string& path) {
  std::error_code ec;
  const auto status = fs::symlink_status(path, ec);
  if (ec || status.type() == fs::file_type::not_found || status.type() == fs::file_type::regular) return;
  const std::string fix = status.type() == fs::file_type::symlink
                              ? "cwd-bench does not write through links: give the link's target, or a new path"
                              : "give the path of a regular file, or of a new one";
  throw Error(fmt::format("'{}' exists and is {}; {}", path, kind_of(status.type()), fix));
}

void write_new_file(const std::string& path, const std::vector<std::pair<const char*, size_t>>& pieces) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(write_failure(path, errno));
  int err = 0;
  for (const auto& [data, size] : pieces) {
    size_t done = 0;
    while (err == 0 && done < size) {
      const ssize_t n = ::write(fd, data + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) err = errno;
      else done += static_cast<size_t>(n);
    }
  }
  if (err == 0 && ::fsync(fd) != 0 && errno != EINVAL) err = errno;
  if (::close(fd) != 0 && err == 0 && errno != EINTR) err = errno;
  if (err != 0) {
    ::unlink(path.c_str());
    throw Error(write_failure(path, err));
  }
}

bool temp_file_pid(const std::string& path, long& pid) {
  const std::string name = fs::path(path).filename().string();
  const auto at = name.rfind(".tmp.");
  if (at == std::string::npos) return false;
  const std::string digits = name.substr(at + 5);
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  pid = std::stol(digits);
  return true;
}

int remove_stale_temp_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  int removed = 0;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    long pid = 0;
    if (!entry.is_regular_file(ec) || !temp_file_pid(entry.path().string(), pid)) continue;
    const bool alive = pid == static_cast<long>(::getpid()) ||
                       ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
    if (alive) continue;
    if (fs::remove(entry.path(), ec)) ++removed;
  }
  return removed;
}

FolderLock::FolderLock(const std::string& dir, const std::string& command_line, Mode mode) : mode_(mode), dir_(dir) {
  const bool shared = mode == Mode::kShared;
  std::error_code ec;
  path_ = (fs::path(dir) / kFileName).string();
  // The file is removed when the lock is released, so after locking it must still be the file at
  // the path: a process that opened it just before it was removed tries again.
  for (int attempt = 0; attempt < 20 && fd_ < 0; ++attempt) {
    if (!fs::is_directory(dir, ec)) {
      // The outermost folder that is missing: released, the lock removes what it created.
      fs::path top = fs::absolute(dir, ec).lexically_normal();
      while (top.has_parent_path() && top.parent_path() != top && !fs::exists(top.parent_path(), ec)) top = top.parent_path();
      if (created_top_.empty() && !shared) created_top_ = top.string();
      fs::create_directories(dir, ec);
      if (ec) throw Error(fmt::format("cannot create folder '{}': {}; choose a writable --out", dir, ec.message()));
    }
    check_replaceable(path_);
    const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT) continue;  // the folder went away meanwhile
    if (fd < 0) {
      throw Error(fmt::format("cannot open the lock file '{}': {}; choose a writable --out", path_, std::strerror(errno)));
    }
    if (::flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
      const int err = errno;
      std::string holder(512, '\0');
      const ssize_t n = ::pread(fd, holder.data(), holder.size(), 0);
      holder.resize(n > 0 ? static_cast<size_t>(n) : 0);
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
      std::replace(holder.begin(), holder.end(), '\n', ' ');
      ::close(fd);
      if (err != EWOULDBLOCK) throw Error(fmt::format("cannot lock '{}': {}", path_, std::strerror(err)));
      throw Error(fmt::format("'{}' is in use by another cwd-bench ({}); wait for it to finish or choose another --out",
                              dir, holder.empty() ? "holder unknown" : holder));
    }
    struct stat held {}, now {};
    if (::fstat(fd, &held) != 0 || ::stat(path_.c_str(), &now) != 0 || held.st_ino != now.st_ino ||
        held.st_dev != now.st_dev) {
      ::close(fd);
      continue;
    }
    fd_ = fd;
  }
  if (fd_ < 0) throw Error(fmt::format("cannot lock '{}': it keeps being removed; is another program cleaning the folder?", path_));
  // Shared holders all write the same line (the plan's units), so their writes cannot disagree.
  const std::string me = shared ? fmt::format("{}\n", command_line)
                                : fmt::format("pid {}, since {}: {}\n", static_cast<long>(::getpid()),
                                              utc_timestamp(), command_line);
  if (::ftruncate(fd_, 0) == 0) {
    const ssize_t ignored = ::pwrite(fd_, me.data(), me.size(), 0);
    (void)ignored;
  }
}

FolderLock::~FolderLock() {
  if (fd_ < 0) return;
  if (mode_ == Mode::kShared) {  // other units may hold it still
    ::close(fd_);
    return;
  }
  // Removed while still held (see the constructor), then released by closing.
  ::unlink(path_.c_str());
  ::close(fd_);
  // Folders this lock created and nothing else filled go too: a run that failed early leaves
  // nothing behind (rmdir removes only empty folders).
  if (created_top_.empty()) return;
  std::error_code ec;
  const fs::path top(created_top_);
  for (fs::path p = fs::absolute(dir_, ec).lexically_normal(); !p.empty(); p = p.parent_path()) {
    if (::rmdir(p.c_str()) != 0 || p == top || p.parent_path() == p) break;
  }
}

}  // namespace cwd
