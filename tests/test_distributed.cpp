// One run on several processes: the environment it reads, the process group (two ranks as two
// threads of this test over Gloo on 127.0.0.1), synchronised BatchNorm against torch's on the
// whole batch, per-sample draws that do not depend on the split, the shared folder lock of a
// plan's units, and the plan itself. tests/distributed/two_processes.sh checks whole runs.

#include "models/shard.h"
#include "src/core/files.h"
#include "src/core/json_io.h"
#include "src/train/compare.h"
#include "src/train/distributed.h"
#include "src/train/grid_plan.h"
#include "tests/test_helpers.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>

namespace {

using cwd::testing::error_of;
using cwd::testing::TempDir;
namespace fs = std::filesystem;

using Vars = std::vector<std::pair<std::string, std::string>>;

// Sets the variables for the test's duration.
class Env {
 public:
  explicit Env(std::vector<std::pair<std::string, std::string>> vars) : vars_(std::move(vars)) {
    for (const auto& [k, v] : vars_) ::setenv(k.c_str(), v.c_str(), 1);
  }
  ~Env() {
    for (const auto& [k, v] : vars_) ::unsetenv(k.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
};

TEST(World, ReadsTheLauncherVariablesAndNamesABadOne) {
  EXPECT_EQ(cwd::train::world_from_env().size, 1);  // nothing set: one process, no group
  {
    Env env(Vars{{"WORLD_SIZE", "1"}});
    EXPECT_EQ(cwd::train::world_from_env().size, 1);
  }
  {
    Env env({{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node1"}, {"MASTER_PORT", "29500"}});
    const auto w = cwd::train::world_from_env();
    EXPECT_EQ(w.size, 4);
    EXPECT_EQ(w.rank, 3);
    EXPECT_EQ(w.local_rank, 1);
    EXPECT_EQ(w.master_addr, "node1");
    EXPECT_EQ(w.master_port, 29500);
  }
  {
    Env env({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}});
    EXPECT_EQ(error_of([] { cwd::train::world_from_env(); }), "RANK=2 is not a whole number in 0..1; fix the launcher's environment");
  }
  {
    Env env({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_PORT", "1"}});
    EXPECT_NE(error_of([] { cwd::train::world_from_env(); }).find("WORLD_SIZE is set but MASTER_ADDR is not"),
              std::string::npos);
  }
  {
    Env env(Vars{{"WORLD_SIZE", "two"}});
    EXPECT_EQ(error_of([] { cwd::train::world_from_env(); }),
              "WORLD_SIZE=two is not a process count in 1..65536; fix the launcher's environment");
  }
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Runs fn(group) on two ranks, each a thread of this process with its own Gloo group.
void on_two_ranks(const std::function<void(cwd::train::ProcessGroup&)>& fn) {
  const int port = free_port();
  std::vector<std::exception_ptr> errors(2);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < 2; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        cwd::train::World w{rank, 2, rank, "127.0.0.1", port};
        auto group = cwd::train::ProcessGroup::join(w, torch::kCPU, std::chrono::seconds(60));
        fn(*group);
      } catch (...) {
        errors[rank] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

TEST(ProcessGroup, CollectivesOverGloo) {
  if (!cwd::train::distributed_unavailable(torch::kCPU).empty()) GTEST_SKIP() << "built without Gloo";
  on_two_ranks([](cwd::train::ProcessGroup& g) {
    EXPECT_EQ(g.backend(), "gloo");
    // Gradients: the mean over ranks, across several buckets (a 64-byte bucket limit).
    auto a = torch::zeros({3}, torch::requires_grad());
    auto b = torch::zeros({2, 5}, torch::requires_grad());
    a.mutable_grad() = torch::full({3}, g.rank() == 0 ? 1.0 : 3.0);
    b.mutable_grad() = torch::arange(10, torch::kFloat).view({2, 5}) * (g.rank() + 1);
    g.average_gradients({a, b}, 64);
    EXPECT_TRUE(torch::allclose(a.grad(), torch::full({3}, 2.0)));
    EXPECT_TRUE(torch::allclose(b.grad(), torch::arange(10, torch::kFloat).view({2, 5}) * 1.5));
    // Broadcast: rank 0's values everywhere, in place.
    auto w = torch::full({4}, static_cast<float>(g.rank() + 7));
    auto n = torch::full({2}, static_cast<int64_t>(g.rank() * 10));
    g.broadcast({w, n});
    EXPECT_TRUE(torch::equal(w, torch::full({4}, 7.0f)));
    EXPECT_TRUE(torch::equal(n, torch::zeros({2}, torch::kInt64)));
    EXPECT_EQ(g.broadcast_value(g.rank() == 0 ? 42 : 5), 42);
    EXPECT_TRUE(g.any(g.rank() == 1));
    EXPECT_FALSE(g.any(false));
    EXPECT_EQ(g.mean({g.rank() == 0 ? 1.0 : 2.0}).front(), 1.5);
  });
}

TEST(ProcessGroup, ANoShowNamesTheAddress) {
  if (!cwd::train::distributed_unavailable(torch::kCPU).empty()) GTEST_SKIP() << "built without Gloo";
  const int port = free_port();
  const std::string e = error_of([port] {
    cwd::train::ProcessGroup::join({1, 2, 1, "127.0.0.1", port}, torch::kCPU, std::chrono::seconds(2));
  });
  EXPECT_NE(e.find(fmt::format("rank 1 of 2 could not join the process group at 127.0.0.1:{}", port)), std::string::npos)
      << e;
  EXPECT_NE(e.find("check MASTER_ADDR and MASTER_PORT and that all 2 processes start"), std::string::npos) << e;
}

// Synchronised BN on two ranks, each with half the batch, computes what torch's BN computes on
// the whole batch: outputs, input gradients, parameter gradients (averaged over ranks, as the
// trainer does) and running statistics.
TEST(SyncBatchNorm, TwoHalvesEqualTorchOnTheWholeBatch) {
  if (!cwd::train::distributed_unavailable(torch::kCPU).empty()) GTEST_SKIP() << "built without Gloo";
  torch::manual_seed(3);
  const auto x = torch::randn({6, 4, 5, 7}) * 3 + 2;
  const auto upstream = torch::randn({6, 4, 5, 7});
  torch::nn::BatchNorm2d reference(4);
  reference->weight.data().uniform_(0.5, 1.5);
  reference->bias.data().uniform_(-0.5, 0.5);
  auto xr = x.clone().requires_grad_(true);
  const auto y_ref = reference(xr);
  (y_ref * upstream).sum().backward();
  std::vector<torch::Tensor> y(2), gx(2), gw(2), gb(2), rm(2), rv(2);
  on_two_ranks([&](cwd::train::ProcessGroup& g) {
    cwd::models::BatchNorm2d bn(4);
    bn->weight.data().copy_(reference->weight.data());
    bn->bias.data().copy_(reference->bias.data());
    std::shared_ptr<cwd::models::AllReduce> reduce(&g, [](cwd::models::AllReduce*) {});
    cwd::models::set_batch_norm_sync(*bn, reduce);
    const int r = g.rank();
    auto xs = x.narrow(0, 3 * r, 3).clone().requires_grad_(true);
    const auto out = bn(xs);
    (out * upstream.narrow(0, 3 * r, 3)).sum().backward();
    g.average_gradients(bn->parameters());
    y[r] = out.detach();
    gx[r] = xs.grad();
    gw[r] = bn->weight.grad();
    gb[r] = bn->bias.grad();
    rm[r] = bn->running_mean.clone();
    rv[r] = bn->running_var.clone();
  });
  const auto close = [](const torch::Tensor& a, const torch::Tensor& b) { return torch::allclose(a, b, 1e-4, 1e-5); };
  EXPECT_TRUE(close(torch::cat({y[0], y[1]}), y_ref.detach()));
  EXPECT_TRUE(close(torch::cat({gx[0], gx[1]}), xr.grad()));
  for (int r = 0; r < 2; ++r) {
    // The loss is the sum over both ranks; the trainer's average divides by the ranks.
    EXPECT_TRUE(close(gw[r] * 2, reference->weight.grad())) << r;
    EXPECT_TRUE(close(gb[r] * 2, reference->bias.grad())) << r;
    EXPECT_TRUE(close(rm[r], reference->running_mean)) << r;
    EXPECT_TRUE(close(rv[r], reference->running_var)) << r;
  }
}

// Without a reducer (one process) the module is torch's BatchNorm2d, bit for bit.
TEST(SyncBatchNorm, WithoutAReducerItIsTorchs) {
  torch::manual_seed(4);
  const auto x = torch::randn({3, 4, 6, 6});
  torch::nn::BatchNorm2d a(4);
  cwd::models::BatchNorm2d b(4);
  EXPECT_TRUE(torch::equal(a(x), b(x)));
  EXPECT_TRUE(torch::equal(a->running_var, b->running_var));
  EXPECT_FALSE(b->synchronised());
}

// Dropout's mask for a sample does not depend on which process holds it: the rows [4, 8) of a
// batch of 8 get the same mask as the whole batch's rows 4..7, after the same seed.
TEST(Shard, DropoutMasksFollowTheGlobalBatch) {
  cwd::models::Dropout2d dropout(0.5);
  dropout->train();
  const auto x = torch::ones({8, 16, 3, 3});
  torch::manual_seed(11);
  const auto whole = dropout(x);
  torch::manual_seed(11);
  torch::nn::Dropout2d plain(0.5);
  EXPECT_TRUE(torch::equal(whole, plain(x)));  // no shard: torch's own draw
  torch::manual_seed(11);
  cwd::models::ShardScope shard({4, 8});
  const auto part = dropout(x.narrow(0, 4, 4));
  EXPECT_TRUE(torch::equal(part, whole.narrow(0, 4, 4)));
  EXPECT_EQ(cwd::models::current_shard().offset, 4);
  EXPECT_THROW(dropout(x.narrow(0, 0, 5)), std::logic_error);  // rows 4..9 of 8
}

TEST(FolderLock, APlansUnitsShareTheFolderAndNobodyElse) {
  TempDir dir("shared-lock");
  using Mode = cwd::FolderLock::Mode;
  {
    cwd::FolderLock a(dir.str(), "units of the plan 'p.json' (run-unit)", Mode::kShared);
    cwd::FolderLock b(dir.str(), "units of the plan 'p.json' (run-unit)", Mode::kShared);
    const std::string e = error_of([&] { cwd::FolderLock c(dir.str(), "compare --preset smoke"); });
    EXPECT_EQ(e, fmt::format("'{}' is in use by another cwd-bench (units of the plan 'p.json' (run-unit)); wait for it "
                             "to finish or choose another --out",
                             dir.str()));
  }
  {
    cwd::FolderLock exclusive(dir.str(), "compare --preset smoke");
    const std::string e = error_of([&] { cwd::FolderLock c(dir.str(), "units", Mode::kShared); });
    EXPECT_NE(e.find("is in use by another cwd-bench (pid "), std::string::npos) << e;
  }
  cwd::FolderLock again(dir.str(), "compare");  // all released
}

cwd::train::CompareConfig smoke_in(const std::string& dir) {
  cwd::train::CompareConfig cc;
  cc.preset = "smoke";
  cc.out_dir = dir;
  cc.methods = {"cwd", "at"};
  cc.seeds = 2;
  return cc;
}

TEST(GridPlan, TeacherFirstThenOneUnitPerCohortAndBack) {
  TempDir dir("grid-plan");
  auto plan = cwd::train::make_grid_plan(cwd::train::plan_comparison(smoke_in(dir / "out")), true);
  cwd::train::write_grid_plan(plan, dir / "plan.json", "/bin/cwd-bench", "compare --plan");
  ASSERT_EQ(plan.units.size(), 3u);  // teacher; seed 0; seed 1
  EXPECT_EQ(plan.units[0].kind, "teacher");
  EXPECT_TRUE(plan.units[0].depends_on.empty());
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(plan.units[i].kind, "cohort");
    EXPECT_EQ(plan.units[i].depends_on, std::vector<int>{0});
    EXPECT_EQ(plan.units[i].runs.size(), 3u);  // the baseline + 2 methods on the logit map
  }
  EXPECT_EQ(plan.units[1].records.front(), dir / "out/student-s0.json");
  const auto j = cwd::read_json(dir / "plan.json");
  EXPECT_EQ(j.at("units").at(2).at("command"),
            fmt::format("/bin/cwd-bench run-unit --plan {} --index 2", dir / "plan.json"));
  const auto back = cwd::train::read_grid_plan(dir / "plan.json");
  EXPECT_EQ(back.hash, plan.hash);
  EXPECT_EQ(back.units.size(), 3u);
  EXPECT_EQ(back.units[2].runs.size(), plan.units[2].runs.size());
  // One unit per run without cohorts.
  EXPECT_EQ(cwd::train::make_grid_plan(cwd::train::plan_comparison(smoke_in(dir / "out")), false).units.size(), 7u);
}

TEST(GridPlan, AUnitSaysWhatItLacks) {
  TempDir dir("grid-unit");
  auto plan = cwd::train::make_grid_plan(cwd::train::plan_comparison(smoke_in(dir / "out")), true);
  cwd::train::write_grid_plan(plan, dir / "plan.json", "/bin/cwd-bench", "compare --plan");
  EXPECT_EQ(error_of([&] { cwd::train::run_grid_unit(plan, 3, {}); }),
            fmt::format("--index 3 is not a unit of plan '{}', which has 3 units (0..2)", dir / "plan.json"));
  // The teacher's record is not there: fail at once, naming the unit to run first.
  EXPECT_EQ(error_of([&] { cwd::train::run_grid_unit(plan, 1, {}); }),
            fmt::format("unit 1 needs the record '{}' of unit 0, which is not there; run `/bin/cwd-bench run-unit "
                        "--plan {} --index 0` first (a scheduler: make this unit depend on it), or pass --wait SECONDS",
                        dir / "out/teacher.json", dir / "plan.json"));
  // Another configuration planned into the same folder: the old plan's units are refused.
  auto other_cc = smoke_in(dir / "out");
  other_cc.methods = {"pi"};
  auto other = cwd::train::make_grid_plan(cwd::train::plan_comparison(other_cc), true);
  cwd::train::write_grid_plan(other, dir / "other.json", "/bin/cwd-bench", "compare --plan");
  const std::string e = error_of([&] { cwd::train::run_grid_unit(plan, 0, {}); });
  EXPECT_NE(e.find("belongs to another plan ('" + dir / "other.json"), std::string::npos) << e;
  // An edited plan is refused.
  auto j = cwd::read_json(dir / "plan.json");
  j["units"][1]["runs"][0]["seed"] = 9;
  cwd::write_json_atomic(dir / "plan.json", j);
  EXPECT_NE(error_of([&] { cwd::train::read_grid_plan(dir / "plan.json"); }).find("was edited"), std::string::npos);
  EXPECT_EQ(error_of([&] { cwd::train::read_grid_plan(dir / "none.json"); }),
            fmt::format("plan '{}' not found; write it with `cwd-bench compare --plan {} ...`", dir / "none.json",
                        dir / "none.json"));
}

}  // namespace

#ifdef CWD_BENCH_EXE
namespace {

using cwd::testing::run_cli;

// The last line of the output that starts with "cwd-bench: error: " (what the user reads).
std::string error_line(const std::string& output) {
  const std::string tag = "cwd-bench: error: ";
  const auto at = output.rfind(tag);
  if (at == std::string::npos) return "";
  return output.substr(at + tag.size(), output.find('\n', at) - at - tag.size());
}

TEST(Cli, ClusterErrorTexts) {
  TempDir dir("cluster-cli");
  auto r = run_cli("train --preset smoke --nproc 2 --out " + dir / "t", "WORLD_SIZE=2 ");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(error_line(r.output),
            "--nproc starts its own processes, but WORLD_SIZE=2 is set already (torchrun or srun started this one): "
            "drop --nproc");
  r = run_cli("train --preset smoke --nproc 3 --threads 1 --out " + dir / "t");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("--batch 4 does not split evenly over 3 processes; use a multiple of 3"), std::string::npos)
      << r.output;
  EXPECT_NE(error_line(r.output).find(" of the 3 processes failed: rank "), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "t/student-s0.json"));
  r = run_cli("compare --preset smoke --out " + dir / "c" + " --plan " + dir / "c/plan.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(error_line(r.output).find("write the plan outside the output folder"), std::string::npos) << r.output;
  r = run_cli("run-unit --plan " + dir / "none.json" + " --index 0");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(error_line(r.output), fmt::format("plan '{}' not found; write it with `cwd-bench compare --plan {} ...`",
                                              dir / "none.json", dir / "none.json"));
  // A plan, then its unit 1 before the teacher: one line naming what to run first.
  r = run_cli("compare --preset smoke --out " + dir / "c" + " --plan " + dir / "plan.json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1\tcohort\t"), std::string::npos) << r.output;
  r = run_cli("run-unit --plan " + dir / "plan.json" + " --index 1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(error_line(r.output).find("unit 1 needs the record '" + dir / "c/teacher.json" + "' of unit 0"),
            std::string::npos)
      << r.output;
}

}  // namespace
#endif
