// Tests for models/: ResNet and PSPNet shapes and sizes, FLOP counting, and weight files.

#include "models/cost.h"
#include "models/pspnet.h"
#include "models/resnet.h"
#include "models/weights.h"
#include "src/core/error.h"
#include "tests/test_helpers.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using cwd::models::NamedTensors;
using cwd::models::PSPNet;
using cwd::models::PSPNetOptions;
using cwd::models::ResNet;
using cwd::models::ResNetOptions;
using cwd::models::Stem;

int64_t count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

PSPNetOptions small(int64_t depth, int64_t os, Stem stem = Stem::kStandard) {
  return PSPNetOptions(5).backbone(
      ResNetOptions().depth(depth).width(0.125).output_stride(os).stem(stem));
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// A hand-made safetensors file with one tensor.
std::string one_tensor_safetensors(const std::string& dtype, const std::vector<int64_t>& shape,
                                   size_t nbytes) {
  nlohmann::json header = {
      {"x", {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {0, nbytes}}}}};
  const std::string text = header.dump();
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  return out + text + std::string(nbytes, '\0');
}

using cwd::testing::error_of;

void expect_same_state(const torch::nn::Module& a, const torch::nn::Module& b) {
  const auto sa = cwd::models::named_state(a);
  const auto sb = cwd::models::named_state(b);
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) {
    ASSERT_EQ(sa[i].first, sb[i].first);
    EXPECT_TRUE(torch::equal(sa[i].second, sb[i].second)) << sa[i].first;
  }
}

// ---- shapes ------------------------------------------------------------------------------------

struct ShapeCase {
  int64_t depth, os, h, w;
};

class PSPNetShapes : public ::testing::TestWithParam<ShapeCase> {};

TEST_P(PSPNetShapes, AllMapsAtOneOverOutputStride) {
  const auto c = GetParam();
  torch::manual_seed(0);
  PSPNet net(small(c.depth, c.os));
  const auto out = net->forward(torch::randn({2, 3, 64, 96}));
  const int64_t hc = net->feature_channels();
  EXPECT_EQ(hc, 64);  // round(512 · 0.125)
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 5, c.h, c.w}));
  EXPECT_EQ(out.features.sizes(), (std::vector<int64_t>{2, hc, c.h, c.w}));
  EXPECT_EQ(out.aux.sizes(), (std::vector<int64_t>{2, 5, c.h, c.w}));
  const auto f = net->backbone()->forward(torch::randn({1, 3, 64, 96}));
  const int64_t e = c.depth >= 50 ? 4 : 1;
  EXPECT_EQ(f.layer1.size(1), 8 * e);
  EXPECT_EQ(f.layer4.size(1), 64 * e);
  EXPECT_EQ(net->backbone()->stage_channels(4), 64 * e);
  EXPECT_EQ(f.layer1.size(2), 16);
  EXPECT_EQ(f.layer2.size(2), 8);
  EXPECT_EQ(f.layer3.size(2), c.os == 8 ? 8 : 4);
  EXPECT_EQ(f.layer4.size(2), c.h);
}

INSTANTIATE_TEST_SUITE_P(Models, PSPNetShapes,
                         ::testing::Values(ShapeCase{18, 8, 8, 12}, ShapeCase{18, 16, 4, 6},
                                           ShapeCase{50, 8, 8, 12}, ShapeCase{50, 16, 4, 6},
                                           ShapeCase{18, 32, 2, 3}),
                         [](const ::testing::TestParamInfo<ShapeCase>& info) {
                           return "R" + std::to_string(info.param.depth) + "_OS" +
                                  std::to_string(info.param.os);
                         });

TEST(PSPNet, DeepStemShapesAndNames) {
  torch::manual_seed(0);
  PSPNet net(small(18, 8, Stem::kDeep));
  const auto out = net->forward(torch::randn({2, 3, 64, 96}));
  EXPECT_EQ(out.logits.sizes(), (std::vector<int64_t>{2, 5, 8, 12}));
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& [name, t] : cwd::models::named_state(*net->backbone())) {
    shapes[name] = t.sizes().vec();
  }
  EXPECT_EQ(shapes["conv1.weight"], (std::vector<int64_t>{8, 3, 3, 3}));
  EXPECT_EQ(shapes["conv2.weight"], (std::vector<int64_t>{8, 8, 3, 3}));
  EXPECT_EQ(shapes["conv3.weight"], (std::vector<int64_t>{16, 8, 3, 3}));
  EXPECT_EQ(shapes["bn3.running_mean"], (std::vector<int64_t>{16}));
  // layer1 starts from 16 channels and outputs 8: its first block projects.
  EXPECT_EQ(shapes["layer1.0.downsample.0.weight"], (std::vector<int64_t>{8, 16, 1, 1}));
}

