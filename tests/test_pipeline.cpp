// The training pipeline's pieces: the Distiller's step (the distillation term's gradient reaches
// the student), typed records (round trip, errors naming the key), the run plan, and the
// committed results rebuilding byte for byte from their records.

#include "losses/registry.h"
#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/train/compare.h"
#include "src/train/distiller.h"
#include "src/train/network.h"
#include "src/train/plan.h"
#include "src/train/record.h"
#include "src/train/sweep.h"
#include "src/train/table.h"
#include "tests/test_helpers.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

namespace fs = std::filesystem;
using cwd::testing::error_of;
using cwd::train::Placement;

constexpr int64_t kClasses = 5;

cwd::train::NetConfig small_net(double width) {
  cwd::train::NetConfig net;
  net.depth = 18;
  net.width = width;
  return net;
}

// Gradients of every student parameter, cloned, then zeroed.
std::vector<torch::Tensor> take_grads(cwd::models::PSPNet& net) {
  std::vector<torch::Tensor> grads;
  for (auto& p : net->parameters()) {
    grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    if (p.grad().defined()) p.grad().zero_();
  }
  return grads;
}

struct StepFixture {
  cwd::train::Distiller distiller{nullptr};
  cwd::models::PSPNet student{nullptr};
  cwd::models::PSPNet teacher{nullptr};
  std::shared_ptr<cwd::losses::DistillLoss> loss;
  torch::Tensor images, labels;

  StepFixture(const std::string& key, Placement placement) {
    torch::manual_seed(3);
    student = cwd::train::build_network(small_net(0.125), kClasses);
    teacher = cwd::train::build_network(small_net(0.25), kClasses);
    loss = cwd::train::make_loss(key, {{"weight", 5.0}}, placement, student, teacher);
    distiller = cwd::train::Distiller(student, teacher, loss, placement);
    distiller->train();
    images = torch::randn({2, 3, 32, 48});
    labels = torch::randint(0, kClasses, {2, 32, 48}, torch::kLong);
  }

  // The student's gradient of a loss computed from a fresh forward with dropout seed 11.
  std::vector<torch::Tensor> grads_of(const std::function<torch::Tensor(const cwd::models::SegOutput&)>& f) {
    torch::manual_seed(11);
    auto out = student->forward(images);
    f(out).backward();
    return take_grads(student);
  }
};

double max_abs_diff(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, (a[i] - b[i]).abs().max().item<double>());
  return worst;
}

void expect_sum_of_parts(const std::string& key, Placement placement) {
  SCOPED_TRACE(key + " on " + cwd::train::to_string(placement));
  StepFixture fx(key, placement);
  torch::Tensor t_map;
  {
    torch::NoGradGuard no_grad;
    auto t = fx.teacher->forward(fx.images);
    t_map = placement == Placement::kLogit ? t.logits : t.features;
  }
  const auto ce = fx.grads_of([&](const cwd::models::SegOutput& o) {
    return cwd::train::supervised_loss(o.logits, o.aux, fx.labels, 255, 0.4);
  });
  const auto term = fx.grads_of([&](const cwd::models::SegOutput& o) {
    return fx.loss->forward(placement == Placement::kLogit ? o.logits : o.features, t_map, fx.labels);
  });
  // The adapter (feature CWD) receives gradients too: clear what the parts left there.
  fx.loss->zero_grad();
  for (const bool through_meter : {false, true}) {
    cwd::train::TermMeter meter(torch::kCPU, 1);
    meter.begin(0);
    torch::manual_seed(11);
    const auto losses = fx.distiller->step(fx.images, fx.labels, 255, 0.4, through_meter ? &meter : nullptr);
    ASSERT_TRUE(losses.distill.defined());
    const auto step = take_grads(fx.student);
    fx.loss->zero_grad();
    double scale = 0;
    for (size_t i = 0; i < step.size(); ++i) scale = std::max(scale, step[i].abs().max().item<double>());
    std::vector<torch::Tensor> sum;
    for (size_t i = 0; i < step.size(); ++i) sum.push_back(ce[i] + term[i]);
    // float32 sums in another order: equal to ~1e-6 of the largest gradient.
    EXPECT_LT(max_abs_diff(step, sum), 1e-5 * scale) << "through_meter " << through_meter;
    // The term's gradient is not negligible: the step differs from cross-entropy alone.
    EXPECT_GT(max_abs_diff(step, ce), 1e-3 * scale) << "through_meter " << through_meter;
    if (through_meter) {
      EXPECT_EQ(meter.stats().ms_count, 1);
    }
  }
}

