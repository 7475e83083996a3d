#pragma once
// The explicit table of distillation losses.

#include "losses/loss.h"

#include <memory>
#include <string>
#include <vector>

namespace cwd::losses {

/// Builds the loss registered under `key` with `options` (a JSON object; missing keys take the
/// defaults of docs/losses.md). Throws cwd::Error for an unknown key
/// ("unknown loss 'cwdd' (known: at, cwd, ifvd, local, pa, pi)"), an unknown option key or a bad
/// option value (the message names the loss, the key and the valid choices).
std::shared_ptr<DistillLoss> create(const std::string& key, const nlohmann::json& options);

/// Registered keys, sorted.
std::vector<std::string> known_keys();

/// Default options of a loss (what create(key, {}) resolves to).
nlohmann::json default_options(const std::string& key);

}  // namespace cwd::losses
