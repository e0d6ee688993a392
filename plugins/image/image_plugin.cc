// The built-in image embedding plugin: decodes images (image_decode.h), resizes and normalises
// them (preprocess.h) and runs a TorchScript model on batches of NCHW float tensors.
//
// Input: any image/* content type, or none; the format is sniffed from the bytes (JPEG, PNG,
// BMP, GIF first frame, binary PNM). JPEG EXIF orientation is applied; alpha is composited
// over white.
//
// Config (a JSON object; values are strings, or numbers where they are numbers):
//   "model"       path of a TorchScript model; without it the plugin builds its default model;
//   "input_size"  side N of the square model input (default 224; 16..2048, the default model
//                 needs >= 32);
//   "resize"      "crop" (default: shorter side resized to N, centre N x N kept) or "stretch"
//                 (the whole image resized to N x N);
//   "mean", "std" per-channel normalisation, "r,g,b" or [r, g, b] (default ImageNet:
//                 0.485,0.456,0.406 and 0.229,0.224,0.225; std > 0);
//   "max_pixels"  largest decoded image, width * height (default 40,000,000); larger images
//                 are refused from their header, before decoding.
//
// Model contract: forward(x: Tensor[float32, B, 3, N, N]) -> Tensor[float, B, D] or
// [B, D, 1, 1], where x[b][c] = (pixel / 255 - mean[c]) / std[c] (RGB order, top row first).
// The plugin L2-normalises each output row; NaN/Inf or zero rows are errors. D is found by
// running the model once at create.
//
// The default model (default_model.h) is a TorchScript module built in process: colour
// histograms, gradient-orientation histograms over a spatial pyramid and a coarse layout
// thumbnail, 944 dims, with no weights and no download.
//
// Fingerprint: "image-default-v1:fnv1a64=<hash of the model source>,input_size=N,resize=R"
// or "image-model-v1:fnv1a64=<hash of the model file>,input_size=N,resize=R,mean=..,std=..".
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "default_model.h"
#include "image_decode.h"
#include "plugins/common/model_file.h"
#include "plugins/common/torch_util.h"
#include "preprocess.h"
#include "reco/plugin.hpp"

namespace reco {
namespace image {
namespace {

using plugin_common::Hex64;
using plugin_common::SetTorchThreadsOnce;
using plugin_common::TorchMessage;
using plugin_common::TrimTorchMessage;

constexpr int kDefaultInputSize = 224;
constexpr int kMinInputSize = 16;
constexpr int kMaxInputSize = 2048;
constexpr uint64_t kDefaultMaxPixels = 40000000;
constexpr uint64_t kMaxMaxPixels = 1000000000;
constexpr uint32_t kMaxDim = 1u << 16;
constexpr size_t kMaxChunk = 32;                     // images per forward() call
constexpr size_t kMaxChunkBytes = size_t{64} << 20;  // of input tensor per forward() call

struct Options {
  std::string model;
  PreprocessOptions pre;
  uint64_t max_pixels = kDefaultMaxPixels;
};

[[noreturn]] void Fail(const std::string& message) {
  throw std::runtime_error("image plugin: " + message);
}

uint64_t ParseCount(const std::string& key, const nlohmann::json& v, uint64_t lo, uint64_t hi) {
  uint64_t n = 0;
  if (v.is_number_unsigned()) {
    n = v.get<uint64_t>();
  } else if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s.empty() || s.size() > 12 || s.find_first_not_of("0123456789") != std::string::npos) {
      Fail("option \"" + key + "\" must be a positive integer, got \"" + s + "\"");
    }
    n = std::stoull(s);
  } else {
    Fail("option \"" + key + "\" must be a positive integer, got " + v.dump());
  }
  if (n < lo || n > hi) {
    Fail("option \"" + key + "\" must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
         "], got " + std::to_string(n));
  }
  return n;
}

// "a,b,c" or [a, b, c] -> three finite floats.
void ParseTriple(const std::string& key, const nlohmann::json& v, bool positive, float* out) {
  std::vector<std::string> parts;
  bool ok = true;
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    size_t start = 0;
    while (true) {
      const size_t comma = s.find(',', start);
      parts.push_back(
          s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  } else if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_number()) ok = false;
      parts.push_back(e.dump());
    }
  } else {
    ok = false;
  }
  ok = ok && parts.size() == 3;
  for (size_t i = 0; ok && i < 3; ++i) {
    const std::string& p = parts[i];
    const char* b = p.c_str();
    while (*b == ' ') ++b;
    char* end = nullptr;
    errno = 0;
    const float f = std::strtof(b, &end);
    while (end != nullptr && *end == ' ') ++end;
    if (end == b || end == nullptr || *end != '\0' || errno != 0 || !std::isfinite(f) ||
        (positive && !(f > 0.0f))) {
      ok = false;
    } else {
      out[i] = f;
    }
  }
  if (!ok) {
    Fail("option \"" + key + "\" must be three " + (positive ? "positive " : "") +
         "numbers \"r,g,b\" or [r, g, b], got " + v.dump());
  }
}

