#include "src/train/pretrain.h"

#include "models/resnet.h"
#include "models/weights.h"
#include "src/core/error.h"
#include "src/core/interrupt.h"
#include "src/core/json_io.h"
#include "src/core/json_keys.h"
#include "src/core/threads.h"
#include "src/data/fashion_items.h"
#include "src/train/record.h"
#include "src/train/trainer.h"

#include <set>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>

namespace cwd::train {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// The named recipes. "fashion-items": 3000 iterations of 64 renders at 48×48 (192,000 images,
// 3.2 epochs of the 60,000 training items, each seen in new renderings). "fashion-items-smoke":
// seconds, for tests and the smoke preset's plumbing.
PretrainRecipe smoke_recipe() {
  PretrainRecipe r;
  r.name = "fashion-items-smoke";
  r.side = 32;
  r.iterations = 12;
  r.batch_size = 16;
  r.eval_samples = 64;
  return r;
}

const std::vector<PretrainRecipe>& recipes() {
  static const std::vector<PretrainRecipe> table = {PretrainRecipe{}, smoke_recipe()};
  return table;
}

std::string env_or(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

// The spec's ResNet at output stride 32: no dilation, which changes no weight shape.
models::ResNetOptions classifier_backbone(const PretrainSpec& spec) {
  return models::ResNetOptions().depth(spec.depth).width(spec.width).stem(spec.stem).output_stride(32).init(spec.init);
}

// The backbone with global average pooling and a linear layer over the ten item classes.
struct ClassifierImpl : torch::nn::Module {
  ClassifierImpl(const PretrainSpec& spec, int64_t classes)
      : backbone(register_module("backbone", models::ResNet(classifier_backbone(spec)))),
        fc(register_module("fc", torch::nn::Linear(backbone->stage_channels(4), classes))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return fc(backbone->forward(x).layer4.mean({2, 3}));
  }
  models::ResNet backbone;
  torch::nn::Linear fc;
};
TORCH_MODULE(Classifier);

std::string backbones_dir(const std::string& cache_dir) {
  return (fs::path(cache_dir.empty() ? default_cache_dir() : cache_dir) / "backbones").string();
}

// Top-1 accuracy (%) over `samples` renders of the held-out items.
double test_accuracy(Classifier& model, const PretrainSpec& spec, const PretrainOptions& o) {
  const data::FashionItems test(o.data_root, "t10k", spec.recipe.side, spec.recipe.seed);
  torch::NoGradGuard no_grad;
  model->eval();
  int64_t correct = 0;
  constexpr int64_t kBatch = 200;
  for (int64_t first = 0; first < spec.recipe.eval_samples; first += kBatch) {
    const int64_t n = std::min(kBatch, spec.recipe.eval_samples - first);
    auto [x, y] = test.batch(static_cast<uint64_t>(first), n, o.data_threads);
    const auto pred = model->forward(x.to(o.device)).argmax(1).cpu();
    correct += pred.eq(y).sum().item<int64_t>();
  }
  model->train();
  return 100.0 * static_cast<double>(correct) / static_cast<double>(spec.recipe.eval_samples);
}

void check_recipe(const PretrainRecipe& r) {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw Error(message);
  };
  require(r.iterations >= 1, fmt::format("pretrain: iterations {} out of range (valid: >= 1)", r.iterations));
  require(r.batch_size >= 2, fmt::format("pretrain: batch size {} out of range (valid: >= 2)", r.batch_size));
  require(r.lr > 0, fmt::format("pretrain: learning rate {} out of range (valid: > 0)", r.lr));
  require(r.eval_samples >= 1, fmt::format("pretrain: eval samples {} out of range (valid: >= 1)", r.eval_samples));
}

}  // namespace

void to_json(nlohmann::json& j, const PretrainRecipe& r) {
  j = {{"name", r.name},         {"side", r.side},
       {"iterations", r.iterations}, {"batch_size", r.batch_size},
       {"lr", r.lr},             {"momentum", r.momentum},
       {"weight_decay", r.weight_decay}, {"poly_power", r.poly_power},
       {"seed", r.seed},         {"eval_samples", r.eval_samples}};
}

void from_json(const nlohmann::json& j, PretrainRecipe& r) {
  key(j, "name", r.name);
  key(j, "side", r.side);
  key(j, "iterations", r.iterations);
  key(j, "batch_size", r.batch_size);
  key(j, "lr", r.lr);
  key(j, "momentum", r.momentum);
  key(j, "weight_decay", r.weight_decay);
  key(j, "poly_power", r.poly_power);
  key(j, "seed", r.seed);
  key(j, "eval_samples", r.eval_samples);
}

std::vector<std::string> pretrain_recipe_names() {
  std::vector<std::string> names;
  for (const auto& r : recipes()) names.push_back(r.name);
  return names;
}