TEST(Distiller, StepGradientIsCrossEntropyPlusTheTerm) {
  expect_sum_of_parts("cwd", Placement::kLogit);
  expect_sum_of_parts("cwd", Placement::kFeature);
  expect_sum_of_parts("ifvd", Placement::kLogit);
}

TEST(Distiller, BaselineStepIsCrossEntropyAlone) {
  torch::manual_seed(3);
  auto student = cwd::train::build_network(small_net(0.125), kClasses);
  cwd::train::Distiller distiller(student);
  distiller->train();
  const auto images = torch::randn({2, 3, 32, 48});
  const auto labels = torch::randint(0, kClasses, {2, 32, 48}, torch::kLong);
  torch::manual_seed(11);
  auto out = student->forward(images);
  cwd::train::supervised_loss(out.logits, out.aux, labels, 255, 0.4).backward();
  const auto ce = take_grads(student);
  torch::manual_seed(11);
  const auto losses = distiller->step(images, labels, 255, 0.4);
  EXPECT_FALSE(losses.distill.defined());
  EXPECT_EQ(max_abs_diff(take_grads(student), ce), 0.0);
}

TEST(Distiller, TeacherStaysInEvalModeAndFrozen) {
  StepFixture fx("cwd", Placement::kLogit);
  fx.distiller->train(true);
  EXPECT_TRUE(fx.student->is_training());
  EXPECT_FALSE(fx.teacher->is_training());
  for (const auto& p : fx.teacher->parameters()) EXPECT_FALSE(p.requires_grad());
  // The optimizer sees the student and the loss, never the teacher.
  EXPECT_EQ(fx.distiller->trainable_parameters().size(), fx.student->parameters().size());
}

TEST(Distiller, AdapterComesFromTheLossInfo) {
  using cwd::losses::create_for_maps;
  for (const auto& key : cwd::losses::known_keys()) {
    const auto loss = create_for_maps(key, nlohmann::json::object(), /*feature_map=*/true, 8, 16);
    const auto info = loss->info();
    EXPECT_EQ(loss->extra_params() > 0, info.adapts_channels || info.needs_channels) << key;
    const auto on_logits = create_for_maps(key, nlohmann::json::object(), /*feature_map=*/false, 8, 16);
    EXPECT_EQ(on_logits->extra_params() > 0, info.needs_channels) << key;
    // A loss's default options name the channel counts as null (the sweep starts from them):
    // null means the maps' own counts, as a missing key does.
    const auto from_defaults = create_for_maps(key, cwd::losses::default_options(key), true, 8, 16);
    EXPECT_EQ(from_defaults->extra_params(), loss->extra_params()) << key;
  }
  // MGD: the generator is C_T → C_T with 3×3 kernels, plus align (1×1, bias) when C_S ≠ C_T.
  EXPECT_EQ(create_for_maps("mgd", {}, true, 8, 16)->extra_params(), 2 * (16 * 16 * 9 + 16) + 16 * 8 + 16);
  EXPECT_EQ(create_for_maps("mgd", {}, false, 5, 5)->extra_params(), 2 * (5 * 5 * 9 + 5));
}

std::string source_path(const std::string& relative) { return std::string(CWD_SOURCE_DIR) + "/" + relative; }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Records, CommittedRecordsRoundTripUnchanged) {
  for (const char* name : {"teacher.json", "student-s0.json", "cwd-logit-s0.json", "ifvd-logit-s2.json"}) {
    const std::string path = source_path(std::string("results/quick/") + name);
    const auto j = cwd::read_json(path);
    const auto record = cwd::train::run_record_from_json(j, path);
    EXPECT_EQ(nlohmann::json(record), j) << name;
  }
}

