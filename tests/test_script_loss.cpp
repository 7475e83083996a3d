// Losses written in Python and loaded as TorchScript ("script:PATH"): the scripted CWD of
// tests/fixtures/script (made by scripts/plugin/make_test_fixtures.py) against the built-in one,
// info from the module's attributes, parameters that train and are shared with the module, the
// pinned file hash, and the one-line errors for files and modules that do not fit.

#include "losses/registry.h"
#include "losses/script.h"
#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/train/config.h"
#include "src/train/plan.h"
#include "tests/test_helpers.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

using cwd::losses::create;
using cwd::testing::error_of;
using nlohmann::json;

std::string fixture(const std::string& name) {
  return std::string(CWD_SOURCE_DIR) + "/tests/fixtures/script/" + name;
}

std::string key_of(const std::string& name) { return "script:" + fixture(name); }

TEST(ScriptLoss, ScriptedCwdEqualsTheBuiltInInValueAndGradient) {
  auto scripted = create(key_of("cwd.pt"), {});
  auto builtin = create("cwd", {});
  torch::manual_seed(4);
  // Same size, and a student at another size (both resize it bilinearly to the teacher's).
  for (const auto& s_shape : {std::vector<int64_t>{2, 5, 6, 7}, std::vector<int64_t>{2, 5, 3, 4}}) {
    auto student = torch::randn(s_shape, torch::kDouble);
    auto teacher = torch::randn({2, 5, 6, 7}, torch::kDouble);
    auto s1 = student.clone().requires_grad_(true);
    auto s2 = student.clone().requires_grad_(true);
    auto v1 = scripted->forward(s1, teacher, {});
    auto v2 = builtin->forward(s2, teacher, {});
    v1.backward();
    v2.backward();
    ASSERT_EQ(v1.dim(), 0);
    EXPECT_NEAR(v1.item<double>(), v2.item<double>(), 1e-12 * std::abs(v2.item<double>()));
    const double scale = s2.grad().abs().max().item<double>();
    EXPECT_LE((s1.grad() - s2.grad()).abs().max().item<double>(), 1e-12 * scale);
  }
}

TEST(ScriptLoss, InfoComesFromTheModuleAttributesOrTheFileName) {
  const auto cwd = create(key_of("cwd.pt"), {})->info();
  EXPECT_EQ(cwd.key, key_of("cwd.pt"));
  EXPECT_NE(cwd.title.find("TorchScript"), std::string::npos) << cwd.title;
  EXPECT_EQ(cwd.formula, "h·w·c");
  EXPECT_FALSE(cwd.needs_labels);
  const auto plain = create(key_of("trainable.pt"), {})->info();
  EXPECT_EQ(plain.title, "TorchScript loss trainable.pt");
  EXPECT_EQ(plain.paper, "user-defined (trainable.pt)");
  EXPECT_EQ(plain.formula, "?");
  EXPECT_TRUE(create(key_of("labels.pt"), {})->info().needs_labels);
}

TEST(ScriptLoss, ParametersAreTheModulesOwnAndTrain) {
  auto loss = create(key_of("trainable.pt"), {});
  auto params = loss->named_parameters();
  ASSERT_EQ(params.size(), 2u);
  ASSERT_NE(params.find("proj.weight"), nullptr);
  ASSERT_NE(params.find("proj.bias"), nullptr);
  EXPECT_EQ(loss->extra_params(), 4 * 4 + 4);
  torch::manual_seed(2);
  auto s = torch::randn({2, 4, 5, 6});
  auto t = torch::randn({2, 4, 5, 6});
  // The value is mean((proj(S) − T)²) with the weights as this loss holds them.
  auto expect = [&] {
    torch::NoGradGuard no_grad;
    auto y = torch::conv2d(s, *params.find("proj.weight"), *params.find("proj.bias"));
    return (y - t).square().mean().item<double>();
  };
  EXPECT_NEAR(loss->forward(s, t, {}).item<double>(), expect(), 1e-6);
  // Setting them here (as loading a checkpoint does) changes what the module computes ...
  {
    torch::NoGradGuard no_grad;
    params.find("proj.weight")->mul_(0.5);
  }
  EXPECT_NEAR(loss->forward(s, t, {}).item<double>(), expect(), 1e-6);
  // ... and an optimizer step on them lowers the loss.
  torch::optim::SGD sgd(loss->parameters(), torch::optim::SGDOptions(0.1));
  const double before = loss->forward(s, t, {}).item<double>();
  sgd.zero_grad();
  loss->forward(s, t, {}).backward();
  ASSERT_TRUE(params.find("proj.weight")->grad().defined());
  sgd.step();
  EXPECT_LT(loss->forward(s, t, {}).item<double>(), before);
  // The weight option scales the module's value.
  auto doubled = create(key_of("trainable.pt"), {{"weight", 2.0}});
  torch::NoGradGuard no_grad;
  for (const auto& p : doubled->named_parameters()) p.value().copy_(*params.find(p.key()));
  EXPECT_NEAR(doubled->forward(s, t, {}).item<double>(), 2.0 * expect(), 1e-6);
}

