#pragma once
// The explicit table of distillation losses.

#include "losses/loss.h"

#include <memory>
#include <string>
#include <vector>

namespace cwd::losses {

/// Builds the loss registered under `key` with `options` (a JSON object; missing keys take the
/// defaults of docs/losses.md), or the TorchScript loss of "script:PATH" (losses/script.h).
/// Throws cwd::Error for an unknown key (unknown_loss()), an unknown option key or a bad option
/// value (the message names the loss, the key and the valid choices).
std::shared_ptr<DistillLoss> create(const std::string& key, const nlohmann::json& options);

/// The loss for a student/teacher pair whose maps have these channel counts: a loss that adapts
/// channels on feature maps (`feature_map`), or that always needs the counts (MGD), gets
/// student_channels and teacher_channels unless `options` set them.
std::shared_ptr<DistillLoss> create_for_maps(const std::string& key, nlohmann::json options,
                                             bool feature_map, int64_t student_channels,
                                             int64_t teacher_channels);

/// Built-in keys, sorted.
std::vector<std::string> known_keys();

/// Whether `key` is a built-in key or "script:PATH" (the file is not opened).
bool is_known(const std::string& key);

/// The key as a file-name part: a built-in key as it is, "script:dir/my.loss.pt" as
/// "script-my_loss" (run names).
std::string file_label(const std::string& key);

/// How tables and figures name a method: a built-in key in capitals ("CWD"), a TorchScript loss
/// by its file name ("script:pixel_kd.pt").
std::string display_name(const std::string& key);

/// "unknown loss 'cwdd' (known: at, cwd, ..., or script:PATH.pt for a TorchScript loss)".
std::string unknown_loss(const std::string& key);

/// Default options of a loss (what create(key, {}) resolves to).
nlohmann::json default_options(const std::string& key);

}  // namespace cwd::losses