Options ParseOptions(const std::string& config_json) {
  const nlohmann::json j = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    Fail("config must be a JSON object, got: " + config_json);
  }
  Options o;
  o.pre.input_size = kDefaultInputSize;
  for (const auto& [key, value] : j.items()) {
    if (key == "model") {
      if (!value.is_string() || value.get<std::string>().empty()) {
        Fail("option \"model\" must be a path string, got " + value.dump());
      }
      o.model = value.get<std::string>();
    } else if (key == "input_size") {
      o.pre.input_size = static_cast<int>(ParseCount(key, value, kMinInputSize, kMaxInputSize));
    } else if (key == "resize") {
      const std::string mode = value.is_string() ? value.get<std::string>() : std::string();
      if (mode == "crop") {
        o.pre.mode = ResizeMode::kCrop;
      } else if (mode == "stretch") {
        o.pre.mode = ResizeMode::kStretch;
      } else {
        Fail("option \"resize\" must be \"crop\" or \"stretch\", got " + value.dump());
      }
    } else if (key == "mean") {
      ParseTriple(key, value, /*positive=*/false, o.pre.mean);
    } else if (key == "std") {
      ParseTriple(key, value, /*positive=*/true, o.pre.std);
    } else if (key == "max_pixels") {
      o.max_pixels = ParseCount(key, value, 1, kMaxMaxPixels);
    } else {
      Fail("unknown option \"" + key +
           "\" (known: model, input_size, resize, mean, std, max_pixels)");
    }
  }
  if (o.model.empty() && o.pre.input_size < kDefaultModelMinInput) {
    Fail("the default model needs input_size >= " + std::to_string(kDefaultModelMinInput) +
         ", got " + std::to_string(o.pre.input_size));
  }
  return o;
}

uint64_t Fnv1a64(const void* data, size_t size) {
  uint64_t h = 0xcbf29ce484222325ull;
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string Triple(const float* v) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%g/%g/%g", v[0], v[1], v[2]);
  return buf;
}

std::string ReadFile(const std::string& path) {
  std::string bytes, error;
  if (!plugin_common::ReadWholeFile(path, &bytes, &error)) {
    Fail("model file '" + path + "': " + error);
  }
  return bytes;
}

// Accepts no content type, or any image/* (the bytes decide the format).
bool IsImageType(const char* content_type) {
  if (content_type == nullptr || content_type[0] == '\0') return true;
  std::string ct(content_type);
  for (char& c : ct) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ct.rfind("image/", 0) == 0;
}