TEST(PSPNet, EvalIsDeterministicAndTrainUsesDropout) {
  torch::manual_seed(0);
  PSPNet net(small(18, 8));
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({2, 3, 64, 96});
  net->eval();
  EXPECT_TRUE(torch::equal(net->forward(x).logits, net->forward(x).logits));
  net->train();
  const auto a = net->forward(x), b = net->forward(x);
  EXPECT_TRUE(torch::equal(a.features, b.features));  // dropout comes after the features
  EXPECT_FALSE(torch::equal(a.logits, b.logits));
}

// ---- sizes -------------------------------------------------------------------------------------

TEST(ResNet, TorchvisionParameterCounts) {
  // torchvision's resnetN without the fc layer.
  const std::map<int64_t, int64_t> expected = {
      {18, 11176512}, {34, 21284672}, {50, 23508032}, {101, 42500160}};
  for (const auto& [depth, params] : expected) {
    ResNet net(ResNetOptions().depth(depth));
    EXPECT_EQ(count(*net), params) << "ResNet-" << depth;
  }
}

TEST(ResNet, TorchvisionStateDictNames) {
  ResNet net(ResNetOptions().depth(18).width(0.25));
  const auto state = cwd::models::named_state(*net);
  EXPECT_EQ(state.size(), 120u);  // torchvision's 122 entries less fc.weight and fc.bias
  EXPECT_EQ(state.front().first, "conv1.weight");
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& [name, t] : state) shapes[name] = t.sizes().vec();
  EXPECT_EQ(shapes.count("layer1.0.bn1.running_mean"), 1u);
  EXPECT_EQ(shapes.count("layer1.0.downsample.0.weight"), 0u);
  EXPECT_EQ(shapes["layer2.0.downsample.0.weight"], (std::vector<int64_t>{32, 16, 1, 1}));
  EXPECT_EQ(shapes["layer4.1.bn2.num_batches_tracked"], (std::vector<int64_t>{}));
  ResNet r50(ResNetOptions().depth(50).width(0.25));
  std::map<std::string, std::vector<int64_t>> s50;
  for (const auto& [name, t] : cwd::models::named_state(*r50)) s50[name] = t.sizes().vec();
  EXPECT_EQ(s50.size(), 318u);  // torchvision resnet50: 320 entries less fc.weight and fc.bias
  // v1.5: the stride sits on the 3×3 conv; layer1 projects 16 → 64.
  EXPECT_EQ(s50["layer1.0.downsample.0.weight"], (std::vector<int64_t>{64, 16, 1, 1}));
  EXPECT_EQ(s50["layer4.2.conv3.weight"], (std::vector<int64_t>{512, 128, 1, 1}));
}

TEST(ResNet, StrideAndDilation) {
  ResNet os8(ResNetOptions().depth(18).width(0.125).output_stride(8));
  ResNet os32(ResNetOptions().depth(18).width(0.125).output_stride(32));
  const auto conv = [](ResNet& net, const std::string& name) {
    return net->named_modules()[name]->as<torch::nn::Conv2dImpl>()->options;
  };
  EXPECT_EQ((*conv(os8, "layer3.0.conv1").stride())[0], 1);
  EXPECT_EQ((*conv(os8, "layer3.1.conv2").dilation())[0], 2);
  EXPECT_EQ((*conv(os8, "layer4.0.conv1").dilation())[0], 4);
  EXPECT_EQ((*conv(os32, "layer4.0.conv1").stride())[0], 2);
  EXPECT_EQ((*conv(os32, "layer4.0.conv1").dilation())[0], 1);
}

