#include "src/train/record.h"

#include "src/core/error.h"
#include "src/core/json_io.h"
#include "src/core/json_keys.h"
#include "src/core/version.h"

#include <fmt/format.h>
#include <torch/version.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace cwd::train {

namespace fs = std::filesystem;

namespace {

nlohmann::json optional_json(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

void optional_key(const nlohmann::json& j, const std::string& name, std::optional<double>& out) {
  const auto& v = key_value(j, name);
  if (v.is_null()) {
    out.reset();
    return;
  }
  double x = 0;
  key(j, name, x);
  out = x;
}

nlohmann::json map_shape_json(const std::optional<losses::MapShape>& m) {
  if (!m) return nullptr;
  return {{"n", m->n}, {"c_student", m->c_student}, {"c_teacher", m->c_teacher}, {"h", m->h}, {"w", m->w}};
}

// Reads one block with its own reader, prefixing errors with the block's key.
template <typename Read>
auto block(const nlohmann::json& j, const std::string& name, Read read) -> decltype(read(j)) {
  try {
    return read(key_value(j, name));
  } catch (const JsonKeyError& e) {
    if (e.path() == name) throw;
    throw JsonKeyError(name + "." + e.path(), e.problem());
  }
}

std::optional<losses::MapShape> map_shape_from(const nlohmann::json& j) {
  if (key_value(j, "map_shape").is_null()) return std::nullopt;
  return block(j, "map_shape", [](const nlohmann::json& m) {
    losses::MapShape shape;
    key(m, "n", shape.n);
    key(m, "c_student", shape.c_student);
    key(m, "c_teacher", shape.c_teacher);
    key(m, "h", shape.h);
    key(m, "w", shape.w);
    return std::optional<losses::MapShape>(shape);
  });
}

void header_to_json(nlohmann::json& j, const RecordHeader& h) {
  j["tool"] = h.tool;
  j["created"] = h.created;
  j["host"] = h.host;
  j["libtorch"] = h.libtorch;
  if (h.blas) j["blas"] = *h.blas;
}

void header_from_json(const nlohmann::json& j, RecordHeader& h) {
  key(j, "tool", h.tool);
  key(j, "created", h.created);
  key(j, "host", h.host);
  key(j, "libtorch", h.libtorch);
  if (j.contains("blas")) {
    BlasInfo blas;
    key(j, "blas", blas);
    h.blas = blas;
  }
}

}  // namespace

ToolInfo ToolInfo::current() { return {"cwd-bench", cwd::version(), cwd::git_commit()}; }

RecordHeader RecordHeader::current() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return {ToolInfo::current(), utc_timestamp(), host, TORCH_VERSION, loaded_blas()};
}

void to_json(nlohmann::json& j, const ToolInfo& t) {
  j = {{"name", t.name}, {"version", t.version}, {"git_commit", t.git_commit}};
}

void from_json(const nlohmann::json& j, ToolInfo& t) {
  key(j, "name", t.name);
  key(j, "version", t.version);
  key(j, "git_commit", t.git_commit);
}

void to_json(nlohmann::json& j, const ModelInfo& m) {
  j = m.net;
  j["num_classes"] = m.num_classes;
  j["description"] = m.description;
  j["params"] = m.params;
  j["backbone_params"] = m.backbone_params;
  j["head_params"] = m.head_params;
  j["aux_params"] = m.aux_params;
  j["gflops"] = m.gflops;
  j["gflops_input"] = m.gflops_input;
  j["feature_channels"] = m.feature_channels;
  // Only when set: records of networks without a pretrained backbone keep their bytes.
  if (!m.pretrained.is_null()) j["pretrained_backbone"] = m.pretrained;
}

void from_json(const nlohmann::json& j, ModelInfo& m) {
  from_json(j, m.net);
  key(j, "num_classes", m.num_classes);
  key(j, "description", m.description);
  key(j, "params", m.params);
  key(j, "backbone_params", m.backbone_params);
  key(j, "head_params", m.head_params);
  key(j, "aux_params", m.aux_params);
  key(j, "gflops", m.gflops);
  key(j, "gflops_input", m.gflops_input);
  key(j, "feature_channels", m.feature_channels);
  m.pretrained = j.value("pretrained_backbone", nlohmann::json(nullptr));
}

