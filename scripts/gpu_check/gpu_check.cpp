// Runs the losses, the memory counter and PSPNet on CUDA and prints a JSON report: every loss's
// value and student gradient on CUDA against the CPU, PA's two forms at the paper's 64×128 logit
// map (time and peak bytes from the CUDA caching allocator), a PSPNet-R18 training step, and the
// twin fixture's first training step (tests/fixtures/twin/) on CUDA against the CPU, and the
// training Distiller's step on CUDA (measured and plain) against the CPU, with check_values(),
// and a TorchScript loss saved by torch 1.13 against the built-in CWD on CUDA.
#include "losses/common.h"
#include "losses/registry.h"
#include "src/train/distiller.h"
#include "models/pspnet.h"
#include "models/weights.h"
#include "src/core/json_io.h"
#include "src/core/memory.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <map>

namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// One Distiller step of a small PSPNet pair (no dropout, so CPU and CUDA draw nothing) on
// `device`: the student's gradients, flattened, and the two losses.
struct StepResult {
  torch::Tensor grads;
  double task = 0, distill = 0;
  int64_t measured = 0;
};

StepResult distiller_step(const std::string& key, cwd::train::Placement placement, torch::Device device,
                          bool through_meter) {
  using cwd::models::PSPNet;
  using cwd::models::PSPNetOptions;
  using cwd::models::ResNetOptions;
  torch::manual_seed(3);
  PSPNet student(PSPNetOptions(5).dropout(0).backbone(ResNetOptions().width(0.125)));
  PSPNet teacher(PSPNetOptions(5).dropout(0).backbone(ResNetOptions().width(0.25)));
  auto loss = cwd::train::make_loss(key, {{"weight", 5.0}}, placement, student, teacher);
  auto images = torch::randn({2, 3, 32, 48});
  auto labels = torch::randint(0, 5, {2, 32, 48}, torch::kLong);
  student->to(device);
  teacher->to(device);
  loss->to(device);
  cwd::train::Distiller distiller(student, teacher, loss, placement);
  distiller->train();
  cwd::train::TermMeter meter(device, 1);
  meter.begin(0);
  const auto y = labels.to(device);
  const auto out = distiller->step(images.to(device), y, 255, 0.4, through_meter ? &meter : nullptr);
  distiller->check_values(out, y, 255);
  std::vector<torch::Tensor> grads;
  for (auto& p : student->parameters()) grads.push_back(p.grad().flatten().to(torch::kCPU));
  return {torch::cat(grads), out.task.item<double>(), out.distill.item<double>(), meter.stats().ms_count};
}

nlohmann::json distiller_report(torch::Device cuda, bool& all_ok) {
  nlohmann::json report;
  using cwd::train::Placement;
  for (const auto& [key, placement] : std::vector<std::pair<std::string, Placement>>{
           {"cwd", Placement::kLogit}, {"cwd", Placement::kFeature}, {"ifvd", Placement::kLogit}}) {
    const auto cpu = distiller_step(key, placement, torch::kCPU, true);
    const auto measured = distiller_step(key, placement, cuda, true);
    const auto plain = distiller_step(key, placement, cuda, false);
    const double scale = std::max(1e-12, cpu.grads.abs().max().item<double>());
    const double cuda_vs_cpu = (measured.grads - cpu.grads).abs().max().item<double>() / scale;
    const double plain_vs_measured = (plain.grads - measured.grads).abs().max().item<double>() / scale;
    const bool ok = cuda_vs_cpu < 1e-3 && plain_vs_measured < 1e-5 && measured.measured == 1 && plain.measured == 0;
    all_ok = all_ok && ok;
    report[key + (placement == Placement::kLogit ? "/logit" : "/feature")] = {
        {"task_cpu", cpu.task},          {"task_cuda", measured.task},
        {"distill_cpu", cpu.distill},    {"distill_cuda", measured.distill},
        {"grad_rel_cuda_vs_cpu", cuda_vs_cpu}, {"grad_rel_plain_vs_measured", plain_vs_measured},
        {"ok", ok}};
  }
  // check_values() finds NaN in a CUDA map that forward() left unchecked, with the loss's text.
  auto nan_map = torch::randn({2, 5, 4, 6}, torch::TensorOptions().device(cuda));
  nan_map.index_put_({0, 0, 0, 0}, std::nan(""));
  std::string message;
  try {
    cwd::losses::check_values("cwd", nan_map, torch::randn({2, 5, 4, 6}, nan_map.options()), torch::Tensor(), 255);
  } catch (const std::exception& e) {
    message = e.what();
  }
  report["check_values_nan_message"] = message;
  all_ok = all_ok && message.find("holds NaN or Inf") != std::string::npos;
  return report;
}

}  // namespace

