// A distillation loss written in Python and loaded as TorchScript (see losses/script.h).

#include "losses/script.h"

#include "losses/common.h"
#include "src/core/error.h"
#include "src/core/json_io.h"

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/script.h>

#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace cwd::losses {

namespace fs = std::filesystem;

struct ScriptLoss::Script {
  torch::jit::Module module;
  bool labels_optional = false;  ///< forward's labels are Optional[Tensor]
};

namespace {

constexpr const char* kHowToSave = "save the loss with torch.jit.script(module).save(PATH)";
constexpr const char* kSignature =
    "forward(self, student: Tensor, teacher: Tensor, labels: Tensor) -> Tensor";

std::string path_of(const std::string& key) { return key.substr(std::strlen(kScriptPrefix)); }

// The last non-empty line of an exception's text: TorchScript puts its traceback first and the
// error ("RuntimeError: ...") last; c10 errors put a backtrace after the message.
std::string message_of(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10_error ? c10_error->what_without_backtrace() : e.what();
  std::istringstream lines(text);
  std::string line;
  std::string last;
  while (std::getline(lines, line)) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  }
  const auto start = last.find_first_not_of(" \t");
  return start == std::string::npos ? "no message" : last.substr(start);
}

// Refuses what torch::jit::load must not be given: a missing file, a file that is not a zip
// archive, or an archive without TorchScript code (a torch.save file).
void check_archive(const std::string& key, const std::string& path) {
  if (path.empty()) throw Error(fmt::format("{}: no file named, expected script:PATH.pt", key));
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw Error(fmt::format("{}: no file '{}'; {}", key, path, kHowToSave));
  }
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, sizeof magic);
  if (in.gcount() != 4 || std::memcmp(magic, "PK\x03\x04", 4) != 0) {
    throw Error(fmt::format("{}: '{}' is not a TorchScript file (not a zip archive); {}", key,
                            path, kHowToSave));
  }
  bool has_code = false;
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    for (const auto& name : reader.getAllRecords()) has_code |= name.rfind("code/", 0) == 0;
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: '{}' is a damaged archive ({}); {}", key, path, message_of(e),
                            kHowToSave));
  }
  if (!has_code) {
    throw Error(fmt::format("{}: '{}' holds no TorchScript code (a torch.save file?); {}", key,
                            path, kHowToSave));
  }
}

// Whether forward's schema is kSignature (labels may be Optional[Tensor]); sets labels_optional.
void check_signature(const std::string& key, const torch::jit::Module& module,
                     bool& labels_optional) {
  const auto method = module.find_method("forward");
  if (!method) throw Error(fmt::format("{}: the module has no forward(), expected {}", key, kSignature));
  const auto& schema = method->function().getSchema();
  const auto& args = schema.arguments();  // args[0] is self
  const auto tensor = c10::TensorType::get();
  const auto optional_tensor = c10::OptionalType::create(tensor);
  bool ok = args.size() == 4 && schema.returns().size() == 1 &&
            schema.returns()[0].type()->isSubtypeOf(*tensor);
  for (size_t i = 1; ok && i < 3; ++i) ok = args[i].type()->isSubtypeOf(*tensor);
  if (ok) {
    labels_optional = *args[3].type() == *optional_tensor;
    ok = labels_optional || args[3].type()->isSubtypeOf(*tensor);
  }
  if (!ok) {
    std::ostringstream got;
    got << schema;
    throw Error(fmt::format("{}: forward is {}, expected {}", key, got.str(), kSignature));
  }
}

// A str/bool attribute of the module, or `fallback` when it has none.
std::string string_attr(const std::string& key, const torch::jit::Module& m, const char* name,
                        const std::string& fallback) {
  if (!m.hasattr(name)) return fallback;
  const auto value = m.attr(name);
  if (!value.isString()) {
    throw Error(fmt::format("{}: attribute '{}' is {}, expected str", key, name, value.tagKind()));
  }
  return value.toStringRef();
}

bool bool_attr(const std::string& key, const torch::jit::Module& m, const char* name) {
  if (!m.hasattr(name)) return false;
  const auto value = m.attr(name);
  if (!value.isBool()) {
    throw Error(fmt::format("{}: attribute '{}' is {}, expected bool", key, name, value.tagKind()));
  }
  return value.toBool();
}

// The module under `root` that owns the dotted name "a.b.leaf" (plain modules made on the way),
// and the leaf's own name.
torch::nn::Module& owner_of(torch::nn::Module& root, const std::string& dotted, std::string& leaf) {
  torch::nn::Module* at = &root;
  size_t start = 0;
  for (size_t dot = dotted.find('.'); dot != std::string::npos; dot = dotted.find('.', start)) {
    const std::string part = dotted.substr(start, dot - start);
    auto children = at->named_children();
    auto* found = children.find(part);
    at = found != nullptr ? found->get()
                          : at->register_module(part, std::make_shared<torch::nn::Module>()).get();
    start = dot + 1;
  }
  leaf = dotted.substr(start);
  return *at;
}

