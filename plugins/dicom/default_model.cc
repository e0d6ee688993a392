// The default model (see default_model.h).
#include "default_model.h"

#include <vector>

namespace reco {
namespace dicom {
namespace {

constexpr const char* kSource = R"JIT(
def cell_hist(self, value: Tensor, weight: Tensor, bins: int, side: int, circular: bool) -> Tensor:
    # Soft (linear interpolation) histogram of value [B, 1, H, W] in [0, bins - 1], weighted,
    # per cell of a side x side grid, as the mean per pixel: [B, bins, side, side].
    b = value.size(0)
    h = value.size(2)
    w = value.size(3)
    v = torch.clamp(value, 0.0, float(bins) - 1e-4 if circular else float(bins - 1))
    lo = torch.floor(v)
    frac = v - lo
    lo_i = lo.long()
    hi_i = torch.remainder(lo_i + 1, bins) if circular else torch.clamp(lo_i + 1, 0, bins - 1)
    ys = torch.div(torch.arange(h, device=value.device) * side, h, rounding_mode='floor')
    xs = torch.div(torch.arange(w, device=value.device) * side, w, rounding_mode='floor')
    base = ((ys.view(h, 1) * side + xs.view(1, w)) * bins).view(1, 1, h, w)
    out = torch.zeros([b, side * side * bins], dtype=value.dtype, device=value.device)
    out.scatter_add_(1, (base + lo_i).view(b, -1), (weight * (1.0 - frac)).view(b, -1))
    out.scatter_add_(1, (base + hi_i).view(b, -1), (weight * frac).view(b, -1))
    out = out * (float(side * side) / float(h * w))
    return out.view(b, side, side, bins).permute(0, 3, 1, 2)

def pyramid(self, grid: Tensor, levels: int) -> Tensor:
    # grid [B, K, S, S] of cell means -> the cells of S x S, S/2 x S/2, ... (levels of them).
    parts: List[Tensor] = []
    for level in range(levels):
        if level > 0:
            grid = torch.avg_pool2d(grid, [2, 2], [2, 2])
        parts.append(grid.flatten(1))
    return torch.cat(parts, 1)

def orientation(self, x: Tensor) -> Tensor:
    g = torch.conv2d(torch.replication_pad2d(x, [1, 1, 1, 1]), self.sobel)
    gx = g[:, 0:1]
    gy = g[:, 1:2]
    mag = torch.sqrt(gx * gx + gy * gy + 1e-12)
    pos = torch.remainder(torch.atan2(gy, gx), 3.141592653589793) * (8.0 / 3.141592653589793)
    h = self.pyramid(self.cell_hist(pos, mag, 8, 4, True), 3)
    return h / (mag.mean([1, 2, 3]).unsqueeze(1) + 1e-6)

def lbp(self, x: Tensor) -> Tensor:
    # The soft count of the 8 neighbours brighter than the centre (a ramp 0.04 wide).
    h = x.size(2)
    w = x.size(3)
    p = torch.replication_pad2d(x, [1, 1, 1, 1])
    brighter = torch.zeros_like(x)
    for dy in range(3):
        for dx in range(3):
            if dy != 1 or dx != 1:
                d = p[:, :, dy:dy + h, dx:dx + w] - x
                brighter = brighter + torch.clamp(d * 25.0 + 0.5, 0.0, 1.0)
    return self.pyramid(self.cell_hist(brighter, torch.ones_like(brighter), 9, 2, False), 2)

def local_std(self, x: Tensor) -> Tensor:
    padded = torch.replication_pad2d(x, [1, 1, 1, 1])
    mean = torch.avg_pool2d(padded, [3, 3], [1, 1])
    sq = torch.avg_pool2d(padded * padded, [3, 3], [1, 1])
    std = torch.sqrt(torch.clamp(sq - mean * mean, 0.0) + 1e-12)
    t = torch.sqrt(torch.clamp(std * 2.0, 0.0, 1.0)) * 7.0
    return self.pyramid(self.cell_hist(t, torch.ones_like(t), 8, 2, False), 2)

def colour(self, x: Tensor) -> Tensor:
    x = torch.avg_pool2d(x, [4, 4], [4, 4])
    m = torch.adaptive_avg_pool2d(x, [2, 2])
    sq = torch.adaptive_avg_pool2d(x * x, [2, 2])
    m1 = m.mean([2, 3], True)
    sq1 = sq.mean([2, 3], True)
    return torch.cat([m.flatten(1), torch.sqrt(torch.clamp(sq - m * m, 0.0) + 1e-12).flatten(1),
                      m1.flatten(1), torch.sqrt(torch.clamp(sq1 - m1 * m1, 0.0) + 1e-12).flatten(1)], 1)

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
    intensity = torch.sqrt(self.pyramid(self.cell_hist(quarter * 15.0, torch.ones_like(quarter), 16, 4, False), 3))
    gradients = torch.sqrt(torch.cat([self.orientation(half), self.orientation(quarter)], 1))
    texture = torch.sqrt(torch.cat([self.lbp(half), self.lbp(quarter)], 1))
    variance = torch.sqrt(torch.cat([self.local_std(half), self.local_std(quarter)], 1))
    out = torch.cat([self.block(intensity, 1.0), self.block(gradients, 1.0),
                     self.block(texture, 0.5), self.block(variance, 0.5),
                     self.block(self.colour(x), 0.5), self.block(self.layout(gray), 1.0)], 1)
    return out / torch.sqrt((out * out).sum(1, True))
)JIT";

// Sobel x and y kernels, [2, 1, 3, 3], scaled to intensity change per pixel.
at::Tensor SobelKernels() {
  const std::vector<float> k = {-1, 0,  1,  -2, 0, 2, -1, 0, 1,   // d/dx
                                -1, -2, -1, 0,  0, 0, 1,  2, 1};  // d/dy
  return (at::tensor(k, at::kFloat).view({2, 1, 3, 3}) / 8.0).contiguous();
}

}  // namespace

torch::jit::Module MakeDefaultModel() {
  torch::jit::Module m("reco_dicom_default");
  m.register_buffer("sobel", SobelKernels());
  m.define(kSource);
  m.eval();
  return m;
}

}  // namespace dicom
}  // namespace reco
