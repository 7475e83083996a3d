// The six distillation losses: golden values from scripts/golden_losses.py, the common contract
// over every registered key, option validation, value checks (and no device sync on CUDA), both
// PA forms, and the benchmark library.

#include "losses/at.h"
#include "losses/bench.h"
#include "losses/cwd.h"
#include "losses/dist.h"
#include "losses/ifvd.h"
#include "losses/local.h"
#include "losses/mgd.h"
#include "losses/pa.h"
#include "losses/pi.h"
#include "losses/registry.h"
#include "src/core/error.h"
#include "tests/test_helpers.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <functional>
#include <string>

// libtorch's sync debug mode (CUDA builds only: Debian's CPU libtorch ships the c10 CUDA headers
// without the library, hence the CUDA runtime header test, as in src/core/memory.cpp).
#if defined(__has_include)
#if __has_include(<c10/cuda/CUDAFunctions.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDAFunctions.h>
#define CWD_TEST_SYNC_DEBUG 1
#endif
#endif

namespace {

using cwd::losses::create;
using cwd::losses::known_keys;
using cwd::testing::error_of;
using nlohmann::json;

// ---- helpers ------------------------------------------------------------------------------------

const json& golden() {
  static const json doc = [] {
    const std::string path = std::string(CWD_SOURCE_DIR) + "/tests/fixtures/losses_golden.json";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    return json::parse(in);
  }();
  return doc;
}

torch::Tensor tensor_from(const json& j, torch::ScalarType dtype) {
  std::vector<int64_t> shape = j.at("shape").get<std::vector<int64_t>>();
  if (dtype == torch::kLong) {
    auto data = j.at("data").get<std::vector<int64_t>>();
    return torch::tensor(data, torch::kLong).reshape(shape);
  }
  auto data = j.at("data").get<std::vector<double>>();
  return torch::tensor(data, torch::kDouble).reshape(shape).to(dtype);
}

struct Inputs {
  torch::Tensor student, teacher, labels;
};

// While alive (and `on`), any device sync is an error: libtorch's sync debug mode, CUDA builds.
class SyncIsError {
 public:
  explicit SyncIsError(bool on) : on_(on) {
    if (on_) set(true);
  }
  ~SyncIsError() {
    if (on_) set(false);
  }
  SyncIsError(const SyncIsError&) = delete;
  SyncIsError& operator=(const SyncIsError&) = delete;

 private:
  static void set(bool error) {
#ifdef CWD_TEST_SYNC_DEBUG
    c10::cuda::warning_state().set_sync_debug_mode(error ? c10::cuda::SyncDebugMode::L_ERROR
                                                         : c10::cuda::SyncDebugMode::L_DISABLED);
#else
    (void)error;
#endif
  }
  bool on_;
};

// The loss `key` for maps of c channels on both sides (MGD's generator is sized by them).
std::shared_ptr<cwd::losses::DistillLoss> contract_loss(const std::string& key, const json& options = {},
                                                        int64_t c = 4) {
  return cwd::losses::create_for_maps(key, options, /*feature_map=*/false, c, c);
}

// Float32 inputs N×C×H×W for `key` (labels for the losses that need them, 10% ignored).
Inputs make_inputs(const std::string& key, int64_t n = 2, int64_t c = 4, int64_t h = 6,
                   int64_t w = 7, uint64_t seed = 7) {
  torch::manual_seed(seed);
  Inputs in;
  in.student = torch::randn({n, c, h, w});
  in.teacher = torch::randn({n, c, h, w});
  if (create(key, {})->info().needs_labels) {
    in.labels = torch::randint(0, 5, {n, 2 * h, 2 * w}, torch::kLong);
    in.labels.masked_fill_(torch::rand({n, 2 * h, 2 * w}) < 0.1, 255);
  }
  return in;
}

// ---- golden values ------------------------------------------------------------------------------

// C++ runs in float64 on the fixture's float64 inputs; the fixture was computed in float64 by
// independent loops. Tolerance: |got − want| <= 1e-9·|want| + 1e-12 for the value, and for each
// gradient element 1e-9·max|want grad| + 1e-12.
constexpr double kRtol = 1e-9;

TEST(LossesGolden, FixtureCoversEveryKey) {
  std::set<std::string> seen;
  for (const auto& c : golden().at("cases")) seen.insert(c.at("key").get<std::string>());
  for (const auto& key : known_keys()) EXPECT_TRUE(seen.count(key)) << key;
  EXPECT_GE(golden().at("cases").size(), 12u);
}

TEST(LossesGolden, ValuesAndStudentGradientsMatch) {
  for (const auto& c : golden().at("cases")) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    auto loss = create(c.at("key"), c.at("options"));
    loss->to(torch::kDouble);
    loss->train();  // the adapter's BatchNorm uses batch statistics, as the generator does
    // Trained parts by name: the adapter's ("adapter." + name) or, under "params", the loss's own
    // names as the spec gives them (MGD's align and generator).
    for (const auto& [block, prefix] : {std::pair{"adapter", "adapter."}, std::pair{"params", ""}}) {
      if (!c.contains(block)) continue;
      torch::NoGradGuard no_grad;
      auto params = loss->named_parameters();
      ASSERT_EQ(params.size(), c.at(block).size());
      for (const auto& item : c.at(block).items()) {
        auto* p = params.find(prefix + item.key());
        ASSERT_NE(p, nullptr) << item.key();
        ASSERT_EQ(p->sizes(), tensor_from(item.value(), torch::kDouble).sizes()) << item.key();
        p->copy_(tensor_from(item.value(), torch::kDouble));
      }
    }
    // MGD's mask: the fixture drew it with Python's torch.rand after this seed, from the same CPU
    // generator as libtorch's.
    if (c.contains("mask_seed")) torch::manual_seed(c.at("mask_seed").get<uint64_t>());
    auto student = tensor_from(c.at("student"), torch::kDouble).requires_grad_(true);
    auto teacher = tensor_from(c.at("teacher"), torch::kDouble);
    auto labels =
        c.contains("labels") ? tensor_from(c.at("labels"), torch::kLong) : torch::Tensor();
    auto value = loss->forward(student, teacher, labels);
    value.backward();
    ASSERT_EQ(value.dim(), 0);
    EXPECT_EQ(value.scalar_type(), torch::kDouble);
    const double want = c.at("value");
    EXPECT_NEAR(value.item<double>(), want, kRtol * std::abs(want) + 1e-12);
    auto want_grad = tensor_from(c.at("student_grad"), torch::kDouble);
    ASSERT_TRUE(student.grad().defined());
    const double scale = want_grad.abs().max().item<double>();
    const double err = (student.grad() - want_grad).abs().max().item<double>();
    EXPECT_LE(err, kRtol * scale + 1e-12) << "max |grad error| " << err << " of " << scale;
  }
}