TEST(Records, MissingOrMistypedKeyIsNamed) {
  const std::string path = source_path("results/quick/cwd-logit-s0.json");
  const auto good = cwd::read_json(path);
  auto missing = good;
  missing["eval"].erase("miou");
  EXPECT_EQ(error_of([&] { cwd::train::run_record_from_json(missing, "old.json"); }),
            "run record 'old.json': key 'eval.miou' is missing; it was written by another version of "
            "cwd-bench: retrain the run or fix the record");
  auto nested = good;
  nested["config"]["model"].erase("depth");
  EXPECT_NE(error_of([&] { cwd::train::run_record_from_json(nested, "old.json"); })
                .find("key 'config.model.depth' is missing"),
            std::string::npos);
  auto mistyped = good;
  mistyped["loss"]["peak_bytes"] = "a lot";
  EXPECT_NE(error_of([&] { cwd::train::run_record_from_json(mistyped, "old.json"); })
                .find("run record 'old.json': key 'loss.peak_bytes' has the wrong type"),
            std::string::npos);
  auto placement = good;
  placement["loss"]["placement"] = "middle";
  EXPECT_NE(error_of([&] { cwd::train::run_record_from_json(placement, "old.json"); })
                .find("key 'loss.placement' has a bad value"),
            std::string::npos);
  EXPECT_EQ(error_of([] { cwd::train::read_run_record(source_path("results/quick/table.json")); }),
            "'" + source_path("results/quick/table.json") +
                "' is not a run record (schema 'cwd-bench/table/2', expected 'cwd-bench/run/1'); pass a "
                "run record .json written by cwd-bench train or compare");
  cwd::testing::TempDir dir("records");
  cwd::write_json_atomic(dir / "broken.json", missing);
  EXPECT_NE(error_of([&] { cwd::train::read_run_records(dir.str()); }).find("key 'eval.miou' is missing"),
            std::string::npos);
}

// Copies the run records (not the tables) of a committed results folder.
void copy_records(const std::string& from, const std::string& to) {
  for (const auto& e : fs::directory_iterator(from)) {
    if (e.path().extension() != ".json") continue;
    const auto j = cwd::read_json(e.path().string());
    if (j.value("schema", "") == cwd::train::kRunSchema) fs::copy_file(e.path(), fs::path(to) / e.path().filename());
  }
}

TEST(Results, CommittedTablesRebuildByteForByte) {
  for (const std::string folder : {"results/quick", "results/full"}) {
    cwd::testing::TempDir dir("rebuild-tables");
    copy_records(source_path(folder), dir.str());
    cwd::train::write_tables(cwd::train::build_table(cwd::train::read_run_records(dir.str())), dir.str(), false);
    for (const char* name : {"table.json", "table.md", "table.csv"}) {
      EXPECT_EQ(read_bytes(dir / name), read_bytes(source_path(folder + "/" + name))) << folder << "/" << name;
    }
  }
}