TEST(PSPNet, ParameterSplitMatchesHandCount) {
  PSPNet net(small(18, 8));  // layer3 32, layer4 64 channels; head 64; 5 classes
  const auto s = cwd::models::model_stats(net, 64, 96);
  const int64_t stages = 4 * (64 * 64 + 2 * 64);
  const int64_t bottleneck = (64 + 4 * 64) * 64 * 9 + 2 * 64;
  const int64_t classifier = 64 * 5 + 5;
  EXPECT_EQ(s.head_params, stages + bottleneck + classifier);
  EXPECT_EQ(s.aux_params, 32 * 64 * 9 + 2 * 64 + classifier);
  EXPECT_EQ(s.backbone_params, count(*net->backbone()));
  EXPECT_EQ(s.params, s.backbone_params + s.head_params + s.aux_params);
  EXPECT_EQ(s.params, count(*net));
}

TEST(PSPNet, HeadChannelsOverrideAndWidth1Default) {
  PSPNet custom(small(18, 8).head_channels(24));
  EXPECT_EQ(custom->feature_channels(), 24);
  EXPECT_EQ(custom->forward(torch::randn({2, 3, 32, 32})).features.size(1), 24);
  PSPNet full(PSPNetOptions(19));
  EXPECT_EQ(full->feature_channels(), 512);
}

// ---- FLOPs -------------------------------------------------------------------------------------

TEST(Flops, SingleConvByHand) {
  auto conv = cwd::models::detail::make_conv(3, 8, 3, /*stride=*/2, /*dilation=*/1, /*bias=*/true);
  double flops = 0;
  const auto out = cwd::models::detail::conv_cost(*conv, {10, 11}, flops);
  EXPECT_EQ(out.h, 5);
  EXPECT_EQ(out.w, 6);
  EXPECT_DOUBLE_EQ(flops, 2.0 * 9 * 3 * 8 * 30 + 8 * 30);
  // The walker's sizes are the real ones.
  EXPECT_EQ(conv->forward(torch::zeros({1, 3, 10, 11})).sizes(),
            (std::vector<int64_t>{1, 8, 5, 6}));
}

TEST(Flops, HeadByHandAndOutputSizeMatchesForward) {
  PSPNet net(small(18, 8));
  const auto cost = net->backbone()->forward_cost(65, 97);
  const auto f = net->backbone()->forward(torch::zeros({1, 3, 65, 97}));
  EXPECT_EQ(cost.out_h, f.layer4.size(2));
  EXPECT_EQ(cost.out_w, f.layer4.size(3));
  const double hw = 8.0 * 12.0;
  double stages = 0;
  for (const int64_t b : {1, 2, 3, 6}) stages += (2.0 * 64 * 64 + 2.0 * 64) * b * b;
  const double bottleneck = (2.0 * 9 * 320 * 64 + 2.0 * 64) * hw;
  const double classifier = (2.0 * 64 * 5 + 5) * hw;
  EXPECT_DOUBLE_EQ(net->head()->forward_cost(8, 12), stages + bottleneck + classifier);
}

TEST(Flops, ScalesWithArea) {
  PSPNet net(small(50, 8));
  const auto a = cwd::models::model_stats(net, 64, 96);
  const auto b = cwd::models::model_stats(net, 128, 192);
  EXPECT_GT(a.gflops, 0);
  EXPECT_GT(b.gflops / a.gflops, 3.9);
  EXPECT_LE(b.gflops / a.gflops, 4.0);
  const auto j = cwd::models::to_json(b);
  EXPECT_EQ(j.at("params").get<int64_t>(), b.params);
  EXPECT_EQ(j.at("input_w").get<int64_t>(), 192);
  EXPECT_DOUBLE_EQ(j.at("gflops").get<double>(), b.gflops);
  EXPECT_THROW(cwd::models::model_stats(net, 0, 10), cwd::Error);
}

// ---- weight files ------------------------------------------------------------------------------

