#pragma once
#include <torch/torch.h>

#include <string>

namespace cwd {

/// Sets libtorch's intra-op thread count; 0 means all cores. Returns the count in effect.
int set_threads(int threads);

/// "cpu", "cuda" or "auto" (cuda when available). Throws cwd::Error for cuda on a build or
/// machine without CUDA, and for anything else (listing the valid values).
torch::Device resolve_device(const std::string& name);

/// Waits for the device's queued work (CUDA); a no-op on the CPU. Used only where time is
/// measured.
void sync_device(const torch::Device& device);

}  // namespace cwd