TEST(Results, ReproductionCheckNamesEveryRunThatDiffers) {
  const std::string committed = source_path("results/quick");
  cwd::testing::TempDir dir("reproduce");
  copy_records(committed, dir.str());
  const auto runs = cwd::train::read_run_records(dir.str()).size();
  auto same = cwd::train::check_reproduction(dir.str(), committed);
  EXPECT_EQ(same.compared, static_cast<int64_t>(runs));
  EXPECT_EQ(same.equal, same.compared);
  EXPECT_TRUE(same.differences.empty());
  EXPECT_EQ(same.summary, fmt::format("{} reproduces {} exactly: {} of {} runs, same configuration and the same "
                                      "mIoU to the last bit",
                                      dir.str(), committed, runs, runs));

  // One mIoU off in its last place, one run trained under another configuration, one missing.
  auto cwd_record = cwd::read_json(dir / "cwd-logit-s0.json");
  const double miou = cwd_record["eval"]["miou"].get<double>();
  cwd_record["eval"]["miou"] = std::nextafter(miou, 200.0);
  cwd::write_json_atomic(dir / "cwd-logit-s0.json", cwd_record);
  auto pi_record = cwd::read_json(dir / "pi-logit-s1.json");
  pi_record["config_hash"] = "0000000000000000";
  cwd::write_json_atomic(dir / "pi-logit-s1.json", pi_record);
  fs::remove(dir / "at-logit-s2.json");

  const auto r = cwd::train::check_reproduction(dir.str(), committed);
  EXPECT_EQ(r.compared, static_cast<int64_t>(runs) - 1);
  EXPECT_EQ(r.not_run, 1);
  EXPECT_EQ(r.equal, r.compared - 2);
  ASSERT_EQ(r.differences.size(), 2u);
  EXPECT_EQ(r.differences[0].rfind("cwd-logit-s0.json: mIoU ", 0), 0u) << r.differences[0];
  EXPECT_EQ(r.differences[1].rfind("pi-logit-s1.json: trained under another configuration (hash 0000000000000000", 0), 0u)
      << r.differences[1];
  EXPECT_EQ(r.summary.rfind(fmt::format("{} differs from {} in 2 of {} runs", dir.str(), committed, runs - 1), 0), 0u)
      << r.summary;
  EXPECT_NE(r.summary.find(fmt::format("; 1 run of {} not in {}", committed, dir.str())), std::string::npos);

  cwd::testing::TempDir other("reproduce-none");
  auto renamed = cwd::read_json(committed + "/teacher.json");
  cwd::write_json_atomic(other / "some-teacher.json", renamed);
  EXPECT_EQ(error_of([&] { cwd::train::check_reproduction(other.str(), committed); }),
            fmt::format("no run in '{}' has a record of the same name in '{}'; check the folders (e.g. "
                        "--check-against results/<preset>)",
                        other.str(), committed));
}

TEST(Results, CommittedSweepRebuildsByteForByte) {
  cwd::testing::TempDir dir("rebuild-sweep");
  copy_records(source_path("results/sweep-quick"), dir.str());
  cwd::train::write_sweep(dir.str());
  for (const char* name : {"sweep.json", "sweep.md"}) {
    EXPECT_EQ(read_bytes(dir / name), read_bytes(source_path(std::string("results/sweep-quick/") + name))) << name;
  }
}

TEST(Plan, ResolvesNameHashAndPathsOnce) {
  auto c = cwd::train::config_from_preset("smoke", cwd::train::Role::kStudent);
  c.out_dir = "/tmp/somewhere";
  const auto plan = cwd::train::resolve_plan(c);
  EXPECT_EQ(plan.config.name, "student-s0");
  EXPECT_EQ(plan.paths.record, "/tmp/somewhere/student-s0.json");
  EXPECT_EQ(plan.paths.checkpoint, "/tmp/somewhere/ckpt/student-s0.safetensors");
  EXPECT_EQ(plan.hash, cwd::train::config_hash(plan.config));
  EXPECT_EQ(error_of([] { cwd::train::parse_placement("middle"); }),
            "--on 'middle' is not valid (valid: feature, logit)");
  EXPECT_EQ(error_of([] { cwd::train::parse_role("mentor"); }), "unknown role 'mentor' (valid: student, teacher)");
  EXPECT_EQ(error_of([] { cwd::train::parse_eval_split("train"); }),
            "--eval-split 'train' is not valid (valid: holdout, val)");
  auto teacher_with_loss = cwd::train::config_from_preset("smoke", cwd::train::Role::kTeacher);
  teacher_with_loss.loss = "cwd";
  teacher_with_loss.teacher = "t.json";
  EXPECT_EQ(error_of([&] { cwd::train::resolve_plan(teacher_with_loss); }),
            "--role teacher cannot take --loss (a teacher is trained with cross-entropy only)");
  auto bad_option = cwd::train::config_from_preset("smoke", cwd::train::Role::kStudent);
  bad_option.loss = "cwd";
  bad_option.teacher = "/nonexistent/t.json";
  bad_option.loss_options = {{"tau", -1}};
  EXPECT_NE(error_of([&] { cwd::train::resolve_plan(bad_option); }).find("cwd: option 'tau'"), std::string::npos);
}

}  // namespace