TEST(Weights, SafetensorsRoundTrip) {
  cwd::testing::TempDir dir("models");
  torch::manual_seed(1);
  PSPNet a(small(18, 8));
  a->forward(torch::randn({2, 3, 32, 32}));  // moves the BN running stats off their init
  const std::string path = dir / "student.safetensors";
  cwd::models::save_safetensors(cwd::models::named_state(*a), path);
  const std::string bytes = read_bytes(path);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(header_len % 8, 0u);
  const auto header = nlohmann::json::parse(bytes.substr(8, header_len));
  EXPECT_EQ(header.at("backbone.conv1.weight").at("dtype"), "F32");
  EXPECT_EQ(header.at("backbone.bn1.num_batches_tracked").at("dtype"), "I64");
  EXPECT_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));

  torch::manual_seed(2);
  PSPNet b(small(18, 8));
  const auto loaded = cwd::models::load_safetensors(path);
  EXPECT_EQ(loaded.front().first, "backbone.conv1.weight");  // file order is kept
  cwd::models::load_named_state(*b, loaded, path);
  expect_same_state(*a, *b);
}

TEST(Weights, SafetensorsDtypes) {
  cwd::testing::TempDir dir("models");
  const std::string path = dir / "dtypes.safetensors";
  const auto d = torch::arange(6, torch::kDouble).reshape({2, 3}) / 4;
  cwd::models::save_safetensors(
      {{"d", d}, {"h", d.to(torch::kHalf)}, {"b", d.to(torch::kBFloat16)}}, path);
  const auto back = cwd::models::load_safetensors(path);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].second.scalar_type(), torch::kDouble);
  EXPECT_EQ(back[1].second.scalar_type(), torch::kHalf);
  EXPECT_EQ(back[2].second.scalar_type(), torch::kBFloat16);
  for (const auto& [name, t] : back) EXPECT_TRUE(torch::equal(t.to(torch::kDouble), d)) << name;

  write_bytes(path, one_tensor_safetensors("F8_E4M3", {4}, 4));
  const auto err = error_of([&] { cwd::models::load_safetensors(path); });
  EXPECT_NE(err.find("unsupported safetensors dtype 'F8_E4M3' for tensor 'x'"), std::string::npos)
      << err;
  write_bytes(path, one_tensor_safetensors("F32", {4}, 12));
  EXPECT_NE(error_of([&] { cwd::models::load_safetensors(path); }).find("data_offsets"),
            std::string::npos);
}

TEST(Weights, SafetensorsMetadataRoundTripsAndMustBeStrings) {
  cwd::testing::TempDir dir("models");
  const std::string path = dir / "meta.safetensors";
  cwd::models::save_safetensors({{"x", torch::ones({2})}}, path, {{"a", "1"}, {"json", "{\"k\": [1]}"}});
  cwd::models::Metadata meta;
  const auto back = cwd::models::load_safetensors(path, &meta);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(meta, (cwd::models::Metadata{{"a", "1"}, {"json", "{\"k\": [1]}"}}));
  cwd::models::save_safetensors({{"x", torch::ones({2})}}, path);
  cwd::models::load_safetensors(path, &meta);
  EXPECT_TRUE(meta.empty());
  const std::string header = R"({"__metadata__":{"n":1},"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  std::string bytes(8, '\0');
  bytes[0] = static_cast<char>(header.size());
  write_bytes(path, bytes + header + "A");
  EXPECT_NE(error_of([&] { cwd::models::load_safetensors(path, &meta); }).find("__metadata__ 'n' is not a string"),
            std::string::npos);
}

TEST(Weights, BackboneFromSafetensorsWithPrefixAndFc) {
  cwd::testing::TempDir dir("models");
  torch::manual_seed(3);
  ResNet a(ResNetOptions().depth(18).width(0.125));
  NamedTensors named;
  for (const auto& [name, t] : cwd::models::named_state(*a)) {
    if (name.find("num_batches_tracked") == std::string::npos) {
      named.emplace_back("module." + name, t);
    }
  }
  named.emplace_back("module.fc.weight", torch::zeros({10, 64}));
  named.emplace_back("module.fc.bias", torch::zeros({10}));
  const std::string path = dir / "r18.safetensors";
  cwd::models::save_safetensors(named, path);
  torch::manual_seed(4);
  ResNet b(ResNetOptions().depth(18).width(0.125));
  cwd::models::load_backbone_weights(b, path);
  EXPECT_TRUE(torch::equal(a->named_parameters()["layer3.1.conv2.weight"],
                           b->named_parameters()["layer3.1.conv2.weight"]));
  EXPECT_TRUE(torch::equal(a->named_buffers()["layer2.0.downsample.1.running_var"],
                           b->named_buffers()["layer2.0.downsample.1.running_var"]));
}

