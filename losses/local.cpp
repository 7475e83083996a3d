// LOCAL — 8-neighbourhood similarity distillation (Xie et al., BMVC 2018, arXiv 1810.08476, as
// described in Shu et al., ICCV 2021; definition from docs/losses.md).

#include "losses/local.h"

#include "src/core/error.h"

#include <fmt/format.h>

namespace cwd::losses {

namespace {
constexpr const char* kKey = "local";

using torch::indexing::Slice;

// The similarity is symmetric, f(x_i, x_{i+δ}) = f(x_{i+δ}, x_i), so s_{−δ}(i) = s_δ(i − δ): the
// products are computed for the 4 offsets below over every pixel pair they join, and the 8
// interior maps are slices of those 4 (half the work of 8 separate products).
constexpr int64_t kHalf[4][2] = {{0, 1}, {1, -1}, {1, 0}, {1, 1}};
// Output channel k holds the offset (−1,−1), (−1,0), (−1,1), (0,−1), (0,1), (1,−1), (1,0), (1,1);
// kSource[k] = {index into kHalf, +1 for δ or −1 for −δ}.
constexpr int64_t kSource[8][2] = {{3, -1}, {2, -1}, {1, -1}, {0, -1},
                                   {0, 1},  {1, 1},  {2, 1},  {3, 1}};

// Pixels i of the pairs (i, i+δ) inside an h×w map: rows [r0, h − max(dy, 0)), cols likewise.
torch::Tensor first(const torch::Tensor& x, int64_t dy, int64_t dx) {
  const int64_t h = x.size(-2);
  const int64_t w = x.size(-1);
  return x.index({"...", Slice(std::max<int64_t>(0, -dy), h - std::max<int64_t>(0, dy)),
                  Slice(std::max<int64_t>(0, -dx), w - std::max<int64_t>(0, dx))});
}
torch::Tensor second(const torch::Tensor& x, int64_t dy, int64_t dx) {
  const int64_t h = x.size(-2);
  const int64_t w = x.size(-1);
  return x.index({"...", Slice(std::max<int64_t>(0, dy), h + std::min<int64_t>(0, dy)),
                  Slice(std::max<int64_t>(0, dx), w + std::min<int64_t>(0, dx))});
}
// The interior (rows 1..h−2, cols 1..w−2) values of s_{sign·δ} inside the pair map P_δ of an
// h×w map.
torch::Tensor interior_of_pairs(const torch::Tensor& pairs, int64_t h, int64_t w, int64_t dy,
                                int64_t dx, int64_t sign) {
  const int64_t r = 1 - std::max<int64_t>(0, -dy) - (sign < 0 ? dy : 0);
  const int64_t c = 1 - std::max<int64_t>(0, -dx) - (sign < 0 ? dx : 0);
  return pairs.index({"...", Slice(r, r + h - 2), Slice(c, c + w - 2)});
}

// N×8×(H−2)×(W−2) similarities of each interior pixel with its 8 neighbours: dot products of
// (already unit) vectors, or squared distances. A hand-written backward accumulates into one
// gradient tensor in place; autograd's own allocates a zero-filled N×C×H×W tensor per slice.
struct NeighbourSimilarity : public torch::autograd::Function<NeighbourSimilarity> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               bool dot) {
    ctx->save_for_backward({x});
    ctx->saved_data["dot"] = dot;
    const int64_t h = x.size(2);
    const int64_t w = x.size(3);
    std::vector<torch::Tensor> pairs;
    for (const auto& d : kHalf) {
      auto a = first(x, d[0], d[1]);
      auto b = second(x, d[0], d[1]);
      pairs.push_back(dot ? (a * b).sum(1) : (a - b).square().sum(1));
    }
    std::vector<torch::Tensor> sims;
    for (int64_t k = 0; k < 8; ++k) {
      const auto& d = kHalf[kSource[k][0]];
      sims.push_back(interior_of_pairs(pairs[kSource[k][0]], h, w, d[0], d[1], kSource[k][1]));
    }
    return torch::stack(sims, 1);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    const bool dot = ctx->saved_data["dot"].toBool();
    const auto& g = grads[0];
    const int64_t h = x.size(2);
    const int64_t w = x.size(3);
    auto gx = torch::zeros_like(x);
    for (int64_t j = 0; j < 4; ++j) {
      const int64_t dy = kHalf[j][0];
      const int64_t dx = kHalf[j][1];
      auto a = first(x, dy, dx);
      auto b = second(x, dy, dx);
      auto g_pairs = torch::zeros({x.size(0), a.size(2), a.size(3)}, g.options());
      for (int64_t k = 0; k < 8; ++k) {
        if (kSource[k][0] != j) continue;
        interior_of_pairs(g_pairs, h, w, dy, dx, kSource[k][1]).add_(g.select(1, k));
      }
      auto gp = g_pairs.unsqueeze(1);  // broadcast over channels
      if (dot) {
        first(gx, dy, dx).addcmul_(b, gp);
        second(gx, dy, dx).addcmul_(a, gp);
      } else {
        auto diff = a - b;
        first(gx, dy, dx).addcmul_(diff, gp, 2.0);
        second(gx, dy, dx).addcmul_(diff, gp, -2.0);
      }
    }
    return {gx, torch::Tensor()};
  }
};