std::string ShapeString(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// A synthetic 64 x 48 RGB image for the create-time probe of a model.
std::vector<uint8_t> ProbeImage(int* width, int* height) {
  *width = 64;
  *height = 48;
  std::vector<uint8_t> px(64 * 48 * 3);
  for (int y = 0; y < 48; ++y) {
    for (int x = 0; x < 64; ++x) {
      uint8_t* p = &px[(y * 64 + x) * 3];
      p[0] = static_cast<uint8_t>(x * 4);
      p[1] = static_cast<uint8_t>(y * 5);
      p[2] = static_cast<uint8_t>(((x / 8 + y / 8) % 2) * 200 + 20);
    }
  }
  return px;
}

class ImageEmbedder : public sdk::Embedder {
 public:
  explicit ImageEmbedder(const std::string& config_json) : opts_(ParseOptions(config_json)) {
    SetTorchThreadsOnce();
    if (opts_.model.empty()) {
      MakeDefaultModel();
    } else {
      LoadUserModel();
    }
  }

  uint32_t dim() const override { return dim_; }
  std::string fingerprint() const override { return fingerprint_; }

  void embed(const reco_input* inputs, size_t n, float* out) override {
    if (n == 0) return;
    if (inputs == nullptr || out == nullptr) {
      Fail("embed_batch got a null inputs or out pointer");
    }
    const int side = opts_.pre.input_size;
    const size_t per_image = size_t{3} * side * side;
    const size_t chunk =
        std::max<size_t>(1, std::min(kMaxChunk, kMaxChunkBytes / (per_image * sizeof(float))));
    for (size_t first = 0; first < n; first += chunk) {
      const size_t count = std::min(chunk, n - first);
      at::Tensor batch = at::empty({static_cast<int64_t>(count), 3, side, side}, at::kFloat);
      float* dst = batch.data_ptr<float>();
      for (size_t i = first; i < first + count; ++i) {
        const reco_input& in = inputs[i];
        if (!IsImageType(in.content_type)) {
          throw std::runtime_error("input " + std::to_string(i) + ": unsupported content type '" +
                                   in.content_type +
                                   "' (the image plugin takes image/* or no type)");
        }
        RgbImage img;
        try {
          img = Decode(in.data, in.data ? in.size : 0, opts_.max_pixels);
        } catch (const std::exception& e) {
          throw std::runtime_error("input " + std::to_string(i) + ": " + e.what());
        }
        Preprocess(img.pixels.data(), img.width, img.height, opts_.pre,
                   dst + (i - first) * per_image);
      }
      WriteRows(Forward(batch, first), first, out + first * dim_);
    }
  }

  std::string describe(const reco_input& in) override {
    if (!IsImageType(in.content_type)) {
      Fail(std::string("unsupported content type '") + in.content_type + "'");
    }
    ImageInfo info;
    try {
      info = ReadInfo(in.data, in.data ? in.size : 0);
    } catch (const std::exception& e) {
      Fail(e.what());
    }
    const bool swap = info.orientation >= 5;
    std::string format = FormatName(info.format);
    for (char& c : format) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    nlohmann::json j = {{"format", format},
                        {"width", swap ? info.height : info.width},
                        {"height", swap ? info.width : info.height},
                        {"channels", info.channels}};
    if (info.format == Format::kJpeg) j["orientation"] = info.orientation;
    return j.dump();
  }

 private:
  void MakeDefaultModel() {
    try {
      module_ = torch::jit::Module("reco_image_default");
      const at::Tensor mean = at::from_blob(opts_.pre.mean, {1, 3, 1, 1}, at::kFloat).clone();
      const at::Tensor std = at::from_blob(opts_.pre.std, {1, 3, 1, 1}, at::kFloat).clone();
      module_.register_buffer("mean", mean);
      module_.register_buffer("std", std);
      module_.define(kDefaultModelSource);
      module_.eval();
    } catch (const c10::Error& e) {
      Fail("cannot build the default model: " + TorchMessage(e));
    }
    Probe("the default model");
    if (dim_ != kDefaultModelDim) {
      Fail("the default model outputs dim " + std::to_string(dim_) + ", expected " +
           std::to_string(kDefaultModelDim));
    }
    fingerprint_ = "image-default-v1:fnv1a64=" +
                   Hex64(Fnv1a64(kDefaultModelSource, std::strlen(kDefaultModelSource))) +
                   PreprocessTag(/*with_normalisation=*/false);
  }

  void LoadUserModel() {
    const std::string& path = opts_.model;
    const std::string bytes = ReadFile(path);
    if (bytes.compare(0, 4, "PK\x03\x04") != 0) {  // TorchScript files are zip archives
      Fail("cannot load TorchScript model '" + path + "': not a TorchScript archive (" +
           (bytes.empty() ? "empty file" : "no zip header") + ")");
    }
    try {
      module_ = plugin_common::LoadModule(bytes);
      module_.eval();
    } catch (const c10::Error& e) {
      Fail("cannot load TorchScript model '" + path + "': " + TorchMessage(e));
    } catch (const std::exception& e) {
      Fail("cannot load TorchScript model '" + path + "': " + e.what());
    }
    Probe("model '" + path + "'");
    fingerprint_ = "image-model-v1:fnv1a64=" + Hex64(Fnv1a64(bytes.data(), bytes.size())) +
                   PreprocessTag(/*with_normalisation=*/true);
  }

  std::string PreprocessTag(bool with_normalisation) const {
    std::string s = ",input_size=" + std::to_string(opts_.pre.input_size) +
                    ",resize=" + (opts_.pre.mode == ResizeMode::kCrop ? "crop" : "stretch");
    if (with_normalisation) {
      s += ",mean=" + Triple(opts_.pre.mean) + ",std=" + Triple(opts_.pre.std);
    }
    return s;
  }

  // Runs the model once on a synthetic image to learn (and check) its output dim.
  void Probe(const std::string& what) {
    int w = 0, h = 0;
    const std::vector<uint8_t> px = ProbeImage(&w, &h);
    const int side = opts_.pre.input_size;
    at::Tensor batch = at::empty({1, 3, side, side}, at::kFloat);
    Preprocess(px.data(), w, h, opts_.pre, batch.data_ptr<float>());
    at::Tensor probe;
    try {
      probe = Forward(batch, 0);
    } catch (const std::exception& e) {
      Fail(what + " failed on a probe image: " + e.what());
    }
    if (probe.size(1) < 1 || probe.size(1) > kMaxDim) {
      Fail(what + " outputs dim " + std::to_string(probe.size(1)) + ", expected 1.." +
           std::to_string(kMaxDim));
    }
    dim_ = static_cast<uint32_t>(probe.size(1));
  }

  // Runs the model on `batch` (whose first image is input `first`). Returns a contiguous float
  // CPU tensor [B, D]; D is checked against dim_ once dim_ is known.
  at::Tensor Forward(const at::Tensor& batch, size_t first) {
    const int64_t b = batch.size(0);
    const auto range = [&] {
      return b == 1 ? "input " + std::to_string(first)
                    : "inputs " + std::to_string(first) + ".." + std::to_string(first + b - 1);
    };
    const std::string expected = "[" + std::to_string(b) + ", " +
                                 (dim_ == 0 ? std::string("D") : std::to_string(dim_)) + "] or [" +
                                 std::to_string(b) + ", " +
                                 (dim_ == 0 ? std::string("D") : std::to_string(dim_)) + ", 1, 1]";
    torch::InferenceMode guard;
    c10::IValue result;
    try {
      result = module_.forward({batch});
    } catch (const c10::Error& e) {
      Fail("model failed on " + range() + ": " + TorchMessage(e));
    } catch (const std::exception& e) {  // e.g. torch::jit::JITException from a raise/assert
      Fail("model failed on " + range() + ": " + TrimTorchMessage(e.what()));
    }
    if (!result.isTensor()) {
      Fail("model returned a " + result.tagKind() + ", expected a float tensor " + expected + " (" +
           range() + ")");
    }
    at::Tensor t = result.toTensor();
    if (t.dim() == 4 && t.size(2) == 1 && t.size(3) == 1) t = t.flatten(1);
    const bool dim_ok = t.dim() == 2 && (dim_ == 0 || t.size(1) == dim_);
    if (!dim_ok || t.size(0) != b) {
      Fail("model output has shape " + ShapeString(t) + ", expected " + expected + " (" + range() +
           ")");
    }
    if (!t.is_floating_point()) {
      Fail("model output has dtype " + std::string(c10::toString(t.scalar_type())) +
           ", expected a floating-point tensor (" + range() + ")");
    }
    return t.to(at::kCPU, at::kFloat).contiguous();
  }

  // L2-normalises the rows of t into out, refusing NaN/Inf and zero rows.
  void WriteRows(const at::Tensor& t, size_t first, float* out) const {
    plugin_common::WriteNormalizedRows(t, dim_, first, out);
  }

  Options opts_;
  uint32_t dim_ = 0;
  torch::jit::Module module_;
  std::string fingerprint_;
};

}  // namespace
}  // namespace image
}  // namespace reco

RECO_PLUGIN(reco::image::ImageEmbedder, "image", "1.0.0", "image",
            "image/jpeg,image/png,image/bmp,image/gif,image/x-portable-anymap",
            reco::image::kDefaultModelDim)
