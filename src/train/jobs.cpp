#include "src/train/jobs.h"

#include "src/core/error.h"
#include "src/core/interrupt.h"
#include "src/core/json_io.h"
#include "src/core/json_keys.h"

#include <fmt/format.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>

namespace cwd::train {

namespace fs = std::filesystem;

void run_unit(const Unit& unit, const std::string& command_line) {
  train_cohort(unit.runs, {command_line, unit.label, unit.estimated_bytes});
}

void write_unit_file(const std::string& path, const Unit& unit, const std::string& command_line) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& r : unit.runs) {
    runs.push_back({{"config", r.config}, {"label", r.label}, {"stop_after", r.config.stop_after}});
  }
  nlohmann::json j = {{"schema", "cwd-bench/unit/1"}, {"label", unit.label}, {"command_line", command_line},
                      {"runs", runs}};
  if (unit.estimated_bytes) j["estimated_bytes"] = *unit.estimated_bytes;
  fs::create_directories(fs::path(path).parent_path());
  write_json_atomic(path, j);
}

Unit read_unit_file(const std::string& path, std::string& command_line) {
  const nlohmann::json j = read_json(path);
  try {
    Unit u;
    key(j, "label", u.label);
    key(j, "command_line", command_line);
    if (j.contains("estimated_bytes")) u.estimated_bytes = j.at("estimated_bytes").get<int64_t>();
    for (const auto& r : key_value(j, "runs")) {
      CohortRun run;
      key(r, "config", run.config);
      key(r, "label", run.label);
      key(r, "stop_after", run.config.stop_after);
      u.runs.push_back(std::move(run));
    }
    return u;
  } catch (const JsonKeyError& e) {
    throw Error(fmt::format("unit file '{}': {}; it is written by `cwd-bench compare --jobs N`", path, e.what()));
  }
}

namespace {

// Starts `exe unit FILE` as a child that is killed when this process dies.
pid_t spawn_unit(const std::string& exe, const std::string& file) {
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw Error(fmt::format("cannot start a job process: {}", std::strerror(errno)));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    const char* argv[] = {exe.c_str(), "unit", file.c_str(), nullptr};
    execv(exe.c_str(), const_cast<char* const*>(argv));
    _exit(127);
  }
  return pid;
}

}  // namespace

std::string exit_text(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return "stopped";
}

void run_units(const std::vector<Unit>& units, const JobOptions& options) {
  if (options.jobs <= 1) {
    for (const auto& u : units) run_unit(u, options.command_line);
    return;
  }
  if (options.exe.empty()) throw Error("--jobs > 1 needs the cwd-bench binary to start units; run it from the CLI");
  std::map<pid_t, size_t> running;
  std::vector<std::string> failed, interrupted;
  bool passed_on = false;
  size_t next = 0;
  while (next < units.size() || !running.empty()) {
    while (failed.empty() && !interrupt_requested() && next < units.size() &&
           static_cast<int>(running.size()) < options.jobs) {
      const std::string file = fmt::format("{}/.units/unit-{}.json", options.dir, next);
      write_unit_file(file, units[next], options.command_line);
      running.emplace(spawn_unit(options.exe, file), next++);
    }
    if (running.empty()) break;
    if (interrupt_requested() && !passed_on) {
      // Each child finishes its step and checkpoints (SIGUSR1 never kills one that the terminal
      // signalled already).
      for (const auto& [pid, unit] : running) ::kill(pid, SIGUSR1);
      passed_on = true;
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid == 0) {
      ::usleep(50 * 1000);
      continue;
    }
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("waiting for job processes failed: {}", std::strerror(errno)));
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 130) {
      interrupted.push_back(units[it->second].label);
    } else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      failed.push_back(fmt::format("{} ({})", units[it->second].label, exit_text(status)));
    }
    running.erase(it);
  }
  std::error_code ec;
  fs::remove_all(fs::path(options.dir) / ".units", ec);
  if (!failed.empty()) {
    throw Error(fmt::format("{} failed; its error is above. Rerun the same command to resume",
                            fmt::join(failed, ", ")));
  }
  if (!interrupted.empty() || interrupt_requested()) {
    const std::string which =
        interrupted.empty() ? std::string("the running units") : fmt::format("{}", fmt::join(interrupted, ", "));
    throw Interrupted(fmt::format("interrupted while training units in {} processes; {} checkpointed: rerun to resume",
                                  options.jobs, which));
  }
}

}  // namespace cwd::train
