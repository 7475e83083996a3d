#pragma once
// Private to src/data: painting one fashion-scenes scene from its layout and its background RNG.

#include "src/data/dataset.h"
#include "src/data/idx.h"
#include "src/data/internal.h"
#include "src/data/scene_layout.h"

#include <cstdint>
#include <vector>

namespace cwd::data::detail {

/// Paints a height×width scene: a textured background drawn from `rng` (corner gradient, a
/// low-frequency colour field, stripe patches, soft blobs, hard-edged rectangles), then `items`
/// of `bank` in order (later ones occlude earlier ones), then pixel noise from `rng`. Returns the
/// image (uint8 H×W×3 RGB) and label (uint8 H×W: the top-most clearly visible item's class, 255
/// on uncertain item edges, 0 for background). No torch ops: safe on loader threads.
RawSample paint_scene(Rng& rng, const ItemBank& bank, const std::vector<PlacedItem>& items,
                      int64_t height, int64_t width);

}  // namespace cwd::data::detail
