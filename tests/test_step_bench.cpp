// `cwd-bench bench-step` end to end on the smoke preset's tiny networks: the report's layout
// (shared with scripts/twin/bench_step.py) and positive values. No timing assertions.

#include "src/core/json_io.h"
#include "tests/test_helpers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <sys/wait.h>

#ifdef CWD_BENCH_EXE

namespace {

int run_quietly(const std::string& args, std::string& output) {
  const std::string cmd = std::string(CWD_BENCH_EXE) + " " + args + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
  const int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(StepBench, ReportLayoutAndPositiveValues) {
  cwd::testing::TempDir dir("bench-step");
  const std::string out = dir / "step.json";
  std::string output;
  const int code = run_quietly("bench-step --preset smoke --batch 2 --crop 32x64 --threads 1 "
                               "--warmup 1 --steps 2 --out " + out, output);
  ASSERT_EQ(code, 0) << output;
  const auto report = cwd::read_json(out);
  EXPECT_EQ(report.at("schema"), "cwd-bench/bench-step/1");
  EXPECT_EQ(report.at("implementation"), "cwd-bench");
  EXPECT_FALSE(report.at("libtorch").get<std::string>().empty());
  EXPECT_EQ(report.at("threads"), 1);
  for (const char* key : {"channels_last", "mkldnn", "zero_grad"}) {
    EXPECT_TRUE(report.at("optimisations").contains(key)) << key;
  }
  const auto& config = report.at("config");
  EXPECT_EQ(config.at("batch"), 2);
  EXPECT_EQ(config.at("crop"), nlohmann::json({32, 64}));
  EXPECT_EQ(config.at("warmup"), 1);
  EXPECT_EQ(config.at("steps"), 2);
  const auto& cases = report.at("cases");
  ASSERT_EQ(cases.size(), 3u);
  const std::vector<std::string> names = {"student", "teacher", "cwd"};
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    EXPECT_EQ(c.at("name"), names[i]);
    EXPECT_EQ(c.at("threads"), 1);
    EXPECT_GT(c.at("params").get<int64_t>(), 0);
    ASSERT_EQ(c.at("steps_ms").size(), 2u) << c.at("name");
    for (const auto& ms : c.at("steps_ms")) EXPECT_GT(ms.get<double>(), 0.0);
    EXPECT_GT(c.at("median_ms").get<double>(), 0.0);
    EXPECT_GT(c.at("min_ms").get<double>(), 0.0);
    EXPECT_GT(c.at("images_per_s").get<double>(), 0.0);
    EXPECT_NEAR(c.at("images_per_s").get<double>(), 2 * 1000.0 / c.at("median_ms").get<double>(), 1e-6);
    EXPECT_TRUE(std::isfinite(c.at("final_loss").get<double>()));
    EXPECT_GT(c.at("final_loss").get<double>(), 0.0);
  }
  // The distilled student has the student's parameters (CWD on logits has no adapter).
  EXPECT_EQ(cases[2].at("params"), cases[0].at("params"));
}

TEST(StepBench, OneCaseAndVariants) {
  cwd::testing::TempDir dir("bench-step-variants");
  const std::string out = dir / "step.json";
  std::string output;
  const int code = run_quietly("bench-step --preset smoke --what student --batch 2 --crop 32x64 "
                               "--threads 1 --warmup 0 --steps 1 --zero-grad none --channels-last "
                               "--out " + out, output);
  ASSERT_EQ(code, 0) << output;
  const auto report = cwd::read_json(out);
  ASSERT_EQ(report.at("cases").size(), 1u);
  EXPECT_EQ(report.at("optimisations").at("zero_grad"), "set_to_none");
  EXPECT_EQ(report.at("optimisations").at("channels_last"), true);
  EXPECT_GT(report.at("cases")[0].at("median_ms").get<double>(), 0.0);
}

TEST(StepBench, UnknownCaseIsAnError) {
  std::string output;
  EXPECT_NE(run_quietly("bench-step --what students --out /tmp/never.json", output), 0);
  EXPECT_NE(output.find("unknown case 'students' (valid: student, teacher, cwd)"), std::string::npos)
      << output;
}

}  // namespace

#endif  // CWD_BENCH_EXE
