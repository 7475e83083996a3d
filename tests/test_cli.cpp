// The cwd-bench binary end to end: error texts, info, a smoke training run, and a comparison
// that is killed and resumed.

#include "src/core/json_io.h"
#include "tests/test_helpers.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <signal.h>
#include <sys/wait.h>
#include <thread>

#ifdef CWD_BENCH_EXE

namespace {

using Result = cwd::testing::CliResult;
using cwd::testing::run_cli;
Result run(const std::string& args, const std::string& env = "") { return run_cli(args, env); }

void expect_error(const std::string& args, const std::string& text) {
  const auto r = run(args);
  EXPECT_NE(r.code, 0) << args;
  EXPECT_NE(r.output.find(text), std::string::npos) << "args: " << args << "\noutput: " << r.output;
}

TEST(Cli, ErrorTexts) {
  expect_error("train --loss cwdd", "unknown loss 'cwdd' (known: at, cwd, dist, ifvd, local, mgd, pa, pi, or script:PATH.pt for a TorchScript loss)");
  expect_error("train --preset fast", "unknown preset 'fast' (known: smoke, quick, full, cityscapes-paper)");
  expect_error("train --preset smoke --device tpu", "--device: tpu not in {auto,cpu,cuda}");
  expect_error("train --preset smoke --depth 19", "unsupported ResNet depth 19 (--depth; valid: 18, 34, 50, 101)");
  expect_error("train --preset smoke --crop 64by128", "--crop '64by128' is not a size");
  expect_error("train --preset smoke --loss cwd --loss-opt tau=-1 --teacher x.json", "cwd");
  expect_error("train --preset smoke --loss cwd", "--loss cwd needs a teacher");
  expect_error("train --preset smoke --loss cwd --teacher /nonexistent/t.json", "teacher '/nonexistent/t.json' not found");
  expect_error("info --depth 18 --input 12", "--input '12' is not a size");
  expect_error("compare --from /nonexistent/dir", "--from: Directory does not exist");
  // A TorchScript loss that is not there stops a run before anything trains or is measured.
  expect_error("train --preset smoke --loss script:/nonexistent/l.pt --teacher /nonexistent/t.json",
               "script:/nonexistent/l.pt: no file '/nonexistent/l.pt'; save the loss with "
               "torch.jit.script(module).save(PATH)");
  {
    const auto r = run("bench-losses --keys dist script:/nonexistent/l.pt -c 3 --height 3 --width 3 --out /nonexistent/b.json");
    EXPECT_NE(r.code, 0);
    EXPECT_NE(r.output.find("script:/nonexistent/l.pt: no file"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("dist C=3"), std::string::npos) << r.output;  // nothing ran first
  }
  expect_error("train --preset smoke --resume --out /nonexistent/run",
               "--resume: no checkpoint '/nonexistent/run/ckpt/student-s0.safetensors' to continue from");
  expect_error("train --preset smoke --init xavier", "unknown init 'xavier' (valid: kaiming, mmseg, torch)");
  expect_error("train --preset smoke --width -1", "--width: '-1' is not valid: use a number > 0 and <= 4");
  expect_error("train --preset smoke --width 7", "--width: '7' is not valid: use a number > 0 and <= 4");
  expect_error("train --preset smoke --width nan", "--width: 'nan' is not valid: use a number > 0 and <= 4");
  expect_error("train --preset smoke --lr nan", "--lr: 'nan' is not valid: use a finite number > 0");
  expect_error("train --preset smoke --lr inf", "--lr: 'inf' is not valid: use a finite number > 0");
  expect_error("train --preset smoke --iters 99999999999999999999",
               "--iters: '99999999999999999999' is not valid: use an integer from 1 to 1000000000");
  expect_error("train --preset smoke --seed 99999999999999999999",
               "--seed: '99999999999999999999' is not valid: use an integer from 0 to 9007199254740991");
  expect_error("train --preset smoke --iters 1.5", "--iters: '1.5' is not valid: use an integer from 1 to 1000000000");
  expect_error("train --preset smoke --data folder --num-classes 0",
               "--num-classes: '0' is not valid: use an integer from 1 to 255");
  expect_error("train --preset smoke --name ../../escape",
               "--name '../../escape' is not a run name: use letters, digits, '-', '_' and '.' only");
  expect_error("eval /nonexistent/m.json", "model '/nonexistent/m.json' not found");
  expect_error("train --preset smoke --stem wide", "unknown stem 'wide' (valid: deep, standard)");
  expect_error("train --preset smoke --role mentor", "unknown role 'mentor' (valid: student, teacher)");
  expect_error("train --preset smoke --loss cwd --teacher x.json --on middle",
               "--on 'middle' is not valid (valid: feature, logit)");
  expect_error("train --preset smoke --eval-split test", "--eval-split 'test' is not valid (valid: holdout, val)");
  expect_error("train --preset smoke --role teacher --loss cwd --teacher x.json",
               "--role teacher cannot take --loss (a teacher is trained with cross-entropy only)");
  expect_error("data export --preset smoke --splits train,test --out /tmp/x",
               "--splits: unknown split 'test' (valid: holdout, train, val)");
  expect_error("data export --preset smoke --out /", "data export: '/' already exists; choose a new --out");
}

TEST(Cli, CudaAskedButUnavailable) {
  if (torch::cuda::is_available()) GTEST_SKIP() << "CUDA is available here";
  cwd::testing::TempDir dir("cuda");
  const auto r = run("train --preset smoke --device cuda --out " + dir.str());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("--device cuda: CUDA is not available"), std::string::npos) << r.output;
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(Cli, MissingDataPackage) {
  cwd::testing::TempDir dir("nodata");
  const auto r = run("train --preset smoke --data-root /nonexistent/fashion --out " + dir.str());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find("apt-get install -y dataset-fashion-mnist"), std::string::npos) << r.output;
  // One line (besides the warning a machine with the reference BLAS gets, src/core/blas.h).
  std::string error = r.output;
  if (error.rfind("cwd-bench: warning: libtorch is using the reference BLAS", 0) == 0) {
    error = error.substr(error.find('\n') + 1);
  }
  EXPECT_EQ(std::count(error.begin(), error.end(), '\n'), 1) << r.output;
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(Cli, InfoParameterCounts) {
  auto r18 = run("info --depth 18 --width 1 --stem standard --json");
  ASSERT_EQ(r18.code, 0) << r18.output;
  EXPECT_EQ(nlohmann::json::parse(r18.output)["backbone_params"], 11176512);
  EXPECT_FALSE(nlohmann::json::parse(r18.output)["blas"]["kind"].get<std::string>().empty());
  auto r101 = run("info --depth 101 --width 1 --stem standard --json");
  ASSERT_EQ(r101.code, 0) << r101.output;
  EXPECT_EQ(nlohmann::json::parse(r101.output)["backbone_params"], 42500160);
}

TEST(Cli, SmokeTrainWritesARecord) {
  cwd::testing::TempDir dir("smoke");
  const auto start = std::chrono::steady_clock::now();
  const auto r = run("train --preset smoke --threads 2 --out " + dir.str());
  ASSERT_EQ(r.code, 0) << r.output;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 60.0);
  const auto record = cwd::read_json(dir / "student-s0.json");
  EXPECT_EQ(record["schema"], "cwd-bench/run/1");
  EXPECT_TRUE(record["eval"]["miou"].is_number());
  EXPECT_TRUE(std::filesystem::exists(dir / "weights/student-s0.safetensors"));
  // eval of the record reproduces the record's mIoU.
  const auto e = run("eval " + (dir / "student-s0.json") + " --out " + (dir / "eval.json"));
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_DOUBLE_EQ(cwd::read_json(dir / "eval.json")["eval"]["miou"].get<double>(),
                   record["eval"]["miou"].get<double>());
  // Held-out scenes must be new to the network: the smoke student trained on scenes 0-47.
  expect_error("eval " + (dir / "student-s0.json") + " --split holdout --holdout 8",
               "--split holdout would evaluate training scenes 40-47, but '" + (dir / "student-s0.json") +
                   "' trained on scenes 0-47; pass --train-size 56 --holdout 8 to hold out scenes it never saw");
  const auto unseen = run("eval " + (dir / "student-s0.json") + " --split holdout --train-size 56 --holdout 8 --out " +
                          (dir / "holdout.json"));
  ASSERT_EQ(unseen.code, 0) << unseen.output;
  EXPECT_EQ(cwd::read_json(dir / "holdout.json")["dataset"]["eval"]["offset"], 48);
}

TEST(Cli, PretrainedBackboneIsMadeOnceCachedAndRecorded) {
  cwd::testing::TempDir dir("pretrained");
  const std::string env = "CWD_BENCH_CACHE=" + (dir / "cache") + " ";
  // train pretrains the missing backbone first, then starts from it; the record names it.
  const auto r = run("train --preset smoke --iters 2 --threads 2 --pretrained fashion-items-smoke --out " + (dir / "run"),
                     env);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("pretrain ResNet-18 (standard stem, width 0.125, OS 32) on fashion-items"), std::string::npos)
      << r.output;
  const auto record = cwd::read_json(dir / "run/student-s0.json");
  EXPECT_EQ(record["config"]["model"]["pretrained"], "fashion-items-smoke");
  const auto& backbone = record["model"]["pretrained_backbone"];
  ASSERT_TRUE(backbone.is_object()) << record["model"].dump();
  const std::string weights = dir / ("cache/backbones/" + backbone["spec_hash"].get<std::string>() + ".safetensors");
  EXPECT_EQ(backbone["weights_hash"], cwd::file_hash(weights));
  // pretrain finds it in the cache instead of training again.
  const auto again = run("pretrain --preset smoke --role student --recipe fashion-items-smoke", env);
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("already cached"), std::string::npos) << again.output;
  EXPECT_NE(again.output.find(weights), std::string::npos) << again.output;
  // An unknown recipe is one error line listing the known ones, and nothing is written.
  expect_error("compare --preset smoke --pretrained imagenet --out " + (dir / "bad"),
               "unknown pretraining recipe 'imagenet' (known: fashion-items, fashion-items-smoke)");
  EXPECT_FALSE(std::filesystem::exists(dir / "bad"));
}

