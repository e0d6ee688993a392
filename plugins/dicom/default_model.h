// The dicom plugin's default model: a TorchScript module built in process (no download, no
// learned weights) that turns an intensity image into hand-made intensity and texture
// descriptors.
//
// Input: float [batch, 3, S, S] in [0, 1] (S = input_size, default 256; grey images repeated on
// the three channels). Output: float [batch, 936], L2-normalised, the concatenation of six
// blocks, each L2-normalised and weighted:
//
//   intensity  336  soft 16-bin histogram of the grey image (at S/2) over a 1x1 + 2x2 + 4x4
//                   spatial pyramid (21 cells x 16 bins), square-rooted (Hellinger)      x 1.0
//   gradients  336  Sobel gradient-orientation histograms (8 unsigned orientations, soft
//                   binned, magnitude weighted) over the same pyramid at S and S/2,
//                   divided by the image's mean gradient magnitude (contrast invariant),
//                   square-rooted                                                       x 1.0
//   texture     90  LBP-like: the soft count (0..8) of 3x3 neighbours brighter than the
//                   centre, as a 9-bin histogram over a 1x1 + 2x2 pyramid at S/2 and S/4,
//                   square-rooted                                                       x 0.5
//   variance    80  8-bin histogram of the local standard deviation (3x3 and 7x7 windows
//                   at S/2) over a 1x1 + 2x2 pyramid, square-rooted                     x 0.5
//   colour      30  per-channel mean and standard deviation over a 1x1 + 2x2 grid       x 0.5
//   layout      64  the grey image averaged down to 8x8, zero-mean (contrast invariant) x 1.0
//
// The weights are fixed constants (Sobel and neighbour-difference kernels), so the model is
// the same on every machine and its fingerprint is its version and input size.
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
