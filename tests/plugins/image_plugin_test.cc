// Tests of the built-in image plugin: the real reco_image.so, loaded with dlopen() and driven
// through the plugin C ABI only (reco/plugin_abi.h).
//
// The test makes its own images (stb_image_write, PNM and GIF bytes by hand, EXIF segments by
// hand), decodes and alters the skimage photos with its own copy of stb_image, and compiles the
// plugin's preprocessing (plugins/image/preprocess.h) to know the exact model input. Pixel-level
// checks use an "identity" TorchScript model (forward returns x.flatten(1)), whose embedding is
// the plugin's normalised input tensor, L2-normalised.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/script.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#include <stb/stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC
#include <stb/stb_image_resize.h>

#include "plugins/image/preprocess.h"
#include "reco/plugin_abi.h"
#include "testutil/plugin_table.h"

namespace {

using reco::image::Preprocess;
using reco::image::PreprocessOptions;
using reco::image::ResizeMode;

constexpr uint32_t kDefaultDim = 944;

const reco_plugin_v1* Api() {
  static const reco_plugin_v1* api = reco::testing::LoadPluginTable("reco_image.so");
  return api;
}

std::string CreateError() { return Api()->last_error(nullptr); }

// One plugin instance, destroyed at scope exit (inputs are PNG unless a call says otherwise).
class Instance : public reco::testing::PluginInstance {
 public:
  explicit Instance(const std::string& config = "{}")
      : PluginInstance(Api(), config, "image/png") {}
  int Describe(const std::string& image, std::string* json) {
    return PluginInstance::Describe(image, json, "image/jpeg");
  }
};

double Dot(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += double{a[i]} * b[i];
  return s;
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A temporary directory removed with its files at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "reco_image_test_XXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    for (const std::string& f : files_) std::remove(f.c_str());
    if (!path_.empty()) rmdir(path_.c_str());
  }
  std::string File(const std::string& name) {
    files_.push_back(path_ + "/" + name);
    return files_.back();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

uint64_t Fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// ---- test images -----------------------------------------------------------------------------

// Interleaved 8-bit pixels with c channels.
struct Image {
  int w = 0, h = 0, c = 3;
  std::vector<uint8_t> px;
  Image() = default;
  Image(int w_, int h_, int c_) : w(w_), h(h_), c(c_), px(size_t(w_) * h_ * c_) {}
  uint8_t* at(int x, int y) { return &px[(size_t(y) * w + x) * c]; }
  const uint8_t* at(int x, int y) const { return &px[(size_t(y) * w + x) * c]; }
};

// Smooth colour gradients plus pseudo-random texture; deterministic.
Image Pattern(int w, int h, int c, uint32_t seed) {
  Image img(w, h, c);
  uint32_t x = seed * 2654435761u + 1;
  for (int yy = 0; yy < h; ++yy) {
    for (int xx = 0; xx < w; ++xx) {
      for (int k = 0; k < c; ++k) {
        x = x * 1664525u + 1013904223u;
        const int base = (xx * 255 / std::max(1, w - 1) * (k + 1) +
                          yy * 255 / std::max(1, h - 1) * (3 - k % 3)) /
                         3;
        img.at(xx, yy)[k] =
            static_cast<uint8_t>(std::clamp(base % 256 + int(x >> 27) - 16, 0, 255));
      }
    }
  }
  return img;
}

// Blocks of constant colour (8x8 by default, aligned with JPEG blocks): block (bx, by) gets
// colours[(by * cols + bx) % colours.size()].
Image Blocks(int cols, int rows, const std::vector<std::array<uint8_t, 3>>& colours, int bs = 8) {
  Image img(cols * bs, rows * bs, 3);
  for (int y = 0; y < img.h; ++y) {
    for (int x = 0; x < img.w; ++x) {
      const auto& col = colours[((y / bs) * cols + x / bs) % colours.size()];
      std::memcpy(img.at(x, y), col.data(), 3);
    }
  }
  return img;
}

void AppendBytes(void* ctx, void* data, int size) {
  static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size);
}

std::string Png(const Image& img) {
  std::string out;
  stbi_write_png_to_func(&AppendBytes, &out, img.w, img.h, img.c, img.px.data(), img.w * img.c);
  return out;
}
std::string Bmp(const Image& img) {
  std::string out;
  stbi_write_bmp_to_func(&AppendBytes, &out, img.w, img.h, img.c, img.px.data());
  return out;
}
std::string Jpeg(const Image& img, int quality) {
  std::string out;
  stbi_write_jpg_to_func(&AppendBytes, &out, img.w, img.h, img.c, img.px.data(), quality);
  return out;
}
// Binary PNM: P5 for 1 channel, P6 for 3; with 16-bit samples (maxval 65535, big-endian) the
// value v is written as v * 257, which scales back to v exactly.
std::string Pnm(const Image& img, bool sixteen = false) {
  std::string out = std::string(img.c == 1 ? "P5" : "P6") + "\n" + std::to_string(img.w) + " " +
                    std::to_string(img.h) + "\n" + (sixteen ? "65535" : "255") + "\n";
  for (uint8_t v : img.px) {
    out.push_back(static_cast<char>(v));
    if (sixteen) out.push_back(static_cast<char>(v));
  }
  return out;
}

// A GIF of RGB frames of the same size with at most 256 colours in all (global palette),
// LZW-coded with 9-bit literal codes only (a clear code every 250 pixels keeps the width).
std::string Gif(const std::vector<Image>& frames) {
  std::vector<std::array<uint8_t, 3>> palette;
  const auto index_of = [&](const uint8_t* p) {
    for (size_t i = 0; i < palette.size(); ++i) {
      if (std::memcmp(palette[i].data(), p, 3) == 0) return static_cast<int>(i);
    }
    palette.push_back({p[0], p[1], p[2]});
    return static_cast<int>(palette.size() - 1);
  };
  std::vector<std::vector<int>> indices;
  for (const Image& f : frames) {
    std::vector<int> idx;
    for (int y = 0; y < f.h; ++y) {
      for (int x = 0; x < f.w; ++x) idx.push_back(index_of(f.at(x, y)));
    }
    indices.push_back(idx);
  }
  EXPECT_LE(palette.size(), 256u);
  palette.resize(256, {0, 0, 0});
  const int w = frames[0].w, h = frames[0].h;
  std::string out = "GIF89a";
  const auto put16 = [&](int v) {
    out.push_back(static_cast<char>(v & 0xff));
    out.push_back(static_cast<char>((v >> 8) & 0xff));
  };
  put16(w);
  put16(h);
  out += std::string("\xf7\x00\x00", 3);  // global table of 256, colour resolution 8
  for (const auto& p : palette) out.append(reinterpret_cast<const char*>(p.data()), 3);
  for (const std::vector<int>& idx : indices) {
    out.push_back(',');
    put16(0);
    put16(0);
    put16(w);
    put16(h);
    out.push_back(0);
    out.push_back(8);  // LZW minimum code size
    std::string lzw;
    uint32_t acc = 0;
    int bits = 0;
    const auto code = [&](int c) {
      acc |= uint32_t(c) << bits;
      bits += 9;
      while (bits >= 8) {
        lzw.push_back(static_cast<char>(acc & 0xff));
        acc >>= 8;
        bits -= 8;
      }
    };
    for (size_t i = 0; i < idx.size(); ++i) {
      if (i % 250 == 0) code(256);  // clear
      code(idx[i]);
    }
    code(257);  // end of information
    if (bits > 0) lzw.push_back(static_cast<char>(acc & 0xff));
    for (size_t i = 0; i < lzw.size(); i += 255) {
      const size_t n = std::min<size_t>(255, lzw.size() - i);
      out.push_back(static_cast<char>(n));
      out += lzw.substr(i, n);
    }
    out.push_back(0);
  }
  out.push_back(';');
  return out;
}

// Inserts an APP1 Exif segment with an orientation tag right after a JPEG's SOI marker.
std::string WithExifOrientation(const std::string& jpeg, int orientation, bool little_endian) {
  std::string tiff;
  const auto p16 = [&](int v) {
    if (little_endian) {
      tiff.push_back(static_cast<char>(v & 0xff));
      tiff.push_back(static_cast<char>((v >> 8) & 0xff));
    } else {
      tiff.push_back(static_cast<char>((v >> 8) & 0xff));
      tiff.push_back(static_cast<char>(v & 0xff));
    }
  };
  const auto p32 = [&](uint32_t v) {
    if (little_endian) {
      p16(v & 0xffff);
      p16(v >> 16);
    } else {
      p16(v >> 16);
      p16(v & 0xffff);
    }
  };
  tiff += little_endian ? "II" : "MM";
  p16(42);
  p32(8);       // IFD0 right after the header
  p16(2);       // two entries: a dummy ImageDescription-free tag, then Orientation
  p16(0x011a);  // XResolution (RATIONAL), value elsewhere: skipped by the reader
  p16(5);
  p32(1);
  p32(8);
  p16(0x0112);  // Orientation, SHORT, 1 value, inline
  p16(3);
  p32(1);
  p16(orientation);
  p16(0);
  p32(0);  // no next IFD
  const std::string body = std::string("Exif\0\0", 6) + tiff;
  std::string seg = "\xff\xe1";
  const size_t len = body.size() + 2;
  seg.push_back(static_cast<char>(len >> 8));
  seg.push_back(static_cast<char>(len & 0xff));
  seg += body;
  return jpeg.substr(0, 2) + seg + jpeg.substr(2);
}

// ---- geometric transforms, written independently of the plugin's -------------------------

Image Rot90Cw(const Image& in) {  // the top row becomes the right column
  Image out(in.h, in.w, in.c);
  for (int y = 0; y < in.h; ++y) {
    for (int x = 0; x < in.w; ++x) std::memcpy(out.at(in.h - 1 - y, x), in.at(x, y), in.c);
  }
  return out;
}
Image MirrorH(const Image& in) {
  Image out(in.w, in.h, in.c);
  for (int y = 0; y < in.h; ++y) {
    for (int x = 0; x < in.w; ++x) std::memcpy(out.at(in.w - 1 - x, y), in.at(x, y), in.c);
  }
  return out;
}
// What a viewer shows for pixels stored with EXIF orientation o (TIFF 6.0 / Exif 2.3).
Image Displayed(const Image& stored, int o) {
  switch (o) {
    case 2:
      return MirrorH(stored);
    case 3:
      return Rot90Cw(Rot90Cw(stored));
    case 4:
      return MirrorH(Rot90Cw(Rot90Cw(stored)));
    case 5:
      return Rot90Cw(Rot90Cw(Rot90Cw(MirrorH(stored))));
    case 6:
      return Rot90Cw(stored);
    case 7:
      return Rot90Cw(MirrorH(stored));
    case 8:
      return Rot90Cw(Rot90Cw(Rot90Cw(stored)));
    default:
      return stored;
  }
}

Image ToRgb(const Image& in) {  // grey -> RGB, alpha over white
  Image out(in.w, in.h, 3);
  for (size_t i = 0; i < size_t(in.w) * in.h; ++i) {
    const uint8_t* s = &in.px[i * in.c];
    const bool alpha = in.c == 2 || in.c == 4;
    const double a = alpha ? s[in.c - 1] / 255.0 : 1.0;
    for (int k = 0; k < 3; ++k) {
      const double v = in.c <= 2 ? s[0] : s[k];
      out.px[i * 3 + k] = static_cast<uint8_t>(std::lround(v * a + 255.0 * (1.0 - a)));
    }
  }
  return out;
}

// The model input the plugin should compute for an RGB image.
std::vector<float> Input(const Image& rgb, const PreprocessOptions& o) {
  std::vector<float> v(3 * size_t(o.input_size) * o.input_size);
  Preprocess(rgb.px.data(), rgb.w, rgb.h, o, v.data());
  return v;
}

std::vector<float> Unit(std::vector<float> v) {
  const double n = std::sqrt(Dot(v.data(), v.data(), v.size()));
  for (float& x : v) x = static_cast<float>(x / n);
  return v;
}

// ---- models ----------------------------------------------------------------------------------

// A TorchScript model whose forward is `body` (statements on x that return a tensor).
torch::jit::Module MakeModel(const std::string& body) {
  torch::jit::Module m("TestImageModel");
  m.define("def forward(self, x: Tensor) -> Tensor:\n" + body);
  return m;
}

// A saved identity model (embedding = the plugin's input tensor, L2-normalised) and its config.
class IdentityModel {
 public:
  IdentityModel() : path_(dir_.File("identity.pt")) {
    MakeModel("    return x.flatten(1)\n").save(path_);
  }
  // Config with mean 0 / std 1, so the input is pixel / 255.
  std::string Config(int input_size, const char* resize = "stretch") const {
    return R"({"model": ")" + path_ + R"(", "input_size": )" + std::to_string(input_size) +
           R"(, "resize": ")" + resize + R"(", "mean": "0,0,0", "std": "1,1,1"})";
  }
  const std::string& path() const { return path_; }

