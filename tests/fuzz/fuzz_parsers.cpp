// cwd_bench_fuzz: a seeded random-mutation fuzzer for the readers of files a user may get from
// elsewhere: weights (safetensors, torch.save zips), checkpoints, run records, Fashion-MNIST IDX
// files and folder split lists. No coverage feedback: each input is a seed from
// <corpus>/<target>/ (or an input kept because it drew a new kind of cwd::Error) with 1-4 random
// mutations, written to a file in a per-process temp folder and given to the reader.
//
// An input passes when the reader returns or throws cwd::Error (the one-line user error). Any
// other exception is a finding: the exit status is 1, and the first input of each kind (message
// without digits) is saved as <artifacts>/crash-<target>-<n>, with one line
// "FINDING <target>: <type>: <what> [input: FILE]". A crash kills the process, and so does an
// input that runs past --timeout seconds (SIGALRM); --save-last writes each input to
// <artifacts>/last-<target> before it runs, to replay that one.
//
//   cwd_bench_fuzz --target NAME|all --corpus DIR --seconds S [--seed N] [--max-len BYTES]
//                  [--artifacts DIR] [--save-last] [--timeout S]
//   cwd_bench_fuzz --target NAME --replay FILE
//
// With --target all, S is the total: each of the 6 targets gets S/6 seconds. The n-th input of a
// target depends only on --seed (std::mt19937_64), so a run is reproducible on the same build.
// CI runs it through scripts/fuzz.sh; see docs/fuzzing.md.

#include "models/weights.h"
#include "src/core/error.h"
#include "src/data/dataset.h"
#include "src/data/idx.h"
#include "src/data/image_io.h"
#include "src/train/checkpoint.h"
#include "src/train/record.h"

#include <torch/torch.h>
#include <fmt/format.h>
#include <zlib.h>

#include <cxxabi.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <string>
#include <typeinfo>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Bytes = std::string;
using Clock = std::chrono::steady_clock;

/// A failure of the fuzzer itself, not of a reader: never counted as a finding.
struct HarnessFailure {
  std::string message;
};

fs::path g_work;  // the per-process temp folder

Bytes read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw HarnessFailure{"cannot read " + path.string()};
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw HarnessFailure{"cannot write " + path.string()};
}

/// Writes `bytes` as the file `name` in the temp folder and returns its path.
std::string put(const char* name, const Bytes& bytes) {
  write_bytes(g_work / name, bytes);
  return (g_work / name).string();
}

void write_gz(const fs::path& path, const Bytes& bytes) {
  gzFile f = gzopen(path.string().c_str(), "wb");
  if (f == nullptr) throw HarnessFailure{"cannot write " + path.string()};
  const bool ok = bytes.empty() || gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
                                       static_cast<int>(bytes.size());
  if (gzclose(f) != Z_OK || !ok) throw HarnessFailure{"cannot write " + path.string()};
}

// ---- targets: bytes in, the reader called on a file -------------------------------------------

/// One input holds both IDX files: a little-endian u32 N, N bytes of the images file, then the
/// labels file (N clamped to what is there). Each part is gzipped, as the reader expects.
void run_idx(const Bytes& in) {
  uint32_t n = 0;
  for (size_t i = std::min<size_t>(in.size(), 4); i-- > 0;) {
    n = (n << 8) | static_cast<unsigned char>(in[i]);
  }
  const size_t start = std::min<size_t>(in.size(), 4);
  const size_t images = std::min<size_t>(n, in.size() - start);
  write_gz(g_work / "idx" / "train-images-idx3-ubyte.gz", in.substr(start, images));
  write_gz(g_work / "idx" / "train-labels-idx1-ubyte.gz", in.substr(start + images));
  cwd::data::detail::load_item_bank((g_work / "idx").string(), "train");
}

/// A folder dataset root holding images/{a,b}.png and labels/{a,b}.png (4x4 PNGs; placeholder
/// bytes in a build without OpenCV, where the list is read and then the dataset refuses).
fs::path folder_root() {
  static const fs::path root = [] {
    const fs::path r = g_work / "folder";
    fs::create_directories(r / "images");
    fs::create_directories(r / "labels");
    const std::vector<uint8_t> rgb(4 * 4 * 3, 100), ids(4 * 4, 1);
    for (const char* name : {"a.png", "b.png"}) {
      const fs::path image = r / "images" / name, label = r / "labels" / name;
      if (!cwd::data::detail::have_opencv() ||
          !cwd::data::detail::write_png(rgb.data(), 4, 4, 3, image.string()) ||
          !cwd::data::detail::write_png(ids.data(), 4, 4, 1, label.string())) {
        write_bytes(image, "not a png");
        write_bytes(label, "not a png");
      }
    }
    return r;
  }();
  return root;
}