// ---- the contract, over every registered key ----------------------------------------------------

class Contract : public ::testing::TestWithParam<std::string> {};

TEST_P(Contract, FiniteNonNegativeScalar) {
  const auto key = GetParam();
  auto in = make_inputs(key);
  auto value = contract_loss(key)->forward(in.student, in.teacher, in.labels);
  ASSERT_EQ(value.dim(), 0);
  EXPECT_EQ(value.scalar_type(), torch::kFloat);
  EXPECT_TRUE(std::isfinite(value.item<double>()));
  EXPECT_GT(value.item<double>(), 0.0);  // random S ≠ T
}

TEST_P(Contract, ZeroWhenStudentEqualsTeacher) {
  const auto key = GetParam();
  auto in = make_inputs(key);
  auto value = contract_loss(key)->forward(in.teacher.clone(), in.teacher, in.labels);
  if (key == "mgd") {  // its untrained generator does not rebuild T from T
    EXPECT_GT(value.item<double>(), 0.0);
    return;
  }
  EXPECT_GE(value.item<double>(), 0.0);
  EXPECT_NEAR(value.item<double>(), 0.0, 1e-6);
}

TEST_P(Contract, GradientReachesOnlyTheStudent) {
  const auto key = GetParam();
  auto in = make_inputs(key);
  auto student = in.student.clone().requires_grad_(true);
  auto teacher = in.teacher.clone().requires_grad_(true);
  auto value = contract_loss(key)->forward(student, teacher, in.labels);
  ASSERT_TRUE(value.requires_grad());
  value.backward();
  EXPECT_FALSE(teacher.grad().defined());
  ASSERT_TRUE(student.grad().defined());
  EXPECT_GT(student.grad().abs().max().item<double>(), 0.0);
}

TEST_P(Contract, StudentIsResizedToTheTeacher) {
  const auto key = GetParam();
  auto in = make_inputs(key, 2, 4, 6, 7);
  auto small = torch::randn({2, 4, 3, 4}).requires_grad_(true);
  auto value = contract_loss(key)->forward(small, in.teacher, in.labels);
  value.backward();
  EXPECT_TRUE(std::isfinite(value.item<double>()));
  EXPECT_EQ(small.grad().sizes(), small.sizes());
}

TEST_P(Contract, BadInputsThrowNamingTheLoss) {
  const auto key = GetParam();
  auto in = make_inputs(key);
  auto loss = contract_loss(key);
  EXPECT_EQ(error_of([&] { loss->forward(in.student[0], in.teacher, in.labels); }),
            key + ": student map is 3-D, expected N×C×H×W");
  EXPECT_EQ(error_of([&] { loss->forward(in.student, in.teacher.unsqueeze(0), in.labels); }),
            key + ": teacher map is 5-D, expected N×C×H×W");
  EXPECT_EQ(error_of([&] { loss->forward(torch::Tensor(), in.teacher, in.labels); }),
            key + ": student map is missing, expected a N×C×H×W tensor");
  EXPECT_EQ(error_of([&] { loss->forward(in.student.to(torch::kLong), in.teacher, in.labels); }),
            key + ": student map is Long, expected a floating-point tensor");
  auto labels3 =
      in.labels.defined() ? torch::cat({in.labels, in.labels.narrow(0, 0, 1)}) : torch::Tensor();
  EXPECT_EQ(
      error_of([&] {
        loss->forward(in.student, torch::cat({in.teacher, in.teacher.narrow(0, 0, 1)}), labels3);
      }),
      key + ": batch sizes differ (student 2, teacher 3), expected the same N");
  auto nan = in.student.clone();
  nan[1][2][3][4] = std::nan("");
  EXPECT_EQ(error_of([&] { loss->forward(nan, in.teacher, in.labels); }),
            key + ": student map holds NaN or Inf, expected finite values");
  auto inf = in.teacher.clone();
  inf[0][0][0][0] = -INFINITY;
  EXPECT_EQ(error_of([&] { loss->forward(in.student, inf, in.labels); }),
            key + ": teacher map holds NaN or Inf, expected finite values");
}