 private:
  TempDir dir_;
  std::string path_;
};

// Checks an identity-model embedding against the pixels of `want` (RGB, input_size square, no
// resampling): max difference in pixel levels after undoing the L2 normalisation.
double MaxLevelError(const std::vector<float>& got, const Image& want) {
  const size_t plane = size_t(want.w) * want.h;
  std::vector<float> v(3 * plane);
  for (size_t i = 0; i < plane; ++i) {
    for (int c = 0; c < 3; ++c) v[c * plane + i] = want.px[i * 3 + c] / 255.0f;
  }
  const double norm = std::sqrt(Dot(v.data(), v.data(), v.size()));
  if (got.size() != v.size()) return 1e9;
  double worst = 0;
  for (size_t i = 0; i < v.size(); ++i) worst = std::max(worst, std::abs(got[i] * norm - v[i]));
  return worst * 255.0;
}

// ---- tests -----------------------------------------------------------------------------------

TEST(ImagePlugin, ExportsOnlyTheEntryAndDescribesItself) {
  const reco_plugin_v1* api = Api();
  ASSERT_NE(api, nullptr);
  EXPECT_GE(api->struct_size, RECO_PLUGIN_V1_MIN_SIZE);
  EXPECT_EQ(RECO_PLUGIN_ABI_MAJOR_OF(api->abi_version), RECO_PLUGIN_ABI_MAJOR);
  EXPECT_STREQ(api->name, "image");
  EXPECT_STREQ(api->version, "1.0.0");
  EXPECT_STREQ(api->modality, "image");
  EXPECT_STREQ(api->content_types,
               "image/jpeg,image/png,image/bmp,image/gif,image/x-portable-anymap");
  EXPECT_EQ(api->default_dim, kDefaultDim);
  ASSERT_NE(api->create, nullptr);
  ASSERT_NE(api->embed_batch, nullptr);
  ASSERT_TRUE(RECO_PLUGIN_HAS(api, describe));
  ASSERT_NE(api->describe, nullptr);

  void* self =
      dlopen((std::string(RECO_PLUGIN_DIR) + "/reco_image.so").c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(self, nullptr);
  EXPECT_NE(dlsym(self, RECO_PLUGIN_ENTRY_SYMBOL), nullptr);
  // stb_image and the preprocessing are compiled into the plugin but not visible outside.
  EXPECT_EQ(dlsym(self, "stbi_load_from_callbacks"), nullptr);
  EXPECT_EQ(dlsym(self, "stbi__g_failure_reason"), nullptr);
  EXPECT_EQ(dlsym(self, "_ZN4reco5image10PreprocessEPKhiiRKNS0_17PreprocessOptionsEPf"), nullptr);
  dlclose(self);  // drops the NOLOAD reference only
}

TEST(ImagePlugin, DefaultInstance) {
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  EXPECT_EQ(inst.dim(), kDefaultDim);
  EXPECT_EQ(inst.fingerprint().rfind("image-default-v1:fnv1a64=", 0), 0u) << inst.fingerprint();
  EXPECT_TRUE(Contains(inst.fingerprint(), ",input_size=224,resize=crop")) << inst.fingerprint();
  EXPECT_EQ(inst.error(), "");

  Instance other(R"({"input_size": "160", "resize": "stretch", "max_pixels": 1000000})");
  ASSERT_TRUE(other.ok()) << CreateError();
  EXPECT_EQ(other.dim(), kDefaultDim);
  EXPECT_TRUE(Contains(other.fingerprint(), ",input_size=160,resize=stretch"))
      << other.fingerprint();
  const std::vector<float> v = other.EmbedOk({Png(Pattern(100, 70, 3, 1))});
  ASSERT_EQ(v.size(), kDefaultDim);
  EXPECT_NEAR(Dot(v.data(), v.data(), kDefaultDim), 1.0, 1e-5);
}

TEST(ImagePlugin, OutputsAreUnitNormDeterministicAndBatchIndependent) {
  std::vector<std::string> images;
  for (int i = 0; i < 33; ++i) {
    const Image img = Pattern(40 + 7 * i, 90 - i, 3, i);
    images.push_back(i % 3 == 0 ? Png(img) : i % 3 == 1 ? Jpeg(img, 85) : Bmp(img));
  }
  Instance a, b;
  ASSERT_TRUE(a.ok() && b.ok()) << CreateError();
  const std::vector<float> va = a.EmbedOk(images);
  ASSERT_EQ(va.size(), images.size() * kDefaultDim);
  for (size_t i = 0; i < images.size(); ++i) {
    const float* row = va.data() + i * kDefaultDim;
    EXPECT_NEAR(Dot(row, row, kDefaultDim), 1.0, 1e-5) << i;
    for (size_t c = 0; c < kDefaultDim; ++c) ASSERT_TRUE(std::isfinite(row[c])) << i;
  }
  EXPECT_EQ(b.EmbedOk(images), va);
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  // One at a time gives the same vectors as the batch of 33 (two forward calls: 32 + 1).
  for (size_t i = 0; i < images.size(); i += 8) {
    const std::vector<float> one = a.EmbedOk({images[i]});
    ASSERT_EQ(one.size(), kDefaultDim);
    for (size_t c = 0; c < kDefaultDim; ++c) {
      ASSERT_NEAR(one[c], va[i * kDefaultDim + c], 2e-5) << "image " << i << " col " << c;
    }
  }
  // n == 0 is a no-op.
  EXPECT_EQ(Api()->embed_batch(a.raw(), nullptr, 0, nullptr), RECO_OK) << a.error();
}

TEST(ImagePlugin, DecodesEveryFormatToTheSamePixels) {
  IdentityModel model;
  Instance inst(model.Config(16));
  ASSERT_TRUE(inst.ok()) << CreateError();
  EXPECT_EQ(inst.dim(), 3u * 16 * 16);
  const Image rgb = Pattern(16, 16, 3, 7);
  Image grey(16, 16, 1);
  for (size_t i = 0; i < grey.px.size(); ++i) grey.px[i] = rgb.px[i * 3 + 1];

  struct Case {
    const char* name;
    std::string bytes;
    Image want;
    double tolerance;  // pixel levels
  };
  std::vector<Case> cases = {
      {"PNG RGB", Png(rgb), rgb, 1e-3},
      {"BMP RGB", Bmp(rgb), rgb, 1e-3},
      {"PPM P6", Pnm(rgb), rgb, 1e-3},
      {"PPM P6 16-bit", Pnm(rgb, /*sixteen=*/true), rgb, 1e-3},
      {"GIF", Gif({rgb}), rgb, 1e-3},
      {"PNG grey", Png(grey), ToRgb(grey), 1e-3},
      {"PGM P5", Pnm(grey), ToRgb(grey), 1e-3},
      {"PGM P5 with comments",
       "P5 # a comment\n# another\n16\t16 255\n" +
           std::string(reinterpret_cast<const char*>(grey.px.data()), grey.px.size()),
       ToRgb(grey), 1e-3},
      {"JPEG RGB q100", Jpeg(rgb, 100), rgb, 12},  // lossy: a textured pattern, within 12 levels
      {"JPEG grey q100", Jpeg(grey, 100), ToRgb(grey), 6},
  };
  // A maxval below 255 is scaled: 0..15 -> 0..255.
  Image four_bit(16, 16, 1), scaled(16, 16, 1);
  for (size_t i = 0; i < four_bit.px.size(); ++i) {
    four_bit.px[i] = static_cast<uint8_t>(i % 16);
    scaled.px[i] = static_cast<uint8_t>(i % 16 * 17);
  }
  cases.push_back({"PGM P5 maxval 15",
                   "P5\n16 16\n15\n" + std::string(four_bit.px.begin(), four_bit.px.end()),
                   ToRgb(scaled), 1e-3});
  // Blocks aligned with the JPEG grid survive JPEG almost exactly.
  const Image blocks = Blocks(2, 2, {{200, 30, 40}, {20, 180, 60}, {40, 50, 220}, {240, 230, 20}});
  cases.push_back({"JPEG blocks q95", Jpeg(blocks, 95), blocks, 3});
  for (const Case& c : cases) {
    std::vector<float> got;
    ASSERT_EQ(inst.Embed({c.bytes}, &got, ""), RECO_OK) << c.name << ": " << inst.error();
    EXPECT_LE(MaxLevelError(got, c.want), c.tolerance) << c.name;
  }
}

TEST(ImagePlugin, GifUsesTheFirstFrame) {
  IdentityModel model;
  Instance inst(model.Config(16));
  ASSERT_TRUE(inst.ok()) << CreateError();
  const Image first = Blocks(2, 2, {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {9, 9, 9}});
  const Image second = Blocks(2, 2, {{0, 0, 255}, {9, 9, 9}, {255, 0, 0}, {0, 255, 0}});
  std::vector<float> got;
  ASSERT_EQ(inst.Embed({Gif({first, second})}, &got, "image/gif"), RECO_OK) << inst.error();
  EXPECT_LE(MaxLevelError(got, first), 1e-3);
}

TEST(ImagePlugin, AlphaIsCompositedOverWhite) {
  IdentityModel model;
  Instance inst(model.Config(16));
  ASSERT_TRUE(inst.ok()) << CreateError();
  Image rgba = Pattern(16, 16, 4, 3);
  for (int x = 0; x < 16; ++x) {
    rgba.at(x, 0)[3] = 0;    // fully transparent row: white
    rgba.at(x, 1)[3] = 255;  // opaque row: the colour itself
  }
  Image ga(16, 16, 2);
  for (size_t i = 0; i < size_t(16) * 16; ++i) {
    ga.px[2 * i] = rgba.px[4 * i];
    ga.px[2 * i + 1] = rgba.px[4 * i + 3];
  }
  for (const auto& [name, bytes, want] : std::vector<std::tuple<std::string, std::string, Image>>{
           {"PNG RGBA", Png(rgba), ToRgb(rgba)},
           {"BMP RGBA", Bmp(rgba), ToRgb(rgba)},
           {"PNG grey+alpha", Png(ga), ToRgb(ga)}}) {
    std::vector<float> got;
    ASSERT_EQ(inst.Embed({bytes}, &got), RECO_OK) << name << ": " << inst.error();
    EXPECT_LE(MaxLevelError(got, want), 0.51) << name;  // rounding of the composite
  }
  // A fully transparent image is white.
  Image clear = rgba;
  for (size_t i = 0; i < size_t(16) * 16; ++i) clear.px[4 * i + 3] = 0;
  std::vector<float> got;
  ASSERT_EQ(inst.Embed({Png(clear)}, &got), RECO_OK) << inst.error();
  Image white(16, 16, 3);
  std::fill(white.px.begin(), white.px.end(), 255);
  EXPECT_LE(MaxLevelError(got, white), 1e-3);
}

TEST(ImagePlugin, AppliesExifOrientation) {
  IdentityModel model;
  // 24x16 stored, six 8x8 blocks of distinct colours; crop mode at 16 keeps the centre square
  // with no resampling (scale 1, integer offset), for landscape and portrait results alike.
  Instance inst(model.Config(16, "crop"));
  ASSERT_TRUE(inst.ok()) << CreateError();
  const Image stored = Blocks(3, 2,
                              {{220, 40, 40},
                               {40, 200, 40},
                               {40, 40, 220},
                               {230, 220, 40},
                               {40, 210, 220},
                               {200, 60, 210}});
  const std::string jpeg = Jpeg(stored, 100);
  PreprocessOptions crop;
  crop.input_size = 16;
  std::vector<std::vector<float>> seen;
  for (int o = 1; o <= 8; ++o) {
    for (bool le : {true, false}) {
      const std::string bytes = WithExifOrientation(jpeg, o, le);
      const Image shown = Displayed(stored, o);
      Image want(16, 16, 3);  // the centre 16x16 of what a viewer shows
      const int x0 = (shown.w - 16) / 2, y0 = (shown.h - 16) / 2;
      for (int y = 0; y < 16; ++y) {
        for (int x = 0; x < 16; ++x) std::memcpy(want.at(x, y), shown.at(x0 + x, y0 + y), 3);
      }
      std::vector<float> got;
      ASSERT_EQ(inst.Embed({bytes}, &got, "image/jpeg"), RECO_OK) << o << ": " << inst.error();
      EXPECT_LE(MaxLevelError(got, want), 4.0) << "orientation " << o << (le ? " II" : " MM");
      if (le) seen.push_back(got);

      std::string json;
      ASSERT_EQ(inst.Describe(bytes, &json), RECO_OK) << json;
      const bool portrait = o >= 5;
      EXPECT_TRUE(Contains(json, portrait ? R"("width":16)" : R"("width":24)")) << o << json;
      EXPECT_TRUE(Contains(json, portrait ? R"("height":24)" : R"("height":16)")) << o << json;
      EXPECT_TRUE(Contains(json, R"("orientation":)" + std::to_string(o))) << json;
    }
  }
  // All eight orientations give different pixels.
  for (size_t i = 0; i < seen.size(); ++i) {
    for (size_t j = i + 1; j < seen.size(); ++j) {
      EXPECT_LT(Dot(seen[i].data(), seen[j].data(), seen[i].size()), 0.999)
          << i + 1 << " " << j + 1;
    }
  }
  // Out-of-range orientation values are ignored.
  std::vector<float> plain, odd;
  ASSERT_EQ(inst.Embed({jpeg}, &plain, "image/jpeg"), RECO_OK) << inst.error();
  ASSERT_EQ(inst.Embed({WithExifOrientation(jpeg, 9, true)}, &odd, "image/jpeg"), RECO_OK);
  EXPECT_EQ(plain, odd);
}

TEST(ImagePlugin, PreprocessingMatchesTorch) {
  // Area averaging by integer factors equals adaptive average pooling; enlarging equals
  // torch's bilinear upsampling (align_corners=False).
  const auto tensor = [](const Image& img) {
    at::Tensor t = at::empty({1, 3, img.h, img.w});
    for (int y = 0; y < img.h; ++y) {
      for (int x = 0; x < img.w; ++x) {
        for (int c = 0; c < 3; ++c) t[0][c][y][x] = img.at(x, y)[c] / 255.0f;
      }
    }
    return t;
  };
  const auto compare = [](const std::vector<float>& got, const at::Tensor& want) {
    const at::Tensor w = want.contiguous();
    EXPECT_EQ(size_t(w.numel()), got.size());
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      worst = std::max(worst, double(std::abs(got[i] - w.data_ptr<float>()[i])));
    }
    return worst;
  };
  PreprocessOptions o;
  o.input_size = 16;
  o.mode = ResizeMode::kStretch;
  std::fill(o.mean, o.mean + 3, 0.0f);
  std::fill(o.std, o.std + 3, 1.0f);
  const Image big = Pattern(64, 48, 3, 5);  // x / 4, y / 3
  EXPECT_LT(compare(Input(big, o), at::adaptive_avg_pool2d(tensor(big), {16, 16})), 1e-5);
  const Image small = Pattern(7, 5, 3, 6);
  EXPECT_LT(compare(Input(small, o), at::upsample_bilinear2d(tensor(small), {16, 16}, false)),
            1e-5);
  // Crop mode: the centre square, then resized; 40x20 -> columns 10..29, halved.
  o.mode = ResizeMode::kCrop;
  o.input_size = 10;
  const Image wide = Pattern(40, 20, 3, 8);
  EXPECT_LT(
      compare(Input(wide, o), at::adaptive_avg_pool2d(tensor(wide).slice(3, 10, 30), {10, 10})),
      1e-5);
  // A half-pixel crop offset: 21x10 at 10 -> x from 5.5, the mean of two source columns.
  const Image odd = Pattern(21, 10, 3, 9);
  const std::vector<float> v = Input(odd, o);
  for (int x = 0; x < 10; ++x) {
    const float want = (odd.at(5 + x, 3)[1] + odd.at(6 + x, 3)[1]) / 2.0f / 255.0f;
    EXPECT_NEAR(v[100 + 3 * 10 + x], want, 1e-6) << x;
  }
  // Normalisation: (v / 255 - mean) / std.
  PreprocessOptions n;
  n.input_size = 7;
  const Image flat = Blocks(1, 1, {{255, 0, 128}}, 7);
  const std::vector<float> f = Input(flat, n);
  EXPECT_NEAR(f[0], (1.0f - 0.485f) / 0.229f, 1e-5);
  EXPECT_NEAR(f[49], (0.0f - 0.456f) / 0.224f, 1e-5);
  EXPECT_NEAR(f[98], (128 / 255.0f - 0.406f) / 0.225f, 1e-5);
}

TEST(ImagePlugin, PluginFeedsTheModelThePreprocessedInput) {
  IdentityModel model;
  for (const char* resize : {"crop", "stretch"}) {
    const std::string config = R"({"model": ")" + model.path() +
                               R"(", "input_size": 32, "resize": ")" + resize +
                               R"(", "mean": [0.5, 0.4, 0.3], "std": "0.2, 0.25,0.3"})";
    Instance inst(config);
    ASSERT_TRUE(inst.ok()) << CreateError();
    PreprocessOptions o;
    o.input_size = 32;
    o.mode = std::string(resize) == "crop" ? ResizeMode::kCrop : ResizeMode::kStretch;
    const float mean[3] = {0.5f, 0.4f, 0.3f}, std[3] = {0.2f, 0.25f, 0.3f};
    std::copy(mean, mean + 3, o.mean);
    std::copy(std, std + 3, o.std);
    for (const Image& img : {Pattern(50, 37, 3, 1), Pattern(19, 61, 3, 2), Pattern(32, 32, 3, 3),
                             Pattern(700, 300, 3, 4)}) {
      const std::vector<float> want = Unit(Input(img, o));
      const std::vector<float> got = inst.EmbedOk({Png(img)});
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 1e-6) << resize << " " << img.w << "x" << img.h << " " << i;
      }
    }
  }
}