void to_json(nlohmann::json& j, const EvalInfo& e) {
  j = {{"miou", e.miou},     {"pixel_acc", e.pixel_acc}, {"macc", e.macc},
       {"per_class", e.per_class}, {"pixels", e.pixels},   {"split", e.split},
       {"images", e.images}, {"seconds", e.seconds},     {"images_per_s", e.images_per_s}};
  if (e.mode) j["mode"] = *e.mode;
}

void from_json(const nlohmann::json& j, EvalInfo& e) {
  key(j, "miou", e.miou);
  key(j, "pixel_acc", e.pixel_acc);
  key(j, "macc", e.macc);
  key(j, "per_class", e.per_class);
  key(j, "pixels", e.pixels);
  key(j, "split", e.split);
  key(j, "images", e.images);
  key(j, "seconds", e.seconds);
  key(j, "images_per_s", e.images_per_s);
  if (j.contains("mode")) {
    std::string mode;
    key(j, "mode", mode);
    e.mode = mode;
  }
}

EvalInfo eval_info(const EvalResult& result, const std::vector<std::string>& class_names,
                   data::Split split) {
  EvalInfo e;
  e.miou = result.metrics.miou;
  e.pixel_acc = result.metrics.pixel_acc;
  e.macc = result.metrics.macc;
  e.per_class = per_class_json(result.metrics, class_names);
  e.pixels = result.metrics.pixels;
  e.split = data::to_string(split);
  e.images = result.images;
  e.seconds = result.seconds;
  e.images_per_s = result.images_per_s;
  return e;
}

namespace {

nlohmann::json loss_json(const LossRecord& l) {
  return {{"key", l.key},
          {"placement", to_string(l.placement)},
          {"options", l.options},
          {"title", l.title},
          {"paper", l.paper},
          {"formula", l.formula},
          {"needs_labels", l.needs_labels},
          {"extra_params", l.extra_params},
          {"ms_per_iter", l.ms_per_iter},
          {"peak_bytes", l.peak_bytes},
          {"measured_iters", l.measured_iters},
          {"gflops", optional_json(l.gflops)},
          {"map_shape", map_shape_json(l.map_shape)}};
}

LossRecord loss_from(const nlohmann::json& j) {
  LossRecord l;
  std::string placement;
  key(j, "key", l.key);
  key(j, "placement", placement);
  l.options = key_value(j, "options");
  key(j, "title", l.title);
  key(j, "paper", l.paper);
  key(j, "formula", l.formula);
  key(j, "needs_labels", l.needs_labels);
  key(j, "extra_params", l.extra_params);
  key(j, "ms_per_iter", l.ms_per_iter);
  key(j, "peak_bytes", l.peak_bytes);
  key(j, "measured_iters", l.measured_iters);
  optional_key(j, "gflops", l.gflops);
  l.map_shape = map_shape_from(j);
  l.placement = parsed_key("placement", parse_placement, placement);
  return l;
}

nlohmann::json cohort_json(const CohortInfo& c) {
  nlohmann::json j = {{"members", c.members}, {"wall_s", c.wall_s}, {"peak_bytes", c.peak_bytes}};
  if (c.estimated_bytes) j["estimated_bytes"] = *c.estimated_bytes;
  return j;
}

CohortInfo cohort_from(const nlohmann::json& j) {
  CohortInfo c;
  key(j, "members", c.members);
  key(j, "wall_s", c.wall_s);
  key(j, "peak_bytes", c.peak_bytes);
  if (j.contains("estimated_bytes")) {
    int64_t bytes = 0;
    key(j, "estimated_bytes", bytes);
    c.estimated_bytes = bytes;
  }
  return c;
}

nlohmann::json train_json(const TrainInfo& t) {
  nlohmann::json j = {{"iterations", t.iterations},
          {"batch_size", t.batch_size},
          {"schedule", t.schedule},
          {"wall_s", t.wall_s},
          {"images_per_s", t.images_per_s},
          {"data_wait_fraction", t.data_wait_fraction},
          {"teacher_ms_per_iter", optional_json(t.teacher_ms_per_iter)},
          {"resumed_at", t.resumed_at},
          {"curve", t.curve}};
  if (t.cohort) j["cohort"] = cohort_json(*t.cohort);
  if (t.distributed) {
    j["distributed"] = {{"processes", t.distributed->processes},
                        {"backend", t.distributed->backend},
                        {"sync_bn", t.distributed->sync_bn}};
  }
  return j;
}

TrainInfo train_from(const nlohmann::json& j) {
  TrainInfo t;
  key(j, "iterations", t.iterations);
  key(j, "batch_size", t.batch_size);
  key(j, "schedule", t.schedule);
  key(j, "wall_s", t.wall_s);
  key(j, "images_per_s", t.images_per_s);
  key(j, "data_wait_fraction", t.data_wait_fraction);
  optional_key(j, "teacher_ms_per_iter", t.teacher_ms_per_iter);
  key(j, "resumed_at", t.resumed_at);
  t.curve = key_value(j, "curve");
  if (j.contains("cohort")) t.cohort = block(j, "cohort", cohort_from);
  if (j.contains("distributed")) {
    t.distributed = block(j, "distributed", [](const nlohmann::json& d) {
      DistributedInfo info;
      key(d, "processes", info.processes);
      key(d, "backend", info.backend);
      key(d, "sync_bn", info.sync_bn);
      return info;
    });
  }
  return t;
}

}  // namespace

