#pragma once
// Exact peak-memory measurement through the allocators.
//
// CPU: a counting allocator wraps c10's default CPU allocator (installed once per process with
// c10::SetCPUAllocator) and keeps the live bytes of every tensor storage allocated after its
// installation, and their peak, with atomics. Counted are the bytes each allocation asked for
// (what torch.profiler's memory events report as well), not the allocator's own overhead, and
// not memory that bypasses c10's allocator (oneDNN/MKL scratch buffers, OpenMP stacks).
//
// CUDA (builds against a CUDA libtorch only): the CUDA caching allocator's own statistics
// (allocated bytes, current and peak, aggregate pool), i.e. the bytes handed to tensors, not the
// bytes the cache reserved from the driver.
//
// Usage, e.g. to measure the loss term of a training step:
//
//   cwd::PeakMemoryScope scope(device);       // installs the CPU counter if needed
//   auto loss = criterion->forward(s, t, y);
//   loss.backward();
//   int64_t extra = scope.peak_bytes();       // peak above the level at scope start
//
// Scopes may nest and may be used from several threads; on CUDA a scope resets the device's peak
// counter at its start (the values seen by enclosing scopes are folded in first, so they stay
// exact), which also resets what torch.cuda.max_memory_allocated() would report.

#include <torch/torch.h>

#include <cstdint>

namespace cwd {

/// The host's physical memory in bytes (0 when the system does not say).
int64_t physical_memory_bytes();

/// Installs the counting CPU allocator (idempotent, thread-safe). Storage allocated before the
/// first call is not counted; its frees are not counted either (they go to the old deleter).
void install_cpu_memory_counter();

/// Asks glibc's malloc to keep freed memory for reuse instead of handing it back to the kernel at
/// once: blocks up to 32 MiB come from the heap (not a fresh mmap each), and up to 1 GiB of free
/// heap stays mapped. libtorch frees and re-allocates the same tensors every step; without this a
/// C++ process pays page faults for them again each time (a Python process is spared by the
/// interpreter's own allocations; BENCHMARKS.md, "DIST and MGD"). A no-op without glibc.
void keep_freed_memory();

/// True once install_cpu_memory_counter() has run (and no one replaced the allocator since).
bool cpu_memory_counter_installed();

/// Bytes currently held by tensors on `device`: on CPU the counted live bytes (0 before the
/// counter is installed), on CUDA the caching allocator's current allocated bytes. Throws
/// cwd::Error for a CUDA device on a build without CUDA, or another device type.
int64_t live_bytes(const torch::Device& device);

/// Measures the peak of live_bytes(device) between its construction and each peak_bytes() call,
/// as bytes above the level at construction (never negative). Not copyable or movable.
class PeakMemoryScope {
 public:
  explicit PeakMemoryScope(const torch::Device& device = torch::kCPU);
  ~PeakMemoryScope();
  PeakMemoryScope(const PeakMemoryScope&) = delete;
  PeakMemoryScope& operator=(const PeakMemoryScope&) = delete;

  /// Peak live bytes since construction minus the live bytes at construction.
  int64_t peak_bytes() const;
  /// Live bytes now minus the live bytes at construction (may be negative).
  int64_t current_bytes() const;
  /// Live bytes on the device when the scope started.
  int64_t start_bytes() const { return start_; }
  const torch::Device& device() const { return device_; }

 private:
  friend struct PeakRegistry;
  torch::Device device_;
  int64_t start_ = 0;
  int64_t folded_peak_ = 0;  ///< highest device peak seen before a nested scope reset it
};

}  // namespace cwd