TEST(ImagePlugin, RefusesBadInputsNamingTheInputAndReason) {
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  const Image img = Pattern(40, 30, 3, 11);
  const std::string png = Png(img), jpeg = Jpeg(img, 90), bmp = Bmp(img), pnm = Pnm(img),
                    gif = Gif({Blocks(5, 4, {{1, 2, 3}, {200, 100, 50}, {7, 250, 9}})});

  struct Case {
    std::string name;
    std::string bytes;
    std::vector<std::string> parts;  // all must appear in the message
  };
  std::string garbage(300, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 7919) >> 3);
  std::vector<Case> cases = {
      {"empty", "", {"empty input"}},
      {"garbage", garbage, {"unrecognised image format", "first bytes"}},
      {"text", "hello, this is not an image", {"unrecognised image format"}},
      {"PNG magic then garbage", png.substr(0, 8) + garbage, {"PNG"}},
      {"JPEG magic then garbage", jpeg.substr(0, 3) + garbage, {"JPEG"}},
      {"ASCII PPM", "P3\n1 1\n255\n0 0 0\n", {"P3", "P5", "P6"}},
      {"zero-width PNM", "P6\n0 4\n255\n", {"zero-sized", "PNM", "0x4"}},
      {"zero-height GIF", std::string("GIF89a\x04\x00\x00\x00\x00\x00\x00", 13) + ";", {"GIF"}},
  };
  // PNG with a zero width: patch IHDR (stb_image does not check CRCs).
  std::string png0 = png;
  std::memset(&png0[16], 0, 4);
  cases.push_back({"zero-width PNG", png0, {"zero-sized", "PNG"}});
  // Truncated files of every format.
  for (const auto& [name, bytes] : std::vector<std::pair<std::string, std::string>>{
           {"PNG", png}, {"JPEG", jpeg}, {"BMP", bmp}, {"PNM", pnm}, {"GIF", gif}}) {
    cases.push_back({"half " + name, bytes.substr(0, bytes.size() / 2), {"truncated", name}});
  }
  // A Huffman table of more than 256 codes (stb_image 2.27 would write past its arrays).
  std::string bad_dht = jpeg;
  const size_t dht = bad_dht.find("\xff\xc4");
  ASSERT_NE(dht, std::string::npos);
  for (size_t i = 0; i < 16; ++i) bad_dht[dht + 5 + i] = static_cast<char>(0x40);
  cases.push_back({"JPEG with a 1024-code Huffman table", bad_dht, {"JPEG", "Huffman table"}});
  cases.push_back({"PNM short by one byte", pnm.substr(0, pnm.size() - 1), {"truncated", "PNM"}});
  cases.push_back({"PNG header only", png.substr(0, 20), {"PNG"}});

  for (const Case& c : cases) {
    std::vector<float> out;
    // The bad input sits at index 2 of a batch of three.
    ASSERT_EQ(inst.Embed({png, jpeg, c.bytes}, &out, "image/png"), RECO_ERROR) << c.name;
    const std::string err = inst.error();
    EXPECT_EQ(err.rfind("input 2: ", 0), 0u) << c.name << " -> " << err;
    for (const std::string& part : c.parts) {
      EXPECT_TRUE(Contains(err, part)) << c.name << " -> " << err << " (wants '" << part << "')";
    }
    EXPECT_FALSE(Contains(err, "Exception raised from")) << err;
  }
  // The instance still works afterwards.
  EXPECT_EQ(inst.EmbedError(png), "");
}

