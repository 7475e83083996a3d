// fashion-scenes: segmentation scenes composed from Fashion-MNIST items (Xiao et al. 2017), read
// from the gzipped IDX files of the Debian package dataset-fashion-mnist.
//
// A scene (canvas height×width) is a textured background (corner gradient, a low-frequency colour
// field, a few stripe patches, soft blobs and hard-edged rectangles, pixel noise) with 2–5 items
// (scaled by the canvas aspect) pasted on top. Each item is a 28×28 Fashion-MNIST image resized
// bilinearly to 30–70 % of the canvas height with aspect jitter, optionally mirrored, tinted,
// shaded by its own intensity, optionally multiplied by a random texture, and alpha-composited
// with alpha = clamp(1.5 · intensity) (at least 0.9 inside the item's silhouette, see item_alpha)
// at a random position (partly outside the canvas allowed; later items occlude earlier ones).
// Label of a pixel: decided by the top-most item whose alpha exceeds 0.15 there: its class if
// alpha > 0.5, else 255 (uncertain edge); background (0) where no item reaches 0.15.
//
// The tint comes from the item's colour family (item_tint): tops (shirt / t-shirt / pullover /
// coat) share one, footwear (sneaker / sandal / ankle boot) another, trousers, dresses and bags
// have their own; one item in five gets any colour instead. Colour thus tells the group, as it
// does in street scenes, and only shape tells the classes inside a group apart. (Generator 1 drew
// every tint at random and used smaller items on busier backgrounds: PSPNets trained from scratch
// did not get past the class prior within the CPU presets' budgets.)
//
// Everything is drawn from a splitmix64 counter RNG seeded by hash(seed, split, index) and computed
// with plain float arithmetic (no OpenCV, no std distributions), so scene i is the same on every
// run and thread schedule. Training scenes take items only from the package's train split,
// validation scenes only from t10k. Bump kGenerator whenever the output changes.

#include "src/core/error.h"
#include "src/data/dataset.h"
#include "src/data/internal.h"

#include <zlib.h>

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>

// Keep float expressions unfused so that every compiler rounds them alike (GCC in ISO C++ mode
// does not contract; clang would, by default).
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

namespace cwd::data {
namespace {

constexpr char kGenerator[] = "fashion-scenes/2";
constexpr char kDefaultRoot[] = "/usr/share/datasets/fashion-mnist";
constexpr int kSide = 28;
constexpr int kPixels = kSide * kSide;
constexpr char kInstallFix[] =
    "install the data package with 'apt-get install -y dataset-fashion-mnist' or pass "
    "--data-root DIR";
constexpr char kReinstallFix[] =
    "reinstall it with 'apt-get install --reinstall -y dataset-fashion-mnist' or pass "
    "--data-root DIR";

// ---- IDX files --------------------------------------------------------------------------------

/// Items of one Fashion-MNIST split, loaded once per dataset object.
struct ItemBank {
  std::string source;              // "train" or "t10k"
  std::vector<std::string> files;  // file names (identity)
  int64_t count = 0;
  std::vector<uint8_t> pixels;  // count × 28 × 28
  std::vector<uint8_t> labels;  // count, 0..9
};

class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    if (file_ == nullptr) {
      throw Error(fmt::format("fashion-scenes: cannot open {}; {}", path, kReinstallFix));
    }
    gzbuffer(file_, 1u << 20);
  }
  ~GzFile() { gzclose(file_); }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  void read(uint8_t* dst, size_t bytes, const char* what) {
    size_t done = 0;
    while (done < bytes) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes - done, 1u << 30));
      const int got = gzread(file_, dst + done, chunk);
      if (got <= 0) corrupt(fmt::format("{} ends after {} of {} bytes", what, done, bytes), got);
      done += static_cast<size_t>(got);
    }
  }
  uint32_t read_u32() {
    uint8_t b[4];
    read(b, 4, "header");
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  }
  /// Reads to the end so that zlib checks the gzip trailer (CRC and length).
  void expect_end() {
    uint8_t extra;
    const int got = gzread(file_, &extra, 1);
    if (got < 0) corrupt("bad gzip stream", got);
    if (got > 0) corrupt("unexpected data after the items", 0);
  }
  [[noreturn]] void corrupt(const std::string& what, int got) {
    std::string detail = what;
    if (got < 0) {
      int code = 0;
      const char* message = gzerror(file_, &code);
      if (message != nullptr && *message != '\0') detail += std::string(": ") + message;
    }
    throw Error(fmt::format("fashion-scenes: {} is truncated or corrupt ({}); {}", path_, detail,
                            kReinstallFix));
  }

 private:
  std::string path_;
  gzFile file_;
};

