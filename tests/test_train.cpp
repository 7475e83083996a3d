// Metrics, configuration, checkpoints, exact resume and tables.

#include "models/weights.h"
#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/train/checkpoint.h"
#include "src/train/config.h"
#include "src/train/metrics.h"
#include "src/train/network.h"
#include "src/train/sweep.h"
#include "src/train/table.h"
#include "src/train/trainer.h"
#include "tests/test_helpers.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

namespace {

using cwd::train::compute_metrics;

torch::Tensor matrix(std::vector<int64_t> values, int64_t k) {
  return torch::tensor(values, torch::kInt64).reshape({k, k});
}

TEST(Metrics, HandMadeConfusion) {
  // rows = ground truth, cols = prediction
  // class 0: tp 3, fn 1 (→1), fp 2 (from 2) ; class 1: tp 4, fn 0, fp 1 ; class 2: tp 5, fn 2, fp 0
  auto m = matrix({3, 1, 0,  //
                   0, 4, 0,  //
                   2, 0, 5},
                  3);
  auto r = compute_metrics(m);
  EXPECT_NEAR(*r.iou[0], 100.0 * 3 / (4 + 5 - 3), 1e-9);
  EXPECT_NEAR(*r.iou[1], 100.0 * 4 / (4 + 5 - 4), 1e-9);
  EXPECT_NEAR(*r.iou[2], 100.0 * 5 / (7 + 5 - 5), 1e-9);
  EXPECT_NEAR(r.miou, (*r.iou[0] + *r.iou[1] + *r.iou[2]) / 3, 1e-9);
  EXPECT_NEAR(r.pixel_acc, 100.0 * 12 / 15, 1e-9);
  EXPECT_NEAR(r.macc, 100.0 * (3.0 / 4 + 4.0 / 4 + 5.0 / 7) / 3, 1e-9);
  EXPECT_EQ(r.pixels, 15);
}

TEST(Metrics, ClassAbsentFromBothIsExcluded) {
  auto m = matrix({5, 0, 0,  //
                   0, 0, 0,  //
                   0, 0, 5},
                  3);
  auto r = compute_metrics(m);
  EXPECT_FALSE(r.iou[1].has_value());
  EXPECT_NEAR(r.miou, 100.0, 1e-9);
  // Predicted but absent from ground truth: IoU 0, counted in mIoU, not in mAcc.
  auto m2 = matrix({4, 1, 0,  //
                    0, 0, 0,  //
                    0, 0, 5},
                   3);
  auto r2 = compute_metrics(m2);
  ASSERT_TRUE(r2.iou[1].has_value());
  EXPECT_NEAR(*r2.iou[1], 0.0, 1e-12);
  EXPECT_NEAR(r2.miou, (80.0 + 0.0 + 100.0) / 3, 1e-9);
  EXPECT_NEAR(r2.macc, (80.0 + 100.0) / 2, 1e-9);
}

TEST(Metrics, ConfusionSkipsIgnoreAndRejectsBadLabels) {
  cwd::train::ConfusionMatrix cm(3, 255);
  auto pred = torch::tensor({0, 1, 2, 2, 0}, torch::kInt64);
  auto gt = torch::tensor({0, 1, 255, 2, 1}, torch::kInt64);
  cm.add(pred, gt);
  auto expected = matrix({1, 0, 0, 1, 1, 0, 0, 0, 1}, 3);
  EXPECT_TRUE(torch::equal(cm.matrix(), expected));
  try {
    cm.add(torch::tensor({0}, torch::kInt64), torch::tensor({7}, torch::kInt64));
    FAIL() << "expected an error";
  } catch (const cwd::Error& e) {
    EXPECT_STREQ(e.what(), "label value 7 is outside the 3 classes (0..2) and is not the ignore index 255");
  }
}

TEST(Config, ErrorsNameTheFlagAndTheValidValues) {
  try {
    cwd::train::preset("fast");
    FAIL();
  } catch (const cwd::Error& e) {
    EXPECT_STREQ(e.what(), "unknown preset 'fast' (known: smoke, quick, full, cityscapes-paper)");
  }
  EXPECT_EQ(cwd::train::parse_size("64x128", "--crop"), std::make_pair(int64_t{64}, int64_t{128}));
  try {
    cwd::train::parse_size("64*128", "--crop");
    FAIL();
  } catch (const cwd::Error& e) {
    EXPECT_STREQ(e.what(), "--crop '64*128' is not a size (expected HxW, each side an integer from 1 to 16384, e.g. 64x128)");
  }
  auto c = cwd::train::config_from_preset("smoke", cwd::train::Role::kStudent);
  c.net.output_stride = 4;
  try {
    cwd::train::validate(c);
    FAIL();
  } catch (const cwd::Error& e) {
    EXPECT_STREQ(e.what(), "unsupported output stride 4 (--output-stride; valid: 8, 16, 32)");
  }
  c = cwd::train::config_from_preset("smoke", cwd::train::Role::kStudent);
  c.loss = "cwd";
  try {
    cwd::train::validate(c);
    FAIL();
  } catch (const cwd::Error& e) {
    EXPECT_STREQ(e.what(), "--loss cwd needs a teacher: pass --teacher RECORD.json or CHECKPOINT.safetensors");
  }
}

TEST(Config, LossOptionsParseAsJsonOrString) {
  nlohmann::json o = nlohmann::json::object();
  cwd::train::parse_loss_option("tau=4", o);
  cwd::train::parse_loss_option("metric=euclidean", o);
  cwd::train::parse_loss_option("weight=2.5e-1", o);
  EXPECT_EQ(o["tau"], 4);
  EXPECT_EQ(o["metric"], "euclidean");
  EXPECT_DOUBLE_EQ(o["weight"].get<double>(), 0.25);
  EXPECT_THROW(cwd::train::parse_loss_option("tau", o), cwd::Error);
}

TEST(Config, HashIgnoresRuntimeButNotRecipe) {
  auto a = cwd::train::config_from_preset("smoke", cwd::train::Role::kStudent);
  auto b = a;
  b.threads = 7;
  b.out_dir = "/elsewhere";
  EXPECT_EQ(cwd::train::config_hash(a), cwd::train::config_hash(b));
  b.schedule.lr *= 2;
  EXPECT_NE(cwd::train::config_hash(a), cwd::train::config_hash(b));
}

TEST(JsonIo, AtomicWriteLeavesNoTemporaryFiles) {
  cwd::testing::TempDir dir("json");
  cwd::write_json_atomic(dir / "sub/a.json", {{"x", 1}});
  EXPECT_EQ(cwd::read_json(dir / "sub/a.json")["x"], 1);
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir / "sub")) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
  try {
    cwd::read_json(dir / "missing.json");
    FAIL();
  } catch (const cwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no such file"), std::string::npos);
  }
}