// Corrupted copies of small images of every format (bytes overwritten, the file cut, bytes
// inserted or removed) decode or fail cleanly; run under a sanitizer this is a small fuzz test.
TEST(ImagePlugin, SurvivesCorruptedInputs) {
  TempDir dir;
  const std::string mean_model = dir.File("mean.pt");
  MakeModel("    return x.mean([2, 3]) + 1.0\n").save(mean_model);
  Instance inst(R"({"model": ")" + mean_model + R"(", "input_size": 16})");
  ASSERT_TRUE(inst.ok()) << CreateError();
  const Image img = Pattern(24, 18, 3, 5);
  Image rgba = Pattern(24, 18, 4, 6);
  uint32_t x = 12345;
  const auto next = [&] { return x = x * 1103515245u + 12345u, x >> 8; };
  size_t ok = 0, failed = 0;
  for (const std::string& original :
       {Png(img), Png(rgba), Jpeg(img, 90), Bmp(img), Bmp(rgba), Pnm(img),
        Gif({Blocks(3, 2, {{1, 2, 3}, {200, 100, 50}, {7, 250, 9}, {90, 90, 90}}),
             Blocks(3, 2, {{9, 8, 7}, {60, 70, 80}})})}) {
    for (int it = 0; it < 150; ++it) {
      std::string m = original;
      for (uint32_t k = 1 + next() % 6; k > 0; --k) {
        const size_t span = next() % 2 ? std::min<size_t>(m.size(), 80) : m.size();
        m[next() % span] = static_cast<char>(next());
      }
      if (next() % 4 == 0) m.resize(next() % m.size());
      if (next() % 5 == 0 && !m.empty()) m.insert(next() % m.size(), next() % 30 + 1, '\xff');
      const std::string err = inst.EmbedError(m);
      if (err.empty()) {
        ++ok;
      } else {
        ++failed;
        EXPECT_EQ(err.rfind("input 0: ", 0), 0u) << err;
      }
    }
  }
  EXPECT_GT(ok, 0u);
  EXPECT_GT(failed, 0u);
}