TEST(ScriptLoss, OptionsNameTheFileHashAndAChangedFileIsRefused) {
  cwd::testing::TempDir dir("script-hash");
  const std::string copy = dir / "mine.pt";
  std::filesystem::copy_file(fixture("cwd.pt"), copy);
  const auto options = create("script:" + copy, {})->options();
  EXPECT_EQ(options, (json{{"weight", 1.0}, {"file_hash", cwd::file_hash(copy)}}));
  EXPECT_NO_THROW(create("script:" + copy, options));
  std::filesystem::copy_file(fixture("trainable.pt"), copy, std::filesystem::copy_options::overwrite_existing);
  EXPECT_EQ(error_of([&] { create("script:" + copy, options); }),
            fmt::format("script:{}: '{}' has changed since the run was planned (hash {}, expected {}); "
                        "restore the file, or start the runs again in another --out",
                        copy, copy, cwd::file_hash(copy), options.at("file_hash").get<std::string>()));
  EXPECT_EQ(error_of([&] { create("script:" + copy, {{"tau", 2}}); }).rfind("script:" + copy + ": unknown option 'tau'", 0), 0u);
}

TEST(ScriptLoss, PlansPinTheHashAndNameRunsAfterTheFile) {
  EXPECT_EQ(cwd::losses::script_run_label("script:some/dir/my-loss.v2.pt"), "script-my-loss_v2");
  cwd::testing::TempDir dir("script-plan");
  auto c = cwd::train::config_from_preset("smoke", cwd::train::Role::kStudent);
  c.out_dir = dir.str();
  c.loss = key_of("cwd.pt");
  c.teacher = dir / "teacher.json";
  c.teacher_id = "given";
  const auto plan = cwd::train::resolve_plan(c);
  EXPECT_EQ(plan.config.name, "script-cwd-logit-s0");
  EXPECT_EQ(plan.config.loss_options.at("file_hash"), cwd::file_hash(fixture("cwd.pt")));
}

TEST(ScriptLoss, FilesAndModulesThatDoNotFitGetOneLine) {
  cwd::testing::TempDir dir("script-bad");
  const std::string how = "save the loss with torch.jit.script(module).save(PATH)";
  const std::string missing = dir / "missing.pt";
  EXPECT_EQ(error_of([&] { create("script:" + missing, {}); }),
            fmt::format("script:{}: no file '{}'; {}", missing, missing, how));
  EXPECT_EQ(error_of([&] { create("script:", {}); }), "script:: no file named, expected script:PATH.pt");
  const std::string text = dir / "loss.py";
  std::ofstream(text) << "import torch\n";
  EXPECT_EQ(error_of([&] { create("script:" + text, {}); }),
            fmt::format("script:{}: '{}' is not a TorchScript file (not a zip archive); {}", text, text, how));
  const std::string zip = dir / "cut.pt";
  std::ofstream(zip, std::ios::binary) << "PK\x03\x04 cut short";
  EXPECT_EQ(error_of([&] { create("script:" + zip, {}); }).rfind(fmt::format("script:{}: '{}' is a damaged archive (", zip, zip), 0), 0u);
  const auto tensor_file = fixture("not_script.pt");
  EXPECT_EQ(error_of([&] { create("script:" + tensor_file, {}); }),
            fmt::format("script:{}: '{}' holds no TorchScript code (a torch.save file?); {}", tensor_file,
                        tensor_file, how));
  EXPECT_EQ(error_of([&] { create(key_of("bad_signature.pt"), {}); }).rfind(key_of("bad_signature.pt") + ": forward is forward(", 0), 0u);
  EXPECT_NE(error_of([&] { create(key_of("bad_signature.pt"), {}); })
                .find("expected forward(self, student: Tensor, teacher: Tensor, labels: Tensor) -> Tensor"),
            std::string::npos);
  auto s = torch::randn({2, 4, 5, 6});
  auto t = torch::randn({2, 4, 5, 6});
  EXPECT_EQ(error_of([&] { create(key_of("not_scalar.pt"), {})->forward(s, t, {}); }),
            key_of("not_scalar.pt") +
                ": forward returned a Float tensor of shape [2, 4, 5, 6], expected a 0-dim floating-point loss "
                "(reduce it, e.g. with .mean())");
  // Inputs are checked as for the built-in losses, naming the loss by its key.
  EXPECT_EQ(error_of([&] { create(key_of("cwd.pt"), {})->forward(s[0], t, {}); }),
            key_of("cwd.pt") + ": student map is 3-D, expected N×C×H×W");
  EXPECT_EQ(error_of([&] { create(key_of("labels.pt"), {})->forward(s, t, {}); }),
            key_of("labels.pt") + ": labels are missing, expected int64 N×H0×W0 labels (" + key_of("labels.pt") +
                " needs labels)");
  // An error inside the module's forward is one line too.
  const auto failed = error_of([&] { create(key_of("trainable.pt"), {})->forward(s.narrow(1, 0, 3), t, {}); });
  EXPECT_EQ(failed.rfind(key_of("trainable.pt") + ": forward failed: ", 0), 0u) << failed;
  EXPECT_EQ(failed.find('\n'), std::string::npos) << failed;
}

TEST(ScriptLoss, LabelsReachTheModule) {
  auto loss = create(key_of("labels.pt"), {});
  torch::manual_seed(3);
  auto s = torch::randn({2, 3, 4, 5});
  auto t = torch::randn({2, 3, 4, 5});
  auto labels = torch::randint(0, 3, {2, 4, 5}, torch::kLong);
  labels.index_put_({0}, 255);  // the first sample is ignored
  const auto kept = labels != 255;
  const double want = ((s - t).square().sum(1).masked_select(kept)).mean().item<double>();
  EXPECT_NEAR(loss->forward(s, t, labels).item<double>(), want, 1e-6);
}

}  // namespace
