// Cohort training: students trained in lockstep on one data stream and one teacher pass per
// iteration give the records separate runs give (bit for bit on the CPU, timings aside), resume
// from any stop, and split to fit a memory budget.

#include "src/core/json_io.h"
#include "src/train/compare.h"
#include "src/train/plan.h"
#include "src/train/trainer.h"
#include "src/train/units.h"
#include "tests/test_helpers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

namespace {

using cwd::testing::error_of;
using cwd::train::CohortRun;
using cwd::train::RunConfig;
using cwd::train::RunRecord;

// The smoke comparison's students (baseline + the eight methods on the logit map, and CWD, AT,
// PI and MGD on the feature map: adapters and MGD's generator and random mask included), teacher
// trained first into `dir`.
std::vector<RunConfig> smoke_students(const std::string& dir) {
  cwd::train::CompareConfig cc;
  cc.preset = "smoke";
  cc.out_dir = dir;
  cc.placements = {cwd::train::Placement::kLogit, cwd::train::Placement::kFeature};
  cc.adjust_all = [](RunConfig& c) { c.threads = 2; };
  std::vector<RunConfig> students;
  for (const auto& run : cwd::train::plan_comparison(cc)) {
    if (run.kind == "teacher") {
      cwd::train::train_run(run.config);
    } else if (run.config.placement == cwd::train::Placement::kLogit || run.config.loss == "cwd" ||
               run.config.loss == "at" || run.config.loss == "pi" || run.config.loss == "mgd") {
      students.push_back(run.config);
    }
  }
  return students;
}

std::vector<CohortRun> cohort_in(std::vector<RunConfig> configs, const std::string& dir) {
  std::vector<CohortRun> runs;
  for (auto& c : configs) {
    c.out_dir = dir;
    runs.push_back({c, ""});
  }
  return runs;
}

// What a run computed (everything but timings, paths and the cohort block).
void expect_same_result(const RunRecord& a, const std::string& dir_a, const RunRecord& b,
                        const std::string& dir_b) {
  SCOPED_TRACE(a.name);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.config_hash, b.config_hash);
  EXPECT_EQ(a.eval.miou, b.eval.miou);
  EXPECT_EQ(a.eval.per_class, b.eval.per_class);
  EXPECT_EQ(a.eval.pixels, b.eval.pixels);
  EXPECT_EQ(a.train.curve, b.train.curve);
  EXPECT_EQ(cwd::file_hash(dir_a + "/" + a.weights), cwd::file_hash(dir_b + "/" + b.weights));
  ASSERT_EQ(a.loss.has_value(), b.loss.has_value());
  if (a.loss) {
    EXPECT_EQ(a.loss->map_shape.has_value(), b.loss->map_shape.has_value());
  }
}

TEST(Cohort, RecordsEqualSeparateRunsBitForBit) {
  cwd::testing::TempDir dir("cohort");
  const auto students = smoke_students(dir / "separate");
  ASSERT_EQ(students.size(), 13u);  // baseline, the 8 methods on logits, CWD, AT, PI, MGD on features
  std::vector<RunRecord> separate;
  for (const auto& c : students) separate.push_back(*cwd::train::train_run(c));

  const auto together = cwd::train::train_cohort(cohort_in(students, dir / "cohort"));
  ASSERT_EQ(together.size(), students.size());
  for (size_t k = 0; k < students.size(); ++k) {
    ASSERT_TRUE(together[k].has_value());
    expect_same_result(separate[k], dir / "separate", *together[k], dir / "cohort");
    ASSERT_TRUE(together[k]->train.cohort.has_value());
    EXPECT_EQ(together[k]->train.cohort->members.size(), students.size());
    EXPECT_GT(together[k]->train.cohort->peak_bytes, 0);
    // The teacher pass is shared: every distilled member saw one per measured iteration.
    EXPECT_EQ(together[k]->train.teacher_ms_per_iter.has_value(), !students[k].loss.empty());
  }
}

TEST(Cohort, StoppedAnywhereResumesToTheSameRecords) {
  cwd::testing::TempDir dir("cohort-resume");
  auto students = smoke_students(dir / "straight");
  students.resize(4);  // baseline, cwd, at, pi on the logit map
  const auto straight = cwd::train::train_cohort(cohort_in(students, dir / "straight"));

  // Stop after 7 of 12 iterations (a checkpoint at 6, then one written at the stop) ...
  auto runs = cohort_in(students, dir / "stopped");
  for (auto& r : runs) r.config.stop_after = 7;
  for (const auto& rec : cwd::train::train_cohort(runs)) EXPECT_FALSE(rec.has_value());
  // ... and put one member back to its iteration-6 state, as a kill between two members'
  // checkpoint writes would leave it: the cohort must step the others only once it caught up.
  std::filesystem::remove(dir / "stopped/ckpt/cwd-logit-s0.safetensors");
  for (auto& r : runs) r.config.stop_after = 0;
  const auto resumed = cwd::train::train_cohort(runs);
  for (size_t k = 0; k < runs.size(); ++k) {
    ASSERT_TRUE(resumed[k].has_value());
    expect_same_result(*straight[k], dir / "straight", *resumed[k], dir / "stopped");
  }
  EXPECT_EQ(resumed[0]->train.resumed_at, 7);
  EXPECT_EQ(resumed[1]->train.resumed_at, 0);  // its checkpoint was gone: it started over
}

