// Laying out a scene: item choice, placement and look (tint from the class's colour family,
// mirroring, shading, texture). Every draw is part of the scene's bytes: any change to the output
// here needs a kGenerator bump in fashion_scenes.cpp.

#include "src/data/scene_layout.h"

#include <algorithm>
#include <cmath>

// Keep float expressions unfused so that every compiler rounds them alike (GCC in ISO C++ mode
// does not contract; clang would, by default).
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

namespace cwd::data::detail {
namespace {

/// HSV (all in [0, 1], hue wrapping) to RGB, in plain float arithmetic.
Rgb hsv_to_rgb(float h, float s, float v) {
  h -= std::floor(h);
  const float h6 = h * 6.f;
  const int sector = std::min(5, static_cast<int>(h6));
  const float f = h6 - static_cast<float>(sector);
  const float p = v * (1.f - s), q = v * (1.f - s * f), t = v * (1.f - s * (1.f - f));
  switch (sector) {
    case 0:
      return {v, t, p};
    case 1:
      return {q, v, p};
    case 2:
      return {p, v, t};
    case 3:
      return {p, q, v};
    case 4:
      return {t, p, v};
    default:
      return {v, p, q};
  }
}

/// Hue of each class's colour family (class ids 1..10). Classes that look alike share a family
/// (tops: t-shirt, pullover, coat, shirt; footwear: sandal, sneaker, ankle boot), so colour tells
/// the group and only shape tells the class inside it, as in street scenes, where colour tells
/// road from vegetation but not car from truck.
constexpr float kClassHue[11] = {0.f,   0.60f, 0.33f, 0.60f, 0.90f, 0.60f,
                                 0.08f, 0.60f, 0.08f, 0.16f, 0.08f};
constexpr double kOffPaletteChance = 0.2;

/// An item's tint: its class family's hue (jittered), or with kOffPaletteChance any colour.
Rgb item_tint(Rng& rng, int64_t class_id) {
  if (rng.chance(kOffPaletteChance)) return random_colour(rng);
  const float hue = kClassHue[class_id] + static_cast<float>(rng.uniform(-0.06, 0.06));
  return hsv_to_rgb(hue, static_cast<float>(rng.uniform(0.45, 0.95)),
                    static_cast<float>(rng.uniform(0.55, 1.0)));
}

/// How an item looks: mirroring, tint, shading and texture (the draws in this order are part of
/// the scene).
void draw_look(Rng& rng, PlacedItem& p) {
  p.mirror = rng.chance(0.5);
  p.tint = item_tint(rng, p.info.class_id);
  p.shade_lo = static_cast<float>(rng.uniform(0.15, 0.55));
  p.texture = rng.chance(0.5) ? static_cast<int>(rng.between(1, 3)) : 0;
  p.tex_depth = static_cast<float>(rng.uniform(0.15, 0.5));
  p.tex_period = static_cast<float>(rng.uniform(2.5, 8.0));
  random_direction(rng, &p.tex_dx, &p.tex_dy);
  p.tex_seed = rng.next();
}

/// Which item of the bank.
void draw_which(Rng& rng, const ItemBank& bank, PlacedItem& p) {
  p.info.source = bank.source;
  p.info.source_index = rng.below(bank.count);
  p.info.class_id = bank.labels[static_cast<size_t>(p.info.source_index)] + 1;
}

/// One item: which, where, and how it looks (the draws in this order are part of the scene).
PlacedItem draw_item(Rng& rng, const ItemBank& bank, int64_t H, int64_t W) {
  PlacedItem p;
  draw_which(rng, bank, p);
  const double ih = rng.uniform(0.3, 0.7) * static_cast<double>(H);
  const double iw = ih * rng.uniform(0.75, 1.3);
  p.info.height = std::max<int64_t>(6, static_cast<int64_t>(std::floor(ih + 0.5)));
  p.info.width = std::max<int64_t>(6, static_cast<int64_t>(std::floor(iw + 0.5)));
  p.info.y = static_cast<int64_t>(std::floor(rng.uniform(
      -0.25 * static_cast<double>(p.info.height), static_cast<double>(H) - 0.75 * p.info.height)));
  p.info.x = static_cast<int64_t>(std::floor(rng.uniform(
      -0.25 * static_cast<double>(p.info.width), static_cast<double>(W) - 0.75 * p.info.width)));
  draw_look(rng, p);
  return p;
}

}  // namespace

Rgb random_colour(Rng& rng) {
  return {static_cast<float>(rng.uniform(0.03, 0.97)), static_cast<float>(rng.uniform(0.03, 0.97)),
          static_cast<float>(rng.uniform(0.03, 0.97))};
}

void random_direction(Rng& rng, float* dx, float* dy) {
  float x = 0.f, y = 0.f, n = 0.f;
  while (n < 0.01f) {
    x = static_cast<float>(rng.uniform(-1.0, 1.0));
    y = static_cast<float>(rng.uniform(-1.0, 1.0));
    n = x * x + y * y;
    if (n > 1.f) n = 0.f;
  }
  const float inv = 1.f / std::sqrt(n);
  *dx = x * inv;
  *dy = y * inv;
}

PlacedItem place_single_item(Rng& rng, const ItemBank& bank, int64_t H, int64_t W) {
  PlacedItem p;
  draw_which(rng, bank, p);
  const double side = static_cast<double>(std::min(H, W));
  const double ih = rng.uniform(0.6, 0.95) * side;
  const double iw = std::min(ih * rng.uniform(0.75, 1.3), static_cast<double>(W));
  p.info.height = std::max<int64_t>(6, static_cast<int64_t>(std::floor(ih + 0.5)));
  p.info.width = std::max<int64_t>(6, static_cast<int64_t>(std::floor(iw + 0.5)));
  // Centred, jittered by up to 10% of the canvas; the item stays mostly inside.
  const double cy = 0.5 * static_cast<double>(H) + rng.uniform(-0.1, 0.1) * static_cast<double>(H);
  const double cx = 0.5 * static_cast<double>(W) + rng.uniform(-0.1, 0.1) * static_cast<double>(W);
  p.info.y = static_cast<int64_t>(std::floor(cy - 0.5 * static_cast<double>(p.info.height)));
  p.info.x = static_cast<int64_t>(std::floor(cx - 0.5 * static_cast<double>(p.info.width)));
  draw_look(rng, p);
  return p;
}

std::vector<PlacedItem> place_items(Rng& rng, const ItemBank& bank, int64_t height, int64_t width) {
  const double aspect = static_cast<double>(width) / static_cast<double>(height);
  const int64_t lo = std::max<int64_t>(1, static_cast<int64_t>(std::floor(2 * aspect / 2 + 0.5)));
  const int64_t hi = std::max<int64_t>(lo, static_cast<int64_t>(std::floor(5 * aspect / 2 + 0.5)));
  const int64_t count = rng.between(lo, hi);
  std::vector<PlacedItem> items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) items.push_back(draw_item(rng, bank, height, width));
  return items;
}

}  // namespace cwd::data::detail
