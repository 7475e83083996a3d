#include "src/cli/launch.h"

#include "src/core/error.h"
#include "src/core/interrupt.h"
#include "src/core/threads.h"
#include "src/train/jobs.h"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>
#include <vector>

namespace cwd::cli {

namespace {

// A TCP port on 127.0.0.1 that nothing listens on now (the kernel's choice).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw Error(fmt::format("--nproc: cannot open a socket: {}", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) throw Error(fmt::format("--nproc: cannot find a free port on 127.0.0.1: {}", std::strerror(err)));
  return ntohs(addr.sin_port);
}

// argv without --nproc N / --nproc=N, with --threads T added when the command has none.
std::vector<std::string> child_arguments(const std::vector<std::string>& argv, bool threads_set, int threads) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--nproc") {
      ++i;
      continue;
    }
    if (argv[i].rfind("--nproc=", 0) == 0) continue;
    out.push_back(argv[i]);
  }
  if (!threads_set) {
    out.push_back("--threads");
    out.push_back(std::to_string(threads));
  }
  return out;
}

}  // namespace

void run_local_processes(int nproc, const CliContext& context, bool threads_set) {
  if (const char* size = std::getenv("WORLD_SIZE")) {
    throw Error(fmt::format("--nproc starts its own processes, but WORLD_SIZE={} is set already (torchrun or srun "
                            "started this one): drop --nproc",
                            size));
  }
  std::error_code ec;
  const std::string exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (exe.empty()) throw Error("--nproc: cannot find this program's path in /proc/self/exe");
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const auto args = child_arguments(context.argv, threads_set, std::max(1, cores / nproc));
  const int port = free_port();
  fmt::print(stderr, "starting {} processes (ranks 0..{}, 127.0.0.1:{})\n", nproc, nproc - 1, port);
  std::map<pid_t, int> ranks;
  const pid_t parent = ::getpid();
  for (int rank = 0; rank < nproc; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      for (const auto& [p, r] : ranks) ::kill(p, SIGTERM);
      throw Error(fmt::format("--nproc: cannot start process {}: {}", rank, std::strerror(errno)));
    }
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) _exit(127);
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> cargs;
      for (const auto& a : args) cargs.push_back(const_cast<char*>(a.c_str()));
      cargs.push_back(nullptr);
      ::execv(exe.c_str(), cargs.data());
      _exit(127);
    }
    ranks.emplace(pid, rank);
  }
  std::vector<std::string> failed;
  bool interrupted = false;
  bool stopping = false;  // the others were killed after a failure
  int stopped = 0;
  while (!ranks.empty()) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    const auto it = ranks.find(pid);
    if (it == ranks.end()) continue;
    const int rank = it->second;
    ranks.erase(it);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 130) {
      interrupted = true;
      continue;
    }
    if (stopping && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      ++stopped;
      continue;
    }
    failed.push_back(fmt::format("rank {} ({})", rank, train::exit_text(status)));
    // The others would wait for it in their next collective until the timeout: stop them now
    // (they lose at most the steps since their last checkpoint).
    for (const auto& [p, r] : ranks) ::kill(p, SIGKILL);
    stopping = true;
  }
  if (!failed.empty()) {
    throw Error(fmt::format("{} of the {} processes failed: {}; its error is above{}", failed.size(), nproc,
                            fmt::join(failed, ", "),
                            stopped > 0 ? fmt::format(" (the other {} were stopped)", stopped) : ""));
  }
  if (interrupted || interrupt_requested()) {
    throw Interrupted(fmt::format("interrupted; the {} processes checkpointed: rerun to resume", nproc));
  }
}

std::shared_ptr<train::ProcessGroup> join_from_env(std::string& device) {
  const train::World world = train::world_from_env();
  if (world.size <= 1) return nullptr;
  torch::Device d = resolve_device(device);
  if (d.is_cuda() && device.find(':') == std::string::npos) {
    device = fmt::format("cuda:{}", world.local_rank);
    d = resolve_device(device);
  }
  return train::ProcessGroup::join(world, d);
}

}  // namespace cwd::cli
