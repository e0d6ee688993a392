// The built-in medical imaging plugin (reco_dicom.so): DICOM files (content type
// "application/dicom") -> one vector each, through a TorchScript model run by LibTorch.
//
// Decoding (dicom_decode.h, GDCM): every transfer syntax GDCM decodes (implicit/explicit VR
// little endian, explicit big endian, deflate, JPEG baseline/extended/lossless, JPEG-LS, JPEG
// 2000, RLE). A multi-frame object embeds its middle frame (cheaper than a mean of per-frame
// embeddings, and for volumes the most representative slice). Monochrome frames get the
// rescale slope/intercept (or the enhanced objects' Pixel Value Transformation, or RT Dose Grid
// Scaling), then the VOI window (the file's first Window Center/Width, LINEAR, LINEAR_EXACT or
// SIGMOID; else a modality preset: CT soft tissue 40/400 HU when the values are in HU; other
// images the 1st-99th percentile, Pixel Padding Value left out) and MONOCHROME1 inversion;
// PALETTE COLOR goes through its LUT; YBR becomes RGB. The result is an intensity image in
// [0, 1] with 1 or 3 channels, resized with antialiasing to input_size x input_size, repeated or
// averaged (BT.601 luma) to the model's channel count.
//
// By default decoding runs in a decoder process, one per instance (decoder_process.h): Debian's
// GDCM aborts on many malformed files, and a plugin must not take its host down.
//
// Config (a JSON object; values may be JSON numbers/bools or strings):
//   "model"             path of a TorchScript 2D CNN: forward(Tensor[B, C, S, S] float) ->
//                       Tensor[B, D]; the plugin L2-normalises the rows. Without it the
//                       built-in default model (default_model.h, dim 936) is used.
//   "input_size"        S, the side the image is resized to (default 256, 16..2048)
//   "channels"          C for a user model: 1 or 3 (default 1)
//   "mean", "std"       user model input normalisation (x - mean) / std of the [0, 1] image:
//                       one number or one per channel, as a JSON array or "0.5,0.5,0.5"
//                       (defaults 0 and 1)
//   "max_pixels"        refuse images with more than this many rows * columns * frames *
//                       samples, checked before decoding (default 100000000)
//   "window"            "file" (default), "modality" (ignore the file's window) or
//                       "percentile" (always the 1st-99th percentile)
//   "keep_identifying"  true: describe() also returns patient name/id/birth date, UIDs, dates,
//                       institution and the like (default false: they never appear in
//                       describe() output or in errors)
//   "isolate"           false: decode in the host process (no decoder process; a malformed
//                       file can then abort the host) (default true)
//   "decode_timeout_ms" the longest the decoder process may take on one input (default 60000)
//
// describe(input) returns the header's searchable attributes: modality, body_part,
// study_description, series_description, manufacturer, manufacturer_model, rows, columns,
// frames, pixel_spacing, slice_thickness (numbers: first value, mm), photometric,
// transfer_syntax and sop_class (names) -- attributes absent from the file are left out.
// Identifying values (patient name and its components, ids, birth date, UIDs, dates, times,
// accession number, institution, physicians, operators, ...) never appear: free-text
// attributes that repeat one get "[removed]" in its place, and error messages are scrubbed the
// same way. With keep_identifying the output adds patient_name, patient_id,
// patient_birth_date, patient_sex, patient_age, study/series/sop_instance_uid, study_id,
// study_date/time, series_date, acquisition_date, accession_number, institution_name,
// referring/performing_physician_name, operators_name, station_name, device_serial_number.
// The descriptions of the inputs of the last embed_batch() come back with their images, so the
// engine's describe() right after an embed costs nothing.
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <cerrno>
#include <cmath>
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

#include "decoder_process.h"
#include "default_model.h"
#include "dicom_decode.h"
#include "plugins/common/model_file.h"
#include "plugins/common/torch_util.h"
#include "reco/plugin.hpp"

