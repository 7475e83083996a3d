#pragma once
// Private to src/data: the layer every dataset builds on (index checks and carving a split out of
// a dataset). Calls nothing else in src/data, so every dataset file may depend on it.

#include "src/data/dataset.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cwd::data::detail {

/// Throws cwd::Error unless 0 <= index < size.
void check_index(const std::string& name, int64_t index, int64_t size);

/// A contiguous range [offset, offset + count) of another dataset, served as `split`
/// (holdout carving and the `limit` cap).
class SubsetDataset : public SegDataset {
 public:
  SubsetDataset(std::shared_ptr<const SegDataset> base, int64_t offset, int64_t count, Split split);
  int64_t size() const override { return count_; }
  RawSample get(int64_t index) const override;
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  int64_t ignore_index() const override { return base_->ignore_index(); }
  nlohmann::json identity() const override;
  void check_files() const override;
  const SegDataset& base() const { return *base_; }
  int64_t offset() const { return offset_; }

 private:
  std::shared_ptr<const SegDataset> base_;
  int64_t offset_;
  int64_t count_;
  Split split_;
};

}  // namespace cwd::data::detail