void to_json(nlohmann::json& j, const RunRecord& r) {
  j = {{"schema", kRunSchema}};
  header_to_json(j, r.header);
  j["name"] = r.name;
  j["role"] = to_string(r.role);
  j["command_line"] = r.command_line;
  j["config"] = r.config;
  j["config_hash"] = r.config_hash;
  j["seed"] = r.seed;
  j["device"] = r.device;
  j["threads"] = r.threads;
  j["dataset"] = {{"train", r.dataset.train},
                  {"eval", r.dataset.eval},
                  {"num_classes", r.dataset.num_classes},
                  {"class_names", r.dataset.class_names},
                  {"ignore_index", r.dataset.ignore_index}};
  j["model"] = r.model;
  j["teacher"] = r.teacher;
  j["loss"] = r.loss ? loss_json(*r.loss) : nlohmann::json(nullptr);
  j["train"] = train_json(r.train);
  if (r.diverged) {
    j["diverged"] = {{"iteration", r.diverged->iteration}, {"term", r.diverged->term}, {"value", r.diverged->value}};
    j["eval"] = nullptr;
  } else {
    j["eval"] = r.eval;
  }
  j["artifacts"] = {{"checkpoint", r.checkpoint}, {"weights", r.weights}};
}

// The schema is checked by run_record_from_json, before any key is read.
void from_json(const nlohmann::json& j, RunRecord& r) {
  std::string role;
  header_from_json(j, r.header);
  key(j, "name", r.name);
  key(j, "role", role);
  r.role = parsed_key("role", parse_role, role);
  key(j, "command_line", r.command_line);
  key(j, "config", r.config);
  key(j, "config_hash", r.config_hash);
  key(j, "seed", r.seed);
  key(j, "device", r.device);
  key(j, "threads", r.threads);
  block(j, "dataset", [&](const nlohmann::json& d) {
    r.dataset.train = key_value(d, "train");
    r.dataset.eval = key_value(d, "eval");
    key(d, "num_classes", r.dataset.num_classes);
    key(d, "class_names", r.dataset.class_names);
    key(d, "ignore_index", r.dataset.ignore_index);
  });
  key(j, "model", r.model);
  r.teacher = key_value(j, "teacher");
  const auto& loss = key_value(j, "loss");
  if (loss.is_null()) {
    r.loss.reset();
  } else {
    r.loss = block(j, "loss", loss_from);
  }
  r.train = block(j, "train", train_from);
  if (j.contains("diverged") && !j.at("diverged").is_null()) {
    r.diverged = block(j, "diverged", [](const nlohmann::json& d) {
      Divergence out;
      key(d, "iteration", out.iteration);
      key(d, "term", out.term);
      key(d, "value", out.value);
      return out;
    });
  }
  if (!r.diverged || !key_value(j, "eval").is_null()) key(j, "eval", r.eval);
  block(j, "artifacts", [&](const nlohmann::json& a) {
    key(a, "checkpoint", r.checkpoint);
    key(a, "weights", r.weights);
  });
}

void to_json(nlohmann::json& j, const EvalRecord& r) {
  j = {{"schema", kEvalSchema}};
  header_to_json(j, r.header);
  j["command_line"] = r.command_line;
  j["network"] = r.network;
  j["device"] = r.device;
  j["threads"] = r.threads;
  j["dataset"] = {{"eval", r.dataset_eval}, {"class_names", r.class_names}};
  j["eval"] = r.eval;
}

