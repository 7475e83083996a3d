// The explicit table of distillation losses: one row per method, no static self-registration.
// Each loss's defaults live in its options struct (losses/<key>.h).

#include "losses/registry.h"

#include "losses/at.h"
#include "losses/cwd.h"
#include "losses/ifvd.h"
#include "losses/local.h"
#include "losses/pa.h"
#include "losses/pi.h"
#include "src/core/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <functional>

namespace cwd::losses {
namespace {

using Factory = std::function<std::shared_ptr<DistillLoss>(const nlohmann::json&)>;

struct Entry {
  const char* key;
  Factory make;
};

template <typename Loss, typename Options>
Factory factory() {
  return [](const nlohmann::json& options) {
    return std::make_shared<Loss>(Options::from_json(options));
  };
}

// Sorted by key.
const std::vector<Entry>& table() {
  static const std::vector<Entry> entries = {
      {"at", factory<AtLoss, AtOptions>()},       {"cwd", factory<CwdLoss, CwdOptions>()},
      {"ifvd", factory<IfvdLoss, IfvdOptions>()}, {"local", factory<LocalLoss, LocalOptions>()},
      {"pa", factory<PaLoss, PaOptions>()},       {"pi", factory<PiLoss, PiOptions>()},
  };
  return entries;
}

}  // namespace

std::vector<std::string> known_keys() {
  std::vector<std::string> keys;
  for (const auto& entry : table()) keys.emplace_back(entry.key);
  return keys;
}

std::shared_ptr<DistillLoss> create(const std::string& key, const nlohmann::json& options) {
  for (const auto& entry : table()) {
    if (key == entry.key) return entry.make(options);
  }
  throw Error(fmt::format("unknown loss '{}' (known: {})", key, fmt::join(known_keys(), ", ")));
}

nlohmann::json default_options(const std::string& key) {
  return create(key, nlohmann::json::object())->options();
}

}  // namespace cwd::losses
