#pragma once
// Private to src/data: each dataset's full-split factory. make_dataset (dataset.cpp) dispatches
// to these and carves holdout/limit out of what they return.

#include "src/data/dataset.h"

#include <memory>

namespace cwd::data::detail {

/// Full split datasets (kTrain = the whole training split, before holdout carving; kVal).
std::shared_ptr<const SegDataset> make_fashion_scenes(const DataConfig& config, Split split);
std::shared_ptr<const SegDataset> make_cityscapes(const DataConfig& config, Split split);
std::shared_ptr<const SegDataset> make_folder(const DataConfig& config, Split split);

}  // namespace cwd::data::detail