// Removes what legitimately differs between two runs of the same comparison (measured times,
// memory, wall clock, file names) so the rest can be compared exactly.
nlohmann::json comparable(nlohmann::json table) {
  table.erase("tool");
  for (auto& row : table["rows"]) {
    row.erase("cost");
    row.erase("wall_s");
  }
  return table;
}

// Two seeds: the teacher, then two cohorts (baseline, CWD, PA). The straight comparison runs them
// one after another with one thread; the other runs both cohorts at once (--jobs 2, one thread
// each), is killed with SIGKILL mid-cohort (its child processes die with it), and is resumed.
TEST(Cli, CompareKilledAndResumedEqualsUninterrupted) {
  cwd::testing::TempDir straight("cmp-a");
  cwd::testing::TempDir killed("cmp-b");
  const std::string common = " --preset smoke --seeds 2 --methods cwd,pa --out ";
  auto a = run("compare --threads 1 --jobs 1" + common + straight.str());
  ASSERT_EQ(a.code, 0) << a.output;
  // Start the same comparison, SIGKILL it once a distilled student has its first checkpoint.
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string out = killed.str();
    std::freopen("/dev/null", "w", stderr);
    ::execl(CWD_BENCH_EXE, CWD_BENCH_EXE, "compare", "--preset", "smoke", "--seeds", "2", "--threads", "2",
            "--jobs", "2", "--methods", "cwd,pa", "--out", out.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  const auto ckpt = killed / "ckpt/cwd-logit-s0.safetensors";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!std::filesystem::exists(ckpt) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(std::filesystem::exists(ckpt));
  EXPECT_FALSE(std::filesystem::exists(killed / "table.json"));
  auto b = run("compare --threads 2 --jobs 2" + common + killed.str());
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_NE(b.output.find("done already"), std::string::npos) << b.output;  // the teacher was reused
  const auto ta = cwd::read_json(straight / "table.json");
  const auto tb = cwd::read_json(killed / "table.json");
  EXPECT_EQ(comparable(ta)["rows"], comparable(tb)["rows"]);
  EXPECT_EQ(ta["teacher"]["miou"], tb["teacher"]["miou"]);
  EXPECT_EQ(ta["student"]["miou"], tb["student"]["miou"]);
  for (const char* name : {"teacher.json", "student-s1.json", "pa-logit-s1.json"}) {
    const auto ra = cwd::read_json(straight / name);
    const auto rb = cwd::read_json(killed / name);
    EXPECT_EQ(ra["threads"], 1) << name;
    EXPECT_EQ(rb["threads"], 1) << name;  // --jobs 2 gave each unit one of the two threads
    EXPECT_EQ(ra["train"]["curve"], rb["train"]["curve"]) << name;
    EXPECT_EQ(ra["eval"]["per_class"], rb["eval"]["per_class"]) << name;
  }
  // --from rebuilds the same table from the records alone.
  auto c = run("compare --from " + killed.str());
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_EQ(cwd::read_json(killed / "table.json"), tb);
}

TEST(Cli, SweepTrainsLikeTheComparisonAndJudgesOnHeldOutScenes) {
  cwd::testing::TempDir dir("sweep");
  const std::string teacher = (dir / "teacher.json");
  auto t = run("train --preset smoke --role teacher --threads 2 --out " + dir.str() + " --name teacher");
  ASSERT_EQ(t.code, 0) << t.output;
  expect_error("sweep --preset smoke --factors 0,1 --teacher " + teacher, "--factors: '0' is not a positive number");
  expect_error("sweep --preset smoke --on middle --teacher " + teacher, "--on 'middle' is not valid (valid: feature, logit)");
  expect_error("sweep --preset smoke --methods kd --teacher " + teacher, "unknown loss 'kd' (known: at, cwd, dist, ifvd, local, mgd, pa, pi, or script:PATH.pt for a TorchScript loss)");
  const std::string sweep_dir = dir / "sweep";
  auto s = run("sweep --preset smoke --threads 2 --methods cwd --factors 1,3 --holdout 8 --teacher " + teacher +
               " --out " + sweep_dir);
  ASSERT_EQ(s.code, 0) << s.output;
  const auto summary = cwd::read_json(sweep_dir + "/sweep.json");
  EXPECT_EQ(summary["schema"], "cwd-bench/sweep/1");
  EXPECT_EQ(summary["protocol"]["holdout_scenes"], 8);
  EXPECT_EQ(summary["protocol"]["train_scenes"], 48);  // the smoke preset's training set, unchanged
  ASSERT_EQ(summary["rows"].size(), 1u);
  const auto& row = summary["rows"][0];
  ASSERT_EQ(row["tried"].size(), 2u);
  const auto& lo = row["tried"][0];
  const auto& hi = row["tried"][1];
  EXPECT_DOUBLE_EQ(lo["weight"].get<double>(), 3.0);  // CWD's default weight × 1
  EXPECT_DOUBLE_EQ(hi["weight"].get<double>(), 9.0);
  const double best = std::max(lo["holdout_miou"].get<double>(), hi["holdout_miou"].get<double>());
  EXPECT_DOUBLE_EQ(row["chosen_holdout_miou"].get<double>(), best);
  const auto record = cwd::read_json(sweep_dir + "/" + lo["record"].get<std::string>());
  EXPECT_EQ(record["eval"]["split"], "holdout");
  EXPECT_EQ(record["eval"]["images"], 8);
  // The sweep's student at the default weight trains exactly like the comparison's student.
  auto c = run("train --preset smoke --threads 2 --loss cwd --teacher " + teacher + " --out " + dir.str());
  ASSERT_EQ(c.code, 0) << c.output;
  const auto plain = cwd::read_json(dir / "cwd-logit-s0.json");
  EXPECT_EQ(record["train"]["curve"], plain["train"]["curve"]);
  EXPECT_EQ(plain["eval"]["split"], "val");
  // --from prints the same summary without training.
  auto f = run("sweep --from " + sweep_dir);
  ASSERT_EQ(f.code, 0) << f.output;
  EXPECT_NE(f.output.find("| cwd | logit | 3 |"), std::string::npos) << f.output;
}

}  // namespace

#endif  // CWD_BENCH_EXE