namespace reco {
namespace dicom {
namespace {

using plugin_common::Hex64;
using plugin_common::SetTorchThreadsOnce;
using plugin_common::TorchMessage;

constexpr uint32_t kDefaultInputSize = 256;
constexpr uint32_t kMaxDim = 1u << 16;
constexpr size_t kChunk = 32;  // images per forward() call

struct Options {
  std::string model;
  uint32_t input_size = kDefaultInputSize;
  uint32_t channels = 1;
  bool channels_set = false;
  std::vector<float> mean{0.0f};
  std::vector<float> std{1.0f};
  bool norm_set = false;
  DecodeOptions decode;
  bool keep_identifying = false;
  bool isolate = true;
  int decode_timeout_ms = 60000;
};

[[noreturn]] void Refuse(const std::string& message) {
  throw std::runtime_error("dicom plugin: " + message);
}

uint64_t ParseCount(const std::string& key, const nlohmann::json& v, uint64_t min, uint64_t max) {
  uint64_t n = 0;
  if (v.is_number_unsigned()) {
    n = v.get<uint64_t>();
  } else if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s.empty() || s.size() > 15 || s.find_first_not_of("0123456789") != std::string::npos) {
      Refuse("option \"" + key + "\" must be a positive integer, got \"" + s + "\"");
    }
    n = std::stoull(s);
  } else {
    Refuse("option \"" + key + "\" must be a positive integer, got " + v.dump());
  }
  if (n < min || n > max) {
    Refuse("option \"" + key + "\" must be in [" + std::to_string(min) + ", " +
           std::to_string(max) + "], got " + std::to_string(n));
  }
  return n;
}

bool ParseBool(const std::string& key, const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "true" || s == "1") return true;
    if (s == "false" || s == "0") return false;
  }
  Refuse("option \"" + key + "\" must be true or false, got " + v.dump());
}

std::vector<float> ParseFloats(const std::string& key, const nlohmann::json& v) {
  if (v.is_number()) return {v.get<float>()};
  if (v.is_array()) {
    std::vector<float> out;
    for (const auto& e : v) {
      if (!e.is_number()) Refuse("option \"" + key + "\" must hold numbers, got " + v.dump());
      out.push_back(e.get<float>());
    }
    if (out.empty()) Refuse("option \"" + key + "\" is empty");
    return out;
  }
  if (!v.is_string()) Refuse("option \"" + key + "\" must be numbers, got " + v.dump());
  std::vector<float> out;
  std::stringstream ss(v.get<std::string>());
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const float f = std::strtof(item.c_str(), &end);
    if (item.empty() || end == item.c_str() || *end != '\0') {
      Refuse("option \"" + key + "\" must be numbers like \"0.5\" or \"0.5,0.5,0.5\", got \"" +
             v.get<std::string>() + "\"");
    }
    out.push_back(f);
  }
  if (out.empty()) Refuse("option \"" + key + "\" is empty");
  return out;
}

Options ParseOptions(const std::string& config_json) {
  const nlohmann::json j = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    Refuse("config must be a JSON object, got: " + config_json);
  }
  Options o;
  for (const auto& [key, value] : j.items()) {
    if (key == "model") {
      if (!value.is_string() || value.get<std::string>().empty()) {
        Refuse("option \"model\" must be a path string, got " + value.dump());
      }
      o.model = value.get<std::string>();
    } else if (key == "input_size") {
      o.input_size = static_cast<uint32_t>(ParseCount(key, value, 16, 2048));
    } else if (key == "channels") {
      o.channels = static_cast<uint32_t>(ParseCount(key, value, 1, 3));
      if (o.channels == 2) Refuse("option \"channels\" must be 1 or 3, got 2");
      o.channels_set = true;
    } else if (key == "mean") {
      o.mean = ParseFloats(key, value);
      o.norm_set = true;
    } else if (key == "std") {
      o.std = ParseFloats(key, value);
      o.norm_set = true;
    } else if (key == "max_pixels") {
      o.decode.max_pixels = ParseCount(key, value, 1, 1ull << 40);
    } else if (key == "window") {
      const std::string w = value.is_string() ? value.get<std::string>() : value.dump();
      if (w == "file") {
        o.decode.window = WindowMode::kFile;
      } else if (w == "modality") {
        o.decode.window = WindowMode::kModality;
      } else if (w == "percentile") {
        o.decode.window = WindowMode::kPercentile;
      } else {
        Refuse("option \"window\" must be \"file\", \"modality\" or \"percentile\", got " +
               value.dump());
      }
    } else if (key == "keep_identifying") {
      o.keep_identifying = ParseBool(key, value);
    } else if (key == "isolate") {
      o.isolate = ParseBool(key, value);
    } else if (key == "decode_timeout_ms") {
      o.decode_timeout_ms = static_cast<int>(ParseCount(key, value, 100, 3600000));
    } else {
      Refuse("unknown option \"" + key +
             "\" (known: model, input_size, channels, mean, std, max_pixels, window, "
             "keep_identifying, isolate, decode_timeout_ms)");
    }
  }
  if (o.model.empty() && (o.channels_set || o.norm_set)) {
    Refuse("options \"channels\", \"mean\" and \"std\" apply only with \"model\"");
  }
  for (auto* v : {&o.mean, &o.std}) {
    if (v->size() == 1) v->resize(o.channels, v->front());
    if (v->size() != o.channels) {
      Refuse("options \"mean\" and \"std\" need 1 or " + std::to_string(o.channels) +
             " values (one per channel)");
    }
  }
  for (float s : o.std) {
    if (!(s > 0.0f) || !std::isfinite(s)) Refuse("option \"std\" values must be positive");
  }
  for (float m : o.mean) {
    if (!std::isfinite(m)) Refuse("option \"mean\" values must be finite");
  }
  return o;
}

