#pragma once
// The run record and the evaluation record as plain structs: one schema constant each, written
// and read only through these types. A record that lacks a key, or holds one of the wrong type,
// is rejected with one message naming the file and the key (read_run_record).
//
// Blocks whose content depends on the dataset or the loss (dataset identities, loss options,
// per-class IoU, the loss curve, the teacher's identity) stay JSON values inside the structs.

#include "losses/loss.h"
#include "src/core/blas.h"
#include "src/train/config.h"
#include "src/train/evaluate.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cwd::train {

inline constexpr const char* kRunSchema = "cwd-bench/run/1";
inline constexpr const char* kEvalSchema = "cwd-bench/eval/1";

/// The program that wrote a file.
struct ToolInfo {
  std::string name = "cwd-bench";
  std::string version;
  std::string git_commit;
  /// This binary.
  static ToolInfo current();
};

/// Where and when a record was written (shared by run and eval records).
struct RecordHeader {
  ToolInfo tool;
  std::string created;
  std::string host;
  std::string libtorch;
  /// The BLAS library libtorch called ("blas": {kind, path}); absent in records written before
  /// it was recorded, and then not written back either.
  std::optional<BlasInfo> blas;
  /// This binary, now, on this host.
  static RecordHeader current();
};

/// The data a run saw.
struct DatasetInfo {
  nlohmann::json train;  ///< the training split's identity (SegDataset::identity)
  nlohmann::json eval;   ///< the evaluated split's identity
  int64_t num_classes = 0;
  std::vector<std::string> class_names;
  int64_t ignore_index = 255;
};

/// The trained network: its architecture and measured size.
struct ModelInfo {
  NetConfig net;
  int64_t num_classes = 0;
  std::string description;
  int64_t params = 0;
  int64_t backbone_params = 0;
  int64_t head_params = 0;
  int64_t aux_params = 0;
  double gflops = 0;
  std::vector<int64_t> gflops_input;  ///< {H, W} the FLOPs were counted at
  int64_t feature_channels = 0;
  /// The pretrained backbone it started from (PretrainedBackbone::identity()); null for none.
  nlohmann::json pretrained = nullptr;
};

/// The distillation term of a run: what it was and what it cost.
struct LossRecord {
  std::string key;
  Placement placement = Placement::kLogit;
  nlohmann::json options;  ///< resolved options (defaults filled in)
  std::string title;
  std::string paper;
  std::string formula;
  bool needs_labels = false;
  int64_t extra_params = 0;
  double ms_per_iter = 0;  ///< forward + backward of the term, mean over measured iterations
  int64_t peak_bytes = 0;  ///< peak extra bytes through the allocator while it ran
  int64_t measured_iters = 0;
  std::optional<double> gflops;             ///< at map_shape; none if no step ran
  std::optional<losses::MapShape> map_shape;
};

/// The cohort a run was trained in: students that shared one data stream and one teacher pass
/// per iteration (a plain `train` run is a cohort of one).
struct CohortInfo {
  std::vector<std::string> members;  ///< run names, in the order they stepped
  double wall_s = 0;                 ///< the whole cohort's training time
  int64_t peak_bytes = 0;  ///< peak live tensor bytes while the cohort trained (all networks,
                           ///< optimizer states, the teacher and one step's activations)
  std::optional<int64_t> estimated_bytes;  ///< the estimate --max-memory was checked against
};

/// How training went.
/// How a run spread over several processes was trained (absent for one process).
struct DistributedInfo {
  int processes = 1;        ///< the world size of the last (or only) training session
  std::string backend;      ///< "gloo" or "nccl"
  bool sync_bn = false;     ///< BatchNorm statistics over all processes
};

struct TrainInfo {
  int64_t iterations = 0;
  int64_t batch_size = 0;
  Schedule schedule;
  double wall_s = 0;
  double images_per_s = 0;
  double data_wait_fraction = 0;
  std::optional<double> teacher_ms_per_iter;
  int64_t resumed_at = 0;
  nlohmann::json curve = nlohmann::json::array();  ///< [{iter, loss, ce, lr[, distill]}]
  std::optional<CohortInfo> cohort;  ///< absent in records written before cohorts existed
  std::optional<DistributedInfo> distributed;
};

