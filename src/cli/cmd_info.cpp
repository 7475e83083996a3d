// cwd-bench info: parameter counts and FLOPs of a PSPNet configuration, and the BLAS libtorch uses.

#include "src/cli/commands.h"
#include "src/cli/common.h"
#include "src/core/blas.h"
#include "src/train/network.h"

#include <fmt/format.h>

#include <iostream>
#include <memory>

namespace cwd::cli {

namespace {

struct InfoArgs {
  int64_t depth = 18;
  double width = 1.0;
  std::string stem = "standard";
  int64_t output_stride = 8;
  int64_t classes = 19;
  std::string input = "512x1024";
  bool json = false;
};

void run_info(const InfoArgs& a) {
  const train::NetConfig net{a.depth, a.width, models::parse_stem(a.stem), a.output_stride, "",
                             models::Init::kTorch, "", ""};
  const auto [h, w] = train::parse_size(a.input, "--input");
  auto model = train::build_network(net, a.classes);
  const auto stats = models::model_stats(model, h, w);
  if (a.json) {
    auto j = models::to_json(stats);
    j["description"] = models::describe(train::pspnet_options(net, a.classes));
    j["depth"] = a.depth;
    j["width"] = a.width;
    j["stem"] = a.stem;
    j["output_stride"] = a.output_stride;
    j["num_classes"] = a.classes;
    j["feature_channels"] = model->feature_channels();
    j["blas"] = loaded_blas();
    std::cout << j.dump(2) << "\n";
    return;
  }
  fmt::print("{}\n", models::describe(train::pspnet_options(net, a.classes)));
  fmt::print("  backbone params  {:>12}\n", stats.backbone_params);
  fmt::print("  head params      {:>12}  (pyramid pooling, bottleneck, classifier)\n", stats.head_params);
  fmt::print("  aux head params  {:>12}  (training only)\n", stats.aux_params);
  fmt::print("  total params     {:>12}\n", stats.params);
  fmt::print("  feature channels {:>12}\n", model->feature_channels());
  fmt::print("  GFLOPs           {:>12.3f}  (inference at 1x3x{}x{})\n", stats.gflops, h, w);
  // This machine's BLAS sets the speed of every convolution (docs/blas.md).
  const BlasInfo& blas = loaded_blas();
  const std::string where = !blas.path.empty()     ? blas.path
                            : blas.kind == "mkl" ? "linked into libtorch"
                                                 : "no BLAS library loaded";
  fmt::print("  BLAS             {:>12}  ({})\n", blas.kind, where);
}

}  // namespace

void add_info(CLI::App& app, const CliContext& /*context*/) {
  auto args = std::make_shared<InfoArgs>();
  auto* sub = app.add_subcommand("info", "parameter counts and GFLOPs of a PSPNet");
  sub->add_option("--depth", args->depth, "ResNet depth: 18, 34, 50 or 101")->capture_default_str();
  sub->add_option("--width", args->width, "channel width multiplier, 0 < width <= 4")
      ->check(real_in(0, 4, true))->capture_default_str();
  sub->add_option("--stem", args->stem, "ResNet stem: standard or deep")->capture_default_str();
  sub->add_option("--output-stride", args->output_stride, "backbone output stride: 8, 16 or 32")
      ->capture_default_str();
  sub->add_option("--classes", args->classes, "number of classes")->check(count_in(1, 255))->capture_default_str();
  sub->add_option("--input", args->input, "input size HxW for the FLOP count")->capture_default_str();
  sub->add_flag("--json", args->json, "print a JSON object");
  sub->callback([args]() { run_info(*args); });
}

}  // namespace cwd::cli
