#pragma once
// Several processes for one run: `--nproc N` starts them on this machine; under torchrun or an
// srun wrapper they are started already. Either way each process joins the run's process group
// from the environment (src/train/distributed.h).

#include "src/cli/commands.h"
#include "src/train/distributed.h"

#include <memory>
#include <string>

namespace cwd::cli {

/// Runs this command again as `nproc` processes on this machine (ranks 0..nproc-1, meeting at
/// 127.0.0.1 on a free port), without `--nproc`; each gets threads = cores / nproc unless the
/// command sets --threads (`threads_set`). Waits for all; when one fails the others are stopped
/// and one cwd::Error names it. Refuses to run inside an environment that set WORLD_SIZE already.
void run_local_processes(int nproc, const CliContext& context, bool threads_set);

/// The run's process group when WORLD_SIZE > 1 (null otherwise). On CUDA, `device` becomes
/// "cuda:<LOCAL_RANK>": one GPU per process.
std::shared_ptr<train::ProcessGroup> join_from_env(std::string& device);

}  // namespace cwd::cli