/// One evaluation of a network on a split.
struct EvalInfo {
  double miou = 0;
  double pixel_acc = 0;
  double macc = 0;
  nlohmann::json per_class = nlohmann::json::object();  ///< class name → IoU (null: absent)
  int64_t pixels = 0;
  std::string split;
  int64_t images = 0;
  double seconds = 0;
  double images_per_s = 0;
  std::optional<std::string> mode;  ///< eval records only: "whole" or "sliding HxW"
};

/// The evaluation block of a record from an evaluation's result.
EvalInfo eval_info(const EvalResult& result, const std::vector<std::string>& class_names,
                   data::Split split);

/// Where a run's training went non-finite: it stopped there, was not evaluated, and its record
/// says so (key "diverged"; "eval" is null).
struct Divergence {
  int64_t iteration = 0;  ///< the iteration (1-based) whose loss or update was not finite
  /// "cross-entropy", "distillation (cwd)", "weights", or "network output" (a map the loss
  /// checks held NaN or Inf)
  std::string term;
  std::string value;  ///< "nan", "inf", "-inf", or "nan or inf"
  /// "diverged at iteration 7: the distillation (cwd) term is nan"
  std::string text() const;
};

/// One training run: schema "cwd-bench/run/1".
struct RunRecord {
  RecordHeader header;
  std::string name;
  Role role = Role::kStudent;
  std::string command_line;
  RunConfig config;
  std::string config_hash;
  uint64_t seed = 0;
  std::string device;
  int threads = 0;
  DatasetInfo dataset;
  ModelInfo model;
  nlohmann::json teacher;  ///< the teacher's identity (LoadedNetwork::identity), null if none
  std::optional<LossRecord> loss;
  TrainInfo train;
  EvalInfo eval;  ///< empty when the run diverged
  /// Set when training stopped at a non-finite loss or weight (then there is no evaluation).
  std::optional<Divergence> diverged;
  std::string checkpoint;  ///< artifacts.checkpoint, relative to the record's folder
  std::string weights;     ///< artifacts.weights, relative to the record's folder
  /// Not serialised: the file name it was read from ("" when built in memory).
  std::string file;
};

/// One `cwd-bench eval`: schema "cwd-bench/eval/1".
struct EvalRecord {
  RecordHeader header;
  std::string command_line;
  nlohmann::json network;  ///< the evaluated network's identity
  std::string device;
  int threads = 0;
  nlohmann::json dataset_eval;  ///< dataset.eval
  std::vector<std::string> class_names;
  EvalInfo eval;
};

void to_json(nlohmann::json& j, const ToolInfo& tool);
void from_json(const nlohmann::json& j, ToolInfo& tool);
void to_json(nlohmann::json& j, const ModelInfo& model);
void from_json(const nlohmann::json& j, ModelInfo& model);
void to_json(nlohmann::json& j, const EvalInfo& eval);
void from_json(const nlohmann::json& j, EvalInfo& eval);
void to_json(nlohmann::json& j, const RunRecord& record);
void from_json(const nlohmann::json& j, RunRecord& record);
void to_json(nlohmann::json& j, const EvalRecord& record);

/// Converts a parsed record, turning any missing or mistyped key into one cwd::Error:
/// "run record 'FILE': key 'eval.miou' is missing (...)" / "... has the wrong type (...)". Values
/// that no run can produce are errors too: an mIoU or accuracy outside 0..100, a loss block that
/// contradicts the configuration.
RunRecord run_record_from_json(const nlohmann::json& j, const std::string& file);

/// Reads a run record file (schema checked); errors name the file and the key.
RunRecord read_run_record(const std::string& path);

/// Every run record (schema cwd-bench/run/1) directly in `dir`, by file name. Each *.json file
/// is one of: a run record, read and checked (a broken one is an error); another cwd-bench file (table, sweep, eval record), skipped;
/// valid JSON that is no cwd-bench file, skipped with one warning line on stderr naming it; or not
/// JSON at all (empty, truncated, binary), an error naming it. Throws cwd::Error when there are
/// no run records.
std::vector<RunRecord> read_run_records(const std::string& dir);

/// Writes the record atomically.
void write_run_record(const std::string& path, const RunRecord& record);

}  // namespace cwd::train