TEST(Cohort, RunsOfDifferentStreamsCannotShareOne) {
  auto a = cwd::train::config_from_preset("smoke", cwd::train::Role::kStudent);
  auto b = a;
  b.seed = 1;
  a.name = "a";
  b.name = "b";
  EXPECT_NE(cwd::train::cohort_key(a), cwd::train::cohort_key(b));
  EXPECT_EQ(error_of([&] { cwd::train::train_cohort({{a, ""}, {b, ""}}); }),
            "runs 'a' and 'b' read different data streams (data, augmentation, batch, iterations, seed, "
            "device or threads differ) and cannot share a cohort");
}

TEST(Units, SplitToFitTheBudget) {
  cwd::train::MemoryEstimate e{100, {10, 20, 30, 40}};
  EXPECT_EQ(e.total(), 200);
  using Groups = std::vector<std::vector<size_t>>;
  EXPECT_EQ(cwd::train::split_by_memory(e, 0), (Groups{{0, 1, 2, 3}}));
  EXPECT_EQ(cwd::train::split_by_memory(e, 200), (Groups{{0, 1, 2, 3}}));
  EXPECT_EQ(cwd::train::split_by_memory(e, 160), (Groups{{0, 1, 2}, {3}}));
  EXPECT_EQ(cwd::train::split_by_memory(e, 140), (Groups{{0, 1}, {2}, {3}}));
  EXPECT_EQ(error_of([&] { cwd::train::split_by_memory(e, 120); }),
            "--max-memory 0 MiB is below what one student needs (about 0 MiB with its teacher and one "
            "step); raise --max-memory");
}

TEST(Units, MemorySizes) {
  EXPECT_EQ(cwd::train::parse_memory_size("8G"), 8LL << 30);
  EXPECT_EQ(cwd::train::parse_memory_size("512M"), 512LL << 20);
  EXPECT_EQ(cwd::train::parse_memory_size("1.5GiB"), 3LL << 29);
  EXPECT_EQ(cwd::train::parse_memory_size("0"), 0);
  EXPECT_EQ(error_of([] { cwd::train::parse_memory_size("lots"); }),
            "--max-memory 'lots' is not a size; use e.g. 8G, 512M or 0 (no budget)");
  EXPECT_EQ(error_of([] { cwd::train::parse_memory_size("8T"); }),
            "--max-memory '8T' is not a size; use e.g. 8G, 512M or 0 (no budget)");
}

TEST(Units, EstimateCoversTheMeasuredPeak) {
  cwd::testing::TempDir dir("cohort-memory");
  auto students = smoke_students(dir.str());
  students.resize(3);
  std::vector<CohortRun> runs = cohort_in(students, dir.str());
  const auto units = cwd::train::cohort_units(runs, 0);
  ASSERT_EQ(units.size(), 1u);
  EXPECT_EQ(units[0].label, "[cohort s0: 3 runs]");
  const auto records = cwd::train::train_cohort(units[0].runs, {"", units[0].label, units[0].estimated_bytes});
  const auto& cohort = *records[0]->train.cohort;
  ASSERT_TRUE(cohort.estimated_bytes.has_value());
  // The estimate leaves out the terms' own memory and allocator slack: within a factor of two.
  EXPECT_GT(*cohort.estimated_bytes, cohort.peak_bytes / 2);
  EXPECT_LT(*cohort.estimated_bytes, cohort.peak_bytes * 2);
  // A budget that holds one member at a time splits the cohort into three.
  std::vector<RunConfig> configs;
  for (const auto& r : runs) configs.push_back(r.config);
  const auto estimate = cwd::train::estimate_cohort_memory(configs);
  EXPECT_EQ(estimate.total(), *cohort.estimated_bytes);
  const int64_t one = estimate.shared + *std::max_element(estimate.per_member.begin(), estimate.per_member.end());
  const auto split = cwd::train::cohort_units(runs, one);
  ASSERT_EQ(split.size(), 3u);
  EXPECT_EQ(split[0].label, "[cohort s0: 1 run, part 1/3]");
  EXPECT_EQ(split[2].runs.front().config.name, runs[2].config.name);
}

}  // namespace
