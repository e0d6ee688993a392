// The dicom plugin's default model: a TorchScript module built in process (no download, no
// learned weights) that turns an intensity image into hand-made intensity and texture
// descriptors.
//
// Input: float [batch, 3, S, S] in [0, 1] (S = input_size, default 256; grey images repeated on
// the three channels). Output: float [batch, 936], L2-normalised, the concatenation of six
// blocks, each L2-normalised and weighted. Histograms are soft (linear interpolation between
// bins), computed per cell of a 4x4 (or 2x2) grid and pooled into a spatial pyramid, and
// square-rooted (Hellinger):
//
//   intensity  336  16-bin grey-level histogram at S/4 over a 1x1 + 2x2 + 4x4 pyramid      x 1.0
//   gradients  336  Sobel gradient-orientation histograms (8 unsigned orientations,
//                   magnitude weighted) over the same pyramid at S/2 and S/4, divided by
//                   the image's mean gradient magnitude (contrast invariant)               x 1.0
//   texture     90  LBP-like: the soft count (0..8) of 3x3 neighbours brighter than the
//                   centre, 9-bin histogram over a 1x1 + 2x2 pyramid at S/2 and S/4        x 0.5
//   variance    80  8-bin histogram of the local (3x3) standard deviation over a 1x1 + 2x2
//                   pyramid at S/2 and S/4                                                  x 0.5
//   colour      30  per-channel mean and standard deviation over a 1x1 + 2x2 grid          x 0.5
//   layout      64  the grey image averaged down to 8x8, zero-mean (contrast invariant)    x 1.0
//
// The only weights are the Sobel kernels, so the model is the same on every machine and its
// fingerprint is its version and input size. About 4-5 ms of CPU per 256x256 image.
#pragma once

#include <torch/script.h>

#include <cstdint>

namespace reco {
namespace dicom {

constexpr uint32_t kDefaultModelDim = 936;

// Builds the default model (throws c10::Error if TorchScript rejects it).
torch::jit::Module MakeDefaultModel();

}  // namespace dicom
}  // namespace reco