TEST(Checkpoint, RoundTripAndForeignArchitecture) {
  cwd::testing::TempDir dir("ckpt");
  const auto standard = cwd::models::Stem::kStandard;
  const auto init = cwd::models::Init::kTorch;
  cwd::train::NetConfig r18{18, 0.125, standard, 8, "", init, "", ""};
  cwd::train::NetConfig r34{34, 0.125, standard, 8, "", init, "", ""};
  torch::manual_seed(1);
  auto net = cwd::train::build_network(r18, 5);
  const std::string path = dir / "a.safetensors";
  cwd::train::save_checkpoint(path, *net, nullptr, nullptr,
                              {3, {{"model", r18}, {"num_classes", 5}}});
  torch::manual_seed(2);
  auto other = cwd::train::build_network(r18, 5);
  auto meta = cwd::train::load_checkpoint(path, *other, nullptr, nullptr);
  EXPECT_EQ(meta.iteration, 3);
  auto a = cwd::models::named_state(*net), b = cwd::models::named_state(*other);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  auto bigger = cwd::train::build_network(r34, 5);
  try {
    cwd::train::load_checkpoint(path, *bigger, nullptr, nullptr);
    FAIL();
  } catch (const cwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("use a checkpoint of the same architecture"), std::string::npos) << e.what();
  }
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  try {
    cwd::train::read_checkpoint_meta(path);
    FAIL();
  } catch (const cwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a cwd-bench checkpoint, or truncated"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, MomentumRoundTripsAndOldArchivesAreNamed) {
  cwd::testing::TempDir dir("ckpt");
  const std::string path = dir / "m.safetensors";
  torch::manual_seed(4);
  torch::nn::Linear net(3, 2), copy(3, 2);
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  for (int step = 0; step < 2; ++step) {
    sgd.zero_grad();
    net(torch::randn({4, 3})).pow(2).sum().backward();
    sgd.step();
  }
  cwd::train::save_checkpoint(path, *net, nullptr, &sgd, {2, {{"num_classes", 2}}});
  torch::optim::SGD restored(copy->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  EXPECT_EQ(cwd::train::load_checkpoint(path, *copy, nullptr, &restored).iteration, 2);
  // The same next step from both: equal weights only if the momentum came back.
  const auto x = torch::randn({4, 3});
  const auto step = [&x](torch::nn::Linear& model, torch::optim::SGD& opt) {
    opt.zero_grad();
    model(x).pow(2).sum().backward();
    opt.step();
  };
  step(net, sgd);
  step(copy, restored);
  EXPECT_TRUE(torch::equal(net->weight, copy->weight));
  EXPECT_TRUE(torch::equal(net->bias, copy->bias));
  // Without momentum the resumed step differs: the test can fail.
  torch::nn::Linear fresh(3, 2);
  cwd::train::load_checkpoint(path, *fresh, nullptr, nullptr);
  torch::optim::SGD cold(fresh->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  step(fresh, cold);
  EXPECT_FALSE(torch::equal(fresh->weight, copy->weight));

  std::ofstream(dir / "old.pt", std::ios::binary) << std::string("PK\x03\x04rest", 8);
  try {
    cwd::train::read_checkpoint_meta(dir / "old.pt");
    FAIL();
  } catch (const cwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("is a libtorch archive, which this cwd-bench no longer reads"),
              std::string::npos) << e.what();
  }
  cwd::models::save_safetensors({{"x", torch::ones({1})}}, dir / "plain.safetensors");
  try {
    cwd::train::read_checkpoint_meta(dir / "plain.safetensors");
    FAIL();
  } catch (const cwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not a cwd-bench checkpoint (no cwd-bench metadata)"),
              std::string::npos) << e.what();
  }
}

