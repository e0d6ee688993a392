// The TorchScript source of the image plugin's default model (image-default-v1), built in
// process with torch::jit::Module::define(): no weights, no download.
//
// forward(x: [B, 3, N, N] normalised with the instance's mean/std) -> [B, 944], unit rows.
// It undoes the normalisation (buffers `mean`, `std`) and computes colour and texture
// descriptors; every block is power-normalised (sqrt) and L2-normalised, weighted, and the
// concatenation is L2-normalised:
//   - colour, on the image area-averaged to 56 x 56 (or N x N if smaller), in an opponent space: L
//   = (R+G+B)/3,
//     O1 = R-G, O2 = (R+G)/2-B, the opponent axes compressed as sign(o)*sqrt(|o|/0.5), soft
//     (triangular) binning into 6 L bins and 5 bins per opponent axis:
//       joint L x O1 x O2 histogram of the whole image            150
//       marginal histograms (6+5+5) over 2x2 and 4x4 grids        320
//   - texture, on the intensity at full and half resolution: Sobel gradients, unsigned
//     orientation in 8 bins (linear interpolation between the two nearest bins) weighted by
//     the magnitude, per cell of a 1x1 + 2x2 + 4x4 pyramid, each cell normalised by its total
//     magnitude:                                               2 x 168 = 336
//     and the mean gradient magnitude per pyramid cell:         2 x 21 = 42
//   - layout: an 8x8 intensity thumbnail (mean removed, contrast-normalised) and 4x4
//     thumbnails of O1 and O2:                                  64 + 32 = 96
// Weights: joint 1, marginals 1, texture 0.7 per scale, magnitude 0.5, layout 1.5.
// Needs N >= 32.
#pragma once