int main() {
  nlohmann::json report;
  report["cuda_available"] = torch::cuda::is_available();
  if (!torch::cuda::is_available()) {
    std::cout << report.dump(2) << "\n";
    return 1;
  }
  const torch::Device cuda(torch::kCUDA);
  torch::manual_seed(0);
  auto s_cpu = torch::randn({2, 19, 16, 32});
  auto t_cpu = torch::randn({2, 19, 16, 32});
  auto y_cpu = torch::randint(0, 19, {2, 64, 128}, torch::kLong);
  y_cpu.index_put_({0, torch::indexing::Slice(0, 8)}, 255);
  bool all_ok = true;
  for (const auto& key : cwd::losses::known_keys()) {
    nlohmann::json row;
    auto run = [&](const torch::Device& device) {
      // MGD without its mask (CUDA's generator draws other numbers than the CPU's), and the same
      // generator weights on both devices.
      torch::manual_seed(1);
      const auto options = key == "mgd" ? nlohmann::json{{"mask_ratio", 0.0}} : nlohmann::json::object();
      auto loss = cwd::losses::create_for_maps(key, options, /*feature_map=*/false, 19, 19);
      loss->to(device);
      auto s = s_cpu.to(device).clone().requires_grad_(true);
      cwd::PeakMemoryScope scope(device);
      auto v = loss->forward(s, t_cpu.to(device), y_cpu.to(device));
      v.backward();
      return std::make_tuple(v.item<double>(), s.grad().to(torch::kCPU), scope.peak_bytes());
    };
    auto [v_cpu, g_cpu, peak_cpu] = run(torch::kCPU);
    auto [v_cuda, g_cuda, peak_cuda] = run(cuda);
    const double rel = std::abs(v_cpu - v_cuda) / std::max(1e-12, std::abs(v_cpu));
    const double grad_rel = (g_cpu - g_cuda).abs().max().item<double>() /
                            std::max(1e-12, g_cpu.abs().max().item<double>());
    row = {{"cpu", v_cpu}, {"cuda", v_cuda}, {"rel_diff", rel}, {"grad_rel_diff", grad_rel},
           {"peak_bytes_cpu", peak_cpu}, {"peak_bytes_cuda", peak_cuda}};
    const bool ok = rel < 1e-4 && grad_rel < 1e-3 && peak_cuda > 0;
    row["ok"] = ok;
    all_ok = all_ok && ok;
    report["losses"][key] = row;
  }
  // A TorchScript loss saved by torch 1.13 (CWD written in Python, tests/fixtures/script/cwd.pt)
  // loads in this libtorch and equals the built-in CWD on CUDA, in value and gradient.
  {
    auto scripted = cwd::losses::create(std::string("script:") + CWD_SOURCE_DIR + "/tests/fixtures/script/cwd.pt",
                                        nlohmann::json::object());
    auto builtin = cwd::losses::create("cwd", nlohmann::json::object());
    scripted->to(cuda);
    auto s1 = s_cpu.to(cuda, torch::kDouble).requires_grad_(true);
    auto s2 = s_cpu.to(cuda, torch::kDouble).requires_grad_(true);
    const auto t = t_cpu.to(cuda, torch::kDouble);
    auto v1 = scripted->forward(s1, t, y_cpu.to(cuda));
    auto v2 = builtin->forward(s2, t, y_cpu.to(cuda));
    v1.backward();
    v2.backward();
    const double rel = std::abs(v1.item<double>() - v2.item<double>()) / std::abs(v2.item<double>());
    const double grad_rel =
        (s1.grad() - s2.grad()).abs().max().item<double>() / s2.grad().abs().max().item<double>();
    const bool ok = rel < 1e-10 && grad_rel < 1e-10;
    report["script_loss"] = {{"file", "tests/fixtures/script/cwd.pt"}, {"scripted", v1.item<double>()},
                             {"builtin", v2.item<double>()}, {"rel_diff", rel}, {"grad_rel_diff", grad_rel},
                             {"ok", ok}};
    all_ok = all_ok && ok;
  }
  // PA at the paper's 64×128 logit map, batch 8: direct (P×P) vs Gram form on the GPU.
  auto s = torch::randn({8, 19, 64, 128}, torch::TensorOptions().device(cuda));
  auto t = torch::randn({8, 19, 64, 128}, torch::TensorOptions().device(cuda));
  for (const std::string form : {"direct", "gram"}) {
    auto pa = cwd::losses::create("pa", {{"form", form}});
    auto leaf = s.clone().requires_grad_(true);
    for (int warm = 0; warm < 2; ++warm) {
      pa->forward(leaf, t, torch::Tensor()).backward();
    }
    torch::cuda::synchronize();
    cwd::PeakMemoryScope scope(cuda);
    const auto t0 = std::chrono::steady_clock::now();
    const int reps = 5;
    double value = 0;
    for (int r = 0; r < reps; ++r) {
      leaf.mutable_grad() = torch::Tensor();
      auto v = pa->forward(leaf, t, torch::Tensor());
      v.backward();
      value = v.item<double>();
    }
    torch::cuda::synchronize();
    report["pa_64x128_n8"][form] = {{"ms", ms_since(t0) / reps}, {"peak_bytes", scope.peak_bytes()}, {"value", value}};
  }
  // A PSPNet-R18 (width 1) training step on the GPU, batch 8 of 512×512.
  cwd::models::PSPNet net(cwd::models::PSPNetOptions(19));
  net->to(cuda);
  net->train();
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  auto x = torch::randn({8, 3, 512, 512}, torch::TensorOptions().device(cuda));
  double step_ms = 0;
  for (int i = 0; i < 5; ++i) {
    torch::cuda::synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    auto out = net->forward(x);
    auto l = out.logits.square().mean() + 0.4 * out.aux.square().mean();
    opt.zero_grad();
    l.backward();
    opt.step();
    torch::cuda::synchronize();
    if (i >= 2) step_ms += ms_since(t0) / 3;
    report["pspnet_r18"]["logits_shape"] = out.logits.sizes().vec();
    report["pspnet_r18"]["features_shape"] = out.features.sizes().vec();
  }
  report["pspnet_r18"]["train_step_ms_batch8_512"] = step_ms;

  // The twin fixture's first step (its weights and batch; dropout off, since CUDA draws other
  // masks than the CPU; TF32 off) on the CPU and on CUDA: same loss and gradients.
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  const std::string fixture = std::string(CWD_SOURCE_DIR) + "/tests/fixtures/twin/";
  const auto meta = cwd::read_json(fixture + "fixture.json");
  std::map<std::string, torch::Tensor> batch;
  for (auto& [name, t] : cwd::models::load_safetensors(fixture + "step0.safetensors")) batch[name] = t;
  auto twin_step = [&](const torch::Device& device) {
    cwd::models::PSPNet twin(cwd::models::PSPNetOptions(meta["net"]["num_classes"].get<int64_t>())
                                 .backbone(cwd::models::ResNetOptions().width(meta["net"]["width"].get<double>()))
                                 .dropout(0.0));
    cwd::models::load_named_state(*twin, cwd::models::load_safetensors(fixture + "init.safetensors"), "fixture");
    twin->to(device);
    twin->train();
    const auto y = batch.at("batch.labels").to(device);
    const auto out = twin->forward(batch.at("batch.images").to(device));
    auto ce = [&](const torch::Tensor& logits) {
      namespace F = torch::nn::functional;
      auto up = F::interpolate(logits, F::InterpolateFuncOptions().size(std::vector<int64_t>{y.size(1), y.size(2)})
                                           .mode(torch::kBilinear).align_corners(false));
      return F::cross_entropy(up, y, F::CrossEntropyFuncOptions().ignore_index(255));
    };
    auto loss = ce(out.logits) + meta["recipe"]["aux_weight"].get<double>() * ce(out.aux);
    loss.backward();
    std::vector<torch::Tensor> grads;
    for (auto& p : twin->parameters()) grads.push_back(p.grad().to(torch::kCPU));
    return std::make_pair(loss.item<double>(), grads);
  };
  const auto [loss_cpu, grads_cpu] = twin_step(torch::kCPU);
  const auto [loss_cuda, grads_cuda] = twin_step(cuda);
  double worst = 0;
  for (size_t i = 0; i < grads_cpu.size(); ++i) {
    worst = std::max(worst, (grads_cpu[i] - grads_cuda[i]).abs().max().item<double>() /
                                std::max(1e-12, grads_cpu[i].abs().max().item<double>()));
  }
  const double loss_rel = std::abs(loss_cpu - loss_cuda) / loss_cpu;
  const bool twin_ok = loss_rel < 1e-4 && worst < 1e-2;
  report["twin_fixture_step"] = {{"loss_cpu", loss_cpu}, {"loss_cuda", loss_cuda}, {"loss_rel_diff", loss_rel},
                                 {"largest_grad_rel_diff", worst}, {"ok", twin_ok}};
  // Every initialisation scheme builds on the CPU, moves to CUDA and runs.
  for (const auto init : {cwd::models::Init::kTorch, cwd::models::Init::kMmseg, cwd::models::Init::kKaiming}) {
    torch::manual_seed(0);
    cwd::models::PSPNet fresh(cwd::models::PSPNetOptions(11).backbone(
        cwd::models::ResNetOptions().width(0.25).init(init)));
    fresh->to(cuda);
    fresh->eval();
    torch::NoGradGuard no_grad;
    const auto logits = fresh->forward(torch::randn({2, 3, 64, 128}, torch::TensorOptions().device(cuda))).logits;
    report["init"][cwd::models::to_string(init)] = {
        {"logit_std", logits.std().item<double>()},
        {"classifier_std", fresh->head()->classifier()->weight.std().item<double>()},
        {"finite", torch::isfinite(logits).all().item<bool>()}};
  }
  all_ok = all_ok && twin_ok;
  report["distiller_step"] = distiller_report(cuda, all_ok);
  report["all_losses_match_cpu"] = all_ok;
  std::cout << report.dump(2) << "\n";
  return all_ok ? 0 : 2;
}
