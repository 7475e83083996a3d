// The pieces behind docs/reliability.md that can be tested in-process: the atomic writer's
// refusal of special files, the folder lock, stale temporary files, interrupts, and how a folder
// of records is read. tests/reliability/probes.sh replays the same cases against the binary.

#include "src/core/error.h"
#include "src/core/files.h"
#include "src/core/interrupt.h"
#include "src/core/json_io.h"
#include "src/train/record.h"
#include "tests/test_helpers.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using cwd::testing::error_of;

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(AtomicWrite, RefusesEverythingButRegularFiles) {
  cwd::testing::TempDir dir("special");
  const fs::path fifo = dir / "fifo", link = dir / "link", target = dir / "target", folder = dir / "folder";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  cwd::write_text_atomic(target.string(), "keep");
  fs::create_symlink(target, link);
  fs::create_directory(folder);
  EXPECT_EQ(error_of([&] { cwd::write_text_atomic(fifo.string(), "x"); }),
            "'" + fifo.string() + "' exists and is a FIFO; give the path of a regular file, or of a new one");
  EXPECT_EQ(error_of([&] { cwd::write_text_atomic(link.string(), "x"); }),
            "'" + link.string() +
                "' exists and is a symbolic link; cwd-bench does not write through links: give the link's target, or a "
                "new path");
  EXPECT_EQ(error_of([&] { cwd::write_text_atomic(folder.string(), "x"); }),
            "'" + folder.string() + "' exists and is a folder; give the path of a regular file, or of a new one");
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read_text(target), "keep");
  // A regular file is replaced whole; nothing temporary stays.
  cwd::write_text_atomic(target.string(), "new");
  EXPECT_EQ(read_text(target), "new");
  for (const auto& e : fs::directory_iterator(dir.path())) {
    long pid = 0;
    EXPECT_FALSE(cwd::temp_file_pid(e.path().string(), pid)) << e.path();
  }
}

TEST(AtomicWrite, AFailedWriteLeavesThePreviousFile) {
  cwd::testing::TempDir dir("failed-write");
  const std::string path = dir / "record.json";
  cwd::write_text_atomic(path, "old");
  EXPECT_THROW(cwd::write_file_atomic(path, [](const std::string& tmp) {
                 std::ofstream(tmp) << "half";
                 throw cwd::Error("disk on fire");
               }),
               cwd::Error);
  EXPECT_EQ(read_text(path), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(StaleTempFiles, OnlyThoseOfDeadProcessesAreRemoved) {
  cwd::testing::TempDir dir("stale");
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // a pid that is gone
  const fs::path dead = dir / fmt::format("a.pt.tmp.{}", child);
  const fs::path mine = dir / fmt::format("b.pt.tmp.{}", ::getpid());
  const fs::path other = dir / "c.pt.tmp.x";
  for (const auto& p : {dead, mine, other}) std::ofstream(p) << "x";
  EXPECT_EQ(cwd::remove_stale_temp_files(dir.str()), 1);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(mine));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_EQ(cwd::remove_stale_temp_files(dir / "missing"), 0);
}

TEST(FolderLock, ASecondHolderIsToldWhoHoldsIt) {
  cwd::testing::TempDir dir("lock");
  const std::string out = (fs::path(dir.path()) / "a" / "b").string();
  {
    const cwd::FolderLock lock(out, "cwd-bench compare --out x");
    EXPECT_TRUE(fs::exists(fs::path(out) / cwd::FolderLock::kFileName));
    const std::string error = error_of([&] { cwd::FolderLock again(out, "cwd-bench train"); });
    EXPECT_EQ(error.rfind(fmt::format("'{}' is in use by another cwd-bench (pid {}, since ", out, ::getpid()), 0), 0u)
        << error;
    EXPECT_NE(error.find(": cwd-bench compare --out x); wait for it to finish or choose another --out"), std::string::npos)
        << error;
  }
  // Released: the lock file and the folders it created (still empty) are gone.
  EXPECT_FALSE(fs::exists(dir / "a"));
  {
    const cwd::FolderLock lock(out, "first");
    std::ofstream(fs::path(out) / "result.json") << "{}";
  }
  EXPECT_TRUE(fs::exists(fs::path(out) / "result.json"));  // a folder with content stays
  EXPECT_FALSE(fs::exists(fs::path(out) / cwd::FolderLock::kFileName));
  const cwd::FolderLock again(out, "second");  // free again
}

TEST(Interrupt, ASignalBecomesARequestThatLoopsTurnIntoInterrupted) {
  cwd::reset_interrupt_for_testing();
  EXPECT_FALSE(cwd::interrupt_requested());
  EXPECT_NO_THROW(cwd::throw_if_interrupted("at iteration 3", "rerun to resume"));
  std::raise(SIGUSR1);  // what a parent sends its job processes: a request, never a kill
  EXPECT_TRUE(cwd::interrupt_requested());
  EXPECT_EQ(cwd::interrupt_signal(), SIGUSR1);
  try {
    cwd::throw_if_interrupted("at iteration 3", "rerun to resume");
    FAIL() << "no exception";
  } catch (const cwd::Interrupted& e) {
    EXPECT_STREQ(e.what(), "interrupted at iteration 3; rerun to resume");
  }
  cwd::reset_interrupt_for_testing();
  EXPECT_FALSE(cwd::interrupt_requested());
}

TEST(RecordFolder, EveryJsonFileIsARecordAnotherCwdBenchFileOrNamed) {
  cwd::testing::TempDir dir("record-folder");
  std::ofstream(dir / "broken.json") << "{\"schema\": \"cwd-bench/run/1\", \"na";
  EXPECT_EQ(error_of([&] { cwd::train::read_run_records(dir.str()); }),
            "'" + dir / "broken.json" +
                "' is not valid JSON (empty, truncated or binary): a damaged run record? restore it, or move it out of "
                "the folder");
  fs::remove(dir / "broken.json");
  std::ofstream(dir / "table.json") << "{\"schema\": \"cwd-bench/table/2\"}";
  std::ofstream(dir / "notes.json") << "[1, 2]";
  testing::internal::CaptureStderr();
  const std::string none = error_of([&] { cwd::train::read_run_records(dir.str()); });
  const std::string warnings = testing::internal::GetCapturedStderr();
  EXPECT_EQ(none.rfind("no run records (schema cwd-bench/run/1)", 0), 0u) << none;
  EXPECT_EQ(warnings, "warning: skipping '" + dir / "notes.json" +
                          "': not a cwd-bench run record (no schema)\n");
}

}  // namespace