std::string Divergence::text() const {
  const bool values = term == "weights" || term == "network output";
  return fmt::format("diverged at iteration {}: the {} {} {}", iteration, term, values ? "hold" : "term is", value);
}

namespace {

// Values no run writes: the record was edited or damaged.
void check_values(const RunRecord& r, const std::string& file) {
  auto bad = [&](const std::string& what) {
    throw Error(fmt::format("run record '{}': {}; the record was edited or damaged: retrain the run or restore it",
                            file, what));
  };
  if (!r.diverged) {
    for (const auto& [name, value] : {std::pair<const char*, double>{"eval.miou", r.eval.miou},
                                      {"eval.pixel_acc", r.eval.pixel_acc}, {"eval.macc", r.eval.macc}}) {
      if (!(value >= 0 && value <= 100)) bad(fmt::format("{} is {}, outside 0..100", name, value));
    }
  }
  if (r.name.empty() || r.name.find('/') != std::string::npos || r.name == "." || r.name == "..") {
    bad(fmt::format("the run name '{}' is not a file name", r.name));
  }
  if (r.loss) {
    if (r.loss->key != r.config.loss) {
      bad(fmt::format("loss.key '{}' contradicts config.loss '{}'", r.loss->key, r.config.loss));
    }
    if (r.loss->placement != r.config.placement) {
      bad(fmt::format("loss.placement '{}' contradicts config.placement '{}'", to_string(r.loss->placement),
                      to_string(r.config.placement)));
    }
  } else if (!r.config.loss.empty()) {
    bad(fmt::format("config.loss is '{}' but the loss block is null", r.config.loss));
  }
  if ((r.role == Role::kTeacher) != (r.config.role == Role::kTeacher)) {
    bad(fmt::format("role '{}' contradicts config.role '{}'", to_string(r.role), to_string(r.config.role)));
  }
}

}  // namespace

RunRecord run_record_from_json(const nlohmann::json& j, const std::string& file) {
  const std::string schema = j.is_object() ? j.value("schema", "") : "";
  if (schema != kRunSchema) {
    throw Error(fmt::format("'{}' is not a run record (schema '{}', expected '{}'); pass a run "
                            "record .json written by cwd-bench train or compare",
                            file, schema, kRunSchema));
  }
  try {
    RunRecord r = j.get<RunRecord>();
    r.file = fs::path(file).filename().string();
    check_values(r, file);
    return r;
  } catch (const JsonKeyError& e) {
    throw Error(fmt::format("run record '{}': key '{}' {}; it was written by another version of "
                            "cwd-bench: retrain the run or fix the record",
                            file, e.path(), e.problem()));
  }
}

RunRecord read_run_record(const std::string& path) { return run_record_from_json(read_json(path), path); }

std::vector<RunRecord> read_run_records(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(fmt::format("'{}' is not a folder of run records", dir));
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".json" && entry.is_regular_file(ec)) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<RunRecord> records;
  for (const auto& f : files) {
    const auto j = nlohmann::json::parse(std::ifstream(f, std::ios::binary), nullptr, false);
    if (j.is_discarded()) {
      throw Error(fmt::format("'{}' is not valid JSON (empty, truncated or binary): a damaged run record? "
                              "restore it, or move it out of the folder",
                              f.string()));
    }
    const std::string schema = j.is_object() && j.contains("schema") && j.at("schema").is_string()
                                   ? j.at("schema").get<std::string>()
                                   : "";
    if (schema != kRunSchema) {
      // Tables, sweeps and evaluation records live beside the run records.
      if (schema.rfind("cwd-bench/", 0) != 0) {
        fmt::print(stderr, "warning: skipping '{}': not a cwd-bench run record ({})\n", f.string(),
                   schema.empty() ? "no schema" : "schema '" + schema + "'");
      }
      continue;
    }
    records.push_back(run_record_from_json(j, f.string()));
  }
  if (records.empty()) {
    throw Error(fmt::format("no run records (schema {}) in '{}'; run 'cwd-bench compare --out {}' first",
                            kRunSchema, dir, dir));
  }
  return records;
}

void write_run_record(const std::string& path, const RunRecord& record) {
  write_json_atomic(path, nlohmann::json(record));
}

}  // namespace cwd::train