TEST_P(Contract, InfoOptionsFlops) {
  const auto key = GetParam();
  auto loss = create(key, {});
  const auto info = loss->info();
  EXPECT_EQ(info.key, key);
  EXPECT_FALSE(info.title.empty());
  EXPECT_FALSE(info.paper.empty());
  EXPECT_EQ(info.needs_labels, key == "ifvd");
  EXPECT_EQ(info.adapts_channels, key == "cwd" || key == "pi" || key == "dist");
  EXPECT_EQ(info.needs_channels, key == "mgd");
  // options() is complete and round-trips through create().
  const auto resolved = loss->options();
  EXPECT_TRUE(resolved.contains("weight"));
  EXPECT_EQ(create(key, resolved)->options(), resolved);
  EXPECT_EQ(cwd::losses::default_options(key), resolved);
  cwd::losses::MapShape shape{2, 19, 19, 64, 128, 19};
  EXPECT_GT(loss->flops(shape), 0.0);
  EXPECT_EQ(loss->extra_params(), 0);
  EXPECT_EQ(error_of([&] {
              create(key, {{"nonsense", 1}});
            }).rfind(key + ": unknown option 'nonsense' (valid: ", 0),
            0u);
  EXPECT_EQ(error_of([&] {
              create(key, {{"weight", -1}});
            }),
            key + ": option 'weight' must be a number >= 0, got -1");
  EXPECT_EQ(error_of([&] {
              create(key, {{"weight", "3"}});
            }),
            key + ": option 'weight' must be a number >= 0, got \"3\"");
}

TEST_P(Contract, CheckValuesGivesForwardsMessages) {
  const auto key = GetParam();
  auto in = make_inputs(key);
  auto loss = contract_loss(key);
  auto check = [&](const torch::Tensor& s, const torch::Tensor& t) {
    cwd::losses::check_values(key, s, t, in.labels, 255);
  };
  EXPECT_NO_THROW(check(in.student, in.teacher));
  EXPECT_NO_THROW(cwd::losses::check_values(key, in.student, in.teacher, {}, 255));
  auto nan = in.student.clone();
  nan[1][2][3][4] = std::nan("");
  auto inf = in.teacher.clone();
  inf[0][0][0][0] = INFINITY;
  for (const auto& [s, t] : {std::make_pair(nan, in.teacher), std::make_pair(in.student, inf),
                             std::make_pair(in.student[0], in.teacher)}) {
    const auto want = error_of([&] { loss->forward(s, t, in.labels); });
    EXPECT_FALSE(want.empty());
    EXPECT_EQ(error_of([&] { check(s, t); }), want);
  }
}

// On CUDA, forward() and backward() copy nothing to the host (libtorch's sync debug mode turns a
// sync into an error) and match the CPU; check_values() reports what forward() then skips.
TEST_P(Contract, CudaForwardDoesNotSync) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto key = GetParam();
  const torch::Device cuda(torch::kCUDA);
#ifdef CWD_TEST_SYNC_DEBUG
  {
    SyncIsError no_sync(true);  // the guard works: a copy to the host fails under it
    EXPECT_ANY_THROW(torch::ones({1}, cuda).cpu());
  }
#endif
  auto in = make_inputs(key, 2, 19, 16, 32);
  // MGD without its random mask: CUDA's generator draws other numbers than the CPU's.
  std::vector<json> option_sets = {key == "mgd" ? json{{"mask_ratio", 0.0}} : json::object()};
  if (create(key, {})->info().adapts_channels) {
    option_sets.push_back({{"student_channels", 19}, {"teacher_channels", 19}});
  }
  for (const auto& options : option_sets) {
    SCOPED_TRACE(options.dump());
    // float64: no TF32 in the adapter's convolution on CUDA.
    auto run = [&](const torch::Device& device) {
      torch::manual_seed(0);  // the same adapter (generator) weights on both devices
      auto loss = contract_loss(key, options, 19);
      loss->to(device, torch::kDouble);
      auto s = in.student.to(device, torch::kDouble).requires_grad_(true);
      auto t = in.teacher.to(device, torch::kDouble);
      auto y = in.labels.defined() ? in.labels.to(device) : torch::Tensor();
      torch::Tensor value;
      {
        SyncIsError no_sync(device.is_cuda());
        value = loss->forward(s, t, y);
        value.backward();
      }
      return std::make_pair(value.cpu(), s.grad().cpu());
    };
    auto [v_cpu, g_cpu] = run(torch::kCPU);
    std::pair<torch::Tensor, torch::Tensor> on_cuda;
    ASSERT_NO_THROW(on_cuda = run(cuda));
    const double v = v_cpu.item<double>();
    EXPECT_NEAR(on_cuda.first.item<double>(), v, 1e-9 * std::abs(v) + 1e-12);
    const double scale = g_cpu.abs().max().item<double>();
    EXPECT_LE((on_cuda.second - g_cpu).abs().max().item<double>(), 1e-9 * scale + 1e-12);
  }
  auto nan = in.student.clone();
  nan[1][2][3][4] = std::nan("");
  auto y = in.labels.defined() ? in.labels.to(cuda) : torch::Tensor();
  EXPECT_EQ(
      error_of([&] { cwd::losses::check_values(key, nan.to(cuda), in.teacher.to(cuda), y, 255); }),
      key + ": student map holds NaN or Inf, expected finite values");
}