torch::Tensor neighbour_similarity(const torch::Tensor& map, bool cosine) {
  return NeighbourSimilarity::apply(cosine ? unit_channels(map) : map, cosine);
}

// The rules of LocalOptions.
void check(const LocalOptions& options, const OptionRules& rules) {
  rules.positive("weight", options.weight(), /*allow_zero=*/true);
  rules.one_of("metric", options.metric(), {"cosine", "euclidean"});
}
}  // namespace

LocalOptions LocalOptions::from_json(const nlohmann::json& options) {
  OptionReader reader(kKey, options);
  LocalOptions out;
  out.weight(reader.number("weight", out.weight()));
  out.metric(reader.string("metric", out.metric()));
  check(out, OptionRules(reader));
  reader.finish();
  return out;
}

void LocalOptions::validate() const { check(*this, OptionRules(kKey)); }

nlohmann::json LocalOptions::to_json() const {
  return {{"weight", weight()}, {"metric", metric()}};
}

torch::Tensor local_loss(const torch::Tensor& student, const torch::Tensor& teacher,
                         const LocalOptions& options) {
  options.validate();
  check_pair(kKey, student, teacher);
  if (teacher.size(2) < 3 || teacher.size(3) < 3) {
    throw Error(fmt::format("{}: teacher map is {}×{}, expected H, W >= 3", kKey, teacher.size(2),
                            teacher.size(3)));
  }
  const bool cosine = options.metric() == "cosine";
  auto s = resize_to_teacher(student, teacher);
  torch::Tensor sim_t;
  {
    torch::NoGradGuard no_grad;
    sim_t = neighbour_similarity(teacher, cosine);
  }
  return (neighbour_similarity(s, cosine) - sim_t).square().mean() * options.weight();
}

torch::Tensor LocalLoss::forward(const torch::Tensor& student, const torch::Tensor& teacher,
                                 const torch::Tensor& /*labels*/) {
  return local_loss(student, teacher, options_);
}

LossInfo LocalLoss::info() const {
  return {kKey, "Local (8-neighbour) similarity distillation",
          "Xie et al., BMVC 2018, arXiv 1810.08476 (as described by Shu et al., ICCV 2021)",
          "8·h·w·c", false};
}

double LocalLoss::flops(const MapShape& shape) const {
  const double pixels = static_cast<double>(shape.n) * shape.h * shape.w;
  const double channels = static_cast<double>(shape.c_student + shape.c_teacher);
  const bool cosine = options_.metric() == "cosine";
  // Unit vectors (3 per element), then per offset a product/difference and a channel sum (2 or 3
  // per element), then the squared difference and mean over 8 similarities per pixel (3 each).
  return pixels * channels * ((cosine ? 3.0 : 0.0) + 8.0 * (cosine ? 2.0 : 3.0)) +
         pixels * 8.0 * 3.0;
}

}  // namespace cwd::losses
