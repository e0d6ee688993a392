// The built-in text embedding plugin: hashed lexical features (tokenizer.h) fed to a
// TorchScript model that maps EmbeddingBag inputs to one vector per text.
//
// Config (a JSON object; values are strings, or numbers for "dim"/"buckets"):
//   "dim"     output dim of the default model (default 256); with "model", if given, it must
//             match what the model outputs;
//   "buckets" hash buckets of the tokenizer (default 32768); a user model must accept ids in
//             [0, buckets);
//   "model"   path of a TorchScript model; without it the plugin builds its default model.
//
// Model contract: forward(ids: Tensor[int64, N], offsets: Tensor[int64, batch],
// weights: Tensor[float32, N]) -> Tensor[float, batch, D]; the inputs are exactly those of
// torch.nn.functional.embedding_bag(mode="sum", per_sample_weights=weights). The plugin
// L2-normalises each output row.
//
// The default model is a TorchScript module built in process: a buffer `weight` [buckets,
// dim] of random +-1/sqrt(dim) signs (from a fixed hash, not torch's RNG, so it is the same
// on every machine) summed by embedding_bag and L2-normalised: a random projection of the
// sparse features, so cosine similarity of outputs approximates lexical similarity.
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "reco/plugin.hpp"
#include "tokenizer.h"

namespace reco {
namespace text {
namespace {

constexpr uint32_t kDefaultDim = 256;
constexpr uint32_t kDefaultBuckets = 1u << 15;  // 32 MiB of float weights at dim 256
constexpr uint32_t kMaxDim = 1u << 14;
constexpr uint32_t kMaxBuckets = 1u << 24;
constexpr uint64_t kMaxTableBytes = 1ull << 30;
constexpr size_t kChunk = 1024;                              // inputs per forward() call
constexpr uint64_t kProjectionSeed = 0x7265636f74657874ull;  // "recotext"
constexpr const char* kProbeText = "reco text plugin probe: red running shoes";

// forward of the default model. embedding_bag(weight, indices, offsets, scale_grad_by_freq,
// mode=0 (sum), sparse, per_sample_weights, include_last_offset)[0] is [batch, dim].
constexpr const char* kDefaultModelSource = R"JIT(
def forward(self, ids: Tensor, offsets: Tensor, weights: Tensor) -> Tensor:
    out = torch.embedding_bag(self.weight, ids, offsets, False, 0, False, weights, False)[0]
    norm = torch.sqrt((out * out).sum(1, keepdim=True))
    return out / torch.clamp(norm, min=1e-12)
)JIT";

struct Options {
  uint32_t dim = kDefaultDim;
  bool dim_set = false;
  uint32_t buckets = kDefaultBuckets;
  std::string model;
};

uint32_t ParseCount(const std::string& key, const nlohmann::json& v, uint32_t max) {
  uint64_t n = 0;
  if (v.is_number_unsigned()) {
    n = v.get<uint64_t>();
  } else if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string::npos) {
      throw std::runtime_error("text plugin: option \"" + key +
                               "\" must be a positive integer, got \"" + s + "\"");
    }
    n = std::stoull(s);
  } else {
    throw std::runtime_error("text plugin: option \"" + key +
                             "\" must be a positive integer, got " + v.dump());
  }
  if (n == 0 || n > max) {
    throw std::runtime_error("text plugin: option \"" + key + "\" must be in [1, " +
                             std::to_string(max) + "], got " + std::to_string(n));
  }
  return static_cast<uint32_t>(n);
}

Options ParseOptions(const std::string& config_json) {
  const nlohmann::json j = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    throw std::runtime_error("text plugin: config must be a JSON object, got: " + config_json);
  }
  Options o;
  for (const auto& [key, value] : j.items()) {
    if (key == "dim") {
      o.dim = ParseCount(key, value, kMaxDim);
      o.dim_set = true;
    } else if (key == "buckets") {
      o.buckets = ParseCount(key, value, kMaxBuckets);
    } else if (key == "model") {
      if (!value.is_string()) {
        throw std::runtime_error("text plugin: option \"model\" must be a path string, got " +
                                 value.dump());
      }
      o.model = value.get<std::string>();
    } else {
      throw std::runtime_error("text plugin: unknown option \"" + key +
                               "\" (known: dim, buckets, model)");
    }
  }
  return o;
}

std::string Hex64(uint64_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[i] = digits[v & 0xf];
  return s;
}