TEST(Weights, BackboneFromTorchSaveDict) {
  cwd::testing::TempDir dir("models");
  torch::manual_seed(5);
  ResNet a(ResNetOptions().depth(50).width(0.125));
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [name, t] : cwd::models::named_state(*a)) dict.insert("backbone." + name, t);
  const auto bytes = torch::pickle_save(dict);
  const std::string path = dir / "r50.pth";
  write_bytes(path, std::string(bytes.begin(), bytes.end()));
  torch::manual_seed(6);
  ResNet b(ResNetOptions().depth(50).width(0.125));
  cwd::models::load_backbone_weights(b, path);
  expect_same_state(*a, *b);
}

TEST(Weights, MismatchesAreListedAndNothingIsCopied) {
  cwd::testing::TempDir dir("models");
  torch::manual_seed(7);
  ResNet a(ResNetOptions().depth(18).width(0.125));
  NamedTensors named;
  for (const auto& [name, t] : cwd::models::named_state(*a)) {
    if (name == "layer4.1.bn2.weight") continue;  // missing
    if (name == "conv1.weight") {
      named.emplace_back(name, torch::zeros({4, 3, 7, 7}));  // wrongly shaped
      continue;
    }
    named.emplace_back(name, t);
  }
  named.emplace_back("layer5.0.conv1.weight", torch::zeros({1}));  // unexpected
  const std::string path = dir / "bad.safetensors";
  cwd::models::save_safetensors(named, path);
  torch::manual_seed(8);
  ResNet b(ResNetOptions().depth(18).width(0.125));
  const auto before = b->named_parameters()["layer1.0.conv1.weight"].clone();
  const auto err = error_of([&] { cwd::models::load_backbone_weights(b, path); });
  EXPECT_EQ(err.find('\n'), std::string::npos);
  EXPECT_NE(err.find("ResNet-18 (standard stem, width 0.125, OS 8)"), std::string::npos) << err;
  EXPECT_NE(err.find("1 missing: layer4.1.bn2.weight"), std::string::npos) << err;
  EXPECT_NE(err.find("1 unexpected: layer5.0.conv1.weight"), std::string::npos) << err;
  EXPECT_NE(err.find("1 wrongly shaped: conv1.weight (file [4, 3, 7, 7], model [8, 3, 7, 7])"),
            std::string::npos)
      << err;
  EXPECT_TRUE(torch::equal(before, b->named_parameters()["layer1.0.conv1.weight"]));

  // ResNet-18 weights into a ResNet-34: many missing, listed with "... and K more".
  ResNet r34(ResNetOptions().depth(34).width(0.125));
  cwd::models::save_safetensors(cwd::models::named_state(*a), path);
  const auto many = error_of([&] { cwd::models::load_backbone_weights(r34, path); });
  EXPECT_NE(many.find("missing: layer1.2.conv1.weight"), std::string::npos) << many;
  EXPECT_NE(many.find(" more"), std::string::npos) << many;
}

TEST(Weights, UnreadableFiles) {
  cwd::testing::TempDir dir("models");
  ResNet net(ResNetOptions().depth(18).width(0.125));
  EXPECT_NE(error_of([&] {
              cwd::models::load_backbone_weights(net, dir / "none.pth");
            }).find("cannot open weights file"),
            std::string::npos);
  write_bytes(dir / "junk.bin", "hello world, not weights");
  EXPECT_NE(error_of([&] {
              cwd::models::load_backbone_weights(net, dir / "junk.bin");
            }).find("neither a safetensors file nor a torch.save zip file"),
            std::string::npos);
  const auto bytes = torch::pickle_save(torch::IValue(torch::zeros({2})));
  write_bytes(dir / "tensor.pth", std::string(bytes.begin(), bytes.end()));
  EXPECT_NE(error_of([&] {
              cwd::models::load_backbone_weights(net, dir / "tensor.pth");
            }).find("not a dict of tensors"),
            std::string::npos);
}

// ---- options -----------------------------------------------------------------------------------

