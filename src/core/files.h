#pragma once
// What cwd-bench does to the file system besides reading: writing whole files safely (only over
// regular files, through a temporary file that is synced and renamed, with the OS's reason in
// the message: "no space left on the device"), cleaning the temporary files of writers that died,
// and the lock that gives one process at a time an output folder.

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace cwd {

/// Throws cwd::Error unless `path` is absent or a regular file (not a symbolic link, device,
/// FIFO, socket or folder): output never replaces or writes through anything else.
void check_replaceable(const std::string& path);

/// Writes the pieces, in order, to a new file `path` (which must not exist), synced to disk.
/// Throws cwd::Error with the OS's reason ("no space left on the device writing 'X'; free space
/// or choose another --out"); the partial file is removed.
void write_new_file(const std::string& path, const std::vector<std::pair<const char*, size_t>>& pieces);

/// Whether `path` ends in ".tmp.<pid>" (a temporary file of write_file_atomic), and the pid.
bool temp_file_pid(const std::string& path, long& pid);

/// Removes the temporary files (".tmp.<pid>") in `dir` whose writer process is gone (a kill
/// during a write leaves one behind). Returns how many it removed; a missing folder is none.
int remove_stale_temp_files(const std::string& dir);

/// An exclusive advisory lock (flock) on DIR/.cwd-bench.lock, held while the object lives and
/// released by the kernel when the process dies (kill -9 included). The file names its holder
/// (pid, time, command line) and is removed on release (a kill leaves it, unlocked and harmless);
/// a folder the lock created is removed too when nothing was written into it. Another process
/// gets:
///   "'DIR' is in use by another cwd-bench (pid 123, since ...: compare ...); wait for it to
///    finish or choose another --out"
///
/// Shared mode is for the units of one plan (`run-unit`), which may run at once: any number of
/// shared holders, no exclusive one meanwhile. The file then names the plan, not one process, and
/// stays when they release it (the next exclusive holder takes it over). Which plan may use the
/// folder is kept apart, in DIR/.cwd-bench.plan (src/train/grid_plan.h).
class FolderLock {
 public:
  enum class Mode { kExclusive, kShared };
  /// Creates `dir` when missing, then locks it or throws cwd::Error naming the holder.
  FolderLock(const std::string& dir, const std::string& command_line, Mode mode = Mode::kExclusive);
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

  static constexpr const char* kFileName = ".cwd-bench.lock";

 private:
  int fd_ = -1;
  Mode mode_ = Mode::kExclusive;
  std::string dir_;
  std::string path_;
  std::string created_top_;  // the outermost folder the constructor created ("" = none)
};

}  // namespace cwd