const PretrainRecipe& pretrain_recipe(const std::string& name) {
  for (const auto& r : recipes()) {
    if (r.name == name) return r;
  }
  throw Error(fmt::format("unknown pretraining recipe '{}' (known: {})", name, fmt::join(pretrain_recipe_names(), ", ")));
}

PretrainSpec pretrain_spec(const NetConfig& net) {
  PretrainSpec spec;
  spec.depth = net.depth;
  spec.width = net.width;
  spec.stem = net.stem;
  spec.init = net.init;
  spec.recipe = pretrain_recipe(net.pretrained);
  return spec;
}

nlohmann::json spec_json(const PretrainSpec& spec) {
  return {{"backbone",
           {{"arch", "resnet"},
            {"depth", spec.depth},
            {"width", spec.width},
            {"stem", models::to_string(spec.stem)},
            {"init", models::to_string(spec.init)}}},
          {"recipe", spec.recipe},
          {"task", {{"generator", data::FashionItems::generator()}, {"source_split", "train"}, {"classes", 10}}}};
}

std::string pretrain_hash(const PretrainSpec& spec) { return stable_hash(spec_json(spec).dump()); }

std::string default_cache_dir() {
  if (const std::string dir = env_or("CWD_BENCH_CACHE"); !dir.empty()) return dir;
  if (const std::string xdg = env_or("XDG_CACHE_HOME"); !xdg.empty()) return (fs::path(xdg) / "cwd-bench").string();
  const std::string home = env_or("HOME");
  if (home.empty()) {
    throw Error("no cache folder: HOME is not set; set CWD_BENCH_CACHE or XDG_CACHE_HOME to a writable folder");
  }
  return (fs::path(home) / ".cache" / "cwd-bench").string();
}

nlohmann::json PretrainedBackbone::identity() const {
  return {{"spec_hash", spec_hash}, {"weights_hash", weights_hash}, {"test_accuracy", test_accuracy}};
}

std::optional<PretrainedBackbone> find_pretrained(const PretrainSpec& spec, const std::string& cache_dir) {
  const std::string hash = pretrain_hash(spec);
  const fs::path dir(backbones_dir(cache_dir));
  PretrainedBackbone b;
  b.weights = (dir / (hash + ".safetensors")).string();
  b.record = (dir / (hash + ".json")).string();
  if (!fs::exists(b.record) || !fs::exists(b.weights)) return std::nullopt;
  const auto record = read_json(b.record);
  const std::string fix = fmt::format("delete '{}' and '{}' and rerun to pretrain it again", b.record, b.weights);
  try {
    key(record, "spec_hash", b.spec_hash);
    key(record, "weights_hash", b.weights_hash);
    b.test_accuracy = record.at("eval").at("accuracy").get<double>();
  } catch (const std::exception& e) {
    throw Error(fmt::format("pretrained backbone record '{}' is unreadable ({}); {}", b.record, e.what(), fix));
  }
  if (b.spec_hash != hash) {
    throw Error(fmt::format("pretrained backbone record '{}' names spec {} but sits under {}; {}", b.record,
                            b.spec_hash, hash, fix));
  }
  const std::string actual = file_hash(b.weights);
  if (actual != b.weights_hash) {
    throw Error(fmt::format("pretrained backbone '{}' has hash {}, but its record says {} (corrupt or partly written); {}",
                            b.weights, actual, b.weights_hash, fix));
  }
  return b;
}

namespace {

// What one pretraining run measured.
struct ClassifierRun {
  nlohmann::json curve = nlohmann::json::array();  ///< window means at each log point
  double wall_s = 0;
  double data_s = 0;                ///< of wall_s, rendering the images
  double final_train_accuracy = 0;  ///< % over the last log window
};

// SGD with the recipe's poly schedule over renders of the training items. Loss and accuracy
// are summed on the device and read back only at log points.
ClassifierRun train_classifier(Classifier& model, const data::FashionItems& items, const PretrainRecipe& r,
                               const PretrainOptions& o) {
  torch::optim::SGD optimizer(model->parameters(),
                              torch::optim::SGDOptions(r.lr).momentum(r.momentum).weight_decay(r.weight_decay));
  ClassifierRun run;
  const auto t0 = Clock::now();
  auto window_loss = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(o.device));
  auto window_correct = torch::zeros_like(window_loss);
  int64_t window_n = 0;
  for (int64_t it = 0; it < r.iterations; ++it) {
    throw_if_interrupted(fmt::format("while pretraining a backbone, at iteration {} of {}", it, r.iterations),
                         "nothing was cached: rerun to pretrain it again");
    set_lr(optimizer, poly_lr(r.lr, r.poly_power, it, r.iterations));
    const auto d0 = Clock::now();
    auto [x, y] = items.batch(static_cast<uint64_t>(it * r.batch_size), r.batch_size, o.data_threads);
    run.data_s += std::chrono::duration<double>(Clock::now() - d0).count();
    x = x.to(o.device);
    y = y.to(o.device);
    optimizer.zero_grad();
    const auto logits = model->forward(x);
    const auto loss = torch::nn::functional::cross_entropy(logits, y);
    loss.backward();
    optimizer.step();
    window_loss += loss.detach().to(torch::kDouble);
    window_correct += logits.argmax(1).eq(y).sum().to(torch::kDouble) / static_cast<double>(r.batch_size);
    ++window_n;
    if ((it + 1) % o.log_every != 0 && it + 1 != r.iterations) continue;
    const double mean_loss = window_loss.item<double>() / static_cast<double>(window_n);
    run.final_train_accuracy = 100.0 * window_correct.item<double>() / static_cast<double>(window_n);
    run.curve.push_back({{"iteration", it + 1}, {"loss", mean_loss}, {"train_accuracy", run.final_train_accuracy}});
    if (o.log) {
      o.log(fmt::format("  it {:>6}/{}  loss {:.4f}  train acc {:.1f}%", it + 1, r.iterations, mean_loss,
                        run.final_train_accuracy));
    }
    window_loss.zero_();
    window_correct.zero_();
    window_n = 0;
  }
  run.wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return run;
}

}  // namespace

