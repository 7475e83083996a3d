// Sampling and opacity of one 28×28 item, in plain float arithmetic (part of every scene's bytes:
// any change to the output here needs a kGenerator bump in fashion_scenes.cpp).

#include "src/data/item_sprite.h"

#include <algorithm>

// Keep float expressions unfused so that every compiler rounds them alike (GCC in ISO C++ mode
// does not contract; clang would, by default).
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

namespace cwd::data::detail {
namespace {

/// Opacity of a 28×28 item: clamp(kAlphaGain · intensity), raised to at least kSolid inside the
/// item's silhouette so that dark prints on a garment stay part of it (labelled, not ignored).
/// Inside = not connected to the image border through near-black pixels (intensity < 0.1), and
/// not on the silhouette's one-pixel rim (which keeps its soft edge). Enclosed near-black regions
/// of kMinHole pixels or more (a bag's handle) stay holes.
constexpr float kAlphaGain = 1.5f;
constexpr float kSolid = 0.9f;
constexpr int kMinHole = 6;
constexpr uint8_t kDark = 26;

/// 1 for the item's background: near-black pixels connected to the border, and enclosed
/// near-black regions of kMinHole pixels or more.
std::array<uint8_t, kItemPixels> item_outside(const uint8_t* item) {
  std::array<uint8_t, kItemPixels> outside{};
  std::array<int, kItemPixels> stack{};
  std::array<int, kItemPixels> component{};
  // Flood fill of the near-black region around `seed`; its pixels go to `members`.
  const auto fill = [&](int seed, uint8_t* mark, int* members) {
    int top = 0, count = 0;
    stack[top++] = seed;
    mark[seed] = 1;
    while (top > 0) {
      const int p = stack[--top];
      members[count++] = p;
      const int y = p / kItemSide, x = p % kItemSide;
      const int next[4][2] = {{y - 1, x}, {y + 1, x}, {y, x - 1}, {y, x + 1}};
      for (const auto& n : next) {
        if (n[0] < 0 || n[0] >= kItemSide || n[1] < 0 || n[1] >= kItemSide) continue;
        const int q = n[0] * kItemSide + n[1];
        if (mark[q] == 0 && item[q] < kDark) {
          mark[q] = 1;
          stack[top++] = q;
        }
      }
    }
    return count;
  };
  for (int i = 0; i < kItemSide; ++i) {
    for (int p :
         {i, (kItemSide - 1) * kItemSide + i, i * kItemSide, i * kItemSide + kItemSide - 1}) {
      if (outside[p] == 0 && item[p] < kDark) fill(p, outside.data(), component.data());
    }
  }
  std::array<uint8_t, kItemPixels> seen = outside;
  for (int p = 0; p < kItemPixels; ++p) {
    if (seen[p] != 0 || item[p] >= kDark) continue;
    const int count = fill(p, seen.data(), component.data());
    if (count >= kMinHole) {
      for (int k = 0; k < count; ++k) outside[component[k]] = 1;
    }
  }
  return outside;
}

/// Whether (y, x) and its eight neighbours all lie inside the silhouette (not on its rim).
bool deep_inside(const std::array<uint8_t, kItemPixels>& outside, int y, int x) {
  bool inside = outside[y * kItemSide + x] == 0;
  for (int dy = -1; dy <= 1 && inside; ++dy) {
    for (int dx = -1; dx <= 1 && inside; ++dx) {
      const int yy = y + dy, xx = x + dx;
      inside = yy >= 0 && yy < kItemSide && xx >= 0 && xx < kItemSide &&
               outside[yy * kItemSide + xx] == 0;
    }
  }
  return inside;
}

}  // namespace

float sample_item(const uint8_t* item, float sy, float sx) {
  sy = std::min(std::max(sy, 0.f), static_cast<float>(kItemSide - 1));
  sx = std::min(std::max(sx, 0.f), static_cast<float>(kItemSide - 1));
  const int y0 = std::min(static_cast<int>(sy), kItemSide - 2);
  const int x0 = std::min(static_cast<int>(sx), kItemSide - 2);
  const float wy = sy - static_cast<float>(y0), wx = sx - static_cast<float>(x0);
  const uint8_t* p = item + y0 * kItemSide + x0;
  const float top = static_cast<float>(p[0]) + wx * static_cast<float>(p[1] - p[0]);
  const float bottom =
      static_cast<float>(p[kItemSide]) + wx * static_cast<float>(p[kItemSide + 1] - p[kItemSide]);
  return (top + wy * (bottom - top)) * (1.f / 255.f);
}

std::array<float, kItemPixels> item_alpha(const uint8_t* item) {
  const std::array<uint8_t, kItemPixels> outside = item_outside(item);
  std::array<float, kItemPixels> alpha{};
  for (int y = 0; y < kItemSide; ++y) {
    for (int x = 0; x < kItemSide; ++x) {
      const int p = y * kItemSide + x;
      float a = clamp01(kAlphaGain * static_cast<float>(item[p]) * (1.f / 255.f));
      if (deep_inside(outside, y, x)) a = std::max(a, kSolid);
      alpha[p] = a;
    }
  }
  return alpha;
}

float sample_map(const float* map, float sy, float sx) {
  sy = std::min(std::max(sy, 0.f), static_cast<float>(kItemSide - 1));
  sx = std::min(std::max(sx, 0.f), static_cast<float>(kItemSide - 1));
  const int y0 = std::min(static_cast<int>(sy), kItemSide - 2);
  const int x0 = std::min(static_cast<int>(sx), kItemSide - 2);
  const float wy = sy - static_cast<float>(y0), wx = sx - static_cast<float>(x0);
  const float* p = map + y0 * kItemSide + x0;
  const float top = p[0] + wx * (p[1] - p[0]);
  const float bottom = p[kItemSide] + wx * (p[kItemSide + 1] - p[kItemSide]);
  return top + wy * (bottom - top);
}

}  // namespace cwd::data::detail
