#pragma once
// Backbone pretraining, the ImageNet step of the paper's recipe: a ResNet backbone (any depth,
// width, stem) trained as a 10-way classifier on fashion-items (src/data/fashion_items.h), then
// written in torchvision names as safetensors, which --backbone-weights and a preset's
// `pretrained` field load. Backbones are cached by the hash of what made them, like PyTorch's
// hub cache (docs/pretraining.md).

#include "src/train/config.h"

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace cwd::train {

inline constexpr const char* kPretrainSchema = "cwd-bench/pretrain/1";

/// How a backbone is pretrained (SGD with momentum and a poly learning rate, as the
/// segmentation schedule).
struct PretrainRecipe {
  std::string name = "fashion-items";
  int64_t side = 48;  ///< square image side in pixels
  int64_t iterations = 3000;
  int64_t batch_size = 64;
  double lr = 0.1;
  double momentum = 0.9;
  double weight_decay = 1e-4;
  double poly_power = 0.9;
  uint64_t seed = 0;
  int64_t eval_samples = 2000;  ///< renders of the held-out t10k items the accuracy is measured on
};

void to_json(nlohmann::json& j, const PretrainRecipe& r);
void from_json(const nlohmann::json& j, PretrainRecipe& r);

/// The named recipes; throws cwd::Error listing them for an unknown name.
const PretrainRecipe& pretrain_recipe(const std::string& name);
std::vector<std::string> pretrain_recipe_names();

/// What a pretrained backbone is a function of: its architecture and its recipe.
struct PretrainSpec {
  int64_t depth = 18;
  double width = 1.0;
  models::Stem stem = models::Stem::kStandard;
  models::Init init = models::Init::kTorch;
  PretrainRecipe recipe;
};

/// The backbone of `net` under the recipe `net.pretrained` names.
PretrainSpec pretrain_spec(const NetConfig& net);
/// The hashed description: architecture, recipe, and the task's generator and source split.
nlohmann::json spec_json(const PretrainSpec& spec);
/// 16 hex digits; names the cache entry.
std::string pretrain_hash(const PretrainSpec& spec);

/// The cache folder: $CWD_BENCH_CACHE if set, else $XDG_CACHE_HOME/cwd-bench, else
/// $HOME/.cache/cwd-bench (pretrained backbones go into its backbones/ folder).
std::string default_cache_dir();

/// A cached backbone: the weights and the record beside them.
struct PretrainedBackbone {
  std::string weights;  ///< <cache>/backbones/<hash>.safetensors
  std::string record;   ///< <cache>/backbones/<hash>.json (schema cwd-bench/pretrain/1)
  std::string spec_hash;
  std::string weights_hash;  ///< FNV-1a 64 of the weights file, as the record states
  double test_accuracy = 0;  ///< % on renders of the held-out items
  /// {recipe, spec_hash, weights_hash, test_accuracy}: what run records carry.
  nlohmann::json identity() const;
};

struct PretrainOptions {
  std::string cache_dir;  ///< "" = default_cache_dir()
  std::string data_root;  ///< Fashion-MNIST IDX folder ("" = the Debian package's)
  torch::Device device = torch::kCPU;
  int data_threads = 1;  ///< threads that render the images
  int64_t log_every = 100;
  std::function<void(const std::string&)> log;
};

/// How a run pretrains a missing backbone: fashion-scenes' item files, the run's device, its data
/// workers rendering, progress on stderr.
PretrainOptions run_pretrain_options(const RunConfig& config, torch::Device device);

/// The cached backbone of `spec`, verified: its record must name the same spec hash and the
/// weights file must have the hash the record states (else one cwd::Error naming the file and the
/// fix: delete it). nullopt when the cache has no entry.
std::optional<PretrainedBackbone> find_pretrained(const PretrainSpec& spec, const std::string& cache_dir);

/// Pretrains the backbone of `spec` and writes it into the cache (weights, then record, each
/// atomically; a concurrent writer of the same spec writes the same bytes). Replaces an entry.
PretrainedBackbone pretrain_backbone(const PretrainSpec& spec, const PretrainOptions& options);

/// find_pretrained, or pretrain_backbone when the cache has no entry.
PretrainedBackbone ensure_pretrained(const PretrainSpec& spec, const PretrainOptions& options);

/// For a network whose config names a pretraining recipe: the cached backbone (pretrained first
/// if missing). nullopt for a network without one.
std::optional<PretrainedBackbone> ensure_pretrained(const NetConfig& net, const PretrainOptions& options);

/// Every backbone the runs name, each looked up once (a missing one pretrained with its run's
/// threads and device). Called before work that would otherwise pretrain the same backbone in
/// several places at once: parallel units, a plan's units, the processes of one run.
void ensure_backbones(const std::vector<RunConfig>& runs);

}  // namespace cwd::train