PretrainedBackbone pretrain_backbone(const PretrainSpec& spec, const PretrainOptions& o) {
  check_recipe(spec.recipe);
  const PretrainRecipe& r = spec.recipe;
  auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  const std::string hash = pretrain_hash(spec);
  const data::FashionItems train_items(o.data_root, "train", r.side, r.seed);

  torch::manual_seed(r.seed);
  Classifier model(spec, static_cast<int64_t>(data::FashionItems::class_names().size()));
  model->to(o.device);
  model->train();
  const auto description = models::describe(classifier_backbone(spec));
  log(fmt::format("pretrain {} on fashion-items ({}x{}, {} iterations of {}) -> {}", description, r.side, r.side,
                  r.iterations, r.batch_size, hash));
  const ClassifierRun run = train_classifier(model, train_items, r, o);
  const double accuracy = test_accuracy(model, spec, o);
  log(fmt::format("  held-out accuracy {:.2f}% ({} renders of t10k items); {:.0f} s", accuracy, r.eval_samples,
                  run.wall_s));

  const fs::path dir(backbones_dir(o.cache_dir));
  PretrainedBackbone b;
  b.spec_hash = hash;
  b.weights = (dir / (hash + ".safetensors")).string();
  b.record = (dir / (hash + ".json")).string();
  b.test_accuracy = accuracy;
  model->to(torch::kCPU);
  models::save_safetensors(models::named_state(*model->backbone), b.weights);
  b.weights_hash = file_hash(b.weights);
  const nlohmann::json record = {
      {"schema", kPretrainSchema},
      {"tool", ToolInfo::current()},
      {"written", utc_timestamp()},
      {"spec", spec_json(spec)},
      {"spec_hash", hash},
      {"backbone", description},
      {"weights", fs::path(b.weights).filename().string()},
      {"weights_hash", b.weights_hash},
      {"weights_names", "torchvision ResNet state_dict names (conv1.weight, layer1.0.bn1.running_mean, ...), no fc"},
      {"data", train_items.identity()},
      {"train",
       {{"iterations", r.iterations},
        {"images", r.iterations * r.batch_size},
        {"wall_s", run.wall_s},
        {"data_s", run.data_s},
        {"device", o.device.str()},
        {"threads", torch::get_num_threads()},
        {"final_train_accuracy", run.final_train_accuracy},
        {"curve", run.curve}}},
      {"eval", {{"split", "t10k"}, {"samples", r.eval_samples}, {"accuracy", accuracy}}}};
  write_json_atomic(b.record, record);
  return b;
}

PretrainOptions run_pretrain_options(const RunConfig& config, torch::Device device) {
  PretrainOptions o;
  if (config.data.name == "fashion-scenes") o.data_root = config.data.root;
  o.device = device;
  o.data_threads = static_cast<int>(config.workers);
  o.log_every = 500;
  o.log = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
  return o;
}

PretrainedBackbone ensure_pretrained(const PretrainSpec& spec, const PretrainOptions& options) {
  if (auto found = find_pretrained(spec, options.cache_dir)) return *found;
  return pretrain_backbone(spec, options);
}

std::optional<PretrainedBackbone> ensure_pretrained(const NetConfig& net, const PretrainOptions& options) {
  if (net.pretrained.empty()) return std::nullopt;
  return ensure_pretrained(pretrain_spec(net), options);
}

void ensure_backbones(const std::vector<RunConfig>& runs) {
  std::set<std::string> done;  // spec hashes
  for (const auto& r : runs) {
    if (r.net.pretrained.empty()) continue;
    const PretrainSpec spec = pretrain_spec(r.net);
    if (!done.insert(pretrain_hash(spec)).second) continue;
    set_threads(r.threads);
    ensure_pretrained(spec, run_pretrain_options(r, resolve_device(r.device)));
  }
}

}  // namespace cwd::train
