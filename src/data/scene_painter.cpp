// Painting a scene: the textured background, the items composited on top (with their labels),
// and pixel noise. Plain float arithmetic throughout (no OpenCV, no std distributions), so scene i
// is the same on every run and thread schedule. Any change to the output here needs a kGenerator
// bump in fashion_scenes.cpp.

#include "src/data/scene_painter.h"

#include "src/data/item_sprite.h"

#include <algorithm>
#include <array>
#include <cmath>

// Keep float expressions unfused so that every compiler rounds them alike (GCC in ISO C++ mode
// does not contract; clang would, by default).
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

namespace cwd::data::detail {
namespace {

float smoothstep(float t) { return t * t * (3.f - 2.f * t); }
/// Triangle wave with period 1: 0 at integers, 1 at half-integers.
float triangle(float t) {
  const float f = t - std::floor(t);
  return 1.f - std::fabs(2.f * f - 1.f);
}

/// Float RGB canvas, row-major H×W×3.
struct Canvas {
  int64_t h, w;
  std::vector<float> px;
  float* at(int64_t y, int64_t x) { return &px[static_cast<size_t>((y * w + x) * 3)]; }
  void blend(int64_t y, int64_t x, const Rgb& c, float a) {
    float* p = at(y, x);
    p[0] += a * (c.r - p[0]);
    p[1] += a * (c.g - p[1]);
    p[2] += a * (c.b - p[2]);
  }
};

/// Background step 1: a gradient between four corner colours, mixed with a low-frequency
/// colour field.
void paint_gradient(Rng& rng, Canvas& canvas) {
  const int64_t H = canvas.h, W = canvas.w;
  const float fh = static_cast<float>(H), fw = static_cast<float>(W);
  const Rgb corner[4] = {random_colour(rng), random_colour(rng), random_colour(rng),
                         random_colour(rng)};
  const int64_t gh = rng.between(2, 5);
  const int64_t gw = std::max<int64_t>(2, (gh * W + H / 2) / H);
  std::vector<Rgb> grid(static_cast<size_t>(gh * gw));
  for (Rgb& c : grid) c = random_colour(rng);
  const float field = static_cast<float>(rng.uniform(0.2, 0.55));
  for (int64_t y = 0; y < H; ++y) {
    const float ty = H > 1 ? static_cast<float>(y) / (fh - 1.f) : 0.f;
    const float gy = ty * static_cast<float>(gh - 1);
    const int64_t y0 = std::min<int64_t>(static_cast<int64_t>(gy), gh - 2);
    const float wy = smoothstep(gy - static_cast<float>(y0));
    for (int64_t x = 0; x < W; ++x) {
      const float tx = W > 1 ? static_cast<float>(x) / (fw - 1.f) : 0.f;
      const float gx = tx * static_cast<float>(gw - 1);
      const int64_t x0 = std::min<int64_t>(static_cast<int64_t>(gx), gw - 2);
      const float wx = smoothstep(gx - static_cast<float>(x0));
      const Rgb& a = grid[static_cast<size_t>(y0 * gw + x0)];
      const Rgb& b = grid[static_cast<size_t>(y0 * gw + x0 + 1)];
      const Rgb& c = grid[static_cast<size_t>((y0 + 1) * gw + x0)];
      const Rgb& d = grid[static_cast<size_t>((y0 + 1) * gw + x0 + 1)];
      const float w00 = (1 - ty) * (1 - tx), w01 = (1 - ty) * tx, w10 = ty * (1 - tx),
                  w11 = ty * tx;
      const float v00 = (1 - wy) * (1 - wx), v01 = (1 - wy) * wx, v10 = wy * (1 - wx),
                  v11 = wy * wx;
      float* p = canvas.at(y, x);
      p[0] = (1 - field) *
                 (w00 * corner[0].r + w01 * corner[1].r + w10 * corner[2].r + w11 * corner[3].r) +
             field * (v00 * a.r + v01 * b.r + v10 * c.r + v11 * d.r);
      p[1] = (1 - field) *
                 (w00 * corner[0].g + w01 * corner[1].g + w10 * corner[2].g + w11 * corner[3].g) +
             field * (v00 * a.g + v01 * b.g + v10 * c.g + v11 * d.g);
      p[2] = (1 - field) *
                 (w00 * corner[0].b + w01 * corner[1].b + w10 * corner[2].b + w11 * corner[3].b) +
             field * (v00 * a.b + v01 * b.b + v10 * c.b + v11 * d.b);
    }
  }
}

/// How many patches of a kind: a draw in [lo, hi], scaled by the canvas aspect over 2.
int64_t scaled_count(Rng& rng, const Canvas& canvas, int64_t lo, int64_t hi) {
  const double aspect = static_cast<double>(canvas.w) / static_cast<double>(canvas.h);
  const int64_t n = rng.between(lo, hi);
  return static_cast<int64_t>(std::floor(static_cast<double>(n) * aspect / 2.0 + 0.5));
}

/// A stripe patch: a triangle-wave pattern inside a soft elliptical region.
void paint_stripe_patch(Rng& rng, Canvas& canvas) {
  const int64_t H = canvas.h, W = canvas.w;
  const float fh = static_cast<float>(H), fw = static_cast<float>(W);
  float dx, dy;
  random_direction(rng, &dx, &dy);
  const float period = static_cast<float>(rng.uniform(3.0, 3.0 + 0.15 * H));
  const float phase = static_cast<float>(rng.uniform());
  const Rgb colour = random_colour(rng);
  const float strength = static_cast<float>(rng.uniform(0.3, 0.8));
  const float cy = static_cast<float>(rng.uniform(0.0, fh)),
              cx = static_cast<float>(rng.uniform(0.0, fw));
  const float ry = static_cast<float>(rng.uniform(0.15, 0.6) * H),
              rx = static_cast<float>(rng.uniform(0.15, 0.6) * H);
  const int64_t ylo = std::max<int64_t>(0, static_cast<int64_t>(cy - ry));
  const int64_t yhi = std::min<int64_t>(H, static_cast<int64_t>(cy + ry) + 1);
  const int64_t xlo = std::max<int64_t>(0, static_cast<int64_t>(cx - rx));
  const int64_t xhi = std::min<int64_t>(W, static_cast<int64_t>(cx + rx) + 1);
  for (int64_t y = ylo; y < yhi; ++y) {
    for (int64_t x = xlo; x < xhi; ++x) {
      const float ey = (static_cast<float>(y) - cy) / ry, ex = (static_cast<float>(x) - cx) / rx;
      const float r2 = ey * ey + ex * ex;
      if (r2 >= 1.f) continue;
      const float mask = clamp01((1.f - r2) * 3.f);
      const float t =
          triangle((static_cast<float>(x) * dx + static_cast<float>(y) * dy) / period + phase);
      const float stripe = clamp01((t - 0.5f) * 4.f + 0.5f);
      canvas.blend(y, x, colour, strength * stripe * mask);
    }
  }
}

/// A soft rotated elliptical blob, about item-sized, perhaps with a two-tone ring.
void paint_blob(Rng& rng, Canvas& canvas) {
  const int64_t H = canvas.h, W = canvas.w;
  const float fh = static_cast<float>(H), fw = static_cast<float>(W);
  float dx, dy;
  random_direction(rng, &dx, &dy);
  const float cy = static_cast<float>(rng.uniform(0.0, fh)),
              cx = static_cast<float>(rng.uniform(0.0, fw));
  const float ra = static_cast<float>(rng.uniform(0.04, 0.22) * H),
              rb = static_cast<float>(rng.uniform(0.04, 0.22) * H);
  const float edge = static_cast<float>(rng.uniform(0.05, 0.4));
  const Rgb colour = random_colour(rng);
  const Rgb inner = random_colour(rng);
  const bool ring = rng.chance(0.3);
  const float opacity = static_cast<float>(rng.uniform(0.5, 1.0));
  const float reach = std::max(ra, rb) + 1.f;
  const int64_t ylo = std::max<int64_t>(0, static_cast<int64_t>(cy - reach));
  const int64_t yhi = std::min<int64_t>(H, static_cast<int64_t>(cy + reach) + 1);
  const int64_t xlo = std::max<int64_t>(0, static_cast<int64_t>(cx - reach));
  const int64_t xhi = std::min<int64_t>(W, static_cast<int64_t>(cx + reach) + 1);
  for (int64_t y = ylo; y < yhi; ++y) {
    for (int64_t x = xlo; x < xhi; ++x) {
      const float py = static_cast<float>(y) - cy, px = static_cast<float>(x) - cx;
      const float u = (px * dx + py * dy) / ra, v = (py * dx - px * dy) / rb;
      const float r2 = u * u + v * v;
      if (r2 >= 1.f) continue;
      const float a = clamp01((1.f - r2) / edge) * opacity;
      canvas.blend(y, x, ring && r2 < 0.3f ? inner : colour, a);
    }
  }
}

/// A hard-edged rectangle (so that sharp edges alone do not mean "item").
void paint_rect(Rng& rng, Canvas& canvas) {
  const int64_t H = canvas.h, W = canvas.w;
  const int64_t rh = std::max<int64_t>(2, static_cast<int64_t>(rng.uniform(0.03, 0.35) * H));
  const int64_t rw = std::max<int64_t>(2, static_cast<int64_t>(rng.uniform(0.03, 0.35) * H));
  const int64_t y0 = rng.between(-rh / 2, H - rh / 2), x0 = rng.between(-rw / 2, W - rw / 2);
  const Rgb colour = random_colour(rng);
  const float opacity = static_cast<float>(rng.uniform(0.3, 0.9));
  for (int64_t y = std::max<int64_t>(0, y0); y < std::min(H, y0 + rh); ++y) {
    for (int64_t x = std::max<int64_t>(0, x0); x < std::min(W, x0 + rw); ++x) {
      canvas.blend(y, x, colour, opacity);
    }
  }
}

/// The background: the gradient, then stripe patches, blobs and rectangles, their numbers scaled
/// by the canvas aspect (each count drawn just before its patches).
void paint_background(Rng& rng, Canvas& canvas) {
  paint_gradient(rng, canvas);
  const int64_t stripes = scaled_count(rng, canvas, 0, 1);
  for (int64_t s = 0; s < stripes; ++s) paint_stripe_patch(rng, canvas);
  const int64_t blobs = scaled_count(rng, canvas, 0, 2);
  for (int64_t b = 0; b < blobs; ++b) paint_blob(rng, canvas);
  const int64_t rects = scaled_count(rng, canvas, 0, 1);
  for (int64_t r = 0; r < rects; ++r) paint_rect(rng, canvas);
}

/// Pixel noise, per channel, with a scene-level amplitude.
void add_noise(Rng& rng, Canvas& canvas) {
  const float amplitude = static_cast<float>(rng.uniform(0.02, 0.06));
  for (float& v : canvas.px) {
    const uint64_t bits = rng.next();
    const float n = static_cast<float>(bits >> 40) * 0x1.0p-24f - 0.5f;  // [-0.5, 0.5)
    v += 2.f * amplitude * n;
  }
}

/// Multiplier of an item's shade at item pixel (iy, ix) from its texture (1 = no texture).
float texture_at(const PlacedItem& p, int64_t iy, int64_t ix) {
  if (p.texture == 1) {
    const float t = triangle(
        (static_cast<float>(ix) * p.tex_dx + static_cast<float>(iy) * p.tex_dy) / p.tex_period);
    return 1.f - p.tex_depth * t;
  }
  if (p.texture == 2) {
    const float t = triangle(static_cast<float>(ix) / p.tex_period) *
                    triangle(static_cast<float>(iy) / p.tex_period);
    return 1.f - p.tex_depth * (t > 0.25f ? 1.f : 0.f);
  }
  if (p.texture == 3) {
    const uint64_t bits = mix64(p.tex_seed ^ static_cast<uint64_t>(iy * p.info.width + ix));
    return 1.f - p.tex_depth * static_cast<float>(bits >> 40) * 0x1.0p-24f;
  }
  return 1.f;
}

/// Label of a pixel: decided by the top-most item whose alpha exceeds kVisible there: its class
/// if alpha > kSure, else 255 (uncertain edge).
constexpr float kSure = 0.5f;
constexpr float kVisible = 0.15f;

/// Composites one item onto the canvas (resized bilinearly, maybe mirrored, tinted, shaded by
/// its intensity and textured) and labels the pixels where it is visible.
void paint_item(const PlacedItem& p, const ItemBank& bank, Canvas& canvas, uint8_t* label) {
  const int64_t H = canvas.h, W = canvas.w;
  const uint8_t* item = bank.pixels.data() + static_cast<size_t>(p.info.source_index) * kItemPixels;
  const float sy = static_cast<float>(kItemSide) / static_cast<float>(p.info.height);
  const float sx = static_cast<float>(kItemSide) / static_cast<float>(p.info.width);
  const uint8_t cls = static_cast<uint8_t>(p.info.class_id);
  const std::array<float, kItemPixels> opacity = item_alpha(item);
  for (int64_t iy = 0; iy < p.info.height; ++iy) {
    const int64_t y = p.info.y + iy;
    if (y < 0 || y >= H) continue;
    const float src_y = (static_cast<float>(iy) + 0.5f) * sy - 0.5f;
    for (int64_t ix = 0; ix < p.info.width; ++ix) {
      const int64_t x = p.info.x + ix;
      if (x < 0 || x >= W) continue;
      const int64_t jx = p.mirror ? p.info.width - 1 - ix : ix;
      const float src_x = (static_cast<float>(jx) + 0.5f) * sx - 0.5f;
      const float intensity = sample_item(item, src_y, src_x);
      const float alpha = sample_map(opacity.data(), src_y, src_x);
      if (alpha <= 0.f) continue;
      const float shade = (p.shade_lo + (1.f - p.shade_lo) * intensity) * texture_at(p, iy, ix);
      canvas.blend(y, x, {p.tint.r * shade, p.tint.g * shade, p.tint.b * shade}, alpha);
      if (alpha > kVisible) {
        label[static_cast<size_t>(y * W + x)] = alpha > kSure ? cls : uint8_t{255};
      }
    }
  }
}

}  // namespace

RawSample paint_scene(Rng& rng, const ItemBank& bank, const std::vector<PlacedItem>& items,
                      int64_t height, int64_t width) {
  const int64_t H = height, W = width;
  Canvas canvas{H, W, std::vector<float>(static_cast<size_t>(H * W * 3))};
  paint_background(rng, canvas);
  // Tensors are filled in place (no torch ops: this runs on loader threads, see loader.cpp).
  RawSample out;
  out.label = torch::empty({H, W}, torch::kUInt8);
  uint8_t* label = out.label.data_ptr<uint8_t>();
  std::fill(label, label + H * W, uint8_t{0});
  for (const PlacedItem& p : items) paint_item(p, bank, canvas, label);
  add_noise(rng, canvas);

  out.image = torch::empty({H, W, 3}, torch::kUInt8);
  uint8_t* image = out.image.data_ptr<uint8_t>();
  for (size_t i = 0; i < canvas.px.size(); ++i) {
    image[i] = static_cast<uint8_t>(clamp01(canvas.px[i]) * 255.f + 0.5f);
  }
  return out;
}

}  // namespace cwd::data::detail