cwd::train::RunConfig tiny_run(const std::string& out, const std::string& name) {
  auto c = cwd::train::config_from_preset("smoke", cwd::train::Role::kStudent);
  c.data.train_size = 16;
  c.data.val_size = 4;
  c.schedule.iterations = 8;
  c.schedule.batch_size = 2;
  c.checkpoint_every = 100;
  c.threads = 1;
  c.device = "cpu";
  c.out_dir = out;
  c.name = name;
  return c;
}

// The two safetensors files hold the same names and the same values, bit for bit.
void expect_same_tensors(const std::string& path_a, const std::string& path_b) {
  const auto a = cwd::models::load_safetensors(path_a);
  const auto b = cwd::models::load_safetensors(path_b);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

TEST(Trainer, ResumeIsExact) {
  cwd::testing::TempDir dir("resume");
  // 8 iterations straight ...
  auto straight = tiny_run(dir.str(), "straight");
  const auto record = cwd::train::train_run(straight);
  ASSERT_TRUE(record.has_value());
  // ... and 4, stop, then resume for the other 4.
  auto split = tiny_run(dir.str(), "split");
  split.stop_after = 4;
  EXPECT_FALSE(cwd::train::train_run(split).has_value());
  EXPECT_FALSE(std::filesystem::exists(dir / "split.json"));
  EXPECT_EQ(cwd::train::read_checkpoint_meta(dir / "ckpt/split.safetensors").iteration, 4);
  split.stop_after = 0;
  const auto resumed = cwd::train::train_run(split);
  ASSERT_TRUE(resumed.has_value());
  EXPECT_EQ(resumed->train.resumed_at, 4);
  expect_same_tensors(dir / "weights/straight.safetensors", dir / "weights/split.safetensors");
  EXPECT_DOUBLE_EQ(record->eval.miou, resumed->eval.miou);
  // A changed recipe does not silently continue an old checkpoint.
  auto changed = tiny_run(dir.str(), "split");
  changed.schedule.lr = 0.5;
  try {
    cwd::train::train_run(changed);
    FAIL();
  } catch (const cwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("was written by a different configuration"), std::string::npos);
  }
}