uint64_t Fnv1a64(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// A fast 64-bit hash of input bytes (FNV-1a over 8-byte words): tells a described input from
// a buffer that was reused for other bytes.
uint64_t ContentHash(const uint8_t* data, size_t size) {
  uint64_t h = 0xcbf29ce484222325ull ^ size;
  if (data == nullptr) return h;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < size; ++i) h = (h ^ data[i]) * 0x100000001b3ull;
  return h;
}

std::string Numbers(const std::vector<float>& v) {
  std::string s;
  for (float f : v) {
    std::ostringstream o;
    o << f;
    s += (s.empty() ? "" : "/") + o.str();
  }
  return s;
}

const char* WindowName(WindowMode w) {
  switch (w) {
    case WindowMode::kModality:
      return "modality";
    case WindowMode::kPercentile:
      return "percentile";
    default:
      return "file";
  }
}

std::string ReadFile(const std::string& path) {
  std::string bytes, error;
  if (!plugin_common::ReadWholeFile(path, &bytes, &error)) {
    Refuse("model file '" + path + "': " + error);
  }
  return bytes;
}

bool IsDicom(const char* content_type) {
  if (content_type == nullptr || content_type[0] == '\0') return true;
  const std::string ct(content_type);
  return ct == "application/dicom" || ct.rfind("application/dicom;", 0) == 0;
}

