// Split names, index checks and SubsetDataset (holdout carving and the limit cap).

#include "src/data/split.h"

#include "src/core/error.h"

#include <fmt/format.h>

namespace cwd::data {

std::string to_string(Split split) {
  switch (split) {
    case Split::kTrain:
      return "train";
    case Split::kHoldout:
      return "holdout";
    case Split::kVal:
      return "val";
  }
  return "unknown";
}

namespace detail {

void check_index(const std::string& name, int64_t index, int64_t size) {
  if (index < 0 || index >= size) {
    throw Error(fmt::format("{}: sample index {} is out of range (the split has {} samples)", name,
                            index, size));
  }
}

SubsetDataset::SubsetDataset(std::shared_ptr<const SegDataset> base, int64_t offset, int64_t count,
                             Split split)
    : base_(std::move(base)), offset_(offset), count_(count), split_(split) {}

RawSample SubsetDataset::get(int64_t index) const {
  check_index(to_string(split_) + " split", index, count_);
  return base_->get(offset_ + index);
}

void SubsetDataset::check_files() const { base_->check_files(); }

nlohmann::json SubsetDataset::identity() const {
  nlohmann::json id = base_->identity();
  id["split"] = to_string(split_);
  id["size"] = count_;
  id["offset"] = offset_ + id.value("offset", int64_t{0});
  return id;
}

}  // namespace detail
}  // namespace cwd::data