// MGD draws a random mask every step and trains its generator with the student: a run stopped
// and resumed from its checkpoint (generator and its momentum included) ends bit-identical.
TEST(Trainer, MgdResumeIsExactWithItsGeneratorInTheCheckpoint) {
  cwd::testing::TempDir dir("mgd-resume");
  auto teacher = tiny_run(dir.str(), "teacher");
  teacher.role = cwd::train::Role::kTeacher;
  teacher.net = cwd::train::preset("smoke").teacher;
  teacher.schedule.iterations = 2;
  ASSERT_TRUE(cwd::train::train_run(teacher).has_value());
  auto student = [&](const std::string& name) {
    auto c = tiny_run(dir.str(), name);
    c.loss = "mgd";
    c.placement = cwd::train::Placement::kFeature;
    c.teacher = dir / "teacher.json";
    c.loss_options = {{"weight", 1e-2}};
    return c;
  };
  const auto record = cwd::train::train_run(student("straight"));
  ASSERT_TRUE(record.has_value());
  ASSERT_TRUE(record->loss.has_value());
  EXPECT_GT(record->loss->extra_params, 0);
  EXPECT_EQ(record->loss->options["mask_ratio"], 0.75);
  auto split = student("split");
  split.stop_after = 4;
  EXPECT_FALSE(cwd::train::train_run(split).has_value());
  const auto ckpt = cwd::models::load_safetensors(dir / "ckpt/split.safetensors");
  int64_t in_checkpoint = 0;  // the generator (and align) are saved under loss.*
  bool has_generator = false;
  for (const auto& [name, tensor] : ckpt) {
    if (name.rfind("loss.", 0) == 0) in_checkpoint += tensor.numel();
    has_generator |= name == "loss.generator.0.weight";
  }
  EXPECT_TRUE(has_generator);
  EXPECT_EQ(in_checkpoint, record->loss->extra_params);
  split.stop_after = 0;
  const auto resumed = cwd::train::train_run(split);
  ASSERT_TRUE(resumed.has_value());
  EXPECT_EQ(resumed->train.resumed_at, 4);
  expect_same_tensors(dir / "weights/straight.safetensors", dir / "weights/split.safetensors");
  EXPECT_EQ(record->train.curve, resumed->train.curve);
}

TEST(Trainer, RecordHasTheKeysOtherToolsRelyOn) {
  cwd::testing::TempDir dir("record");
  auto c = tiny_run(dir.str(), "r");
  c.schedule.iterations = 2;
  const auto record = cwd::train::train_run(c);
  ASSERT_TRUE(record.has_value());
  const nlohmann::json r = *record;
  auto on_disk = cwd::read_json(dir / "r.json");
  EXPECT_EQ(r, on_disk);
  EXPECT_EQ(r["schema"], "cwd-bench/run/1");
  for (const char* key : {"miou", "pixel_acc", "macc"}) EXPECT_TRUE(r["eval"][key].is_number()) << key;
  EXPECT_EQ(r["eval"]["per_class"].size(), 11u);
  EXPECT_TRUE(r["eval"]["per_class"].contains("ankle-boot"));
  EXPECT_TRUE(r["model"]["params"].is_number_integer());
  EXPECT_TRUE(r["model"]["backbone_params"].is_number_integer());
  EXPECT_GT(r["model"]["gflops"].get<double>(), 0);
  EXPECT_TRUE(r["loss"].is_null());
  EXPECT_EQ(r["seed"], 0);
  EXPECT_GT(r["train"]["wall_s"].get<double>(), 0);
  EXPECT_EQ(r["threads"], 1);
  EXPECT_EQ(r["device"], "cpu");
  EXPECT_FALSE(r["config_hash"].get<std::string>().empty());
}