std::string ShapeString(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

class DicomEmbedder : public sdk::Embedder {
 public:
  explicit DicomEmbedder(const std::string& config_json) : opts_(ParseOptions(config_json)) {
    SetTorchThreadsOnce();
    QuietGdcm();
    if (opts_.model.empty()) {
      MakeDefault();
    } else {
      LoadUserModel();
    }
    if (opts_.isolate) decoder_ = std::make_unique<DecoderProcess>(opts_.decode_timeout_ms);
  }

  uint32_t dim() const override { return dim_; }
  std::string fingerprint() const override { return fingerprint_; }

  void embed(const reco_input* inputs, size_t n, float* out) override {
    if (n == 0) return;
    if (inputs == nullptr || out == nullptr) {
      Refuse("embed_batch got a null inputs or out pointer");
    }
    for (size_t i = 0; i < n; ++i) CheckContentType(inputs[i], i);
    described_.clear();
    std::vector<at::Tensor> batch;
    size_t first = 0;  // index of batch[0]
    const auto flush = [&] {
      if (batch.empty()) return;
      WriteRows(Forward(at::cat(batch, 0), first), first, out + first * dim_);
      first += batch.size();
      batch.clear();
    };
    const auto sink = [&](size_t i, DecodedImage&& image, std::string&& description) {
      described_.push_back({inputs[i].data, inputs[i].size,
                            ContentHash(inputs[i].data, inputs[i].size), std::move(description)});
      batch.push_back(Prepare(image));
      if (batch.size() == kChunk) flush();
    };
    if (decoder_) {
      decoder_->Decode(inputs, n, opts_.decode, opts_.keep_identifying, sink);
    } else {
      for (size_t i = 0; i < n; ++i) {
        DecodedImage image;
        std::string description;
        try {
          image = DecodeImage(inputs[i].data, inputs[i].data ? inputs[i].size : 0, opts_.decode,
                              &description, opts_.keep_identifying);
        } catch (const std::exception& e) {
          throw std::runtime_error("input " + std::to_string(i) + ": " + e.what());
        }
        sink(i, std::move(image), std::move(description));
      }
    }
    flush();
  }

  std::string describe(const reco_input& input) override {
    CheckContentType(input, 0);
    // The engine describes the inputs it has just embedded: their descriptions came back with
    // the decoded images (same buffer, same bytes), which spares decoding them again.
    if (input.data != nullptr) {
      for (Described& d : described_) {
        if (d.data == input.data && d.size == input.size &&
            d.hash == ContentHash(input.data, input.size)) {
          return d.json;
        }
      }
    }
    if (decoder_) return decoder_->Describe(input, opts_.keep_identifying);
    return Describe(input.data, input.data ? input.size : 0, opts_.keep_identifying);
  }

 private:
  static void CheckContentType(const reco_input& in, size_t i) {
    if (!IsDicom(in.content_type)) {
      throw std::runtime_error("input " + std::to_string(i) + ": unsupported content type '" +
                               in.content_type + "' (the dicom plugin takes application/dicom)");
    }
  }

  void MakeDefault() {
    channels_ = 3;
    try {
      module_ = MakeDefaultModel();
    } catch (const c10::Error& e) {
      Refuse("cannot build the default model: " + TorchMessage(e));
    }
    dim_ = 0;
    const uint32_t probe = ProbeDim();
    if (probe != kDefaultModelDim) {
      Refuse("the default model outputs dim " + std::to_string(probe) + ", expected " +
             std::to_string(kDefaultModelDim));
    }
    dim_ = probe;
    fingerprint_ = "dicom-default-v1:input_size=" + std::to_string(opts_.input_size) +
                   ",window=" + WindowName(opts_.decode.window);
  }

  void LoadUserModel() {
    channels_ = opts_.channels;
    const std::string bytes = ReadFile(opts_.model);
    if (bytes.compare(0, 4, "PK\x03\x04") != 0) {  // TorchScript files are zip archives
      Refuse("cannot load TorchScript model '" + opts_.model + "': not a TorchScript archive (" +
             (bytes.empty() ? "empty file" : "no zip header") + ")");
    }
    try {
      module_ = plugin_common::LoadModule(bytes);
      module_.eval();
    } catch (const c10::Error& e) {
      Refuse("cannot load TorchScript model '" + opts_.model + "': " + TorchMessage(e));
    } catch (const std::exception& e) {
      Refuse("cannot load TorchScript model '" + opts_.model + "': " + e.what());
    }
    mean_ = at::tensor(opts_.mean, at::kFloat).view({1, static_cast<int64_t>(channels_), 1, 1});
    inv_std_ =
        (1.0 / at::tensor(opts_.std, at::kFloat)).view({1, static_cast<int64_t>(channels_), 1, 1});
    dim_ = 0;
    try {
      dim_ = ProbeDim();
    } catch (const std::exception& e) {
      Refuse("model '" + opts_.model + "' failed on a probe image [1, " +
             std::to_string(channels_) + ", " + std::to_string(opts_.input_size) + ", " +
             std::to_string(opts_.input_size) + "]: " + e.what());
    }
    fingerprint_ = "dicom-model-v1:fnv1a64=" + Hex64(Fnv1a64(bytes)) +
                   ",input_size=" + std::to_string(opts_.input_size) +
                   ",channels=" + std::to_string(channels_) + ",mean=" + Numbers(opts_.mean) +
                   ",std=" + Numbers(opts_.std) + ",window=" + WindowName(opts_.decode.window);
  }

  // Runs the model on a mid-grey image to learn its output dim.
  uint32_t ProbeDim() {
    const auto s = static_cast<int64_t>(opts_.input_size);
    at::Tensor probe = at::full({1, static_cast<int64_t>(channels_), s, s}, 0.5f, at::kFloat);
    if (!opts_.model.empty()) probe = (probe - mean_) * inv_std_;
    const at::Tensor t = Forward(probe, 0);
    if (t.size(1) < 1 || t.size(1) > kMaxDim) {
      Refuse("model outputs dim " + std::to_string(t.size(1)) + ", expected 1.." +
             std::to_string(kMaxDim));
    }
    return static_cast<uint32_t>(t.size(1));
  }

  // A decoded image as the model's input row: [1, channels_, S, S].
  at::Tensor Prepare(DecodedImage& image) const {
    torch::InferenceMode guard;
    const auto c = static_cast<int64_t>(image.channels);
    const auto h = static_cast<int64_t>(image.rows);
    const auto w = static_cast<int64_t>(image.cols);
    at::Tensor t = at::from_blob(image.pixels.data(), {1, c, h, w}, at::kFloat);
    if (c == 3 && channels_ == 1) {
      t = (t[0][0] * 0.299f + t[0][1] * 0.587f + t[0][2] * 0.114f).view({1, 1, h, w});  // luma
    }
    const auto s = static_cast<int64_t>(opts_.input_size);
    if (h != s || w != s) {
      t = at::_upsample_bilinear2d_aa(t, {s, s}, /*align_corners=*/false);
    } else {
      t = t.clone();  // from_blob memory belongs to `image`
    }
    t = t.clamp(0.0, 1.0);
    if (t.size(1) == 1 && channels_ == 3) t = t.expand({1, 3, s, s});  // grey on all three
    if (!opts_.model.empty()) t = (t - mean_) * inv_std_;
    return t.contiguous();
  }

  // Runs the model on x [B, C, S, S] (whose first row is input `first`). Returns a contiguous
  // float CPU tensor [B, D]; D is checked against dim_ once dim_ is known.
  at::Tensor Forward(const at::Tensor& x, size_t first) {
    const int64_t batch = x.size(0);
    const auto range = [&] {
      return "inputs " + std::to_string(first) + ".." + std::to_string(first + batch - 1);
    };
    try {
      torch::InferenceMode guard;
      const c10::IValue result = module_.forward({x});
      if (!result.isTensor()) {
        throw std::runtime_error("dicom plugin: model returned a " + result.tagKind() +
                                 ", expected a float tensor [batch, dim] (" + range() + ")");
      }
      at::Tensor t = result.toTensor();
      const bool dim_ok = dim_ == 0 ? t.dim() == 2 : t.dim() == 2 && t.size(1) == dim_;
      if (!dim_ok || t.size(0) != batch) {
        throw std::runtime_error("dicom plugin: model output has shape " + ShapeString(t) +
                                 ", expected [" + std::to_string(batch) + ", " +
                                 (dim_ == 0 ? std::string("dim") : std::to_string(dim_)) + "] (" +
                                 range() + ")");
      }
      if (!t.is_floating_point()) {
        throw std::runtime_error("dicom plugin: model output has dtype " +
                                 std::string(c10::toString(t.scalar_type())) +
                                 ", expected a floating-point tensor (" + range() + ")");
      }
      return t.to(at::kCPU, at::kFloat).contiguous();
    } catch (const c10::Error& e) {
      throw std::runtime_error("dicom plugin: model failed on " + range() + ": " + TorchMessage(e));
    }
  }

  // L2-normalises the rows of t into out, refusing NaN/Inf and zero rows.
  void WriteRows(const at::Tensor& t, size_t first, float* out) const {
    plugin_common::WriteNormalizedRows(t, dim_, first, out);
  }

  // The describe() JSON of each input of the last embed() call.
  struct Described {
    const uint8_t* data;
    size_t size;
    uint64_t hash;
    std::string json;
  };

  Options opts_;
  std::unique_ptr<DecoderProcess> decoder_;  // isolate only
  std::vector<Described> described_;
  uint32_t channels_ = 3;
  uint32_t dim_ = 0;
  at::Tensor mean_, inv_std_;  // user model only: [1, C, 1, 1]
  torch::jit::Module module_;
  std::string fingerprint_;
};

}  // namespace
}  // namespace dicom
}  // namespace reco

RECO_PLUGIN(reco::dicom::DicomEmbedder, "dicom", "1.0.0", "dicom", "application/dicom",
            reco::dicom::kDefaultModelDim)
