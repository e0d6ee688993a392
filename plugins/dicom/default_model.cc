// The default model (see default_model.h).
#include "default_model.h"

#include <vector>

namespace reco {
namespace dicom {
namespace {

constexpr const char* kSource = R"JIT(
def soft_hist(self, x: Tensor, bins: int) -> Tensor:
    # [B, 1, H, W] in [0, 1] -> [B, bins, H, W] triangular bin memberships (summing to 1).
    centers = torch.arange(bins, dtype=x.dtype, device=x.device).view(1, bins, 1, 1)
    pos = torch.clamp(x, 0.0, 1.0) * float(bins - 1)
    return torch.relu(1.0 - torch.abs(pos - centers))

def pyramid(self, x: Tensor, sides: List[int]) -> Tensor:
    # Mean of each channel over a side x side grid, for each side: [B, C * sum(side^2)].
    parts: List[Tensor] = []
    for side in sides:
        parts.append(torch.adaptive_avg_pool2d(x, [side, side]).flatten(1))
    return torch.cat(parts, 1)

def orientation(self, x: Tensor) -> Tensor:
    g = torch.conv2d(torch.replication_pad2d(x, [1, 1, 1, 1]), self.sobel)
    gx = g[:, 0:1]
    gy = g[:, 1:2]
    mag = torch.sqrt(gx * gx + gy * gy + 1e-12)
    pos = torch.remainder(torch.atan2(gy, gx), 3.141592653589793) * (8.0 / 3.141592653589793)
    centers = torch.arange(8, dtype=x.dtype, device=x.device).view(1, 8, 1, 1)
    d = torch.abs(pos - centers)
    d = torch.min(d, 8.0 - d)
    h = self.pyramid(torch.relu(1.0 - d) * mag, [1, 2, 4])
    return h / (mag.mean([1, 2, 3]).unsqueeze(1) + 1e-6)

def lbp(self, x: Tensor) -> Tensor:
    d = torch.conv2d(torch.replication_pad2d(x, [1, 1, 1, 1]), self.neighbours)
    brighter = torch.sigmoid(d * 50.0).sum(1, True)
    centers = torch.arange(9, dtype=x.dtype, device=x.device).view(1, 9, 1, 1)
    return self.pyramid(torch.relu(1.0 - torch.abs(brighter - centers)), [1, 2])

def local_std(self, x: Tensor, k: int) -> Tensor:
    p = k // 2
    padded = torch.replication_pad2d(x, [p, p, p, p])
    mean = torch.avg_pool2d(padded, [k, k], [1, 1])
    sq = torch.avg_pool2d(padded * padded, [k, k], [1, 1])
    std = torch.sqrt(torch.clamp(sq - mean * mean, 0.0) + 1e-12)
    return self.pyramid(self.soft_hist(torch.sqrt(torch.clamp(std * 2.0, 0.0, 1.0)), 8), [1, 2])

def colour(self, x: Tensor) -> Tensor:
    parts: List[Tensor] = []
    for side in [1, 2]:
        m = torch.adaptive_avg_pool2d(x, [side, side])
        sq = torch.adaptive_avg_pool2d(x * x, [side, side])
        parts.append(m.flatten(1))
        parts.append(torch.sqrt(torch.clamp(sq - m * m, 0.0) + 1e-12).flatten(1))
    return torch.cat(parts, 1)

def layout(self, gray: Tensor) -> Tensor:
    t = torch.adaptive_avg_pool2d(gray, [8, 8]).flatten(1)
    return t - t.mean(1, True)

def block(self, v: Tensor, weight: float) -> Tensor:
    return v * (weight / (torch.sqrt((v * v).sum(1, True)) + 1e-12))

def forward(self, x: Tensor) -> Tensor:
    x = torch.clamp(x, 0.0, 1.0)
    gray = x.mean(1, True)
    half = torch.avg_pool2d(gray, [2, 2], [2, 2])
    quarter = torch.avg_pool2d(half, [2, 2], [2, 2])
    intensity = torch.sqrt(self.pyramid(self.soft_hist(half, 16), [1, 2, 4]))
    gradients = torch.sqrt(torch.cat([self.orientation(gray), self.orientation(half)], 1))
    texture = torch.sqrt(torch.cat([self.lbp(half), self.lbp(quarter)], 1))
    variance = torch.sqrt(torch.cat([self.local_std(half, 3), self.local_std(half, 7)], 1))
    out = torch.cat([self.block(intensity, 1.0), self.block(gradients, 1.0),
                     self.block(texture, 0.5), self.block(variance, 0.5),
                     self.block(self.colour(x), 0.5), self.block(self.layout(gray), 1.0)], 1)
    return out / torch.sqrt((out * out).sum(1, True))
)JIT";

// Sobel x and y kernels, [2, 1, 3, 3], scaled to intensity change per pixel.
at::Tensor SobelKernels() {
  const std::vector<float> k = {-1, 0, 1, -2, 0, 2, -1, 0, 1,    // d/dx
                                -1, -2, -1, 0, 0, 0, 1, 2, 1};  // d/dy
  return (at::tensor(k, at::kFloat).view({2, 1, 3, 3}) / 8.0).contiguous();
}

// neighbour - centre for the 8 neighbours of a 3x3 window, [8, 1, 3, 3].
at::Tensor NeighbourKernels() {
  at::Tensor k = at::zeros({8, 1, 3, 3}, at::kFloat);
  int c = 0;
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 3; ++x) {
      if (y == 1 && x == 1) continue;
      k[c][0][y][x] = 1.0f;
      k[c][0][1][1] = -1.0f;
      ++c;
    }
  }
  return k;
}

}  // namespace

torch::jit::Module MakeDefaultModel() {
  torch::jit::Module m("reco_dicom_default");
  m.register_buffer("sobel", SobelKernels());
  m.register_buffer("neighbours", NeighbourKernels());
  m.define(kSource);
  m.eval();
  return m;
}

}  // namespace dicom
}  // namespace reco