TEST(ImagePlugin, RefusesHugeImagesFromTheHeaderBeforeDecoding) {
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  // Headers that claim 100000 x 100000 pixels, followed by a few bytes only.
  std::string png = Png(Pattern(4, 4, 3, 1));
  const char big[4] = {0x00, 0x01, static_cast<char>(0x86), static_cast<char>(0xa0)};  // 100000
  std::memcpy(&png[16], big, 4);
  std::memcpy(&png[20], big, 4);
  std::string bmp = Bmp(Pattern(4, 4, 3, 1));
  const char big_le[4] = {static_cast<char>(0xa0), static_cast<char>(0x86), 0x01, 0x00};
  std::memcpy(&bmp[18], big_le, 4);
  std::memcpy(&bmp[22], big_le, 4);
  const std::string pnm = "P6\n100000 100000\n255\n" + std::string(64, '\x7f');
  std::string gif = Gif({Pattern(4, 4, 3, 1)});
  gif[6] = gif[8] = static_cast<char>(0xff);  // 65535 x 65535
  gif[7] = gif[9] = static_cast<char>(0xff);
  // A JPEG whose SOF says 65000 x 65000.
  std::string jpeg = Jpeg(Pattern(16, 16, 3, 1), 80);
  const size_t sof = jpeg.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  jpeg[sof + 5] = jpeg[sof + 7] = static_cast<char>(0xfd);
  jpeg[sof + 6] = jpeg[sof + 8] = static_cast<char>(0xe8);
  for (const auto& [name, bytes, pixels] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"PNG", png, "10000000000 pixels"},
           {"BMP", bmp, "10000000000 pixels"},
           {"PNM", pnm, "10000000000 pixels"},
           {"GIF", gif, "4294836225 pixels"},
           {"JPEG", jpeg, "4225000000 pixels"}}) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string err = inst.EmbedError(bytes);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(Contains(err, "input 0: " + name + " image is")) << name << " -> " << err;
    EXPECT_TRUE(Contains(err, pixels)) << name << " -> " << err;
    EXPECT_TRUE(Contains(err, "max_pixels = 40000000")) << name << " -> " << err;
    EXPECT_LT(s, 0.5) << name;
  }
  // The limit is an option.
  const std::string png100 = Png(Pattern(100, 100, 3, 2));
  Instance tight(R"({"max_pixels": 9999})");
  ASSERT_TRUE(tight.ok()) << CreateError();
  EXPECT_TRUE(Contains(tight.EmbedError(png100), "10000 pixels, more than max_pixels = 9999"))
      << tight.error();
  Instance exact(R"({"max_pixels": "10000"})");
  ASSERT_TRUE(exact.ok()) << CreateError();
  EXPECT_EQ(exact.EmbedError(png100), "");
}