INSTANTIATE_TEST_SUITE_P(AllLosses, Contract, ::testing::ValuesIn(known_keys()),
                         [](const auto& info) { return info.param; });

// ---- registry and options ---------------------------------------------------------------------

TEST(LossRegistry, KeysAndUnknownLoss) {
  EXPECT_EQ(known_keys(),
            (std::vector<std::string>{"at", "cwd", "dist", "ifvd", "local", "mgd", "pa", "pi"}));
  EXPECT_EQ(error_of([] { create("cwdd", {}); }),
            "unknown loss 'cwdd' (known: at, cwd, dist, ifvd, local, mgd, pa, pi, or script:PATH.pt for a TorchScript loss)");
}

// info().adapts_channels says which losses take the adapter options (the trainer relies on it).
TEST(LossRegistry, AdaptsChannelsExactlyWhereTheAdapterOptionsExist) {
  const json adapter = {{"student_channels", 6}, {"teacher_channels", 4}};
  for (const auto& key : known_keys()) {
    SCOPED_TRACE(key);
    const auto info = create(key, {})->info();
    EXPECT_EQ(info.adapts_channels, key == "cwd" || key == "pi" || key == "dist");
    if (info.adapts_channels || info.needs_channels) {
      EXPECT_GT(create(key, adapter)->extra_params(), 0);
    } else {
      EXPECT_EQ(error_of([&] { create(key, adapter); }).rfind(key + ": unknown option", 0), 0u);
    }
  }
}

TEST(LossRegistry, CostFormulasAsInThePaper) {
  const std::map<std::string, std::string> formulas = {{"at", "h·w·c"},      {"pi", "h·w·c"},
                                                       {"local", "8·h·w·c"}, {"pa", "(h·w)²·c"},
                                                       {"ifvd", "h·w·c·n"},  {"cwd", "h·w·c"},
                                                       {"dist", "h·w·c"},    {"mgd", "h·w·9·c²"}};
  for (const auto& [key, formula] : formulas) EXPECT_EQ(create(key, {})->info().formula, formula);
}

TEST(LossOptions, DefaultsFromTheSpec) {
  EXPECT_EQ(cwd::losses::default_options("cwd"), (json{{"weight", 3.0},
                                                       {"tau", 4.0},
                                                       {"student_channels", nullptr},
                                                       {"teacher_channels", nullptr}}));
  EXPECT_EQ(cwd::losses::default_options("pi")["tau"], 1.0);
  EXPECT_EQ(cwd::losses::default_options("pi")["weight"], 10.0);
  EXPECT_EQ(cwd::losses::default_options("at"), (json{{"weight", 1e4}, {"p", 2.0}}));
  EXPECT_EQ(cwd::losses::default_options("local"), (json{{"weight", 1.0}, {"metric", "cosine"}}));
  EXPECT_EQ(cwd::losses::default_options("pa"),
            (json{{"weight", 1.0}, {"pool", 1}, {"form", "auto"}}));
  EXPECT_EQ(cwd::losses::default_options("ifvd"), (json{{"weight", 200.0}, {"ignore_index", 255}}));
  EXPECT_EQ(cwd::losses::default_options("dist"),
            (json{{"weight", 1.0}, {"tau", 1.0}, {"beta", 1.0}, {"gamma", 1.0},
                  {"student_channels", nullptr}, {"teacher_channels", nullptr}}));
  EXPECT_EQ(cwd::losses::default_options("mgd"),
            (json{{"weight", 2e-5}, {"mask_ratio", 0.75}, {"student_channels", nullptr},
                  {"teacher_channels", nullptr}}));
}

TEST(LossOptions, BadValuesNameLossKeyAndChoices) {
  EXPECT_EQ(error_of([] {
              create("cwd", {{"tau", 0}});
            }),
            "cwd: option 'tau' must be a number > 0, got 0");
  EXPECT_EQ(error_of([] {
              create("pi", {{"tau", "4"}});
            }),
            "pi: option 'tau' must be a number > 0, got \"4\"");
  EXPECT_EQ(error_of([] {
              create("cwd", {{"taus", 4}});
            }),
            "cwd: unknown option 'taus' (valid: student_channels, tau, teacher_channels, weight)");
  EXPECT_EQ(error_of([] {
              create("pa", {{"pool", 0}});
            }),
            "pa: option 'pool' must be an integer >= 1, got 0");
  EXPECT_EQ(error_of([] {
              create("pa", {{"pool", 1.5}});
            }),
            "pa: option 'pool' must be an integer >= 1, got 1.5");
  EXPECT_EQ(error_of([] {
              create("pa", {{"form", "fast"}});
            }),
            "pa: option 'form' must be one of auto, direct, gram, got \"fast\"");
  EXPECT_EQ(error_of([] {
              create("local", {{"metric", "manhattan"}});
            }),
            "local: option 'metric' must be one of cosine, euclidean, got \"manhattan\"");
  EXPECT_EQ(error_of([] {
              create("at", {{"p", -2}});
            }),
            "at: option 'p' must be a number > 0, got -2");
  EXPECT_EQ(error_of([] {
              create("ifvd", {{"ignore_index", true}});
            }),
            "ifvd: option 'ignore_index' must be an integer >= -1, got true");
  EXPECT_EQ(error_of([] {
              create("cwd", {{"student_channels", 4}});
            }),
            "cwd: options student_channels and teacher_channels must be given together, got only "
            "student_channels");
  EXPECT_EQ(error_of([] {
              create("mgd", {{"mask_ratio", 1.5}});
            }),
            "mgd: option 'mask_ratio' must be a number in [0, 1], got 1.5");
  EXPECT_EQ(error_of([] {
              create("mgd", {{"student_channels", 4}});
            }),
            "mgd: option student_channels needs teacher_channels (the generator's width), got only "
            "student_channels");
  EXPECT_EQ(error_of([] {
              create("dist", {{"gamma", -1}});
            }),
            "dist: option 'gamma' must be a number >= 0, got -1");
  EXPECT_EQ(error_of([] { create("at", json::array({1})); }),
            "at: options must be a JSON object, got [1]");
  EXPECT_EQ(error_of([] {
              create("pi", {{"student_channels", "4"}, {"teacher_channels", 4}});
            }),
            "pi: option 'student_channels' must be an integer >= 1, got \"4\"");
  EXPECT_EQ(error_of([] {
              create("cwd", {{"student_channels", 4}, {"teacher_channels", 0}});
            }),
            "cwd: option 'teacher_channels' must be an integer >= 1, got 0");
}

