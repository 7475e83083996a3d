#pragma once
// The fixed class palette of every picture cwd-bench draws (data preview, the report's
// predictions grid): background black for up to 12 classes, then well-separated colours, then
// golden-ratio hues; the ignore index is white.

#include <array>
#include <cstdint>

namespace cwd::data {

using Rgb = std::array<uint8_t, 3>;

Rgb class_colour(int64_t cls, int64_t num_classes, int64_t ignore_index);

}  // namespace cwd::data