TEST(ImagePlugin, ContentTypes) {
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  const std::string png = Png(Pattern(20, 20, 3, 1));
  // The bytes decide the format: any image/* type, or none, is accepted.
  for (const char* ct : {"image/png", "image/jpeg", "image/webp", "IMAGE/PNG", ""}) {
    EXPECT_EQ(inst.EmbedError(png, ct), "") << ct;
  }
  const reco_input none{nullptr, reinterpret_cast<const uint8_t*>(png.data()), png.size()};
  std::vector<float> out(kDefaultDim);
  EXPECT_EQ(Api()->embed_batch(inst.raw(), &none, 1, out.data()), RECO_OK) << inst.error();
  const std::string err = inst.EmbedError(png, "text/plain");
  EXPECT_TRUE(Contains(err, "input 0")) << err;
  EXPECT_TRUE(Contains(err, "text/plain")) << err;
}

TEST(ImagePlugin, DescribeReportsFormatAndSize) {
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  std::string json;
  ASSERT_EQ(inst.Describe(Png(Pattern(30, 20, 4, 1)), &json), RECO_OK) << json;
  EXPECT_EQ(json, R"({"channels":4,"format":"png","height":20,"width":30})");
  ASSERT_EQ(inst.Describe(Pnm(Pattern(3, 5, 1, 1)), &json), RECO_OK) << json;
  EXPECT_EQ(json, R"({"channels":1,"format":"pnm","height":5,"width":3})");
  EXPECT_EQ(inst.Describe("not an image", &json), RECO_ERROR);
  EXPECT_TRUE(Contains(json, "unrecognised image format")) << json;
}

TEST(ImagePlugin, BadConfigFailsCreate) {
  struct Case {
    const char* config;
    const char* message;
  };
  for (const Case& c :
       {Case{"not json", "JSON object"}, Case{"[1, 2]", "JSON object"},
        Case{R"({"input_size": "abc"})", "input_size"}, Case{R"({"input_size": 0})", "input_size"},
        Case{R"({"input_size": 5000})", "input_size"},
        Case{R"({"input_size": 16})", "the default model needs input_size >= 32"},
        Case{R"({"mean": "1,2"})", "mean"}, Case{R"({"mean": "a,b,c"})", "mean"},
        Case{R"({"mean": [1, 2, "x"]})", "mean"}, Case{R"({"std": "0,1,1"})", "std"},
        Case{R"({"std": "-1,1,1"})", "std"}, Case{R"({"resize": "fit"})", "resize"},
        Case{R"({"max_pixels": 0})", "max_pixels"}, Case{R"({"model": 5})", "model"},
        Case{R"({"modle": "x"})", "modle"}}) {
    Instance inst(c.config);
    EXPECT_FALSE(inst.ok()) << c.config;
    EXPECT_TRUE(Contains(CreateError(), c.message)) << c.config << " -> " << CreateError();
  }
}