// Options set in code are checked by the same rules, with the same messages, as options read
// from JSON by create(): in each loss's constructor and in its functional form.
TEST(LossOptions, ConstructorsValidateLikeCreate) {
  using namespace cwd::losses;
  struct Bad {
    std::string key;
    json option;
    std::function<void()> construct;
  };
  const std::vector<Bad> bad = {
      {"cwd", {{"tau", -1}}, [] { CwdLoss(CwdOptions().tau(-1)); }},
      {"cwd", {{"student_channels", 4}}, [] { CwdLoss(CwdOptions().student_channels(4)); }},
      {"at", {{"p", 0}}, [] { AtLoss(AtOptions().p(0)); }},
      {"at", {{"weight", -1e-5}}, [] { AtLoss(AtOptions().weight(-1e-5)); }},
      {"pi", {{"weight", -0.5}}, [] { PiLoss(PiOptions().weight(-0.5)); }},
      {"pi",
       {{"student_channels", 3}, {"teacher_channels", 0}},
       [] { PiLoss(PiOptions().student_channels(3).teacher_channels(0)); }},
      {"local", {{"metric", "manhattan"}}, [] { LocalLoss(LocalOptions().metric("manhattan")); }},
      {"pa", {{"pool", 0}}, [] { PaLoss(PaOptions().pool(0)); }},
      {"pa", {{"form", "fast"}}, [] { PaLoss(PaOptions().form("fast")); }},
      {"ifvd", {{"ignore_index", -2}}, [] { IfvdLoss(IfvdOptions().ignore_index(-2)); }},
      {"ifvd", {{"weight", -3}}, [] { IfvdLoss(IfvdOptions().weight(-3)); }},
      {"dist", {{"tau", 0}}, [] { DistLoss(DistOptions().tau(0)); }},
      {"dist", {{"beta", -1}}, [] { DistLoss(DistOptions().beta(-1)); }},
      {"mgd", {{"mask_ratio", -0.1}}, [] { MgdLoss(MgdOptions().mask_ratio(-0.1)); }},
      {"mgd", {{"teacher_channels", 0}}, [] { MgdLoss(MgdOptions().teacher_channels(0)); }},
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(b.key + " " + b.option.dump());
    const auto want = error_of([&] { create(b.key, b.option); });
    EXPECT_EQ(want.rfind(b.key + ": option", 0), 0u) << want;
    EXPECT_EQ(error_of(b.construct), want);
  }
  EXPECT_EQ(error_of([] { CwdLoss(CwdOptions().tau(-1)); }),
            "cwd: option 'tau' must be a number > 0, got -1");
  EXPECT_EQ(error_of([] { AtLoss(AtOptions().p(std::nan(""))); }),
            "at: option 'p' must be a number > 0, got nan");
  // The defaults are valid.
  EXPECT_NO_THROW(CwdOptions().validate());
  EXPECT_NO_THROW(AtOptions().validate());
  EXPECT_NO_THROW(PiOptions().validate());
  EXPECT_NO_THROW(LocalOptions().validate());
  EXPECT_NO_THROW(PaOptions().validate());
  EXPECT_NO_THROW(IfvdOptions().validate());
  EXPECT_NO_THROW(DistOptions().validate());
  EXPECT_NO_THROW(MgdOptions().validate());
}

TEST(LossOptions, FunctionalFormsValidate) {
  using namespace cwd::losses;
  auto in = make_inputs("ifvd");
  const auto& s = in.student;
  const auto& t = in.teacher;
  EXPECT_EQ(error_of([&] { cwd_loss(s, t, CwdOptions().tau(0)); }),
            "cwd: option 'tau' must be a number > 0, got 0");
  EXPECT_EQ(error_of([&] { pi_loss(s, t, PiOptions().tau(-2.5)); }),
            "pi: option 'tau' must be a number > 0, got -2.5");
  EXPECT_EQ(error_of([&] { at_loss(s, t, AtOptions().weight(-1)); }),
            "at: option 'weight' must be a number >= 0, got -1");
  EXPECT_EQ(error_of([&] { local_loss(s, t, LocalOptions().metric("")); }),
            "local: option 'metric' must be one of cosine, euclidean, got \"\"");
  EXPECT_EQ(error_of([&] { pa_loss(s, t, PaOptions().pool(-1)); }),
            "pa: option 'pool' must be an integer >= 1, got -1");
  EXPECT_EQ(error_of([&] { ifvd_loss(s, t, in.labels, IfvdOptions().ignore_index(-5)); }),
            "ifvd: option 'ignore_index' must be an integer >= -1, got -5");
  EXPECT_EQ(error_of([&] { dist_loss(s, t, DistOptions().gamma(-2)); }),
            "dist: option 'gamma' must be a number >= 0, got -2");
}