cwd::train::RunRecord fake_record(const std::string& role, const std::string& loss, const std::string& placement,
                                  double miou, uint64_t seed) {
  cwd::train::RunRecord r;
  r.role = cwd::train::parse_role(role);
  r.seed = seed;
  r.name = fmt::format("{}-{}-s{}", role, loss, seed);
  r.config.preset = "smoke";
  r.dataset.train = {{"name", "fashion-scenes"}};
  r.model.net.depth = role == "teacher" ? 34 : 18;
  r.model.net.width = 0.25;
  r.train.wall_s = 10.0;
  r.eval.miou = miou;
  r.eval.split = "val";
  r.config.role = r.role;
  if (!loss.empty()) {
    r.config.loss = loss;
    r.config.placement = cwd::train::parse_placement(placement);
    cwd::train::LossRecord l;
    l.key = loss;
    l.placement = cwd::train::parse_placement(placement);
    l.formula = "h·w·c";
    l.ms_per_iter = 2.0;
    l.peak_bytes = 1000;
    l.gflops = 0.001;
    l.options = {{"weight", 3}};
    r.loss = l;
  }
  return r;
}

TEST(Table, MeanStdGainAndOrder) {
  std::vector<cwd::train::RunRecord> records = {
      fake_record("teacher", "", "", 80, 0),      fake_record("student", "", "", 60, 0),
      fake_record("student", "", "", 62, 1),      fake_record("student", "cwd", "logit", 70, 0),
      fake_record("student", "cwd", "logit", 72, 1), fake_record("student", "at", "logit", 65, 0)};
  const auto table = cwd::train::build_table(records);
  const nlohmann::json t = table;
  EXPECT_EQ(t["schema"], "cwd-bench/table/2");
  EXPECT_DOUBLE_EQ(t["student"]["miou"]["mean"].get<double>(), 61.0);
  EXPECT_NEAR(t["student"]["miou"]["std"].get<double>(), std::sqrt(2.0), 1e-12);
  EXPECT_EQ(t["student"]["miou"]["n"], 2);
  ASSERT_EQ(t["rows"].size(), 2u);
  EXPECT_EQ(t["rows"][0]["method"], "at");  // the paper's order: AT before CWD
  EXPECT_EQ(t["rows"][1]["method"], "cwd");
  EXPECT_DOUBLE_EQ(t["rows"][1]["gain"].get<double>(), 10.0);
  EXPECT_EQ(t["rows"][1]["cost"]["peak_bytes"], 1000);
  // One AT run: no spread, no test, but the gap share is known (teacher 80, student 61).
  EXPECT_TRUE(t["rows"][0]["miou"]["std"].is_null());
  EXPECT_TRUE(t["rows"][0]["miou"]["ci95"].is_null());
  EXPECT_TRUE(t["rows"][0]["p_value"].is_null());
  EXPECT_FALSE(t["rows"][0]["significant"].get<bool>());
  EXPECT_NEAR(t["rows"][0]["gap_fraction"].get<double>(), 4.0 / 19.0, 1e-12);
  // CWD {70, 72} against the student {60, 62}: Welch t = 10 / sqrt(2), df = 2; SciPy gives
  // p = 0.019419324309079843 (tests/fixtures/stats_golden.json) and the interval 10 ± 4.3027 sqrt(2).
  EXPECT_NEAR(t["rows"][1]["p_value"].get<double>(), 0.019419324309079843, 1e-10);
  EXPECT_NEAR(t["rows"][1]["welch_df"].get<double>(), 2.0, 1e-12);
  EXPECT_NEAR(t["rows"][1]["gain_ci95"][0].get<double>(), 3.9151301551778532, 1e-8);
  EXPECT_NEAR(t["rows"][1]["gain_ci95"][1].get<double>(), 16.084869844822148, 1e-8);
  EXPECT_TRUE(t["rows"][1]["significant"].get<bool>());
  EXPECT_NEAR(t["student"]["miou"]["ci95"][0].get<double>(), 61.0 - 12.706204736432095, 1e-8);
  EXPECT_TRUE(t["teacher"]["miou"]["std"].is_null());
  // AT below CWD, as in the paper's logit column (72.32 < 74.87): τ-b = 1 over two methods.
  ASSERT_EQ(t["paper_agreement"].size(), 1u);
  EXPECT_EQ(t["paper_agreement"][0]["placement"], "logit");
  EXPECT_EQ(t["paper_agreement"][0]["methods"], 2);
  EXPECT_DOUBLE_EQ(t["paper_agreement"][0]["kendall_tau"].get<double>(), 1.0);
  const auto md = cwd::train::table_markdown(table);
  EXPECT_NE(md.find("| CWD | h·w·c | – | 71.00 ± 1.41 (**+10.00**) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| AT | h·w·c | – | 65.00 (n = 1) (+4.00) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| Teacher | – | 1 | 80.00 | unknown (n = 1) | – | – | – | – | – |"), std::string::npos) << md;
  EXPECT_NE(md.find("| CWD | logit | 2 | 71.00 | 1.41 | [58.29, 83.71] | **+10.00** | [3.92, 16.08] | 0.019 | 53% |"),
            std::string::npos)
      << md;
  const auto csv = cwd::train::table_csv(table);
  EXPECT_NE(csv.find("\nteacher,,80.0000,,1,,,,,,,,,,,,,,,0\n"), std::string::npos) << csv;
  records.erase(records.begin());
  try {
    cwd::train::build_table(records);
    FAIL();
  } catch (const cwd::Error& e) {
    EXPECT_STREQ(e.what(), "the run records hold no teacher (role 'teacher'); the table needs one: copy the teacher's record (and its weights/ folder) into the folder");
  }
}

