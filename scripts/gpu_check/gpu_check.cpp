// Runs the losses, the memory counter and PSPNet on CUDA and prints a JSON report: every loss's
// value and student gradient on CUDA against the CPU, PA's two forms at the paper's 64×128 logit
// map (time and peak bytes from the CUDA caching allocator), and a PSPNet-R18 training step.
#include "losses/registry.h"
#include "models/pspnet.h"
#include "src/core/memory.h"

#include <torch/torch.h>

#include <chrono>
#include <iostream>

namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
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
      auto loss = cwd::losses::create(key, nlohmann::json::object());
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
  report["all_losses_match_cpu"] = all_ok;
  std::cout << report.dump(2) << "\n";
  return all_ok ? 0 : 2;
}
