#pragma once
// Private to src/data: the random draws that lay out a fashion-scenes scene before any pixel is
// painted: which items go where, mirrored, tinted and textured how, plus the colour and direction
// draws the background painter shares.

#include "src/data/dataset.h"
#include "src/data/idx.h"
#include "src/data/internal.h"

#include <cstdint>
#include <vector>

namespace cwd::data::detail {

struct Rgb {
  float r, g, b;
};

/// A random colour, each channel uniform in [0.03, 0.97].
Rgb random_colour(Rng& rng);
/// A random unit vector (sqrt is exactly rounded in IEEE arithmetic, unlike sin/cos).
void random_direction(Rng& rng, float* dx, float* dy);

/// One item of a scene: where it goes (`info`) and how it looks.
struct PlacedItem {
  SceneItem info;
  bool mirror = false;
  Rgb tint = {0.f, 0.f, 0.f};
  float shade_lo = 0.f;  ///< shade at intensity 0 (1 at intensity 1)
  int texture = 0;       ///< 0 none, 1 stripes, 2 checks, 3 speckle
  float tex_depth = 0.f, tex_period = 0.f, tex_dx = 0.f, tex_dy = 0.f;
  uint64_t tex_seed = 0;
};

/// The items of a height×width scene, in paint order, drawn from `rng`: 2–5 (scaled by the
/// aspect, at least 1) items of `bank`, each 30–70 % of the canvas height with aspect jitter,
/// partly outside the canvas allowed.
std::vector<PlacedItem> place_items(Rng& rng, const ItemBank& bank, int64_t height, int64_t width);

/// One item of `bank` filling 60–95 % of the shorter side of a height×width canvas, centred with a
/// jitter of up to 10 %, with a scene item's look (mirror, tint, shading, texture): the samples of
/// the fashion-items classification task that pretrains backbones.
PlacedItem place_single_item(Rng& rng, const ItemBank& bank, int64_t height, int64_t width);

}  // namespace cwd::data::detail