TEST(Table, DivergedRunsAreListedApartFromTheStatistics) {
  auto diverged = [](cwd::train::RunRecord r) {
    r.eval = {};
    r.diverged = cwd::train::Divergence{7, "weights", "inf"};
    return r;
  };
  std::vector<cwd::train::RunRecord> records = {
      fake_record("teacher", "", "", 80, 0),          fake_record("student", "", "", 60, 0),
      fake_record("student", "", "", 62, 1),          diverged(fake_record("student", "", "", 0, 2)),
      fake_record("student", "cwd", "logit", 70, 0),  diverged(fake_record("student", "cwd", "logit", 0, 1)),
      diverged(fake_record("student", "at", "logit", 0, 0))};
  for (auto& r : records) r.file = r.name + ".json";
  const auto table = cwd::train::build_table(records);
  EXPECT_EQ(table.student.miou.n, 2);  // the diverged baseline is not averaged in
  EXPECT_DOUBLE_EQ(table.student.miou.mean, 61.0);
  ASSERT_EQ(table.rows.size(), 1u);  // AT has no finite run: no row, only the list
  EXPECT_EQ(table.rows[0].method, "cwd");
  EXPECT_EQ(table.rows[0].miou.n, 1);
  EXPECT_EQ(table.rows[0].diverged, 1);
  ASSERT_EQ(table.diverged.size(), 3u);
  const nlohmann::json j = table;
  EXPECT_EQ(j["diverged"][0]["iteration"], 7);
  EXPECT_EQ(j["rows"][0]["diverged"], 1);
  const auto md = cwd::train::table_markdown(table);
  EXPECT_NE(md.find("| AT | – | – | diverged (1 of 1 runs) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| CWD | logit | 1 (+1 diverged) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| Student (baseline) | – | 2 (+1 diverged) |"), std::string::npos) << md;
  EXPECT_NE(md.find("**3 runs diverged**"), std::string::npos) << md;
  EXPECT_NE(md.find("- student-at-s0.json: AT on the logit map, seed 0, diverged at iteration 7: the weights hold inf"),
            std::string::npos)
      << md;
  records.erase(records.begin() + 1, records.begin() + 3);  // only the diverged baseline is left
  EXPECT_EQ(cwd::testing::error_of([&] { cwd::train::build_table(records); }),
            "every baseline student diverged; the table has nothing to compare against: retrain them with a lower --lr");
}

