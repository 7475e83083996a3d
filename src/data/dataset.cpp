// Dataset dispatch: the configured dataset's full split, then holdout carving and the limit cap.

#include "src/data/dataset.h"

#include "src/core/error.h"
#include "src/data/factories.h"
#include "src/data/split.h"

#include <fmt/format.h>

#include <algorithm>

namespace cwd::data {

std::shared_ptr<const SegDataset> make_dataset(const DataConfig& config, Split split) {
  if (config.holdout < 0) {
    throw Error(
        fmt::format("holdout is {}; it must be >= 0 (0 = no holdout split)", config.holdout));
  }
  if (config.limit < 0) {
    throw Error(fmt::format("limit is {}; it must be >= 0 (0 = use all images)", config.limit));
  }
  if (split == Split::kHoldout && config.holdout == 0) {
    throw Error("the holdout split is empty; pass --holdout N to set N training images aside");
  }
  const Split full = split == Split::kVal ? Split::kVal : Split::kTrain;
  std::shared_ptr<const SegDataset> base;
  if (config.name == "fashion-scenes") {
    base = detail::make_fashion_scenes(config, full);
  } else if (config.name == "cityscapes") {
    base = detail::make_cityscapes(config, full);
  } else if (config.name == "folder") {
    base = detail::make_folder(config, full);
  } else {
    throw Error("unknown dataset '" + config.name +
                "' (known: cityscapes, fashion-scenes, folder)");
  }
  int64_t offset = 0;
  int64_t count = base->size();
  if (split != Split::kVal && config.holdout > 0) {
    if (config.holdout >= count) {
      throw Error(
          fmt::format("{}: holdout {} leaves no training images (the train split has {}); "
                      "pass a smaller --holdout",
                      config.name, config.holdout, count));
    }
    if (split == Split::kTrain) {
      count -= config.holdout;
    } else {
      offset = count - config.holdout;
      count = config.holdout;
    }
  }
  if (config.limit > 0) count = std::min(count, config.limit);
  if (offset == 0 && count == base->size()) return base;
  return std::make_shared<detail::SubsetDataset>(std::move(base), offset, count, split);
}

}  // namespace cwd::data