namespace reco {
namespace image {

constexpr unsigned kDefaultModelDim = 944;
constexpr int kDefaultModelMinInput = 32;

constexpr const char* kDefaultModelSource = R"JIT(
def pool_matrix(self, n: int, g: int) -> Tensor:
    k = torch.arange(g).unsqueeze(1)
    return (torch.div(torch.arange(n) * g, n, rounding_mode='floor').unsqueeze(0) == k).float()

def pool_sum(self, x: Tensor, g: int) -> Tensor:
    # Sums of x [B, C, H, W] over a g x g grid of cells with integer boundaries: [B, C, g, g].
    B = x.size(0)
    C = x.size(1)
    H = x.size(2)
    W = x.size(3)
    y = torch.mm(x.reshape(B * C * H, W), self.pool_matrix(W, g).t()).view(B * C, H, g)
    return torch.matmul(self.pool_matrix(H, g), y).view(B, C, g, g)

def pool_mean(self, x: Tensor, g: int) -> Tensor:
    n = self.pool_matrix(x.size(2), g).sum(1).unsqueeze(1) * self.pool_matrix(x.size(3), g).sum(1).unsqueeze(0)
    return self.pool_sum(x, g) / n

def pyramid(self, x: Tensor) -> Tensor:
    # Cell means over 1x1, 2x2 and 4x4 grids: [B, C, 21].
    B = x.size(0)
    C = x.size(1)
    s4 = self.pool_sum(x, 4)
    n4 = self.pool_sum(torch.ones(1, 1, x.size(2), x.size(3)), 4)
    s2 = s4.view(B, C, 2, 2, 2, 2).sum([3, 5])
    n2 = n4.view(1, 1, 2, 2, 2, 2).sum([3, 5])
    s1 = s4.sum([2, 3])
    n1 = n4.sum([2, 3])
    return torch.cat([(s1 / n1).view(B, C, 1), (s2 / n2).view(B, C, 4), (s4 / n4).view(B, C, 16)], 2)

def soft(self, v: Tensor, n: int, lo: float, hi: float) -> Tensor:
    # Triangular soft binning of v [B, h, w] into n bins centred on linspace(lo, hi, n).
    c = torch.linspace(lo, hi, n).view(1, n, 1, 1)
    return torch.relu(1.0 - torch.abs(v.clamp(lo, hi).unsqueeze(1) - c) / ((hi - lo) / (n - 1)))

def compress(self, o: Tensor) -> Tensor:
    return torch.sign(o) * torch.sqrt(torch.abs(o) / 0.5).clamp(max=1.0)

def unit(self, f: Tensor) -> Tensor:
    f = f.flatten(1)
    return f / f.norm(2, 1, True).clamp(min=1e-12)

def grads(self, L: Tensor) -> Tuple[Tensor, Tensor]:
    # Sobel gradients (valid region) of L [B, 1, H, W]: orientation histogram maps
    # [B, 8, H-2, W-2] and the magnitude [B, 1, H-2, W-2].
    dx = L[:, :, :, 2:] - L[:, :, :, :-2]
    gx = (dx[:, :, :-2] + 2.0 * dx[:, :, 1:-1] + dx[:, :, 2:]) / 8.0
    dy = L[:, :, 2:, :] - L[:, :, :-2, :]
    gy = (dy[:, :, :, :-2] + 2.0 * dy[:, :, :, 1:-1] + dy[:, :, :, 2:]) / 8.0
    mag = torch.sqrt(gx * gx + gy * gy + 1e-12)
    b = torch.remainder(torch.atan2(gy, gx), 3.141592653589793) * (8.0 / 3.141592653589793)
    b0 = torch.floor(b)
    f = b - b0
    i0 = torch.remainder(b0.long(), 8)
    i1 = torch.remainder(i0 + 1, 8)
    hist = torch.zeros(L.size(0), 8, gx.size(2), gx.size(3))
    hist.scatter_add_(1, i0, (1.0 - f) * mag)
    hist.scatter_add_(1, i1, f * mag)
    return hist, mag

def forward(self, x: Tensor) -> Tensor:
    rgb = (x * self.std + self.mean).clamp(0.0, 1.0)
    B = rgb.size(0)
    small = self.pool_mean(rgb, min(56, rgb.size(2)))
    r = small[:, 0]
    g = small[:, 1]
    b = small[:, 2]
    L = (r + g + b) / 3.0
    o1 = r - g
    o2 = 0.5 * (r + g) - b
    wl = self.soft(L, 6, 0.0, 1.0)
    wa = self.soft(self.compress(o1), 5, -1.0, 1.0)
    wb = self.soft(self.compress(o2), 5, -1.0, 1.0)
    P = L.size(1) * L.size(2)
    la = (wl.unsqueeze(2) * wa.unsqueeze(1)).view(B, 30, P)
    joint = torch.bmm(la, wb.view(B, 5, P).transpose(1, 2)) / P
    cj = self.unit(torch.sqrt(joint))
    cm = self.unit(torch.sqrt(self.pyramid(torch.cat([wl, wa, wb], 1))[:, :, 1:]))
    x1 = ((rgb[:, 0] + rgb[:, 1] + rgb[:, 2]) / 3.0).unsqueeze(1)
    tex: List[Tensor] = []
    en: List[Tensor] = []
    for s in range(2):
        w, mag = self.grads(x1)
        p = self.pyramid(w)
        tex.append(self.unit(torch.sqrt(p / (p.sum(1, keepdim=True) + 1e-3))))
        en.append(self.pyramid(mag).flatten(1))
        x1 = self.pool_mean(x1, x1.size(2) // 2)
    e = torch.sqrt(torch.cat(en, 1))
    lt = self.pool_mean(L.unsqueeze(1), 8).flatten(1)
    lt = lt - lt.mean(1, keepdim=True)
    lt = lt / (lt.norm(2, 1, True) + 0.15)
    ct = self.pool_mean(torch.stack([o1, o2], 1), 4).flatten(1)
    layout = torch.cat([lt, ct], 1)
    f = torch.cat([cj, cm, tex[0] * 0.7, tex[1] * 0.7, self.unit(e) * 0.5, self.unit(layout) * 1.5], 1)
    return f / f.norm(2, 1, True)
)JIT";

}  // namespace image
}  // namespace reco
