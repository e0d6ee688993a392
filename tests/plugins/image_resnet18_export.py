"""Helper of tests/plugins/image_plugin_test.cc: exports torchvision's ResNet-18 (random
weights from a fixed seed, no download) with torch.jit.trace and computes PyTorch's outputs for
the exact float input the C++ test wrote.

usage: image_resnet18_export.py OUT_DIR INPUT_RAW BATCH SIZE
  INPUT_RAW  float32 [BATCH, 3, SIZE, SIZE], native byte order
writes OUT_DIR/resnet18.pt (TorchScript) and OUT_DIR/resnet18_out.raw (float32 [BATCH, 1000],
the eager model's outputs, not L2-normalised).
"""
import sys

import numpy as np
import torch
import torchvision


def main():
    out_dir, input_path = sys.argv[1], sys.argv[2]
    batch, size = int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():
        traced = torch.jit.trace(model, torch.zeros(1, 3, size, size))
        traced.save(out_dir + "/resnet18.pt")
        x = np.fromfile(input_path, dtype=np.float32)
        if x.size != batch * 3 * size * size:
            sys.exit("input has %d floats, expected %d" % (x.size, batch * 3 * size * size))
        y = model(torch.from_numpy(x).view(batch, 3, size, size))
        y.contiguous().numpy().astype(np.float32).tofile(out_dir + "/resnet18_out.raw")


if __name__ == "__main__":
    main()
