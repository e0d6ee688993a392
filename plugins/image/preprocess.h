// Preprocessing of the image plugin: 8-bit RGB pixels -> the model's normalised float input.
//
// Geometry (ResizeMode):
//  - kCrop (default): the shorter side is resized to `input_size` and the centre
//    input_size x input_size square is kept; done in one pass as a resample of the centred
//    min(w, h) square of the source (offsets may be half pixels), which equals resizing the
//    whole image and then cropping;
//  - kStretch: the whole image is resized to input_size x input_size (aspect not kept).
// Resampling is separable, per axis: area averaging (a box filter of the exact covered
// fraction of each source pixel) when the axis shrinks, bilinear (pixel centres aligned, edge
// pixels clamped: torch's upsample_bilinear2d with align_corners=False) when it grows or keeps
// its size; so an axis of the same size is copied exactly.
// Values: out[c][y][x] = (v / 255 - mean[c]) / std[c], planar (CHW) float.
//
// Header and source are shared by the plugin and its tests; nothing here depends on torch or
// stb.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace reco {
namespace image {

enum class ResizeMode { kCrop, kStretch };

struct PreprocessOptions {
  int input_size = 224;
  ResizeMode mode = ResizeMode::kCrop;
  float mean[3] = {0.485f, 0.456f, 0.406f};  // ImageNet
  float std[3] = {0.229f, 0.224f, 0.225f};
};

// The resampling weights of one axis: output i = sum_k weight[i][k] * src[first[i] + k].
struct AxisWeights {
  std::vector<int> first;
  std::vector<std::vector<float>> weight;
};

// Weights mapping the source interval [start, start + length) of an axis of `src_size` pixels
// onto `out_size` pixels (area averaging when length > out_size, else bilinear).
AxisWeights ComputeAxisWeights(int src_size, double start, double length, int out_size);

// Writes 3 * input_size * input_size floats (CHW) for an interleaved RGB image.
void Preprocess(const uint8_t* rgb, int width, int height, const PreprocessOptions& opts,
                float* out);

}  // namespace image
}  // namespace reco
