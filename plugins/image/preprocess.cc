// Resampling and normalisation of the image plugin. See preprocess.h.
#include "preprocess.h"

#include <algorithm>
#include <cmath>

namespace reco {
namespace image {

AxisWeights ComputeAxisWeights(int src_size, double start, double length, int out_size) {
  AxisWeights a;
  a.first.resize(out_size);
  a.weight.resize(out_size);
  const double scale = length / out_size;
  for (int i = 0; i < out_size; ++i) {
    std::vector<float>& w = a.weight[i];
    if (length > out_size) {
      // Area averaging: the fraction of each source pixel [j, j + 1) inside [lo, hi).
      const double lo = start + i * scale;
      const double hi = lo + scale;
      const int j0 = std::max(0, static_cast<int>(std::floor(lo)));
      const int j1 = std::min(src_size, static_cast<int>(std::ceil(hi)));
      int first = -1;
      double sum = 0;
      std::vector<double> raw;
      for (int j = j0; j < j1; ++j) {
        const double overlap = std::min(hi, j + 1.0) - std::max(lo, double(j));
        if (overlap <= 1e-9) {
          if (first < 0) continue;  // leading sliver
          break;                    // trailing sliver
        }
        if (first < 0) first = j;
        raw.push_back(overlap);
        sum += overlap;
      }
      if (first < 0) {  // cannot happen for a region inside the image; be safe
        first = std::min(std::max(j0, 0), src_size - 1);
        raw.assign(1, 1.0);
        sum = 1.0;
      }
      a.first[i] = first;
      for (double r : raw) w.push_back(static_cast<float>(r / sum));
    } else {
      // Bilinear, half-pixel centres, clamped at the edges.
      double c = start + (i + 0.5) * scale - 0.5;
      if (c < 0) c = 0;
      const int j0 = std::min(static_cast<int>(std::floor(c)), src_size - 1);
      const int j1 = std::min(j0 + 1, src_size - 1);
      const auto f = static_cast<float>(c - j0);
      a.first[i] = j0;
      if (j1 == j0 || f == 0.0f) {
        w.assign(1, 1.0f);
      } else {
        w = {1.0f - f, f};
      }
    }
  }
  return a;
}

void Preprocess(const uint8_t* rgb, int width, int height, const PreprocessOptions& opts,
                float* out) {
  const int n = opts.input_size;
  double x0 = 0, y0 = 0, lx = width, ly = height;
  if (opts.mode == ResizeMode::kCrop) {
    const int side = std::min(width, height);
    x0 = (width - side) / 2.0;
    y0 = (height - side) / 2.0;
    lx = ly = side;
  }
  const AxisWeights ax = ComputeAxisWeights(width, x0, lx, n);
  const AxisWeights ay = ComputeAxisWeights(height, y0, ly, n);

  // Horizontal pass over the source rows the vertical pass reads.
  int row_lo = height, row_hi = 0;
  for (int y = 0; y < n; ++y) {
    row_lo = std::min(row_lo, ay.first[y]);
    row_hi = std::max(row_hi, ay.first[y] + static_cast<int>(ay.weight[y].size()));
  }
  std::vector<float> tmp(size_t(row_hi - row_lo) * n * 3);
  for (int r = row_lo; r < row_hi; ++r) {
    const uint8_t* src = rgb + size_t(r) * width * 3;
    float* dst = &tmp[size_t(r - row_lo) * n * 3];
    for (int x = 0; x < n; ++x) {
      const std::vector<float>& w = ax.weight[x];
      const uint8_t* p = src + size_t(ax.first[x]) * 3;
      float s0 = 0, s1 = 0, s2 = 0;
      for (size_t k = 0; k < w.size(); ++k, p += 3) {
        s0 += w[k] * p[0];
        s1 += w[k] * p[1];
        s2 += w[k] * p[2];
      }
      dst[3 * x] = s0;
      dst[3 * x + 1] = s1;
      dst[3 * x + 2] = s2;
    }
  }

  // Vertical pass, then normalisation into planar output.
  float scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.0f / (255.0f * opts.std[c]);
    shift[c] = opts.mean[c] / opts.std[c];
  }
  const size_t plane = size_t(n) * n;
  std::vector<float> row(size_t(n) * 3);
  for (int y = 0; y < n; ++y) {
    std::fill(row.begin(), row.end(), 0.0f);
    const std::vector<float>& w = ay.weight[y];
    for (size_t k = 0; k < w.size(); ++k) {
      const float* src = &tmp[size_t(ay.first[y] + static_cast<int>(k) - row_lo) * n * 3];
      for (int i = 0; i < 3 * n; ++i) row[i] += w[k] * src[i];
    }
    for (int x = 0; x < n; ++x) {
      for (int c = 0; c < 3; ++c) {
        out[c * plane + size_t(y) * n + x] = row[3 * x + c] * scale[c] - shift[c];
      }
    }
  }
}

}  // namespace image
}  // namespace reco