// ---- MGD: its generator, its mask and its channel counts -------------------------------------

TEST(Mgd, ParametersHaveTheSpecNamesAndShapes) {
  using cwd::losses::create;
  auto same = create("mgd", {{"teacher_channels", 5}});
  std::map<std::string, std::vector<int64_t>> want = {{"generator.0.weight", {5, 5, 3, 3}},
                                                      {"generator.0.bias", {5}},
                                                      {"generator.2.weight", {5, 5, 3, 3}},
                                                      {"generator.2.bias", {5}}};
  std::map<std::string, std::vector<int64_t>> got;
  for (const auto& p : same->named_parameters()) got[p.key()] = p.value().sizes().vec();
  EXPECT_EQ(got, want);
  auto aligned = create("mgd", {{"student_channels", 3}, {"teacher_channels", 5}});
  want["align.weight"] = {5, 3, 1, 1};
  want["align.bias"] = {5};
  got.clear();
  for (const auto& p : aligned->named_parameters()) got[p.key()] = p.value().sizes().vec();
  EXPECT_EQ(got, want);
  EXPECT_EQ(aligned->extra_params(), 2 * (5 * 5 * 9 + 5) + 5 * 3 + 5);
}

TEST(Mgd, MaskComesFromTheRandomStreamAndRatioZeroIsDeterministic) {
  auto in = make_inputs("mgd", 2, 4, 6, 7);
  auto value = [&](const json& options, uint64_t seed) {
    torch::manual_seed(1);  // the same generator weights every time
    auto loss = contract_loss("mgd", options);
    torch::manual_seed(seed);
    return loss->forward(in.student, in.teacher, {}).item<double>();
  };
  EXPECT_EQ(value({}, 5), value({}, 5));
  EXPECT_NE(value({}, 5), value({}, 6));
  EXPECT_EQ(value({{"mask_ratio", 0.0}}, 5), value({{"mask_ratio", 0.0}}, 6));
  // mask_ratio 1 masks every position: the generator sees zeros, whatever the student.
  EXPECT_EQ(value({{"mask_ratio", 1.0}}, 5), value({{"mask_ratio", 1.0}}, 6));
  EXPECT_NE(value({}, 5), value({{"mask_ratio", 0.0}}, 5));
}

TEST(Mgd, ChannelCountsAreNamedWhenMissingOrWrong) {
  auto in = make_inputs("mgd");
  EXPECT_EQ(error_of([&] { cwd::losses::create("mgd", {})->forward(in.student, in.teacher, {}); }),
            "mgd: the generator's width is unknown, expected option teacher_channels (and "
            "student_channels when the maps differ)");
  EXPECT_EQ(error_of([&] { contract_loss("mgd", {}, 5)->forward(in.student, in.teacher, {}); }),
            "mgd: maps have 4 (student) and 4 (teacher) channels, expected student_channels = 5 "
            "and teacher_channels = 5");
}

// ---- channel-wise losses and the adapter ------------------------------------------------------

TEST(ChannelAdapter, MapsStudentChannelsAndTrainsWithTheStudent) {
  for (const std::string key : {"cwd", "pi"}) {
    SCOPED_TRACE(key);
    auto s = torch::randn({2, 6, 5, 5}).requires_grad_(true);
    auto t = torch::randn({2, 4, 5, 5});
    EXPECT_EQ(error_of([&] { create(key, {})->forward(s, t, {}); }),
              key +
                  ": channel counts differ (student 6, teacher 4), expected equal (set options "
                  "student_channels and teacher_channels to add a channel adapter)");
    auto loss = create(key, {{"student_channels", 6}, {"teacher_channels", 4}});
    EXPECT_EQ(loss->extra_params(), 6 * 4 + 2 * 4);  // conv 6→4, BN scale and shift
    auto value = loss->forward(s, t, {});
    value.backward();
    EXPECT_TRUE(s.grad().defined());
    for (const auto& p : loss->parameters()) EXPECT_TRUE(p.grad().defined());
    EXPECT_EQ(error_of([&] { loss->forward(t, t, {}); }),
              key + ": student map has 4 channels, expected student_channels = 6");
    EXPECT_EQ(loss->options()["student_channels"], 6);
    EXPECT_GT(loss->flops({2, 6, 4, 5, 5, 0}), create(key, {})->flops({2, 6, 4, 5, 5, 0}));
  }
}

TEST(ChannelFreeLosses, AcceptDifferentChannelCounts) {
  for (const std::string key : {"at", "local", "pa", "ifvd"}) {
    auto in = make_inputs(key, 2, 4, 6, 7);
    auto s = torch::randn({2, 9, 6, 7});
    EXPECT_TRUE(std::isfinite(create(key, {})->forward(s, in.teacher, in.labels).item<double>()))
        << key;
  }
}

