// Backbone pretraining: the fashion-items task, the cache (hash-keyed, verified on read) and the
// way a network configuration picks a pretrained backbone up.

#include "models/resnet.h"
#include "models/weights.h"
#include "src/core/json_io.h"
#include "src/data/fashion_items.h"
#include "src/train/network.h"
#include "src/train/pretrain.h"
#include "tests/test_helpers.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>

namespace {

using cwd::testing::error_of;
using cwd::testing::TempDir;
namespace train = cwd::train;

// Points the cache at a temporary folder for one test.
class CacheDir {
 public:
  CacheDir() : dir_("pretrain-cache") {
    const char* old = std::getenv("CWD_BENCH_CACHE");
    if (old) old_ = old;
    ::setenv("CWD_BENCH_CACHE", dir_.str().c_str(), 1);
  }
  ~CacheDir() {
    if (old_.empty()) {
      ::unsetenv("CWD_BENCH_CACHE");
    } else {
      ::setenv("CWD_BENCH_CACHE", old_.c_str(), 1);
    }
  }
  std::string str() const { return dir_.str(); }

 private:
  TempDir dir_;
  std::string old_;
};

train::NetConfig tiny_net() {
  train::NetConfig n;
  n.depth = 18;
  n.width = 0.125;
  n.pretrained = "fashion-items-smoke";
  return n;
}

TEST(FashionItems, SamplesAreDeterministicLabelledAndThreadIndependent) {
  const cwd::data::FashionItems items("", "train", 32, 7);
  const auto [a, la] = items.get(5);
  const auto [b, lb] = items.get(5);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_EQ(la, lb);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{32, 32, 3}));
  EXPECT_FALSE(torch::equal(a, items.get(6).first));
  const auto [x1, y1] = items.batch(100, 24, 1);
  const auto [x3, y3] = items.batch(100, 24, 3);
  EXPECT_TRUE(torch::equal(x1, x3));
  EXPECT_TRUE(torch::equal(y1, y3));
  std::set<int64_t> classes;
  const auto [x, y] = items.batch(0, 200, 2);
  for (int64_t i = 0; i < 200; ++i) classes.insert(y[i].item<int64_t>());
  EXPECT_EQ(classes.size(), 10u);  // 200 draws cover all ten classes
  EXPECT_EQ(*classes.begin(), 0);
  EXPECT_EQ(*classes.rbegin(), 9);
  // The held-out split renders other items.
  const cwd::data::FashionItems test("", "t10k", 32, 7);
  EXPECT_FALSE(torch::equal(a, test.get(5).first));
  EXPECT_EQ(error_of([] { cwd::data::FashionItems("", "val", 32, 0); }),
            "fashion-items: source 'val' is not a Fashion-MNIST split (valid: train, t10k)");
  EXPECT_EQ(error_of([] { cwd::data::FashionItems("", "train", 8, 0); }),
            "fashion-items: image side 8 is out of range (valid: 16..512 pixels)");
}

TEST(Pretrain, HashNamesArchitectureAndRecipe) {
  const auto spec = train::pretrain_spec(tiny_net());
  auto wider = spec;
  wider.width = 0.25;
  auto longer = spec;
  longer.recipe.iterations += 1;
  EXPECT_EQ(train::pretrain_hash(spec), train::pretrain_hash(train::pretrain_spec(tiny_net())));
  EXPECT_NE(train::pretrain_hash(spec), train::pretrain_hash(wider));
  EXPECT_NE(train::pretrain_hash(spec), train::pretrain_hash(longer));
  EXPECT_EQ(train::pretrain_hash(spec).size(), 16u);
  EXPECT_EQ(error_of([] { train::pretrain_recipe("imagenet"); }),
            "unknown pretraining recipe 'imagenet' (known: fashion-items, fashion-items-smoke)");
}

TEST(Pretrain, CachedOnceVerifiedOnReadAndLoadedByTheNetwork) {
  CacheDir cache;
  const auto net = tiny_net();
  const auto spec = train::pretrain_spec(net);
  EXPECT_FALSE(train::find_pretrained(spec, "").has_value());
  // Without the cache entry a network cannot be built: the error says how to make it.
  const std::string missing = error_of([&] { train::build_network(net, 11); });
  EXPECT_NE(missing.find("is not in the cache (" + cache.str() + ")"), std::string::npos) << missing;
  EXPECT_NE(missing.find("cwd-bench pretrain --depth 18 --width 0.125 --stem standard --recipe fashion-items-smoke"),
            std::string::npos)
      << missing;

  const auto made = train::ensure_pretrained(net, {});
  ASSERT_TRUE(made.has_value());
  EXPECT_EQ(made->weights, cache.str() + "/backbones/" + train::pretrain_hash(spec) + ".safetensors");
  EXPECT_EQ(made->weights_hash, cwd::file_hash(made->weights));
  EXPECT_GE(made->test_accuracy, 0.0);
  EXPECT_LE(made->test_accuracy, 100.0);
  const auto record = cwd::read_json(made->record);
  EXPECT_EQ(record["schema"], train::kPretrainSchema);
  EXPECT_EQ(record["spec"], train::spec_json(spec));
  EXPECT_EQ(record["train"]["iterations"], spec.recipe.iterations);

  // Found again, not retrained; same identity.
  const auto again = train::find_pretrained(spec, "");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->identity(), made->identity());

  // The network's backbone holds exactly the cached tensors, under torchvision's names.
  auto model = train::build_network(net, 11);
  const auto cached = cwd::models::load_safetensors(made->weights);
  const auto state = cwd::models::named_state(*model->backbone());
  ASSERT_EQ(cached.size(), state.size());
  for (size_t i = 0; i < cached.size(); ++i) {
    EXPECT_EQ(cached[i].first, state[i].first);
    EXPECT_TRUE(torch::equal(cached[i].second, state[i].second)) << cached[i].first;
  }
  EXPECT_EQ(cached.front().first, "conv1.weight");

  // A corrupted file is refused with the fix.
  {
    std::ofstream out(made->weights, std::ios::binary | std::ios::app);
    out << "x";
  }
  const std::string corrupt = error_of([&] { train::find_pretrained(spec, ""); });
  EXPECT_NE(corrupt.find("has hash"), std::string::npos) << corrupt;
  EXPECT_NE(corrupt.find("delete '" + made->record + "'"), std::string::npos) << corrupt;
}

TEST(Pretrain, SameSpecGivesTheSameBytes) {
  CacheDir cache;
  const auto spec = train::pretrain_spec(tiny_net());
  train::PretrainOptions two_threads;
  two_threads.data_threads = 2;
  const auto first = train::pretrain_backbone(spec, {});
  const std::string first_hash = first.weights_hash;
  const auto second = train::pretrain_backbone(spec, two_threads);
  EXPECT_EQ(second.weights_hash, first_hash);
  EXPECT_EQ(second.test_accuracy, first.test_accuracy);
}

}  // namespace