TEST(ImagePlugin, MissingOrCorruptModelFailsCreateNamingThePath) {
  const std::string missing = "/nonexistent/dir/model.pt";
  Instance a(R"({"model": ")" + missing + R"("})");
  EXPECT_FALSE(a.ok());
  EXPECT_TRUE(Contains(CreateError(), missing)) << CreateError();

  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string corrupt = dir.File("corrupt.pt");
  std::ofstream(corrupt, std::ios::binary) << "this is not a TorchScript archive";
  Instance b(R"({"model": ")" + corrupt + R"("})");
  EXPECT_FALSE(b.ok());
  EXPECT_TRUE(Contains(CreateError(), corrupt)) << CreateError();

  // A zip that is not TorchScript: a truncated real model.
  const std::string real = dir.File("real.pt");
  MakeModel("    return x.flatten(1)\n").save(real);
  const std::string half = dir.File("half.pt");
  const std::string bytes = ReadBytes(real);
  std::ofstream(half, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  Instance c(R"({"model": ")" + half + R"("})");
  EXPECT_FALSE(c.ok());
  EXPECT_TRUE(Contains(CreateError(), half)) << CreateError();
  EXPECT_FALSE(Contains(CreateError(), "Exception raised from")) << CreateError();

  Instance d(R"({"model": ")" + dir.path() + R"("})");
  EXPECT_FALSE(d.ok());
  EXPECT_TRUE(Contains(CreateError(), "directory")) << CreateError();
}

TEST(ImagePlugin, UserModelOutputShapes) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string base = R"(, "input_size": 32, "mean": "0,0,0", "std": "1,1,1"})";
  const auto config = [&](const std::string& path) {
    return R"({"model": ")" + path + "\"" + base;
  };
  const Image img = Pattern(32, 32, 3, 4);

  // [B, D, 1, 1] is flattened: here the channel means.
  const std::string pooled = dir.File("pooled.pt");
  MakeModel("    return x.mean([2, 3], keepdim=True)\n").save(pooled);
  Instance p(config(pooled));
  ASSERT_TRUE(p.ok()) << CreateError();
  EXPECT_EQ(p.dim(), 3u);
  std::vector<float> means(3, 0.0f);
  for (size_t i = 0; i < img.px.size(); ++i) means[i % 3] += img.px[i] / 255.0f / (32 * 32);
  const std::vector<float> got = p.EmbedOk({Png(img)});
  const std::vector<float> want = Unit(means);
  ASSERT_EQ(got.size(), 3u);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(got[c], want[c], 1e-5);
  const std::string bytes = ReadBytes(pooled);
  EXPECT_EQ(p.fingerprint(), "image-model-v1:fnv1a64=" + Hex64(Fnv1a64(bytes)) +
                                 ",input_size=32,resize=crop,mean=0/0/0,std=1/1/1");

  // Wrong rank: refused at create by the probe, naming the model and the shape.
  const std::string flat = dir.File("flat.pt");
  MakeModel("    return x.mean(1)\n").save(flat);
  Instance bad(config(flat));
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(CreateError(), flat)) << CreateError();
  EXPECT_TRUE(Contains(CreateError(), "shape [1, 32, 32]")) << CreateError();

  // Right for one image, wrong for a batch: embed fails with the shapes.
  const std::string batchy = dir.File("batchy.pt");
  MakeModel(
      "    if x.size(0) > 1:\n"
      "        return x.flatten(1)[:1]\n"
      "    return x.flatten(1)\n")
      .save(batchy);
  Instance b(config(batchy));
  ASSERT_TRUE(b.ok()) << CreateError();
  std::vector<float> out;
  EXPECT_EQ(b.Embed({Png(img)}, &out), RECO_OK) << b.error();
  EXPECT_EQ(b.Embed({Png(img), Png(img)}, &out), RECO_ERROR);
  EXPECT_TRUE(Contains(b.error(), "shape [1, 3072]")) << b.error();
  EXPECT_TRUE(Contains(b.error(), "expected [2, 3072]")) << b.error();
  EXPECT_TRUE(Contains(b.error(), "inputs 0..1")) << b.error();

  // NaN output: refused naming the input.
  const std::string nan = dir.File("nan.pt");
  MakeModel(
      "    if x.size(0) > 1:\n"
      "        return x.flatten(1) * float('nan')\n"
      "    return x.flatten(1)\n")
      .save(nan);
  Instance n(config(nan));
  ASSERT_TRUE(n.ok()) << CreateError();
  EXPECT_EQ(n.Embed({Png(img), Png(img)}, &out), RECO_ERROR);
  EXPECT_TRUE(Contains(n.error(), "input 0: model output contains NaN or Inf")) << n.error();

  // A model that raises: the torch message without a C++ backtrace.
  const std::string raises = dir.File("raises.pt");
  MakeModel(
      "    assert x.size(0) < 2, 'two is too many'\n"
      "    return x.flatten(1)\n")
      .save(raises);
  Instance r(config(raises));
  ASSERT_TRUE(r.ok()) << CreateError();
  EXPECT_EQ(r.Embed({Png(img), Png(img)}, &out), RECO_ERROR);
  EXPECT_TRUE(Contains(r.error(), "two is too many")) << r.error();
  EXPECT_TRUE(Contains(r.error(), "inputs 0..1")) << r.error();
  EXPECT_FALSE(Contains(r.error(), "Exception raised from")) << r.error();
}

// The skimage photos: colour and grey, photographs and a few drawings.
const char* const kPhotos[] = {"astronaut.png",
                               "brick.png",
                               "camera.png",
                               "cell.png",
                               "chelsea.png",
                               "clock_motion.png",
                               "coffee.png",
                               "coins.png",
                               "color.png",
                               "grass.png",
                               "gravel.png",
                               "horse.png",
                               "hubble_deep_field.jpg",
                               "ihc.png",
                               "logo.png",
                               "microaneurysms.png",
                               "moon.png",
                               "motorcycle_left.png",
                               "motorcycle_right.png",
                               "page.png",
                               "phantom.png",
                               "retina.jpg",
                               "rocket.jpg",
                               "text.png"};

// A near-duplicate: the centre 90% (per side), scaled to 75%, JPEG quality 70.
std::string NearDuplicate(const std::string& bytes) {
  int w = 0, h = 0, n = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(
      stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()),
                            static_cast<int>(bytes.size()), &w, &h, &n, 4),
      &stbi_image_free);
  if (!px) return std::string();
  Image rgba(w, h, 4);
  std::memcpy(rgba.px.data(), px.get(), rgba.px.size());
  const Image rgb = ToRgb(rgba);
  const int cw = w * 9 / 10, ch = h * 9 / 10, x0 = (w - cw) / 2, y0 = (h - ch) / 2;
  Image out(cw * 3 / 4, ch * 3 / 4, 3);
  stbir_resize_uint8(rgb.at(x0, y0), cw, ch, w * 3, out.px.data(), out.w, out.h, out.w * 3, 3);
  return Jpeg(out, 70);
}

TEST(ImagePlugin, NearDuplicatesOfTheSkimagePhotosFindTheirOriginal) {
  const std::string dir = "/usr/lib/python3/dist-packages/skimage/data/";
  std::vector<std::string> names, originals, copies;
  for (const char* name : kPhotos) {
    const std::string bytes = ReadBytes(dir + name);
    if (bytes.empty()) continue;
    names.push_back(name);
    originals.push_back(bytes);
    copies.push_back(NearDuplicate(bytes));
    ASSERT_FALSE(copies.back().empty()) << name;
  }
  if (names.size() < 20) {
    GTEST_SKIP() << "the skimage photos are missing (" << dir
                 << "); install python3-skimage (tools/setup)";
  }
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  const std::vector<float> a = inst.EmbedOk(originals);
  const std::vector<float> q = inst.EmbedOk(copies);
  ASSERT_EQ(a.size(), names.size() * kDefaultDim);
  ASSERT_EQ(q.size(), names.size() * kDefaultDim);
  size_t rank1 = 0;
  double worst_margin = 1;
  for (size_t i = 0; i < names.size(); ++i) {
    const float* query = q.data() + i * kDefaultDim;
    const double self = Dot(query, a.data() + i * kDefaultDim, kDefaultDim);
    double best = -1;
    size_t best_j = 0;
    for (size_t j = 0; j < names.size(); ++j) {
      if (j == i) continue;
      const double s = Dot(query, a.data() + j * kDefaultDim, kDefaultDim);
      if (s > best) best = s, best_j = j;
    }
    rank1 += self > best;
    worst_margin = std::min(worst_margin, self - best);
    EXPECT_GT(self, best) << names[i] << " is closer to " << names[best_j];
    std::printf("[ quality  ] %-22s self %.4f, best other %.4f (%s)\n", names[i].c_str(), self,
                best, names[best_j].c_str());
  }
  std::printf("[ quality  ] rank 1: %zu of %zu; smallest margin %.4f\n", rank1, names.size(),
              worst_margin);
}