// ---- PA: the direct and the Gram form -----------------------------------------------------------

TEST(PaForms, DirectAndGramAgreeInValueAndGradient) {
  struct Case {
    torch::ScalarType dtype;
    double noise;  // teacher = student + noise·randn (0: identical)
    int64_t cs, ct, pool;
  };
  for (const auto& c : {Case{torch::kDouble, 1.0, 5, 5, 1}, Case{torch::kDouble, 1e-4, 5, 5, 1},
                        Case{torch::kDouble, 0.0, 5, 5, 1}, Case{torch::kDouble, 1.0, 3, 6, 2},
                        Case{torch::kFloat, 1e-3, 8, 8, 1}, Case{torch::kFloat, 1.0, 19, 19, 1}}) {
    SCOPED_TRACE(std::string(c10::toString(c.dtype)) + " noise " + std::to_string(c.noise));
    torch::manual_seed(3);
    auto base = torch::randn({2, c.cs, 9, 11}, torch::kDouble);
    auto teacher = c.cs == c.ct ? base + c.noise * torch::randn_like(base)
                                : torch::randn({2, c.ct, 9, 11}, torch::kDouble);
    teacher = teacher.to(c.dtype);
    auto run = [&](const std::string& form) {
      auto s = base.to(c.dtype).clone().requires_grad_(true);
      auto v = create("pa", {{"form", form}, {"pool", c.pool}})->forward(s, teacher, {});
      v.backward();
      return std::make_pair(v.to(torch::kDouble), s.grad().to(torch::kDouble));
    };
    auto [v_direct, g_direct] = run("direct");
    auto [v_gram, g_gram] = run("gram");
    const bool f64 = c.dtype == torch::kDouble;
    const double rtol = f64 ? 1e-9 : 2e-4;
    const double vd = v_direct.item<double>();
    // float32 direct form: its own rounding of A_S − A_T is ~1e-7 per entry.
    EXPECT_NEAR(v_gram.item<double>(), vd, rtol * std::abs(vd) + (f64 ? 1e-15 : 1e-9));
    EXPECT_GE(v_gram.item<double>(), 0.0);
    const double scale = g_direct.abs().max().item<double>();
    EXPECT_LE((g_gram - g_direct).abs().max().item<double>(), rtol * scale + (f64 ? 1e-15 : 1e-8));
    if (c.noise == 0.0) {
      EXPECT_NEAR(v_gram.item<double>(), 0.0, 1e-15);
      EXPECT_NEAR(vd, 0.0, 1e-15);
    }
  }
}

TEST(PaForms, AutoPicksTheCheaperForm) {
  EXPECT_EQ(cwd::losses::pa_auto_form(19, 19, 64 * 128), "gram");
  EXPECT_EQ(cwd::losses::pa_auto_form(512, 512, 64 * 128), "gram");
  EXPECT_EQ(cwd::losses::pa_auto_form(512, 512, 16 * 32), "direct");
  EXPECT_EQ(cwd::losses::pa_auto_form(4096, 4096, 64 * 128), "direct");
  const cwd::losses::MapShape paper{8, 19, 19, 64, 128, 19};
  EXPECT_LT(create("pa", {})->flops(paper) * 100.0,
            create("pa", {{"form", "direct"}})->flops(paper));
}

// ---- IFVD --------------------------------------------------------------------------------------

TEST(Ifvd, LabelErrors) {
  auto in = make_inputs("ifvd");
  auto loss = create("ifvd", {});
  EXPECT_EQ(error_of([&] { loss->forward(in.student, in.teacher, {}); }),
            "ifvd: labels are missing, expected int64 N×H0×W0 labels (ifvd needs labels)");
  EXPECT_EQ(error_of([&] { loss->forward(in.student, in.teacher, in.labels[0]); }),
            "ifvd: labels are 2-D, expected N×H0×W0");
  EXPECT_EQ(error_of([&] { loss->forward(in.student, in.teacher, in.labels.to(torch::kFloat)); }),
            "ifvd: labels are Float, expected int64 (Long)");
  EXPECT_EQ(error_of([&] { loss->forward(in.student, in.teacher, in.labels.narrow(0, 0, 1)); }),
            "ifvd: batch sizes differ (maps 2, labels 1), expected the same N");
  auto bad = in.labels.clone();
  bad[0][0][0] = -3;
  EXPECT_EQ(error_of([&] { loss->forward(in.student, in.teacher, bad); }),
            "ifvd: labels hold class id -3, expected 0..4095 or ignore_index 255");
  EXPECT_EQ(error_of([&] { cwd::losses::check_values("ifvd", in.student, in.teacher, bad, 255); }),
            "ifvd: labels hold class id -3, expected 0..4095 or ignore_index 255");
}