ScriptOptions parse_options(const std::string& key, const nlohmann::json& options) {
  OptionReader reader(key, options);
  ScriptOptions out;
  out.weight = reader.number("weight", out.weight);
  out.file_hash = reader.string("file_hash", "");
  OptionRules(reader).positive("weight", out.weight, /*allow_zero=*/true);
  reader.finish();
  return out;
}

}  // namespace

bool is_script_key(const std::string& key) { return key.rfind(kScriptPrefix, 0) == 0; }

std::string script_file_name(const std::string& key) {
  return fs::path(path_of(key)).filename().string();
}

std::string script_run_label(const std::string& key) {
  std::string stem = fs::path(path_of(key)).stem().string();
  for (char& ch : stem) {
    const bool plain = std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_';
    if (!plain) ch = '_';
  }
  return "script-" + stem;
}

ScriptLoss::ScriptLoss(const std::string& key, const nlohmann::json& options)
    : script_(std::make_unique<Script>()), options_(parse_options(key, options)) {
  const std::string path = path_of(key);
  check_archive(key, path);
  const std::string hash = file_hash(path);
  if (!options_.file_hash.empty() && options_.file_hash != hash) {
    throw Error(fmt::format("{}: '{}' has changed since the run was planned (hash {}, expected {}); "
                            "restore the file, or start the runs again in another --out",
                            key, path, hash, options_.file_hash));
  }
  options_.file_hash = hash;
  try {
    script_->module = torch::jit::load(path, torch::kCPU);
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: cannot load '{}' as TorchScript ({}); {}", key, path,
                            message_of(e), kHowToSave));
  }
  const auto& m = script_->module;
  check_signature(key, m, script_->labels_optional);
  const std::string file = fs::path(path).filename().string();
  info_ = {key,
           string_attr(key, m, "title", "TorchScript loss " + file),
           string_attr(key, m, "paper", "user-defined (" + file + ")"),
           string_attr(key, m, "formula", "?"),
           bool_attr(key, m, "needs_labels"),
           /*adapts_channels=*/false};
  // The module's tensors become this loss's (the same tensors: updates, to() and loading a
  // checkpoint reach the module).
  for (const auto& p : m.named_parameters(/*recurse=*/true)) {
    std::string leaf;
    owner_of(*this, p.name, leaf).register_parameter(leaf, p.value, p.value.requires_grad());
  }
  for (const auto& b : m.named_buffers(/*recurse=*/true)) {
    std::string leaf;
    owner_of(*this, b.name, leaf).register_buffer(leaf, b.value);
  }
}

ScriptLoss::~ScriptLoss() = default;

torch::Tensor ScriptLoss::forward(const torch::Tensor& student, const torch::Tensor& teacher,
                                  const torch::Tensor& labels) {
  const std::string& key = info_.key;
  check_pair(key, student, teacher);
  if (info_.needs_labels) check_labels(key, labels, student.size(0));
  std::vector<c10::IValue> inputs = {student, teacher.detach()};
  if (!labels.defined() && script_->labels_optional) {
    inputs.emplace_back();
  } else {
    inputs.emplace_back(labels);
  }
  c10::IValue out;
  try {
    out = script_->module.forward(inputs);
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: forward failed: {}", key, message_of(e)));
  }
  if (!out.isTensor()) {
    throw Error(fmt::format("{}: forward returned {}, expected a 0-dim tensor", key, out.tagKind()));
  }
  auto value = out.toTensor();
  if (!value.defined() || value.dim() != 0 || !value.is_floating_point()) {
    throw Error(fmt::format(
        "{}: forward returned a {} tensor of shape [{}], expected a 0-dim floating-point loss "
        "(reduce it, e.g. with .mean())",
        key, value.defined() ? c10::toString(value.scalar_type()) : "undefined",
        value.defined() ? fmt::format("{}", fmt::join(value.sizes(), ", ")) : ""));
  }
  return options_.weight == 1.0 ? value : value * options_.weight;
}

nlohmann::json ScriptLoss::options() const {
  return {{"weight", options_.weight}, {"file_hash", options_.file_hash}};
}

double ScriptLoss::flops(const MapShape& /*shape*/) const {
  return std::numeric_limits<double>::quiet_NaN();
}

void ScriptLoss::train(bool on) {
  torch::nn::Module::train(on);
  script_->module.train(on);
}

}  // namespace cwd::losses
