#include "src/core/memory.h"

#include "src/core/error.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include <unistd.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

// The CUDA statistics need both the c10 CUDA header and the CUDA runtime headers: Debian's
// CPU-only libtorch ships the former without the latter.
#if defined(__has_include)
#if __has_include(<c10/cuda/CUDACachingAllocator.h>) && __has_include(<cuda_runtime_api.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#define CWD_HAVE_CUDA_ALLOCATOR 1
#endif
#endif

// c10::Allocator::allocate lost its const and gained a pure copy_data() in libtorch 2.3.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define CWD_ALLOCATE_CONST
#define CWD_ALLOCATOR_HAS_COPY_DATA 1
#else
#define CWD_ALLOCATE_CONST const
#endif

namespace cwd {
namespace {

// Every counted block starts with this header; the tensor's data follows kHeaderBytes later, so
// the data keeps the base allocator's 64-byte alignment and data == context (raw_allocate works).
constexpr size_t kHeaderBytes = 64;

struct BlockHeader {
  size_t nbytes;
  void* base_context;
  c10::DeleterFnPtr base_deleter;
};
static_assert(sizeof(BlockHeader) <= kHeaderBytes, "header must fit before the data");

struct CpuCounters {
  std::atomic<int64_t> live{0};
  std::atomic<int64_t> peak{0};
};

CpuCounters& cpu_counters() {
  static CpuCounters counters;
  return counters;
}

// Data pointers handed out by the counting allocator. libtorch frees some buffers through the
// *current* allocator's raw deleter even when they came from the allocator installed before ours
// (raw_allocate/raw_deallocate pairs that straddle the installation), so a pointer that is not
// ours goes to the base allocator's deleter untouched.
struct OwnedBlocks {
  std::mutex mutex;
  std::unordered_set<void*> pointers;
  c10::DeleterFnPtr base_raw_deleter = nullptr;
};

OwnedBlocks& owned_blocks() {
  static OwnedBlocks blocks;
  return blocks;
}

void count_free(void* data) {
  auto& owned = owned_blocks();
  bool ours = false;
  {
    std::lock_guard<std::mutex> lock(owned.mutex);
    ours = owned.pointers.erase(data) > 0;
  }
  if (!ours) {
    if (owned.base_raw_deleter != nullptr) owned.base_raw_deleter(data);
    return;
  }
  auto* header = reinterpret_cast<BlockHeader*>(static_cast<char*>(data) - kHeaderBytes);
  cpu_counters().live.fetch_sub(static_cast<int64_t>(header->nbytes), std::memory_order_relaxed);
  header->base_deleter(header->base_context);
}

class CountingCpuAllocator final : public c10::Allocator {
 public:
  explicit CountingCpuAllocator(c10::Allocator* base) : base_(base) {}

  c10::DataPtr allocate(size_t nbytes) CWD_ALLOCATE_CONST override {
    if (nbytes == 0) return base_->allocate(0);
    c10::DataPtr block = base_->allocate(nbytes + kHeaderBytes);
    char* raw = static_cast<char*>(block.get());
    c10::DeleterFnPtr deleter = block.get_deleter();
    void* context = block.release_context();
    auto* header = reinterpret_cast<BlockHeader*>(raw);
    header->nbytes = nbytes;
    header->base_context = context;
    header->base_deleter = deleter;
    auto& counters = cpu_counters();
    const int64_t live =
        counters.live.fetch_add(static_cast<int64_t>(nbytes), std::memory_order_relaxed) +
        static_cast<int64_t>(nbytes);
    int64_t peak = counters.peak.load(std::memory_order_relaxed);
    while (live > peak &&
           !counters.peak.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
    }
    void* data = raw + kHeaderBytes;
    {
      auto& owned = owned_blocks();
      std::lock_guard<std::mutex> lock(owned.mutex);
      owned.pointers.insert(data);
    }
    return {data, data, &count_free, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &count_free; }

#ifdef CWD_ALLOCATOR_HAS_COPY_DATA
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    std::memcpy(dest, src, count);
  }
#endif