// The message of a c10::Error without its C++ backtrace.
std::string TorchMessage(const c10::Error& e) {
  std::string m = e.what_without_backtrace();
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

void SetTorchThreadsOnce() {
  // The engine's worker threads provide the parallelism; one intra-op thread per call.
  static std::once_flag once;
  std::call_once(once, [] { at::set_num_threads(1); });
}

// W[b][c] = +-1/sqrt(dim), the sign taken from a fixed 64-bit hash of (b, c / 64).
at::Tensor MakeProjection(uint32_t buckets, uint32_t dim) {
  at::Tensor w = at::empty({static_cast<int64_t>(buckets), static_cast<int64_t>(dim)}, at::kFloat);
  float* p = w.data_ptr<float>();
  const float v = 1.0f / std::sqrt(static_cast<float>(dim));
  const uint64_t words = (dim + 63) / 64;
  for (uint64_t b = 0; b < buckets; ++b) {
    float* row = p + b * dim;
    for (uint64_t k = 0; k < words; ++k) {
      const uint64_t bits = Mix64(kProjectionSeed ^ Mix64(b * words + k));
      const uint64_t end = std::min<uint64_t>(64, dim - k * 64);
      for (uint64_t c = 0; c < end; ++c) row[k * 64 + c] = ((bits >> c) & 1u) ? v : -v;
    }
  }
  return w;
}

// Instances with the same (buckets, dim) share one read-only projection table.
std::shared_ptr<const at::Tensor> SharedProjection(uint32_t buckets, uint32_t dim) {
  static std::mutex mu;
  static std::map<std::pair<uint32_t, uint32_t>, std::weak_ptr<const at::Tensor>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[{buckets, dim}];
  if (auto table = slot.lock()) return table;
  auto table = std::make_shared<const at::Tensor>(MakeProjection(buckets, dim));
  slot = table;
  return table;
}

std::string ReadFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw std::runtime_error("text plugin: model path '" + path + "' is a directory, not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("text plugin: cannot open model file '" + path +
                             "': " + std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw std::runtime_error("text plugin: cannot read model file '" + path + "'");
  return ss.str();
}

bool IsTextPlain(const char* content_type) {
  if (content_type == nullptr || content_type[0] == '\0') return true;
  const std::string ct(content_type);
  return ct == "text/plain" || ct.rfind("text/plain;", 0) == 0;
}

std::string ShapeString(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

class TextEmbedder : public sdk::Embedder {
 public:
  explicit TextEmbedder(const std::string& config_json) : opts_(ParseOptions(config_json)) {
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
      throw std::runtime_error("text plugin: embed_batch got a null inputs or out pointer");
    }
    for (size_t first = 0; first < n; first += kChunk) {
      const size_t count = std::min(kChunk, n - first);
      bag_.clear();
      for (size_t i = first; i < first + count; ++i) {
        const reco_input& in = inputs[i];
        if (!IsTextPlain(in.content_type)) {
          throw std::runtime_error("input " + std::to_string(i) + ": unsupported content type '" +
                                   in.content_type + "' (the text plugin takes text/plain)");
        }
        const std::string_view text(reinterpret_cast<const char*>(in.data), in.data ? in.size : 0);
        if (!AppendBag(text, opts_.buckets, &bag_)) {
          throw std::runtime_error("input " + std::to_string(i) + ": empty text");
        }
      }
      WriteRows(Forward(first), first, out + first * dim_);
    }
  }

 private:
  void MakeDefaultModel() {
    const uint64_t bytes = uint64_t{opts_.buckets} * opts_.dim * sizeof(float);
    if (bytes > kMaxTableBytes) {
      throw std::runtime_error("text plugin: buckets * dim = " + std::to_string(bytes) +
                               " bytes of weights, more than the limit of " +
                               std::to_string(kMaxTableBytes));
    }
    dim_ = opts_.dim;
    table_ = SharedProjection(opts_.buckets, opts_.dim);
    try {
      module_ = torch::jit::Module("reco_text_default");
      module_.register_buffer("weight", *table_);
      module_.define(kDefaultModelSource);
      module_.eval();
    } catch (const c10::Error& e) {
      throw std::runtime_error("text plugin: cannot build the default model: " + TorchMessage(e));
    }
    fingerprint_ =
        "text-default-v1:buckets=" + std::to_string(opts_.buckets) + ",dim=" + std::to_string(dim_);
  }

  void LoadUserModel() {
    const std::string bytes = ReadFile(opts_.model);
    if (bytes.compare(0, 4, "PK\x03\x04") != 0) {  // TorchScript files are zip archives
      throw std::runtime_error("text plugin: cannot load TorchScript model '" + opts_.model +
                               "': not a TorchScript archive (" +
                               (bytes.empty() ? "empty file" : "no zip header") + ")");
    }
    try {
      std::istringstream in(bytes);
      module_ = torch::jit::load(in, torch::kCPU);
      module_.eval();
    } catch (const c10::Error& e) {
      throw std::runtime_error("text plugin: cannot load TorchScript model '" + opts_.model +
                               "': " + TorchMessage(e));
    } catch (const std::exception& e) {
      throw std::runtime_error("text plugin: cannot load TorchScript model '" + opts_.model +
                               "': " + e.what());
    }
    // Find the output dim by running the model once.
    bag_.clear();
    AppendBag(kProbeText, opts_.buckets, &bag_);
    at::Tensor probe;
    try {
      probe = Forward(0);
    } catch (const std::exception& e) {
      throw std::runtime_error("text plugin: model '" + opts_.model +
                               "' failed on a probe text: " + e.what());
    }
    if (probe.size(1) < 1 || probe.size(1) > kMaxDim) {
      throw std::runtime_error("text plugin: model '" + opts_.model + "' outputs dim " +
                               std::to_string(probe.size(1)) + ", expected 1.." +
                               std::to_string(kMaxDim));
    }
    const auto model_dim = static_cast<uint32_t>(probe.size(1));
    if (opts_.dim_set && opts_.dim != model_dim) {
      throw std::runtime_error("text plugin: model '" + opts_.model + "' outputs dim " +
                               std::to_string(model_dim) + " but the config says dim " +
                               std::to_string(opts_.dim));
    }
    dim_ = model_dim;
    fingerprint_ = "text-model-v1:fnv1a64=" + Hex64(Fnv1a64(bytes.data(), bytes.size())) +
                   ",buckets=" + std::to_string(opts_.buckets);
  }

  // Runs the model on bag_ (whose first bag is input `first`). Returns a contiguous float CPU
  // tensor [bag_.size(), D]; D is checked against dim_ once dim_ is known.
  at::Tensor Forward(size_t first) {
    const auto batch = static_cast<int64_t>(bag_.size());
    const auto range = [&] {
      return "inputs " + std::to_string(first) + ".." + std::to_string(first + bag_.size() - 1);
    };
    try {
      torch::InferenceMode guard;
      const auto nnz = static_cast<int64_t>(bag_.ids.size());
      std::vector<c10::IValue> args{at::from_blob(bag_.ids.data(), {nnz}, at::kLong),
                                    at::from_blob(bag_.offsets.data(), {batch}, at::kLong),
                                    at::from_blob(bag_.weights.data(), {nnz}, at::kFloat)};
      const c10::IValue result = module_.forward(std::move(args));
      if (!result.isTensor()) {
        throw std::runtime_error("text plugin: model returned a " + result.tagKind() +
                                 ", expected a float tensor [batch, dim] (" + range() + ")");
      }
      at::Tensor t = result.toTensor();
      const bool dim_ok = dim_ == 0 ? t.dim() == 2 : t.dim() == 2 && t.size(1) == dim_;
      if (!dim_ok || t.size(0) != batch) {
        throw std::runtime_error("text plugin: model output has shape " + ShapeString(t) +
                                 ", expected [" + std::to_string(batch) + ", " +
                                 (dim_ == 0 ? std::string("dim") : std::to_string(dim_)) + "] (" +
                                 range() + ")");
      }
      if (!t.is_floating_point()) {
        throw std::runtime_error("text plugin: model output has dtype " +
                                 std::string(c10::toString(t.scalar_type())) +
                                 ", expected a floating-point tensor (" + range() + ")");
      }
      return t.to(at::kCPU, at::kFloat).contiguous();
    } catch (const c10::Error& e) {
      throw std::runtime_error("text plugin: model failed on " + range() + ": " + TorchMessage(e));
    }
  }

  // L2-normalises the rows of t into out, refusing NaN/Inf and zero rows.
  void WriteRows(const at::Tensor& t, size_t first, float* out) const {
    const float* src = t.data_ptr<float>();
    for (int64_t r = 0; r < t.size(0); ++r) {
      const float* row = src + r * dim_;
      double ss = 0.0;
      for (uint32_t c = 0; c < dim_; ++c) {
        if (!std::isfinite(row[c])) {
          throw std::runtime_error("input " + std::to_string(first + r) +
                                   ": model output contains NaN or Inf");
        }
        ss += double{row[c]} * row[c];
      }
      if (!(ss > 0.0)) {
        throw std::runtime_error("input " + std::to_string(first + r) +
                                 ": model output is a zero vector");
      }
      const double inv = 1.0 / std::sqrt(ss);
      float* dst = out + r * dim_;
      for (uint32_t c = 0; c < dim_; ++c) dst[c] = static_cast<float>(row[c] * inv);
    }
  }

  Options opts_;
  uint32_t dim_ = 0;
  std::shared_ptr<const at::Tensor> table_;  // default model only
  torch::jit::Module module_;
  std::string fingerprint_;
  Bag bag_;  // scratch of embed()
};

}  // namespace
}  // namespace text
}  // namespace reco

RECO_PLUGIN(reco::text::TextEmbedder, "text", "1.0.0", "text", "text/plain",
            reco::text::kDefaultDim)
