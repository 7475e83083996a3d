#pragma once
// A distillation loss written in Python: a TorchScript module (torch.jit.script(module).save(PATH))
// whose forward(student: Tensor, teacher: Tensor, labels: Tensor) -> Tensor returns the 0-dim
// loss. Registered as "script:PATH" (see docs/plugins.md). It runs behind DistillLoss like the
// built-in losses: the module's parameters and buffers are this loss's own (same tensors, same
// dotted names), so they train with the student, move with to(), and are saved in checkpoints.
// Optional module attributes fill its info: `title`, `paper`, `formula` (str), `needs_labels`
// (bool). Options: `weight` (multiplies the module's value, default 1) and `file_hash` (the
// FNV-1a 64 hash of the file; when given, the file must still have it).

#include "losses/loss.h"

#include <memory>
#include <string>

namespace cwd::losses {

/// The key prefix of a TorchScript loss.
inline constexpr const char* kScriptPrefix = "script:";

/// Whether `key` names a TorchScript loss ("script:PATH").
bool is_script_key(const std::string& key);

/// The file name of "script:dir/name.pt": "name.pt".
std::string script_file_name(const std::string& key);

/// "script-<file stem>" with anything but letters, digits, '-' and '_' as '_' (for run names).
std::string script_run_label(const std::string& key);

struct ScriptOptions {
  double weight = 1.0;
  std::string file_hash;  ///< "" = not pinned (options() always reports the file's hash)
};

class ScriptLoss : public DistillLoss {
 public:
  /// Loads "script:PATH" (throws cwd::Error with one line naming the file and the fix when it is
  /// missing, not TorchScript, has another forward() signature or another hash than pinned).
  ScriptLoss(const std::string& key, const nlohmann::json& options);
  ~ScriptLoss() override;

  torch::Tensor forward(const torch::Tensor& student, const torch::Tensor& teacher,
                        const torch::Tensor& labels) override;
  LossInfo info() const override { return info_; }
  nlohmann::json options() const override;
  /// Not known for a user's module: NaN (records and tables show no FLOP count).
  double flops(const MapShape& shape) const override;
  /// Train or eval mode for the module too.
  void train(bool on = true) override;

 private:
  struct Script;  // the torch::jit::Module, kept out of this header
  std::unique_ptr<Script> script_;
  LossInfo info_;
  ScriptOptions options_;
};

}  // namespace cwd::losses