// check_values() reads the labels as IFVD does: resized to the teacher's H×W, ignore_index set
// apart, so it rejects exactly the class ids forward() rejects.
TEST(Ifvd, CheckValuesSeesTheLabelsForwardUses) {
  auto in = make_inputs("ifvd");  // teacher 6×7, labels 12×14: rows and columns 0, 2, 4, ...
  auto loss = create("ifvd", {{"ignore_index", -1}});
  auto check = [&](const torch::Tensor& labels) {
    cwd::losses::check_values("ifvd", in.student, in.teacher, labels, -1);
  };
  auto labels = in.labels.masked_fill(in.labels == 255, -1);
  EXPECT_NO_THROW(check(labels));
  auto unused = labels.clone();
  unused[1][3][5] = 5000;  // an odd row: nearest resizing never reads it
  EXPECT_NO_THROW(check(unused));
  EXPECT_NO_THROW(loss->forward(in.student, in.teacher, unused));
  auto used = labels.clone();
  used[1][4][6] = 5000;
  const std::string want = "ifvd: labels hold class id 5000, expected 0..4095 or ignore_index -1";
  EXPECT_EQ(error_of([&] { loss->forward(in.student, in.teacher, used); }), want);
  EXPECT_EQ(error_of([&] { check(used); }), want);
  EXPECT_EQ(error_of([&] { check(in.labels.narrow(0, 0, 1)); }),
            "ifvd: batch sizes differ (maps 2, labels 1), expected the same N");
}

// On CUDA, IFVD sizes its class slots without reading the labels: ids out of range count as
// ignored there (no out-of-bounds scatter) and check_values() reports them.
TEST(Ifvd, CudaClassIdsOutOfRangeAreLeftToCheckValues) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA);
  auto in = make_inputs("ifvd");
  auto bad = in.labels.clone();
  bad[0][4][6] = 5000;
  auto ignored = bad.masked_fill(bad == 5000, 255);
  auto loss = create("ifvd", {});
  loss->to(cuda);
  const auto s = in.student.to(cuda);
  const auto t = in.teacher.to(cuda);
  torch::Tensor value;
  ASSERT_NO_THROW(value = loss->forward(s, t, bad.to(cuda)));
  EXPECT_NEAR(value.item<double>(), loss->forward(s, t, ignored.to(cuda)).item<double>(), 1e-6);
  EXPECT_EQ(error_of([&] { cwd::losses::check_values("ifvd", s, t, bad.to(cuda), 255); }),
            "ifvd: labels hold class id 5000, expected 0..4095 or ignore_index 255");
}

TEST(Ifvd, AllIgnoredGivesZeroAndIgnoredPixelsGetNoGradient) {
  auto in = make_inputs("ifvd", 1, 3, 4, 4);
  auto s = in.student.clone().requires_grad_(true);
  auto labels = torch::full({1, 4, 4}, 255, torch::kLong);
  auto v = create("ifvd", {})->forward(s, in.teacher, labels);
  EXPECT_EQ(v.item<double>(), 0.0);
  labels[0][0][0] = 1;
  labels[0][0][1] = 1;
  labels[0][1][1] = 2;
  s.mutable_grad() = torch::Tensor();
  create("ifvd", {})->forward(s, in.teacher, labels).backward();
  EXPECT_EQ(s.grad()[0].select(1, 3).abs().max().item<double>(), 0.0);  // row 3: all ignored
}

// ---- benchmark library --------------------------------------------------------------------------

TEST(BenchLosses, MeasuresEveryLossAndReports) {
  cwd::losses::BenchOptions opts;
  opts.n = 1;
  opts.channels = {4};
  opts.h = 8;
  opts.w = 10;
  opts.label_stride = 2;
  opts.num_classes = 3;
  opts.warmup = 0;
  opts.repeats = 2;
  opts.threads = 1;
  std::vector<std::string> lines;
  auto records = cwd::losses::bench_losses(opts, [&](const std::string& l) { lines.push_back(l); });
  ASSERT_EQ(records.size(), known_keys().size());
  EXPECT_EQ(lines.size(), records.size());
  for (const auto& r : records) {
    SCOPED_TRACE(r.key);
    EXPECT_EQ(r.times_ms.size(), 2u);
    EXPECT_GT(r.median_ms, 0.0);
    // At least the student's gradient (1×4×8×10 floats) is allocated inside the scope.
    EXPECT_GE(r.peak_bytes, 4 * 8 * 10 * 4);
    EXPECT_GT(r.flops, 0.0);
    EXPECT_TRUE(std::isfinite(r.value));
  }
  auto report = cwd::losses::bench_report(opts, records);
  EXPECT_EQ(report["results"].size(), records.size());
  EXPECT_EQ(report["threads"], 1);
  opts.keys = {"nope"};
  EXPECT_EQ(error_of([&] { cwd::losses::bench_losses(opts); }),
            "unknown loss 'nope' (known: at, cwd, dist, ifvd, local, mgd, pa, pi, or script:PATH.pt for a TorchScript loss)");
}

TEST(BenchLosses, PeakMemoryOfPaDirectIsQuadraticGramIsNot) {
  cwd::losses::BenchOptions opts;
  opts.n = 1;
  opts.channels = {4};
  opts.h = 24;
  opts.w = 32;  // P = 768: one P×P float matrix is 2.25 MiB
  opts.warmup = 0;
  opts.repeats = 1;
  opts.threads = 1;
  opts.keys = {"pa"};
  opts.options = {{"pa", {{"form", "direct"}}}};
  const auto direct = cwd::losses::bench_losses(opts).at(0);
  opts.options = {{"pa", {{"form", "gram"}}}};
  const auto gram = cwd::losses::bench_losses(opts).at(0);
  const int64_t pp = 768 * 768 * 4;
  EXPECT_GE(direct.peak_bytes, 2 * pp);  // A_S and A_T at least
  EXPECT_LT(gram.peak_bytes, pp / 4);
}

}  // namespace
