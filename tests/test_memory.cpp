// The counting CPU allocator and PeakMemoryScope (src/core/memory.h).

#include "src/core/error.h"
#include "src/core/memory.h"

#include <gtest/gtest.h>

#include <thread>

namespace {

constexpr int64_t kMiB = 1 << 20;

TEST(Memory, CountsLiveBytesOfNewTensors) {
  cwd::install_cpu_memory_counter();
  ASSERT_TRUE(cwd::cpu_memory_counter_installed());
  const int64_t before = cwd::live_bytes(torch::kCPU);
  {
    auto t = torch::empty({kMiB / 4}, torch::kFloat);  // exactly 1 MiB
    EXPECT_EQ(cwd::live_bytes(torch::kCPU) - before, kMiB);
  }
  EXPECT_EQ(cwd::live_bytes(torch::kCPU), before);
}

TEST(Memory, ScopeReportsExactPeakAboveStart) {
  auto kept = torch::ones({1000}, torch::kDouble);  // allocated before the scope: not counted
  cwd::PeakMemoryScope scope(torch::kCPU);
  {
    auto a = torch::empty({3 * kMiB}, torch::kByte);
    auto b = torch::empty({2 * kMiB}, torch::kByte);
  }  // peak 5 MiB, then back to the start level
  auto c = torch::empty({kMiB}, torch::kByte);
  EXPECT_EQ(scope.peak_bytes(), 5 * kMiB);
  EXPECT_EQ(scope.current_bytes(), kMiB);
}

TEST(Memory, NestedScopesKeepTheOuterPeak) {
  cwd::PeakMemoryScope outer(torch::kCPU);
  { auto big = torch::empty({4 * kMiB}, torch::kByte); }
  auto held = torch::empty({kMiB}, torch::kByte);
  {
    cwd::PeakMemoryScope inner(torch::kCPU);  // resets the device peak; outer folds it first
    auto small = torch::empty({2 * kMiB}, torch::kByte);
    EXPECT_EQ(inner.peak_bytes(), 2 * kMiB);
  }
  EXPECT_EQ(outer.peak_bytes(), 4 * kMiB);
  { auto bigger = torch::empty({6 * kMiB}, torch::kByte); }
  EXPECT_EQ(outer.peak_bytes(), 7 * kMiB);  // 1 held + 6
}

TEST(Memory, CountsBackwardAndOtherThreads) {
  cwd::PeakMemoryScope scope(torch::kCPU);
  std::thread worker([] { auto t = torch::empty({3 * kMiB}, torch::kByte); });
  worker.join();
  EXPECT_EQ(scope.peak_bytes(), 3 * kMiB);
  auto x = torch::randn({256, 256}, torch::requires_grad());
  torch::mm(x, x).sum().backward();
  EXPECT_GE(scope.peak_bytes(), 3 * kMiB);
  EXPECT_GE(scope.current_bytes(), 2 * 256 * 256 * 4);  // x and its gradient
}

TEST(Memory, RejectsUnsupportedDevices) {
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(cwd::PeakMemoryScope(torch::Device(torch::kCUDA)), cwd::Error);
  }
  EXPECT_THROW(cwd::live_bytes(torch::Device(torch::kMeta)), cwd::Error);
}

TEST(Memory, CudaScopeCountsDeviceAllocations) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::Device cuda(torch::kCUDA, 0);
  cwd::PeakMemoryScope scope(cuda);
  { auto t = torch::empty({8 * kMiB}, torch::TensorOptions().dtype(torch::kByte).device(cuda)); }
  EXPECT_EQ(scope.peak_bytes(), 8 * kMiB);
  EXPECT_EQ(scope.current_bytes(), 0);
}

}  // namespace