void run_splitlist(const Bytes& in) {
  const fs::path root = folder_root();
  write_bytes(root / "list.txt", in);
  cwd::data::DataConfig config;
  config.name = "folder";
  config.root = root.string();
  config.num_classes = 3;
  config.ignore_index = 255;
  config.train_list = "list.txt";  // relative to the root
  cwd::data::make_dataset(config, cwd::data::Split::kTrain);
}

/// A checkpoint's metadata, then everything, loaded into Linear(3, 2) as the network,
/// Linear(2, 2) as the loss (when the metadata says it has one) and SGD with momentum.
void run_checkpoint(const Bytes& in) {
  const std::string path = put("ckpt.safetensors", in);
  const auto meta = cwd::train::read_checkpoint_meta(path);
  torch::nn::Linear net(3, 2), loss(2, 2);
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  const bool has_loss = meta.meta.value("has_loss", nlohmann::json(false)) == true;
  cwd::train::load_checkpoint(path, *net, has_loss ? loss.get() : nullptr, &sgd);
}

struct Target {
  const char* name;
  void (*run)(const Bytes&);
};
const Target kTargets[] = {
    {"safetensors", [](const Bytes& in) { cwd::models::load_named_tensors(put("weights", in)); }},
    {"torchsave", [](const Bytes& in) { cwd::models::load_named_tensors(put("weights", in)); }},
    {"checkpoint", run_checkpoint},
    {"record", [](const Bytes& in) { cwd::train::read_run_record(put("record.json", in)); }},
    {"idx", run_idx},
    {"splitlist", run_splitlist}};
constexpr size_t kTargetCount = sizeof(kTargets) / sizeof(kTargets[0]);

// ---- one execution ----------------------------------------------------------------------------

struct Outcome {
  bool finding = false;
  std::string message;  ///< "ok", "cwd::Error: ..." or "TYPE: first line of what()"
};

std::string first_line(const std::string& s) {
  std::string out = s.substr(0, s.find('\n'));
  return out.size() > 300 ? out.substr(0, 300) + "..." : out;
}

std::string type_name(const std::type_info& type) {
  int status = 0;
  char* name = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string out = (status == 0 && name != nullptr) ? name : type.name();
  std::free(name);
  return out;
}

const char* volatile g_running = nullptr;  // the target running now, for the SIGALRM message

void on_timeout(int) {
  const char* target = g_running != nullptr ? g_running : "?";
  const char* parts[] = {"FINDING ", target, ": an input ran past --timeout (hang?); rerun with "
                         "--save-last to keep it as last-<target>\n"};
  for (const char* p : parts) {
    if (::write(STDOUT_FILENO, p, std::strlen(p)) < 0) break;
  }
  _exit(1);
}

Outcome run_one(const Target& target, const Bytes& in, unsigned timeout_s) {
  g_running = target.name;
  alarm(timeout_s);
  Outcome out{false, "ok"};
  try {
    target.run(in);
  } catch (const HarnessFailure&) {
    alarm(0);
    throw;
  } catch (const cwd::Error& e) {
    out = {false, std::string("cwd::Error: ") + e.what()};
  } catch (const c10::Error& e) {
    out = {true, "c10::Error: " + first_line(e.what_without_backtrace())};
  } catch (const std::exception& e) {
    out = {true, type_name(typeid(e)) + ": " + first_line(e.what())};
  } catch (...) {
    out = {true, "an exception that is no std::exception"};
  }
  alarm(0);
  return out;
}

/// The kind of an outcome: the message without the temp folder and digits, first 80 characters.
std::string kind_of(const std::string& message) {
  const std::string work = g_work.string();
  std::string m = message, key;
  for (size_t at; !work.empty() && (at = m.find(work)) != std::string::npos;) {
    m.erase(at, work.size());
  }
  for (char c : m) {
    if (!std::isdigit(static_cast<unsigned char>(c))) key += c;
  }
  return key.substr(0, 80);
}

// ---- mutations --------------------------------------------------------------------------------