 private:
  c10::Allocator* base_;
};

CountingCpuAllocator* counting_allocator_or_null(bool install) {
  static std::once_flag once;
  static CountingCpuAllocator* allocator = nullptr;  // lives for the whole process
  if (install) {
    std::call_once(once, [] {
      // Never deleted: storage allocated through it may outlive any scope.
      c10::Allocator* base = c10::GetCPUAllocator();
      owned_blocks().base_raw_deleter = base->raw_deleter();
      allocator = new CountingCpuAllocator(base);
      c10::SetCPUAllocator(allocator, /*priority=*/0);
    });
  }
  return allocator;
}

#ifdef CWD_HAVE_CUDA_ALLOCATOR
c10::DeviceIndex cuda_index(const torch::Device& device) {
  return device.has_index() ? device.index() : c10::cuda::current_device();
}
// Index of StatType::AGGREGATE in DeviceStats::allocated_bytes: 0 in libtorch 1.13 and 2.x alike
// (the enum's namespace moved in 2.x, so it is not named here).
constexpr size_t kAggregateStat = 0;

int64_t cuda_allocated_current(const torch::Device& device) {
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(cuda_index(device));
  return stats.allocated_bytes[kAggregateStat].current;
}

int64_t cuda_allocated_peak(const torch::Device& device) {
  auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(cuda_index(device));
  return stats.allocated_bytes[kAggregateStat].peak;
}
#endif

void check_device(const torch::Device& device) {
  if (device.is_cpu()) return;
  if (device.is_cuda()) {
#ifdef CWD_HAVE_CUDA_ALLOCATOR
    if (torch::cuda::is_available()) return;
    throw Error("memory: CUDA device requested but no GPU is available");
#else
    throw Error("memory: CUDA device requested but this libtorch build has no CUDA");
#endif
  }
  throw Error("memory: peak measurement supports cpu and cuda devices, got " + device.str());
}

// The device's peak counter since its last reset (CPU: the counter; CUDA: the caching
// allocator's peak of allocated bytes).
int64_t device_peak(const torch::Device& device) {
  (void)device;  // only CUDA builds look at it
#ifdef CWD_HAVE_CUDA_ALLOCATOR
  if (device.is_cuda()) {
    return cuda_allocated_peak(device);
  }
#endif
  return cpu_counters().peak.load(std::memory_order_relaxed);
}

void reset_device_peak(const torch::Device& device) {
  (void)device;  // only CUDA builds look at it
#ifdef CWD_HAVE_CUDA_ALLOCATOR
  if (device.is_cuda()) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(cuda_index(device));
    return;
  }
#endif
  auto& counters = cpu_counters();
  counters.peak.store(counters.live.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

bool same_device(const torch::Device& a, const torch::Device& b) {
  if (a.type() != b.type()) return false;
#ifdef CWD_HAVE_CUDA_ALLOCATOR
  if (a.is_cuda()) return cuda_index(a) == cuda_index(b);
#endif
  return true;
}

}  // namespace

// Active scopes: a scope resets its device's peak counter when it starts, so it first folds the
// current peak into every active scope on that device.
struct PeakRegistry {
  std::mutex mutex;
  std::vector<PeakMemoryScope*> active;

  static PeakRegistry& get() {
    static PeakRegistry registry;
    return registry;
  }

  void enter(PeakMemoryScope* scope) {
    std::lock_guard<std::mutex> lock(mutex);
    const int64_t peak = device_peak(scope->device_);
    for (PeakMemoryScope* other : active) {
      if (same_device(other->device_, scope->device_)) {
        other->folded_peak_ = std::max(other->folded_peak_, peak);
      }
    }
    reset_device_peak(scope->device_);
    scope->start_ = live_bytes(scope->device_);
    scope->folded_peak_ = scope->start_;
    active.push_back(scope);
  }

  void leave(PeakMemoryScope* scope) {
    std::lock_guard<std::mutex> lock(mutex);
    active.erase(std::remove(active.begin(), active.end(), scope), active.end());
  }
};

void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest allowed value
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

void install_cpu_memory_counter() { counting_allocator_or_null(/*install=*/true); }

bool cpu_memory_counter_installed() {
  CountingCpuAllocator* allocator = counting_allocator_or_null(/*install=*/false);
  return allocator != nullptr && c10::GetCPUAllocator() == allocator;
}

int64_t live_bytes(const torch::Device& device) {
  check_device(device);
#ifdef CWD_HAVE_CUDA_ALLOCATOR
  if (device.is_cuda()) {
    return cuda_allocated_current(device);
  }
#endif
  return cpu_counters().live.load(std::memory_order_relaxed);
}

PeakMemoryScope::PeakMemoryScope(const torch::Device& device) : device_(device) {
  check_device(device_);
  if (device_.is_cpu()) {
    install_cpu_memory_counter();
    if (!cpu_memory_counter_installed()) {
      throw Error("memory: another CPU allocator replaced the counting one; cannot measure");
    }
  }
  PeakRegistry::get().enter(this);
}

PeakMemoryScope::~PeakMemoryScope() { PeakRegistry::get().leave(this); }

int64_t PeakMemoryScope::peak_bytes() const {
  int64_t peak = 0;
  {
    std::lock_guard<std::mutex> lock(PeakRegistry::get().mutex);
    peak = std::max(folded_peak_, device_peak(device_));
  }
  return std::max<int64_t>(0, peak - start_);
}

int64_t PeakMemoryScope::current_bytes() const { return live_bytes(device_) - start_; }

int64_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return 0;
  return static_cast<int64_t>(pages) * page;
}

}  // namespace cwd