std::shared_ptr<const ItemBank> load_items(const std::string& root, Split split) {
  const std::string prefix = split == Split::kVal ? "t10k" : "train";
  const std::string images_name = prefix + "-images-idx3-ubyte.gz";
  const std::string labels_name = prefix + "-labels-idx1-ubyte.gz";
  const std::string images_path = (std::filesystem::path(root) / images_name).string();
  const std::string labels_path = (std::filesystem::path(root) / labels_name).string();
  for (const std::string& path : {images_path, labels_path}) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      throw Error(fmt::format("fashion-scenes: {} not found; {}", path, kInstallFix));
    }
  }
  auto bank = std::make_shared<ItemBank>();
  bank->source = prefix;
  bank->files = {images_name, labels_name};
  {
    GzFile file(images_path);
    const uint32_t magic = file.read_u32();
    if (magic != 0x00000803u) {
      file.corrupt(
          fmt::format("magic number 0x{:08x}, expected 0x00000803 for IDX ubyte images", magic), 0);
    }
    const uint32_t count = file.read_u32();
    const uint32_t rows = file.read_u32();
    const uint32_t cols = file.read_u32();
    if (rows != kSide || cols != kSide || count == 0 || count > 1000000) {
      file.corrupt(
          fmt::format("header says {} images of {}x{}, expected 28x28 images", count, rows, cols),
          0);
    }
    bank->count = count;
    bank->pixels.resize(static_cast<size_t>(count) * kPixels);
    file.read(bank->pixels.data(), bank->pixels.size(), "pixel data");
    file.expect_end();
  }
  {
    GzFile file(labels_path);
    const uint32_t magic = file.read_u32();
    if (magic != 0x00000801u) {
      file.corrupt(
          fmt::format("magic number 0x{:08x}, expected 0x00000801 for IDX ubyte labels", magic), 0);
    }
    const uint32_t count = file.read_u32();
    if (count != bank->count) {
      file.corrupt(fmt::format("{} labels for {} images in {}", count, bank->count, images_name),
                   0);
    }
    bank->labels.resize(count);
    file.read(bank->labels.data(), bank->labels.size(), "label data");
    file.expect_end();
    for (uint32_t i = 0; i < count; ++i) {
      if (bank->labels[i] > 9) {
        file.corrupt(fmt::format("label {} of item {} is not a class 0..9", bank->labels[i], i), 0);
      }
    }
  }
  return bank;
}

// ---- scene generation ------------------------------------------------------------------------

struct Rgb {
  float r, g, b;
};

Rgb random_colour(detail::Rng& rng) {
  return {static_cast<float>(rng.uniform(0.03, 0.97)), static_cast<float>(rng.uniform(0.03, 0.97)),
          static_cast<float>(rng.uniform(0.03, 0.97))};
}

float clamp01(float v) { return v < 0.f ? 0.f : (v > 1.f ? 1.f : v); }

/// HSV (all in [0, 1], hue wrapping) to RGB, in plain float arithmetic.
Rgb hsv_to_rgb(float h, float s, float v) {
  h -= std::floor(h);
  const float h6 = h * 6.f;
  const int sector = std::min(5, static_cast<int>(h6));
  const float f = h6 - static_cast<float>(sector);
  const float p = v * (1.f - s), q = v * (1.f - s * f), t = v * (1.f - s * (1.f - f));
  switch (sector) {
    case 0: return {v, t, p};
    case 1: return {q, v, p};
    case 2: return {p, v, t};
    case 3: return {p, q, v};
    case 4: return {t, p, v};
    default: return {v, p, q};
  }
}