// Runs python3 (Debian's first: a pyenv/venv python3 on PATH may lack torch); returns the
// interpreter that imports torch and torchvision, or "".
std::string PythonWithTorch() {
  for (const char* py : {"/usr/bin/python3", "python3"}) {
    const std::string cmd = std::string(py) + " -c 'import torch, torchvision' > /dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return std::string();
}

TEST(ImagePlugin, ResNet18FromTorchvisionMatchesPyTorch) {
  const std::string python = PythonWithTorch();
  if (python.empty()) {
    GTEST_SKIP() << "python3 cannot import torch and torchvision (install python3-torch and "
                    "python3-torchvision: tools/setup)";
  }
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::vector<Image> images = {Pattern(300, 200, 3, 21), Pattern(150, 150, 3, 22),
                                     Pattern(64, 100, 3, 23)};  // shrink, shrink, enlarge
  PreprocessOptions o;  // the plugin's defaults: 224, crop, ImageNet mean/std
  std::vector<float> input;
  for (const Image& img : images) {
    const std::vector<float> v = Input(img, o);
    input.insert(input.end(), v.begin(), v.end());
  }
  const std::string input_path = dir.File("input.raw");
  {
    std::ofstream f(input_path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(input.data()), input.size() * sizeof(float));
  }
  const std::string model_path = dir.File("resnet18.pt");
  const std::string out_path = dir.File("resnet18_out.raw");
  const std::string cmd = python + " " + RECO_SOURCE_DIR +
                          "/tests/plugins/image_resnet18_export.py " + dir.path() + " " +
                          input_path + " " + std::to_string(images.size()) + " 224";
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const double export_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string out_bytes = ReadBytes(out_path);
  ASSERT_EQ(out_bytes.size(), images.size() * 1000 * sizeof(float));
  std::vector<float> want(images.size() * 1000);
  std::memcpy(want.data(), out_bytes.data(), out_bytes.size());

  auto t1 = std::chrono::steady_clock::now();
  Instance inst(R"({"model": ")" + model_path + R"("})");
  const double create_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  ASSERT_TRUE(inst.ok()) << CreateError();
  ASSERT_EQ(inst.dim(), 1000u);
  EXPECT_EQ(inst.fingerprint(),
            "image-model-v1:fnv1a64=" + Hex64(Fnv1a64(ReadBytes(model_path))) +
                ",input_size=224,resize=crop,mean=0.485/0.456/0.406,std=0.229/0.224/0.225");
  std::vector<std::string> encoded;
  for (const Image& img : images) encoded.push_back(Png(img));
  const std::vector<float> got = inst.EmbedOk(encoded);
  ASSERT_EQ(got.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    const std::vector<float> w =
        Unit(std::vector<float>(want.begin() + i * 1000, want.begin() + (i + 1) * 1000));
    for (size_t c = 0; c < 1000; ++c) {
      worst = std::max(worst, double(std::abs(got[i * 1000 + c] - w[c])));
      ASSERT_NEAR(got[i * 1000 + c], w[c], 1e-4) << "image " << i << " col " << c;
    }
  }

  // Throughput, for the record (not a correctness check).
  std::vector<std::string> batch;
  for (int i = 0; i < 32; ++i) batch.push_back(Jpeg(Pattern(320, 240, 3, 100 + i), 85));
  inst.EmbedOk({batch[0]});  // warm-up (the JIT profiles the first calls)
  t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) inst.EmbedOk({batch[i]});
  const double one_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  t1 = std::chrono::steady_clock::now();
  inst.EmbedOk(batch);
  const double batch_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::printf(
      "[ speed    ] resnet18 (224, 1 thread): export+python %.1f s, create %.0f ms, "
      "max |diff| vs PyTorch %.2g; batch 1: %.1f images/s; batch 32: %.1f images/s\n",
      export_s, create_s * 1e3, worst, 4 / one_s, 32 / batch_s);
}

TEST(ImagePlugin, InstancesRunConcurrently) {
  std::vector<std::string> images;
  for (int i = 0; i < 12; ++i) images.push_back(Png(Pattern(120, 90, 3, 40 + i)));
  Instance ref;
  ASSERT_TRUE(ref.ok()) << CreateError();
  const std::vector<float> want = ref.EmbedOk(images);
  std::vector<std::vector<float>> got(3);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] {
      Instance inst;  // created on this thread
      if (!inst.ok()) return;
      for (int rep = 0; rep < 2; ++rep) inst.Embed(images, &got[t]);
    });
  }
  for (std::thread& th : threads) th.join();
  for (const std::vector<float>& g : got) EXPECT_EQ(g, want);
}

// Not a correctness test: prints creation time and throughput for the record.
TEST(ImagePlugin, ReportsSpeed) {
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  auto t0 = Clock::now();
  auto inst = std::make_unique<Instance>();
  const double create_s = seconds(Clock::now() - t0);
  ASSERT_TRUE(inst->ok()) << CreateError();
  EXPECT_LT(create_s, 5.0);

  // 640x480 JPEGs, the size of a typical catalogue photo.
  std::vector<std::string> images;
  for (int i = 0; i < 32; ++i) images.push_back(Jpeg(Pattern(640, 480, 3, 200 + i), 85));
  inst->EmbedOk({images[0]});  // warm-up (the JIT profiles the first calls)
  inst->EmbedOk({images[1], images[2]});
  t0 = Clock::now();
  for (size_t i = 0; i < 32; ++i) inst->EmbedOk({images[i]});
  const double one_s = seconds(Clock::now() - t0);
  t0 = Clock::now();
  inst->EmbedOk(images);
  const double batch_s = seconds(Clock::now() - t0);
  // Decoding + preprocessing alone, through a model that only averages its input.
  TempDir dir;
  const std::string mean_model = dir.File("mean.pt");
  MakeModel("    return x.mean([2, 3])\n").save(mean_model);
  Instance pre(R"({"model": ")" + mean_model + R"("})");
  ASSERT_TRUE(pre.ok()) << CreateError();
  pre.EmbedOk({images[0]});
  t0 = Clock::now();
  pre.EmbedOk(images);
  const double decode_s = seconds(Clock::now() - t0);
  std::printf(
      "[ speed    ] default model (224, 1 thread, 640x480 JPEG): create %.0f ms; batch 1: "
      "%.1f images/s; batch 32: %.1f images/s; decode+preprocess alone %.1f images/s\n",
      create_s * 1e3, 32 / one_s, 32 / batch_s, 32 / decode_s);
}

}  // namespace
