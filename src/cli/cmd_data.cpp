// cwd-bench data: look at a dataset (a preview grid of images and labels) or export it as a
// folder dataset.

#include "src/cli/commands.h"
#include "src/cli/common.h"
#include "src/core/error.h"
#include "src/data/dataset.h"
#include "src/train/config.h"

#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <vector>

namespace cwd::cli {

namespace {

struct DataCmdArgs {
  std::string preset = "quick";
  std::string split = "train";
  std::string out = "preview.png";
  int64_t count = 8;
  std::string splits = "train,val";
  DataArgs data;
};

data::Split parse_split(const std::string& s) {
  if (s == "train") return data::Split::kTrain;
  if (s == "holdout") return data::Split::kHoldout;
  return data::Split::kVal;
}

}  // namespace

void add_data(CLI::App& app, const CliContext& /*context*/) {
  auto args = std::make_shared<DataCmdArgs>();
  auto* sub = app.add_subcommand("data", "inspect a dataset");
  sub->require_subcommand(1);
  auto* preview = sub->add_subcommand("preview", "write a PNG grid of images and colourised labels");
  preview->add_option("--preset", args->preset, "preset whose data settings to use")
      ->check(one_of(train::preset_names(), "preset"))->capture_default_str();
  preview->add_option("--split", args->split, "split")->check(CLI::IsMember({"train", "holdout", "val"}))->capture_default_str();
  preview->add_option("--count", args->count, "samples")->check(count_in(1, 256))->capture_default_str();
  preview->add_option("--out", args->out, "PNG file")->capture_default_str();
  add_data_options(preview, args->data);
  preview->callback([args]() {
    auto config = train::preset(args->preset).data;
    apply(args->data, config);
    auto dataset = data::make_dataset(config, parse_split(args->split));
    data::write_preview(*dataset, args->count, args->out);
    fmt::print(stderr, "wrote {} ({} {} samples of {})\n", args->out, args->count, args->split,
               dataset->identity().dump());
  });

  auto exp = std::make_shared<DataCmdArgs>();
  auto* exporter = sub->add_subcommand(
      "export", "write a dataset's scenes as a folder dataset (images/, labels/, dataset.json)");
  exporter->add_option("--preset", exp->preset, "preset whose data settings to use")
      ->check(one_of(train::preset_names(), "preset"))->capture_default_str();
  exporter->add_option("--splits", exp->splits, "comma-separated splits: train, holdout, val")
      ->capture_default_str();
  exporter->add_option("--out", exp->out, "new folder to write")->required();
  add_data_options(exporter, exp->data);
  exporter->callback([exp]() {
    auto config = train::preset(exp->preset).data;
    apply(exp->data, config);
    std::vector<data::ExportSplit> splits;
    for (const auto& name : split_list(exp->splits)) {
      if (name != "train" && name != "holdout" && name != "val") {
        throw Error(fmt::format("--splits: unknown split '{}' (valid: holdout, train, val)", name));
      }
      splits.push_back({name, data::make_dataset(config, parse_split(name))});
    }
    const auto meta = data::export_folder(splits, exp->out);
    fmt::print(stderr, "wrote {} ({} classes; {}); train on it with --data folder --data-root {} --num-classes {}\n",
               exp->out, meta.at("num_classes").get<int64_t>(), exp->splits, exp->out,
               meta.at("num_classes").get<int64_t>());
  });
}

}  // namespace cwd::cli