/// Hue of each class's colour family (class ids 1..10). Classes that look alike share a family
/// (tops: t-shirt, pullover, coat, shirt; footwear: sandal, sneaker, ankle boot), so colour tells
/// the group and only shape tells the class inside it, as in street scenes, where colour tells
/// road from vegetation but not car from truck.
constexpr float kClassHue[11] = {0.f,  0.60f, 0.33f, 0.60f, 0.90f, 0.60f,
                                 0.08f, 0.60f, 0.08f, 0.16f, 0.08f};
constexpr double kOffPaletteChance = 0.2;

/// An item's tint: its class family's hue (jittered), or with kOffPaletteChance any colour.
Rgb item_tint(detail::Rng& rng, int64_t class_id) {
  if (rng.chance(kOffPaletteChance)) return random_colour(rng);
  const float hue = kClassHue[class_id] + static_cast<float>(rng.uniform(-0.06, 0.06));
  return hsv_to_rgb(hue, static_cast<float>(rng.uniform(0.45, 0.95)),
                    static_cast<float>(rng.uniform(0.55, 1.0)));
}
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

/// A random unit vector (sqrt is exactly rounded in IEEE arithmetic, unlike sin/cos).
void random_direction(detail::Rng& rng, float* dx, float* dy) {
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

void paint_background(detail::Rng& rng, Canvas& canvas) {
  const int64_t H = canvas.h, W = canvas.w;
  const float fh = static_cast<float>(H), fw = static_cast<float>(W);
  // 1. Gradient between four corner colours, mixed with a low-frequency colour field.
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
  const double aspect = static_cast<double>(W) / static_cast<double>(H);
  const auto scaled_count = [&](int64_t lo, int64_t hi) {
    const int64_t n = rng.between(lo, hi);
    return static_cast<int64_t>(std::floor(static_cast<double>(n) * aspect / 2.0 + 0.5));
  };
  // 2. Stripe patches: a triangle-wave pattern inside a soft elliptical region.
  const int64_t stripes = scaled_count(0, 1);
  for (int64_t s = 0; s < stripes; ++s) {
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
  // 3. Soft rotated elliptical blobs, about item-sized, some with a two-tone ring.
  const int64_t blobs = scaled_count(0, 2);
  for (int64_t b = 0; b < blobs; ++b) {
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
  // 4. Hard-edged rectangles (so that sharp edges alone do not mean "item").
  const int64_t rects = scaled_count(0, 1);
  for (int64_t r = 0; r < rects; ++r) {
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
}

/// Pixel noise, per channel, with a scene-level amplitude.
void add_noise(detail::Rng& rng, Canvas& canvas) {
  const float amplitude = static_cast<float>(rng.uniform(0.02, 0.06));
  for (float& v : canvas.px) {
    const uint64_t bits = rng.next();
    const float n = static_cast<float>(bits >> 40) * 0x1.0p-24f - 0.5f;  // [-0.5, 0.5)
    v += 2.f * amplitude * n;
  }
}

/// Bilinear sample of a 28×28 item at continuous source coordinates (pixel centres at i + 0.5).
float sample_item(const uint8_t* item, float sy, float sx) {
  sy = std::min(std::max(sy, 0.f), static_cast<float>(kSide - 1));
  sx = std::min(std::max(sx, 0.f), static_cast<float>(kSide - 1));
  const int y0 = std::min(static_cast<int>(sy), kSide - 2);
  const int x0 = std::min(static_cast<int>(sx), kSide - 2);
  const float wy = sy - static_cast<float>(y0), wx = sx - static_cast<float>(x0);
  const uint8_t* p = item + y0 * kSide + x0;
  const float top = static_cast<float>(p[0]) + wx * static_cast<float>(p[1] - p[0]);
  const float bottom =
      static_cast<float>(p[kSide]) + wx * static_cast<float>(p[kSide + 1] - p[kSide]);
  return (top + wy * (bottom - top)) * (1.f / 255.f);
}

/// Opacity of a 28×28 item: clamp(kAlphaGain · intensity), raised to at least kSolid inside the
/// item's silhouette so that dark prints on a garment stay part of it (labelled, not ignored).
/// Inside = not connected to the image border through near-black pixels (intensity < 0.1), and
/// not on the silhouette's one-pixel rim (which keeps its soft edge). Enclosed near-black regions
/// of kMinHole pixels or more (a bag's handle) stay holes.
constexpr float kAlphaGain = 1.5f;
constexpr float kSolid = 0.9f;
constexpr int kMinHole = 6;

std::array<float, kPixels> item_alpha(const uint8_t* item) {
  constexpr uint8_t kDark = 26;
  std::array<uint8_t, kPixels> outside{};  // 1 = background of the item (border-connected/hole)
  std::array<int, kPixels> stack{};
  std::array<int, kPixels> component{};
  const auto fill = [&](int seed, uint8_t* mark, int* members) {
    int top = 0, count = 0;
    stack[top++] = seed;
    mark[seed] = 1;
    while (top > 0) {
      const int p = stack[--top];
      members[count++] = p;
      const int y = p / kSide, x = p % kSide;
      const int next[4][2] = {{y - 1, x}, {y + 1, x}, {y, x - 1}, {y, x + 1}};
      for (const auto& n : next) {
        if (n[0] < 0 || n[0] >= kSide || n[1] < 0 || n[1] >= kSide) continue;
        const int q = n[0] * kSide + n[1];
        if (mark[q] == 0 && item[q] < kDark) {
          mark[q] = 1;
          stack[top++] = q;
        }
      }
    }
    return count;
  };
  for (int i = 0; i < kSide; ++i) {
    for (int p : {i, (kSide - 1) * kSide + i, i * kSide, i * kSide + kSide - 1}) {
      if (outside[p] == 0 && item[p] < kDark) fill(p, outside.data(), component.data());
    }
  }
  std::array<uint8_t, kPixels> seen = outside;
  for (int p = 0; p < kPixels; ++p) {
    if (seen[p] != 0 || item[p] >= kDark) continue;
    const int count = fill(p, seen.data(), component.data());
    if (count >= kMinHole) {
      for (int k = 0; k < count; ++k) outside[component[k]] = 1;
    }
  }
  std::array<float, kPixels> alpha{};
  for (int y = 0; y < kSide; ++y) {
    for (int x = 0; x < kSide; ++x) {
      const int p = y * kSide + x;
      float a = clamp01(kAlphaGain * static_cast<float>(item[p]) * (1.f / 255.f));
      bool inside = outside[p] == 0;
      for (int dy = -1; dy <= 1 && inside; ++dy) {
        for (int dx = -1; dx <= 1 && inside; ++dx) {
          const int yy = y + dy, xx = x + dx;
          inside = yy >= 0 && yy < kSide && xx >= 0 && xx < kSide && outside[yy * kSide + xx] == 0;
        }
      }
      if (inside) a = std::max(a, kSolid);
      alpha[p] = a;
    }
  }
  return alpha;
}

/// Bilinear sample of a 28×28 float map (pixel centres at i + 0.5 in continuous coordinates).
float sample_map(const float* map, float sy, float sx) {
  sy = std::min(std::max(sy, 0.f), static_cast<float>(kSide - 1));
  sx = std::min(std::max(sx, 0.f), static_cast<float>(kSide - 1));
  const int y0 = std::min(static_cast<int>(sy), kSide - 2);
  const int x0 = std::min(static_cast<int>(sx), kSide - 2);
  const float wy = sy - static_cast<float>(y0), wx = sx - static_cast<float>(x0);
  const float* p = map + y0 * kSide + x0;
  const float top = p[0] + wx * (p[1] - p[0]);
  const float bottom = p[kSide] + wx * (p[kSide + 1] - p[kSide]);
  return top + wy * (bottom - top);
}

class FashionScenes final : public SegDataset {
 public:
  FashionScenes(std::shared_ptr<const ItemBank> bank, Split split, int64_t size, int64_t height,
                int64_t width, uint64_t seed)
      : bank_(std::move(bank)),
        split_(split),
        size_(size),
        height_(height),
        width_(width),
        seed_(seed) {}

  int64_t size() const override { return size_; }
  const std::vector<std::string>& class_names() const override {
    return fashion_scene_class_names();
  }
  RawSample get(int64_t index) const override {
    detail::check_index("fashion-scenes", index, size_);
    RawSample sample;
    generate(index, &sample, nullptr);
    return sample;
  }
  nlohmann::json identity() const override {
    return {{"name", "fashion-scenes"},
            {"split", to_string(split_)},
            {"size", size_},
            {"height", height_},
            {"width", width_},
            {"seed", seed_},
            {"generator", kGenerator},
            {"source", bank_->files},
            {"items", bank_->count}};
  }
  std::vector<SceneItem> items(int64_t index) const {
    detail::check_index("fashion-scenes", index, size_);
    std::vector<SceneItem> items;
    generate(index, nullptr, &items);
    return items;
  }

 private:
  void generate(int64_t index, RawSample* out, std::vector<SceneItem>* items_out) const;

  std::shared_ptr<const ItemBank> bank_;
  Split split_;
  int64_t size_, height_, width_;
  uint64_t seed_;
};

void FashionScenes::generate(int64_t index, RawSample* out,
                             std::vector<SceneItem>* items_out) const {
  const int64_t H = height_, W = width_;
  const uint64_t tag = split_ == Split::kVal ? 2 : 1;  // holdout scenes are train scenes
  const uint64_t scene_key = detail::hash_words({seed_, tag, static_cast<uint64_t>(index)});
  detail::Rng item_rng(detail::hash_words({scene_key, 1}));

  // Items first (cheap), so that fashion_scene_items() need not paint anything.
  struct Placed {
    SceneItem info;
    bool mirror;
    Rgb tint;
    float shade_lo;
    int texture;  // 0 none, 1 stripes, 2 checks, 3 speckle
    float tex_depth, tex_period, tex_dx, tex_dy;
    uint64_t tex_seed;
  };
  const double aspect = static_cast<double>(W) / static_cast<double>(H);
  const int64_t lo = std::max<int64_t>(1, static_cast<int64_t>(std::floor(2 * aspect / 2 + 0.5)));
  const int64_t hi = std::max<int64_t>(lo, static_cast<int64_t>(std::floor(5 * aspect / 2 + 0.5)));
  const int64_t count = item_rng.between(lo, hi);
  std::vector<Placed> placed(static_cast<size_t>(count));
  for (Placed& p : placed) {
    p.info.source = bank_->source;
    p.info.source_index = item_rng.below(bank_->count);
    p.info.class_id = bank_->labels[static_cast<size_t>(p.info.source_index)] + 1;
    const double ih = item_rng.uniform(0.3, 0.7) * static_cast<double>(H);
    const double iw = ih * item_rng.uniform(0.75, 1.3);
    p.info.height = std::max<int64_t>(6, static_cast<int64_t>(std::floor(ih + 0.5)));
    p.info.width = std::max<int64_t>(6, static_cast<int64_t>(std::floor(iw + 0.5)));
    p.info.y = static_cast<int64_t>(
        std::floor(item_rng.uniform(-0.25 * static_cast<double>(p.info.height),
                                    static_cast<double>(H) - 0.75 * p.info.height)));
    p.info.x = static_cast<int64_t>(std::floor(item_rng.uniform(
        -0.25 * static_cast<double>(p.info.width), static_cast<double>(W) - 0.75 * p.info.width)));
    p.mirror = item_rng.chance(0.5);
    p.tint = item_tint(item_rng, p.info.class_id);
    p.shade_lo = static_cast<float>(item_rng.uniform(0.15, 0.55));
    p.texture = item_rng.chance(0.5) ? static_cast<int>(item_rng.between(1, 3)) : 0;
    p.tex_depth = static_cast<float>(item_rng.uniform(0.15, 0.5));
    p.tex_period = static_cast<float>(item_rng.uniform(2.5, 8.0));
    random_direction(item_rng, &p.tex_dx, &p.tex_dy);
    p.tex_seed = item_rng.next();
  }
  if (items_out != nullptr) {
    items_out->clear();
    for (const Placed& p : placed) items_out->push_back(p.info);
  }
  if (out == nullptr) return;

  Canvas canvas{H, W, std::vector<float>(static_cast<size_t>(H * W * 3))};
  detail::Rng background_rng(detail::hash_words({scene_key, 2}));
  paint_background(background_rng, canvas);
  // Tensors are filled in place (no torch ops: this runs on loader threads, see loader.cpp).
  out->label = torch::empty({H, W}, torch::kUInt8);
  uint8_t* label = out->label.data_ptr<uint8_t>();
  std::fill(label, label + H * W, uint8_t{0});

  constexpr float kSure = 0.5f;
  constexpr float kVisible = 0.15f;
  for (const Placed& p : placed) {
    const uint8_t* item = bank_->pixels.data() + static_cast<size_t>(p.info.source_index) * kPixels;
    const float sy = static_cast<float>(kSide) / static_cast<float>(p.info.height);
    const float sx = static_cast<float>(kSide) / static_cast<float>(p.info.width);
    const uint8_t cls = static_cast<uint8_t>(p.info.class_id);
    const std::array<float, kPixels> opacity = item_alpha(item);
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
        float texture = 1.f;
        if (p.texture == 1) {
          const float t =
              triangle((static_cast<float>(ix) * p.tex_dx + static_cast<float>(iy) * p.tex_dy) /
                       p.tex_period);
          texture = 1.f - p.tex_depth * t;
        } else if (p.texture == 2) {
          const float t = triangle(static_cast<float>(ix) / p.tex_period) *
                          triangle(static_cast<float>(iy) / p.tex_period);
          texture = 1.f - p.tex_depth * (t > 0.25f ? 1.f : 0.f);
        } else if (p.texture == 3) {
          const uint64_t bits =
              detail::mix64(p.tex_seed ^ static_cast<uint64_t>(iy * p.info.width + ix));
          texture = 1.f - p.tex_depth * static_cast<float>(bits >> 40) * 0x1.0p-24f;
        }
        const float shade = (p.shade_lo + (1.f - p.shade_lo) * intensity) * texture;
        canvas.blend(y, x, {p.tint.r * shade, p.tint.g * shade, p.tint.b * shade}, alpha);
        if (alpha > kVisible) {
          label[static_cast<size_t>(y * W + x)] = alpha > kSure ? cls : uint8_t{255};
        }
      }
    }
  }
  add_noise(background_rng, canvas);

  out->image = torch::empty({H, W, 3}, torch::kUInt8);
  uint8_t* image = out->image.data_ptr<uint8_t>();
  for (size_t i = 0; i < canvas.px.size(); ++i) {
    image[i] = static_cast<uint8_t>(clamp01(canvas.px[i]) * 255.f + 0.5f);
  }
}

}  // namespace

const std::vector<std::string>& fashion_scene_class_names() {
  static const std::vector<std::string> names = {"background", "t-shirt", "trouser",   "pullover",
                                                 "dress",      "coat",    "sandal",    "shirt",
                                                 "sneaker",    "bag",     "ankle-boot"};
  return names;
}

std::vector<SceneItem> fashion_scene_items(const SegDataset& dataset, int64_t index) {
  const SegDataset* current = &dataset;
  while (const auto* subset = dynamic_cast<const detail::SubsetDataset*>(current)) {
    detail::check_index("dataset", index, subset->size());
    index += subset->offset();
    current = &subset->base();
  }
  const auto* scenes = dynamic_cast<const FashionScenes*>(current);
  if (scenes == nullptr) {
    throw Error("fashion_scene_items: dataset '" + dataset.identity().value("name", "?") +
                "' is not fashion-scenes; item lists exist only for generated scenes");
  }
  return scenes->items(index);
}

namespace detail {

std::shared_ptr<const SegDataset> make_fashion_scenes(const DataConfig& config, Split split) {
  const int64_t size = split == Split::kVal ? config.val_size : config.train_size;
  const char* field = split == Split::kVal ? "val_size" : "train_size";
  if (size <= 0) {
    throw Error(fmt::format("fashion-scenes: {} is {}; set it to a positive number of scenes",
                            field, size));
  }
  if (config.height < 16 || config.width < 16) {
    throw Error(
        fmt::format("fashion-scenes: canvas {}x{} is too small; use a height and width of "
                    "at least 16 pixels",
                    config.height, config.width));
  }
  const std::string root = config.root.empty() ? kDefaultRoot : config.root;
  return std::make_shared<FashionScenes>(load_items(root, split), split, size, config.height,
                                         config.width, config.seed);
}

}  // namespace detail
}  // namespace cwd::data