class Mutator {
 public:
  Mutator(uint64_t seed, size_t max_len) : rng_(seed), max_len_(max_len) {}
  /// 0..n-1 (0 for n = 0); plain modulo so the stream is the same with every standard library.
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }

  /// 1-4 mutations of `b`; `pool` supplies splice partners. The result is capped at max_len.
  Bytes mutate(Bytes b, const std::vector<Bytes>& pool) {
    for (size_t i = 0, count = 1 + below(4); i < count; ++i) once(b, pool);
    if (b.size() > max_len_) b.resize(max_len_);
    return b;
  }

 private:
  static bool digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

  void once(Bytes& b, const std::vector<Bytes>& pool) {
    static const char kBytes[] = {'\0', '\xff', '\x7f', '\x80', '{', '"', '9'};
    static const char* const kNumbers[] = {"99999999999999999999", "-1", "1e308", "nan", "0",
                                           "4294967296", "-9223372036854775809", "1e-400"};
    static const uint64_t kWords[] = {0, ~uint64_t{0}, 0x7fffffffffffffffULL, 0x8000000000000000ULL,
                                      0x7fffffffULL, 0x80000000ULL, 0xffffffffULL};
    const size_t size = b.size();
    switch (below(9)) {
      case 0: {  // flip a bit
        if (size == 0) break;
        const size_t at = below(size);
        b[at] = static_cast<char>(b[at] ^ (1 << below(8)));
        break;
      }
      case 1: {  // set a byte to an interesting value
        if (size == 0) break;
        const size_t at = below(size);
        b[at] = kBytes[below(sizeof(kBytes))];
        break;
      }
      case 2: {  // insert 1-16 random bytes
        const size_t n = 1 + below(16), at = below(size + 1);
        Bytes bytes;
        for (size_t i = 0; i < n; ++i) bytes += static_cast<char>(rng_() & 0xff);
        b.insert(at, bytes);
        break;
      }
      case 3: {  // delete 1-64 bytes
        if (size == 0) break;
        const size_t at = below(size);
        b.erase(at, 1 + below(std::min<size_t>(size - at, 64)));
        break;
      }
      case 4: {  // copy 1-256 bytes to another place
        if (size == 0) break;
        const size_t from = below(size);
        const Bytes copy = b.substr(from, 1 + below(std::min<size_t>(size - from, 256)));
        b.insert(below(size + 1), copy);
        break;
      }
      case 5:  // truncate
        b.resize(below(size + 1));
        break;
      case 6: {  // splice: a prefix of this input, then a suffix of another
        const Bytes& other = pool[below(pool.size())];
        const size_t keep = below(size + 1), from = below(other.size() + 1);
        b = b.substr(0, keep) + other.substr(from);
        break;
      }
      case 7: {  // replace a run of ASCII digits by an extreme number
        if (size == 0) break;
        size_t at = below(size);
        for (size_t tries = 0; !digit(b[at]); at = (at + 1) % size) {
          if (++tries > size) return;
        }
        size_t begin = at, end = at;
        while (begin > 0 && digit(b[begin - 1])) --begin;
        while (end < size && digit(b[end])) ++end;
        b.replace(begin, end - begin, kNumbers[below(sizeof(kNumbers) / sizeof(kNumbers[0]))]);
        break;
      }
      default: {  // overwrite 2, 4 or 8 bytes with an extreme integer, in either byte order
        const size_t width = size_t{2} << below(3);
        if (size < width) break;
        const uint64_t value = kWords[below(sizeof(kWords) / sizeof(kWords[0]))];
        const size_t at = below(size - width + 1);
        const bool big_endian = below(2) == 1;
        for (size_t i = 0; i < width; ++i) {
          b[at + i] = static_cast<char>((value >> (8 * (big_endian ? width - 1 - i : i))) & 0xff);
        }
      }
    }
  }

  std::mt19937_64 rng_;
  size_t max_len_;
};

// ---- the fuzzing loop -------------------------------------------------------------------------

struct Options {
  std::string target, corpus, artifacts = ".", replay;
  double seconds = 10;
  unsigned timeout = 60;
  uint64_t seed = 1;
  size_t max_len = 64 * 1024;
  bool save_last = false;
};

struct Stats {
  uint64_t execs = 0, findings = 0;
};

constexpr size_t kMaxSaved = 20;  // kinds of findings printed and saved per target
constexpr size_t kMaxKept = 256;   // inputs kept as new seeds per target