TEST(Options, ErrorsListValidValues) {
  EXPECT_EQ(error_of([] { ResNet(ResNetOptions().depth(20)); }),
            "unsupported ResNet depth 20 (--depth; valid: 18, 34, 50, 101)");
  EXPECT_EQ(error_of([] { ResNet(ResNetOptions().output_stride(4)); }),
            "unsupported output stride 4 (--output-stride; valid: 8, 16, 32)");
  EXPECT_EQ(error_of([] { cwd::models::parse_stem("wide"); }),
            "unknown stem 'wide' (valid: deep, standard)");
  EXPECT_EQ(cwd::models::parse_stem("deep"), Stem::kDeep);
  EXPECT_EQ(cwd::models::to_string(Stem::kStandard), "standard");
  EXPECT_NE(error_of([] { ResNet(ResNetOptions().width(0)); }).find("width"), std::string::npos);
  EXPECT_NE(error_of([] { PSPNet(PSPNetOptions(0)); }).find("class"), std::string::npos);
  EXPECT_NE(error_of([] { PSPNet(PSPNetOptions(3).dropout(1.0)); }).find("dropout"),
            std::string::npos);
  EXPECT_NE(error_of([] { PSPNet(PSPNetOptions(3).bins({})); }).find("bin"), std::string::npos);
  EXPECT_NE(error_of([] {
              ResNet(ResNetOptions().depth(18)).get()->stage_channels(5);
            }).find("valid: 1, 2, 3, 4"),
            std::string::npos);
}

// The three initialisation schemes, told apart by the spread of the weights they draw.
TEST(Init, SchemesDrawWhatTheyDocument) {
  using cwd::models::Init;
  auto build = [](Init init) {
    torch::manual_seed(3);
    return PSPNet(PSPNetOptions(11).backbone(ResNetOptions().width(0.5).init(init)));
  };
  // layer2.0.conv2: 3×3, 64 → 64 channels: fan_in = fan_out = 576.
  const double fan = 576;
  auto std_of = [](const torch::Tensor& t) { return t.std().item<double>(); };
  for (const Init init : {Init::kTorch, Init::kMmseg, Init::kKaiming}) {
    auto net = build(init);
    const auto params = net->named_parameters();
    const auto conv = params["backbone.layer2.0.conv2.weight"];
    const auto cls = params["head.classifier.weight"];  // 1×1, 256 → 11
    const auto aux = params["aux.classifier.weight"];
    const auto bias = params["head.classifier.bias"];
    SCOPED_TRACE(cwd::models::to_string(init));
    EXPECT_TRUE(torch::equal(params["backbone.bn1.weight"], torch::ones_like(params["backbone.bn1.weight"])));
    if (init == Init::kTorch) {  // U(±1/√fan_in): std 1/√(3·fan_in)
      EXPECT_NEAR(std_of(conv), 1 / std::sqrt(3 * fan), 0.05 / std::sqrt(3 * fan));
      EXPECT_LE(conv.abs().max().item<double>(), 1 / std::sqrt(fan));
      EXPECT_NEAR(std_of(cls), 1 / std::sqrt(3 * 256.0), 0.1 / std::sqrt(3 * 256.0));
      EXPECT_GT(bias.abs().max().item<double>(), 0);
    } else {  // kaiming-normal fan_out: std √(2/fan_out)
      EXPECT_NEAR(std_of(conv), std::sqrt(2 / fan), 0.05 * std::sqrt(2 / fan));
      EXPECT_EQ(bias.abs().max().item<double>(), 0);
      const double cls_std = init == Init::kMmseg ? 0.01 : std::sqrt(2 / 11.0);
      EXPECT_NEAR(std_of(cls), cls_std, 0.1 * cls_std);
      EXPECT_NEAR(std_of(aux), cls_std, 0.1 * cls_std);
    }
  }
  EXPECT_EQ(error_of([] { cwd::models::parse_init("xavier"); }),
            "unknown init 'xavier' (valid: kaiming, mmseg, torch)");
  EXPECT_EQ(cwd::models::parse_init("mmseg"), Init::kMmseg);
}

TEST(Options, Describe) {
  EXPECT_EQ(cwd::models::describe(PSPNetOptions(19).backbone(ResNetOptions().width(0.25))),
            "PSPNet-R18 (standard stem, width 0.25, OS 8)");
  EXPECT_EQ(cwd::models::describe(ResNetOptions().depth(101).stem(Stem::kDeep).output_stride(16)),
            "ResNet-101 (deep stem, width 1, OS 16)");
}

}  // namespace