TEST(Table, RecordsThatAreNotOneComparisonAreRefused) {
  std::vector<cwd::train::RunRecord> base = {fake_record("teacher", "", "", 80, 0), fake_record("student", "", "", 60, 0),
                                             fake_record("student", "cwd", "logit", 70, 0)};
  for (auto& r : base) r.file = r.name + ".json";
  auto with = [&](cwd::train::RunRecord extra, const std::string& file) {
    auto records = base;
    extra.file = file;
    records.push_back(extra);
    return cwd::testing::error_of([&] { cwd::train::build_table(records); });
  };
  EXPECT_EQ(with(fake_record("student", "cwd", "logit", 71, 0), "copy.json"),
            "record 'copy.json' is cwd on the logit map, seed 0 again (as is 'student-cwd-s0.json'): a copy, or a run of "
            "another comparison; keep one comparison per folder (move the record out)");
  EXPECT_EQ(with(fake_record("teacher", "", "", 81, 0), "teacher2.json"),
            "record 'teacher2.json' is the teacher again (as is 'teacher--s0.json'): a copy, or a run of another "
            "comparison; keep one comparison per folder (move the record out)");
  auto longer = fake_record("student", "at", "logit", 65, 0);
  longer.train.schedule.iterations = 8;
  EXPECT_NE(with(longer, "at.json").find("record 'at.json' was trained under another schedule than 'student--s0.json' "
                                          "(iterations: 8 against"),
            std::string::npos);
  auto unknown = fake_record("student", "xyz", "logit", 65, 0);
  EXPECT_NE(with(unknown, "xyz.json").find("record 'xyz.json' uses loss 'xyz', which this cwd-bench does not know"),
            std::string::npos);
  auto other_eval = fake_record("student", "at", "logit", 65, 0);
  other_eval.dataset.eval = {{"name", "fashion-scenes"}, {"split", "holdout"}};
  EXPECT_EQ(with(other_eval, "at.json"),
            "record 'at.json' was evaluated on other data than the rest; keep one comparison per folder (move the record out)");
}

TEST(Sweep, ChoosesTheBestHeldOutWeightAndTiesGoToTheDefault) {
  cwd::testing::TempDir dir("sweep-summary");
  auto sweep_record = [&](const std::string& loss, double weight, double miou, const std::string& split) {
    auto r = fake_record("student", loss, "logit", miou, 0);
    r.config.data.train_size = 56;
    r.config.data.holdout = 8;
    r.config.schedule.iterations = 12;
    r.eval.split = split;
    r.config.eval_split = cwd::train::parse_eval_split(split);
    r.eval.images = 8;
    r.loss->options["weight"] = weight;
    if (miou < 0) {  // diverged: no evaluation
      r.eval = {};
      r.diverged = cwd::train::Divergence{5, "distillation (cwd)", "nan"};
    }
    cwd::train::write_run_record(dir / fmt::format("{}-{}-{}.json", loss, weight, split), r);
  };
  sweep_record("cwd", 1.0, 20.0, "holdout");
  sweep_record("cwd", 3.0, 25.0, "holdout");
  sweep_record("cwd", 9.0, 22.0, "holdout");
  sweep_record("cwd", 27.0, 99.0, "val");  // judged on the validation split: never counted
  sweep_record("cwd", 81.0, -1.0, "holdout");  // diverged: listed, never chosen
  sweep_record("at", 3333.0, 30.0, "holdout");
  sweep_record("at", 10000.0, 30.0, "holdout");  // tie: the default weight wins
  sweep_record("at", 30000.0, 30.0, "holdout");
  const auto s = cwd::train::sweep_summary(dir.str());
  EXPECT_EQ(s["schema"], "cwd-bench/sweep/1");
  EXPECT_EQ(s["protocol"]["train_scenes"], 48);
  ASSERT_EQ(s["rows"].size(), 2u);
  EXPECT_EQ(s["rows"][0]["method"], "at");
  EXPECT_DOUBLE_EQ(s["rows"][0]["chosen_weight"].get<double>(), 10000.0);
  EXPECT_EQ(s["rows"][1]["method"], "cwd");
  EXPECT_DOUBLE_EQ(s["rows"][1]["chosen_weight"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(s["rows"][1]["chosen_holdout_miou"].get<double>(), 25.0);
  EXPECT_EQ(s["rows"][1]["tried"].size(), 4u);
  EXPECT_TRUE(s["rows"][1]["tried"][3]["holdout_miou"].is_null());
  EXPECT_EQ(s["rows"][1]["tried"][3]["diverged"], "diverged at iteration 5: the distillation (cwd) term is nan");
  const auto md = cwd::train::sweep_markdown(s);
  EXPECT_NE(md.find("| cwd | logit | 3 | 1: 20.00, 3: 25.00, 9: 22.00, 81: diverged | **3** |"), std::string::npos) << md;
  cwd::testing::TempDir empty("sweep-empty");
  try {
    cwd::train::sweep_summary(empty.str());
    FAIL();
  } catch (const cwd::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no run records"), std::string::npos) << e.what();
  }
}

}  // namespace