Stats fuzz(const Target& target, size_t index, const Options& o, double seconds) {
  const auto start = Clock::now();
  const fs::path dir = fs::path(o.corpus) / target.name;
  std::vector<fs::path> files;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file()) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw HarnessFailure{"no seed files in " + dir.string()};

  Stats stats;
  std::set<std::string> found;  // kinds of findings reported (each is printed and saved once)
  auto execute = [&](const Bytes& in) {
    if (o.save_last) write_bytes(fs::path(o.artifacts) / ("last-" + std::string(target.name)), in);
    const Outcome out = run_one(target, in, o.timeout);
    ++stats.execs;
    if (!out.finding) return out;
    ++stats.findings;
    if (found.size() < kMaxSaved && found.insert(kind_of(out.message)).second) {
      const fs::path saved =
          fs::path(o.artifacts) / fmt::format("crash-{}-{}", target.name, found.size());
      write_bytes(saved, in);
      fmt::print("FINDING {}: {} [input: {}]\n", target.name, out.message, saved.string());
      std::fflush(stdout);
    }
    return out;
  };

  std::vector<Bytes> pool;
  std::set<std::string> kinds;
  for (const fs::path& file : files) {  // the seeds as they are
    Bytes seed = read_bytes(file);
    if (seed.size() > o.max_len) seed.resize(o.max_len);
    const Outcome out = execute(seed);
    if (!out.finding && out.message != "ok") {
      fmt::print(stderr, "note: seed {} is rejected: {}\n", file.string(), out.message);
    }
    kinds.insert(kind_of(out.message));
    pool.push_back(std::move(seed));
  }
  const size_t initial = pool.size();
  Mutator mutator(o.seed + 0x9e3779b97f4a7c15ULL * index, o.max_len);
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < deadline) {
    Bytes in = mutator.mutate(pool[mutator.below(pool.size())], pool);
    const Outcome out = execute(in);
    if (!out.finding && pool.size() < initial + kMaxKept &&
        kinds.insert(kind_of(out.message)).second) {
      pool.push_back(std::move(in));
    }
  }
  fmt::print("fuzz {}: {} executions in {:.1f} s, {} findings, {} seeds\n", target.name,
             stats.execs, std::chrono::duration<double>(Clock::now() - start).count(),
             stats.findings, pool.size());
  std::fflush(stdout);
  return stats;
}

constexpr const char* kUsage =
    "usage: cwd_bench_fuzz --target NAME|all --corpus DIR --seconds S [--seed N]\n"
    "                      [--max-len BYTES] [--artifacts DIR] [--save-last] [--timeout S]\n"
    "       cwd_bench_fuzz --target NAME --replay FILE\n"
    "targets: safetensors torchsave checkpoint record idx splitlist (all: S/6 seconds each)\n";

int fuzz_main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--save-last") {
      o.save_last = true;
      continue;
    }
    if (i + 1 >= argc) throw HarnessFailure{"bad or incomplete option " + arg + "\n" + kUsage};
    const std::string value = argv[++i];
    try {
      if (arg == "--target") o.target = value;
      else if (arg == "--corpus") o.corpus = value;
      else if (arg == "--artifacts") o.artifacts = value;
      else if (arg == "--replay") o.replay = value;
      else if (arg == "--seconds") o.seconds = std::stod(value);
      else if (arg == "--timeout") o.timeout = static_cast<unsigned>(std::stoul(value));
      else if (arg == "--seed") o.seed = std::stoull(value);
      else if (arg == "--max-len") o.max_len = static_cast<size_t>(std::stoull(value));
      else throw HarnessFailure{"unknown option " + arg + "\n" + kUsage};
    } catch (const std::logic_error&) {  // std::stod and friends: not a number
      throw HarnessFailure{"bad value '" + value + "' for " + arg};
    }
  }
  std::vector<size_t> chosen;
  for (size_t t = 0; t < kTargetCount; ++t) {
    if (o.target == "all" || o.target == kTargets[t].name) chosen.push_back(t);
  }
  if (chosen.empty()) throw HarnessFailure{"unknown --target '" + o.target + "'\n" + kUsage};
  signal(SIGALRM, on_timeout);

  if (!o.replay.empty()) {
    if (chosen.size() != 1) throw HarnessFailure{"--replay needs one --target, not all"};
    const Outcome out = run_one(kTargets[chosen[0]], read_bytes(o.replay), o.timeout);
    fmt::print("{} {} {}: {}\n", out.finding ? "FINDING" : "replay", kTargets[chosen[0]].name,
               o.replay, out.message);
    return out.finding ? 1 : 0;
  }
  if (o.corpus.empty()) throw HarnessFailure{std::string("--corpus DIR is required\n") + kUsage};
  fs::create_directories(o.artifacts);
  const auto start = Clock::now();
  Stats total;
  for (size_t t : chosen) {
    const Stats s = fuzz(kTargets[t], t, o, o.seconds / static_cast<double>(chosen.size()));
    total.execs += s.execs;
    total.findings += s.findings;
  }
  fmt::print("fuzz total: {} executions in {:.1f} s, {} findings\n", total.execs,
             std::chrono::duration<double>(Clock::now() - start).count(), total.findings);
  return total.findings > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  int status = 2;
  try {
    g_work = fs::temp_directory_path() / fmt::format("cwd-fuzz-{}", ::getpid());
    fs::create_directories(g_work / "idx");
    status = fuzz_main(argc, argv);
  } catch (const HarnessFailure& f) {
    fmt::print(stderr, "cwd_bench_fuzz: {}\n", f.message);
  } catch (const std::exception& e) {  // outside the readers: a failure of the fuzzer
    fmt::print(stderr, "cwd_bench_fuzz: {}\n", e.what());
  }
  std::fflush(stdout);
  std::error_code ec;
  fs::remove_all(g_work, ec);
  return status;
}
