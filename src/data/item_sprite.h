#pragma once
// Private to src/data: one 28×28 Fashion-MNIST item as a sprite for the scene painter: bilinear
// samples of its intensity and its opacity (alpha) map.

#include "src/data/idx.h"

#include <array>
#include <cstdint>

namespace cwd::data::detail {

/// v clamped to [0, 1].
inline float clamp01(float v) { return v < 0.f ? 0.f : (v > 1.f ? 1.f : v); }

/// Bilinear sample of a 28×28 item at continuous source coordinates (pixel centres at i + 0.5),
/// as an intensity in [0, 1].
float sample_item(const uint8_t* item, float sy, float sx);

/// Opacity of a 28×28 item: clamp(1.5 · intensity), raised to at least 0.9 inside the item's
/// silhouette (see item_sprite.cpp).
std::array<float, kItemPixels> item_alpha(const uint8_t* item);

/// Bilinear sample of a 28×28 float map (pixel centres at i + 0.5 in continuous coordinates).
float sample_map(const float* map, float sy, float sx);

}  // namespace cwd::data::detail
