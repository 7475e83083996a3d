// The explicit table of distillation losses: one row per method, no static self-registration.
// Each loss's defaults live in its options struct (losses/<key>.h).

#include "losses/registry.h"

#include "losses/at.h"
#include "losses/cwd.h"
#include "losses/dist.h"
#include "losses/ifvd.h"
#include "losses/local.h"
#include "losses/mgd.h"
#include "losses/pa.h"
#include "losses/pi.h"
#include "losses/script.h"
#include "src/core/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <utility>

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
      {"dist", factory<DistLoss, DistOptions>()}, {"ifvd", factory<IfvdLoss, IfvdOptions>()},
      {"local", factory<LocalLoss, LocalOptions>()}, {"mgd", factory<MgdLoss, MgdOptions>()},
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
  if (is_script_key(key)) return std::make_shared<ScriptLoss>(key, options);
  throw Error(unknown_loss(key));
}

bool is_known(const std::string& key) {
  const auto keys = known_keys();
  return is_script_key(key) || std::find(keys.begin(), keys.end(), key) != keys.end();
}

std::string file_label(const std::string& key) {
  return is_script_key(key) ? script_run_label(key) : key;
}

std::string display_name(const std::string& key) {
  if (is_script_key(key)) return std::string(kScriptPrefix) + script_file_name(key);
  std::string name = key;
  for (char& ch : name) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return name;
}

std::string unknown_loss(const std::string& key) {
  return fmt::format("unknown loss '{}' (known: {}, or script:PATH.pt for a TorchScript loss)", key,
                     fmt::join(known_keys(), ", "));
}

std::shared_ptr<DistillLoss> create_for_maps(const std::string& key, nlohmann::json options,
                                             bool feature_map, int64_t student_channels,
                                             int64_t teacher_channels) {
  if (!options.is_object()) options = nlohmann::json::object();
  auto loss = create(key, options);
  const auto info = loss->info();
  if (!((feature_map && info.adapts_channels) || info.needs_channels)) return loss;
  // Unset or null (as in a loss's default options) means: the maps' own channel counts.
  bool filled = false;
  for (const auto& [option, channels] : {std::pair{"student_channels", student_channels},
                                         std::pair{"teacher_channels", teacher_channels}}) {
    if (!options.value(option, nlohmann::json()).is_null()) continue;
    options[option] = channels;
    filled = true;
  }
  return filled ? create(key, options) : loss;
}

nlohmann::json default_options(const std::string& key) {
  return create(key, nlohmann::json::object())->options();
}

}  // namespace cwd::losses
