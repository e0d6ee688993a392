// The built-in text embedding plugin. Three kinds of TorchScript model, each with its tokenizer:
//
//  - "words" (the default): a word-vector model made by reco_text_convert (convert_glove.cc),
//    by default text-glove100.pt next to reco_text.so: GloVe 6B 100-d vectors of the 100k most
//    frequent English words with SIF weights, spelling-variant lookup and hashed character
//    n-gram rows for other words (word_model.h), output L2-normalised. fit() learns IDF
//    weights from the collection's texts (word_model.h). When the build found no GloVe data
//    (tools/setup not run), a config without "model" falls back to the hashed default below
//    and says so in its fingerprint and on stderr.
//  - "hashed": hashed lexical features (tokenizer.h) fed to forward(ids: Tensor[int64, N],
//    offsets: Tensor[int64, batch], weights: Tensor[float32, N]) -> [batch, D], exactly the
//    inputs of torch.nn.functional.embedding_bag(mode="sum", per_sample_weights=weights); the
//    built-in hashed model (plugin v1's default) is a random +-1/sqrt(dim) projection of them.
//  - "wordpiece": a BERT-style model forward(input_ids: [B, T] int64, attention_mask: [B, T]
//    int64) -> last hidden state [B, T, H] (or a tuple whose first item it is), or a pooled
//    [B, H]; BERT's tokenizer over a vocab.txt (wordpiece.h), [CLS] ... [SEP] padded with
//    [PAD] to the longest text of a batch; mean (masked) or [CLS] pooling.
// Every output row is L2-normalised; NaN/Inf or zero rows are refused.
//
// Config (a JSON object; values are strings, or numbers/bools where natural):
//   "model"      path of a TorchScript model; without it: the default word-vector model;
//   "tokenizer"  "words" | "hashed" | "wordpiece". Without it a "model" is a word-vector model
//                when it says so (its reco_kind attribute) and a hashed model otherwise (v1's
//                contract); without "model" the default word-vector model is used, unless
//                "buckets" is given or "dim" differs from its dim (100): then the hashed model
//                of v1, so v1 configs ({"dim": "256"}) keep their vectors;
//   "dim"        hashed model: output dim (default 256); with a model file it must match what
//                the model outputs;
//   "buckets"    hashed only: hash buckets (default 32768); a user model must accept ids in
//                [0, buckets);
//   wordpiece only (with "model"):
//   "vocab"      path of the vocab.txt (required);
//   "pooling"    "mean" (default; masked mean over [CLS], the pieces and [SEP]) or "cls";
//   "max_length" ids per text including [CLS] and [SEP] (default 128; longer texts are
//                truncated);
//   "lowercase"  lower-case and strip accents (default true: uncased BERT).
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <sys/stat.h>
#include <torch/script.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "plugins/common/model_file.h"
#include "plugins/common/torch_util.h"
#include "reco/plugin.hpp"
#include "tokenizer.h"
#include "word_model.h"
#include "wordpiece.h"

namespace reco {
namespace text {
namespace {

using plugin_common::Hex64;
using plugin_common::SetTorchThreadsOnce;
using plugin_common::TorchMessage;

constexpr uint32_t kHashedDim = 256;
constexpr uint32_t kDefaultBuckets = 1u << 15;  // 32 MiB of float weights at dim 256
constexpr uint32_t kWordDim = 100;              // of the default word-vector model
constexpr uint32_t kMaxDim = 1u << 14;
constexpr uint32_t kMaxBuckets = 1u << 24;
constexpr uint32_t kMaxLength = 1u << 14;
constexpr uint64_t kMaxTableBytes = 1ull << 30;
constexpr size_t kChunk = 1024;    // inputs per forward() call of bag models
constexpr size_t kBertChunk = 32;  // inputs per forward() call of wordpiece models
constexpr uint64_t kProjectionSeed = 0x7265636f74657874ull;  // "recotext"
constexpr const char* kProbeText = "reco text plugin probe: red running shoes";
constexpr const char* kDefaultModelFile = "text-glove100.pt";

// forward of the built-in hashed model. embedding_bag(weight, indices, offsets,
// scale_grad_by_freq, mode=0 (sum), sparse, per_sample_weights, include_last_offset)[0] is
// [batch, dim].
constexpr const char* kHashedModelSource = R"JIT(
def forward(self, ids: Tensor, offsets: Tensor, weights: Tensor) -> Tensor:
    out = torch.embedding_bag(self.weight, ids, offsets, False, 0, False, weights, False)[0]
    norm = torch.sqrt((out * out).sum(1, keepdim=True))
    return out / torch.clamp(norm, min=1e-12)
)JIT";

enum class TokenizerKind { kAuto, kWords, kHashed, kWordPiece };
enum class Pooling { kMean, kCls };

struct Options {
  uint32_t dim = kHashedDim;
  bool dim_set = false;
  uint32_t buckets = kDefaultBuckets;
  bool buckets_set = false;
  std::string model;
  TokenizerKind tokenizer = TokenizerKind::kAuto;
  std::string vocab;
  Pooling pooling = Pooling::kMean;
  uint32_t max_length = 128;
  bool lowercase = true;
  std::vector<std::string> wordpiece_keys;  // wordpiece-only options that were given
};

uint32_t ParseCount(const std::string& key, const nlohmann::json& v, uint32_t min, uint32_t max) {
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
  if (n < min || n > max) {
    throw std::runtime_error("text plugin: option \"" + key + "\" must be in [" +
                             std::to_string(min) + ", " + std::to_string(max) + "], got " +
                             std::to_string(n));
  }
  return static_cast<uint32_t>(n);
}

std::string ParseString(const std::string& key, const nlohmann::json& v, const char* what) {
  if (!v.is_string()) {
    throw std::runtime_error("text plugin: option \"" + key + "\" must be " + what + ", got " +
                             v.dump());
  }
  return v.get<std::string>();
}

bool ParseBool(const std::string& key, const nlohmann::json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "true" || s == "1") return true;
    if (s == "false" || s == "0") return false;
  }
  if (v.is_number_unsigned() && v.get<uint64_t>() <= 1) return v.get<uint64_t>() == 1;
  throw std::runtime_error("text plugin: option \"" + key + "\" must be true or false, got " +
                           v.dump());
}

Options ParseOptions(const std::string& config_json) {
  const nlohmann::json j = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    throw std::runtime_error("text plugin: config must be a JSON object, got: " + config_json);
  }
  Options o;
  for (const auto& [key, value] : j.items()) {
    if (key == "dim") {
      o.dim = ParseCount(key, value, 1, kMaxDim);
      o.dim_set = true;
    } else if (key == "buckets") {
      o.buckets = ParseCount(key, value, 1, kMaxBuckets);
      o.buckets_set = true;
    } else if (key == "model") {
      o.model = ParseString(key, value, "a path string");
    } else if (key == "tokenizer") {
      const std::string t = ParseString(key, value, "\"words\", \"hashed\" or \"wordpiece\"");
      if (t == "words") {
        o.tokenizer = TokenizerKind::kWords;
      } else if (t == "hashed") {
        o.tokenizer = TokenizerKind::kHashed;
      } else if (t == "wordpiece") {
        o.tokenizer = TokenizerKind::kWordPiece;
      } else {
        throw std::runtime_error(
            "text plugin: option \"tokenizer\" must be \"words\", "
            "\"hashed\" or \"wordpiece\", got \"" +
            t + "\"");
      }
    } else if (key == "vocab") {
      o.vocab = ParseString(key, value, "a path string");
      o.wordpiece_keys.push_back(key);
    } else if (key == "pooling") {
      const std::string p = ParseString(key, value, "\"mean\" or \"cls\"");
      if (p == "mean") {
        o.pooling = Pooling::kMean;
      } else if (p == "cls") {
        o.pooling = Pooling::kCls;
      } else {
        throw std::runtime_error(
            "text plugin: option \"pooling\" must be \"mean\" or \"cls\", "
            "got \"" +
            p + "\"");
      }
      o.wordpiece_keys.push_back(key);
    } else if (key == "max_length") {
      o.max_length = ParseCount(key, value, 2, kMaxLength);
      o.wordpiece_keys.push_back(key);
    } else if (key == "lowercase") {
      o.lowercase = ParseBool(key, value);
      o.wordpiece_keys.push_back(key);
    } else {
      throw std::runtime_error("text plugin: unknown option \"" + key +
                               "\" (known: model, tokenizer, dim, buckets, vocab, pooling, "
                               "max_length, lowercase)");
    }
  }
  if (o.tokenizer == TokenizerKind::kWordPiece) {
    if (o.model.empty()) {
      throw std::runtime_error(
          "text plugin: tokenizer \"wordpiece\" needs a \"model\" (a "
          "TorchScript BERT-style model) and a \"vocab\" (its vocab.txt)");
    }
    if (o.vocab.empty()) {
      throw std::runtime_error(
          "text plugin: tokenizer \"wordpiece\" needs a \"vocab\" (the "
          "model's vocab.txt)");
    }
    if (o.buckets_set) {
      throw std::runtime_error(
          "text plugin: option \"buckets\" is for tokenizer \"hashed\", "
          "not \"wordpiece\"");
    }
  } else if (!o.wordpiece_keys.empty()) {
    throw std::runtime_error("text plugin: option \"" + o.wordpiece_keys[0] +
                             "\" is for tokenizer \"wordpiece\" only");
  }
  if (o.tokenizer == TokenizerKind::kWords && o.buckets_set) {
    throw std::runtime_error(
        "text plugin: option \"buckets\" is for tokenizer \"hashed\", not "
        "\"words\"");
  }
  return o;
}

// The folder of this shared library (where the build puts the default model).
std::string PluginDir() {
  static const char anchor = 0;
  Dl_info info;
  if (dladdr(&anchor, &info) == 0 || info.dli_fname == nullptr) return ".";
  const std::filesystem::path p(info.dli_fname);
  return p.has_parent_path() ? p.parent_path().string() : ".";
}

const std::string& DefaultModelPath() {
  static const std::string path = PluginDir() + "/" + kDefaultModelFile;
  return path;
}

bool DefaultModelExists() {
  std::error_code ec;
  return std::filesystem::is_regular_file(DefaultModelPath(), ec);
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

std::string ReadFile(const std::string& path, const char* what) {
  std::string bytes, error;
  if (!plugin_common::ReadWholeFile(path, &bytes, &error)) {
    throw std::runtime_error(std::string("text plugin: ") + what + " file '" + path +
                             "': " + error);
  }
  return bytes;
}

// Loads a TorchScript archive from its bytes.
torch::jit::Module LoadModule(const std::string& path, const std::string& bytes) {
  if (bytes.compare(0, 4, "PK\x03\x04") != 0) {  // TorchScript files are zip archives
    throw std::runtime_error("text plugin: cannot load TorchScript model '" + path +
                             "': not a TorchScript archive (" +
                             (bytes.empty() ? "empty file" : "no zip header") + ")");
  }
  try {
    torch::jit::Module m = plugin_common::LoadModule(bytes);
    m.eval();
    return m;
  } catch (const c10::Error& e) {
    throw std::runtime_error("text plugin: cannot load TorchScript model '" + path +
                             "': " + TorchMessage(e));
  } catch (const std::exception& e) {
    throw std::runtime_error("text plugin: cannot load TorchScript model '" + path +
                             "': " + e.what());
  }
}

bool IsWordVectorModel(const torch::jit::Module& m) {
  return m.hasattr("reco_kind") && m.attr("reco_kind").isString() &&
         m.attr("reco_kind").toStringRef() == kWordModelKind;
}

bool IsTextPlain(const char* content_type) {
  if (content_type == nullptr || content_type[0] == '\0') return true;
  const std::string ct(content_type);
  return ct == "text/plain" || ct.rfind("text/plain;", 0) == 0;
}

std::string_view CheckedText(const reco_input& in, size_t i) {
  if (!IsTextPlain(in.content_type)) {
    throw std::runtime_error("input " + std::to_string(i) + ": unsupported content type '" +
                             in.content_type + "' (the text plugin takes text/plain)");
  }
  return std::string_view(reinterpret_cast<const char*>(in.data), in.data ? in.size : 0);
}

std::string ShapeString(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

std::string Range(size_t first, size_t count) {
  return "inputs " + std::to_string(first) + ".." + std::to_string(first + count - 1);
}

// The model output as a tensor: a tensor, or the first item of a tuple or list.
at::Tensor OutputTensor(const c10::IValue& result, const std::string& range, const char* expected) {
  c10::IValue v = result;
  if (v.isTuple() && !v.toTupleRef().elements().empty()) {
    v = v.toTupleRef().elements()[0];
  } else if (v.isList() && v.toListRef().size() > 0) {
    v = v.toListRef()[0];
  }
  if (!v.isTensor()) {
    throw std::runtime_error("text plugin: model returned a " + result.tagKind() + ", expected " +
                             expected + " (" + range + ")");
  }
  return v.toTensor();
}

// ---- the word-vector model, shared by instances of one file -------------------------------

struct WordModel {
  torch::jit::Module module;  // unpacked: forward() only reads it
  std::shared_ptr<const WordVocabulary> vocab;
  uint32_t dim = 0;
  std::string fingerprint;
};

std::shared_ptr<const WordModel> MakeWordModel(const std::string& path, const std::string& bytes,
                                               torch::jit::Module module) {
  const auto fail = [&](const std::string& why) {
    return std::runtime_error("text plugin: word-vector model '" + path + "': " + why);
  };
  auto model = std::make_shared<WordModel>();
  try {
    if (!module.hasattr("ngram_hash") || !module.attr("ngram_hash").isString() ||
        module.attr("ngram_hash").toStringRef() != kWordModelHash) {
      throw fail(std::string("its n-gram hashing is not ") + kWordModelHash +
                 " (made by another version of reco_text_convert? convert it again)");
    }
    for (const char* name : {"vocab", "word_weights", "word_vectors", "ngram_vectors"}) {
      if (!module.hasattr(name) || !module.attr(name).isTensor()) {
        throw fail(std::string("no tensor \"") + name + "\"");
      }
    }
    const at::Tensor vocab = module.attr("vocab").toTensor().contiguous();
    const at::Tensor weights = module.attr("word_weights").toTensor().to(at::kFloat).contiguous();
    const at::Tensor vectors = module.attr("word_vectors").toTensor();
    const at::Tensor ngrams = module.attr("ngram_vectors").toTensor();
    if (vocab.scalar_type() != at::kByte || vectors.dim() != 2 || ngrams.dim() != 2 ||
        vectors.size(1) != ngrams.size(1) || weights.dim() != 1 ||
        weights.size(0) != vectors.size(0) || vectors.size(1) < 1 || vectors.size(1) > kMaxDim) {
      throw fail("its tensors have unexpected shapes (vocab " + ShapeString(vocab) +
                 ", word_weights " + ShapeString(weights) + ", word_vectors " +
                 ShapeString(vectors) + ", ngram_vectors " + ShapeString(ngrams) + ")");
    }
    std::vector<std::string> words;
    words.reserve(static_cast<size_t>(vectors.size(0)));
    const auto* p = reinterpret_cast<const char*>(vocab.data_ptr<uint8_t>());
    const char* end = p + vocab.numel();
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
      if (nl == nullptr) nl = end;
      words.emplace_back(p, nl);
      p = nl + 1;
    }
    if (words.size() != static_cast<size_t>(vectors.size(0))) {
      throw fail("its vocab lists " + std::to_string(words.size()) + " words for " +
                 std::to_string(vectors.size(0)) + " vectors");
    }
    const float* w = weights.data_ptr<float>();
    model->vocab = std::make_shared<const WordVocabulary>(
        std::move(words), std::vector<float>(w, w + weights.numel()),
        static_cast<uint32_t>(ngrams.size(0)));
    model->dim = static_cast<uint32_t>(vectors.size(1));
    // The float table forward() reads: what the module's unpack() makes, converted here
    // because torch's own float16 conversion is slow.
    torch::InferenceMode guard;
    at::Tensor table = at::empty({vectors.size(0) + ngrams.size(0), vectors.size(1)}, at::kFloat);
    float* dst = table.data_ptr<float>();
    for (const at::Tensor& part : {vectors, ngrams}) {
      const at::Tensor half = part.to(at::kHalf).contiguous();
      const at::Half* src = half.data_ptr<at::Half>();
      for (int64_t i = 0; i < half.numel(); ++i) dst[i] = static_cast<float>(src[i]);
      dst += half.numel();
    }
    module.setattr("table", table);
    // The float16 copies are not needed any more (forward() reads the table only).
    module.setattr("word_vectors", at::empty({0, vectors.size(1)}, at::kHalf));
    module.setattr("ngram_vectors", at::empty({0, vectors.size(1)}, at::kHalf));
  } catch (const c10::Error& e) {
    throw fail(TorchMessage(e));
  }
  model->module = std::move(module);
  std::string source;
  if (model->module.hasattr("source") && model->module.attr("source").isString()) {
    source = model->module.attr("source").toStringRef();
  }
  model->fingerprint = "text-words-v1:fnv1a64=" + Hex64(Fnv1a64(bytes.data(), bytes.size())) +
                       ",words=" + std::to_string(model->vocab->size()) +
                       ",dim=" + std::to_string(model->dim);
  return model;
}

// Instances of one model file (same path, size and modification time) share it.
std::shared_ptr<const WordModel> SharedWordModel(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<const WordModel>> cache;
  struct stat st;
  std::string key = path;
  if (::stat(path.c_str(), &st) == 0) {
    key += "|" + std::to_string(st.st_size) + "|" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec);
  }
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[key];
  if (auto model = slot.lock()) return model;
  const std::string bytes = ReadFile(path, "model");
  torch::jit::Module module = LoadModule(path, bytes);
  if (!IsWordVectorModel(module)) {
    throw std::runtime_error("text plugin: model '" + path +
                             "' is not a word-vector model (no reco_kind \"" + kWordModelKind +
                             "\"; make one with reco_text_convert)");
  }
  auto model = MakeWordModel(path, bytes, std::move(module));
  slot = model;
  return model;
}

// ---- the plugin -----------------------------------------------------------------------------

class TextEmbedder : public sdk::Embedder {
 public:
  explicit TextEmbedder(const std::string& config_json) : opts_(ParseOptions(config_json)) {
    SetTorchThreadsOnce();
    switch (opts_.tokenizer) {
      case TokenizerKind::kWordPiece:
        LoadWordPieceModel();
        break;
      case TokenizerKind::kHashed:
        if (opts_.model.empty()) {
          MakeHashedDefault("");
        } else {
          const std::string bytes = ReadFile(opts_.model, "model");
          LoadHashedModel(bytes, LoadModule(opts_.model, bytes));
        }
        break;
      case TokenizerKind::kWords:
        UseWordModel(opts_.model.empty() ? RequireDefaultModel() : opts_.model);
        break;
      case TokenizerKind::kAuto:
        if (!opts_.model.empty()) {
          std::string bytes = ReadFile(opts_.model, "model");
          torch::jit::Module module = LoadModule(opts_.model, bytes);
          if (IsWordVectorModel(module)) {
            UseWordModel(opts_.model);
          } else {
            LoadHashedModel(bytes, std::move(module));
          }
        } else if (opts_.buckets_set || (opts_.dim_set && opts_.dim != kWordDim)) {
          MakeHashedDefault("");  // a v1 config of the hashed model
        } else if (DefaultModelExists()) {
          UseWordModel(DefaultModelPath());
        } else {
          WarnFallbackOnce();
          MakeHashedDefault(std::string(",fallback=no ") + kDefaultModelFile +
                            " next to reco_text.so (run tools/setup and rebuild)");
        }
        break;
    }
  }

  uint32_t dim() const override { return dim_; }

  std::string fingerprint() const override {
    if (words_ && words_->fitted()) return fingerprint_ + ",idf=" + Hex64(words_->FitHash());
    return fingerprint_;
  }

  void embed(const reco_input* inputs, size_t n, float* out) override {
    if (n == 0) return;
    if (inputs == nullptr || out == nullptr) {
      throw std::runtime_error("text plugin: embed_batch got a null inputs or out pointer");
    }
    if (wordpiece_) {
      EmbedWordPiece(inputs, n, out);
      return;
    }
    for (size_t first = 0; first < n; first += kChunk) {
      const size_t count = std::min(kChunk, n - first);
      bag_.clear();
      for (size_t i = first; i < first + count; ++i) {
        const std::string_view text = CheckedText(inputs[i], i);
        const bool ok =
            words_ ? words_->AppendBag(text, &bag_) : AppendBag(text, opts_.buckets, &bag_);
        if (!ok) throw std::runtime_error("input " + std::to_string(i) + ": empty text");
      }
      WriteRows(ForwardBag(first), first, out + first * dim_);
    }
  }

  // Word-vector models learn IDF weights from the corpus (replacing an earlier fit); the other
  // models do not learn.
  void fit(const reco_input* inputs, size_t n) override {
    if (!words_) return;
    if (n > 0 && inputs == nullptr) throw std::runtime_error("text plugin: fit got null inputs");
    std::vector<std::string_view> texts;
    texts.reserve(n);
    for (size_t i = 0; i < n; ++i) texts.push_back(CheckedText(inputs[i], i));
    words_->Fit(texts);
  }

  // The IDF weights fit() learnt, kept by the host with the space (ABI 1.2).
  std::string save_state() override { return words_ ? words_->SaveFit() : std::string(); }
  void load_state(const uint8_t* data, size_t size) override {
    if (size == 0) return;
    if (!words_) throw std::runtime_error("text plugin: this model learns no state to load");
    words_->LoadFit(data, size);
  }

 private:
  static void WarnFallbackOnce() {
    static std::once_flag once;
    std::call_once(once, [] {
      std::cerr << "reco_text: warning: no default model " << DefaultModelPath()
                << " (run tools/setup, then build again); using the hashed n-gram model\n";
    });
  }

  static std::string RequireDefaultModel() {
    if (!DefaultModelExists()) {
      throw std::runtime_error(std::string("text plugin: tokenizer \"words\" without a \"model\" "
                                           "needs the default model ") +
                               DefaultModelPath() + " (run tools/setup, then build again)");
    }
    return DefaultModelPath();
  }

  void MakeHashedDefault(const std::string& note) {
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
      module_.define(kHashedModelSource);
      module_.eval();
    } catch (const c10::Error& e) {
      throw std::runtime_error("text plugin: cannot build the default model: " + TorchMessage(e));
    }
    fingerprint_ = "text-default-v1:buckets=" + std::to_string(opts_.buckets) +
                   ",dim=" + std::to_string(dim_) + note;
  }

  void UseWordModel(const std::string& path) {
    word_model_ = SharedWordModel(path);
    module_ = word_model_->module;  // a handle: forward() of the shared module only reads it
    words_ = std::make_unique<WordFeaturizer>(word_model_->vocab);
    dim_ = 0;
    Probe(word_model_->dim, path);
    fingerprint_ = word_model_->fingerprint;
  }

  void LoadHashedModel(const std::string& bytes, torch::jit::Module module) {
    module_ = std::move(module);
    Probe(0, opts_.model);
    fingerprint_ = "text-model-v1:fnv1a64=" + Hex64(Fnv1a64(bytes.data(), bytes.size())) +
                   ",buckets=" + std::to_string(opts_.buckets);
  }

  // Runs a bag model once to find (or check) its output dim.
  void Probe(uint32_t expected_dim, const std::string& path) {
    bag_.clear();
    if (words_) {
      words_->AppendBag(kProbeText, &bag_);
    } else {
      AppendBag(kProbeText, opts_.buckets, &bag_);
    }
    at::Tensor probe;
    try {
      probe = ForwardBag(0);
    } catch (const std::exception& e) {
      throw std::runtime_error("text plugin: model '" + path +
                               "' failed on a probe text: " + e.what());
    }
    SetDim(static_cast<uint64_t>(probe.size(1)), path);
    if (expected_dim != 0 && dim_ != expected_dim) {
      throw std::runtime_error("text plugin: model '" + path + "' outputs dim " +
                               std::to_string(dim_) + " but its vectors have dim " +
                               std::to_string(expected_dim));
    }
  }

  void SetDim(uint64_t model_dim, const std::string& path) {
    if (model_dim < 1 || model_dim > kMaxDim) {
      throw std::runtime_error("text plugin: model '" + path + "' outputs dim " +
                               std::to_string(model_dim) + ", expected 1.." +
                               std::to_string(kMaxDim));
    }
    if (opts_.dim_set && opts_.dim != model_dim) {
      throw std::runtime_error("text plugin: model '" + path + "' outputs dim " +
                               std::to_string(model_dim) + " but the config says dim " +
                               std::to_string(opts_.dim));
    }
    dim_ = static_cast<uint32_t>(model_dim);
  }

  // Runs a bag model on bag_ (whose first bag is input `first`). Returns a contiguous float CPU
  // tensor [bag_.size(), D]; D is checked against dim_ once dim_ is known.
  at::Tensor ForwardBag(size_t first) {
    const auto batch = static_cast<int64_t>(bag_.size());
    const std::string range = Range(first, bag_.size());
    try {
      torch::InferenceMode guard;
      const auto nnz = static_cast<int64_t>(bag_.ids.size());
      std::vector<c10::IValue> args{at::from_blob(bag_.ids.data(), {nnz}, at::kLong),
                                    at::from_blob(bag_.offsets.data(), {batch}, at::kLong),
                                    at::from_blob(bag_.weights.data(), {nnz}, at::kFloat)};
      const c10::IValue result = module_.forward(std::move(args));
      if (!result.isTensor()) {
        throw std::runtime_error("text plugin: model returned a " + result.tagKind() +
                                 ", expected a float tensor [batch, dim] (" + range + ")");
      }
      return CheckRows(result.toTensor(), batch, range);
    } catch (const c10::Error& e) {
      throw std::runtime_error("text plugin: model failed on " + range + ": " + TorchMessage(e));
    }
  }

  // Checks a [batch, D] output and returns it as a contiguous float CPU tensor.
  at::Tensor CheckRows(const at::Tensor& t, int64_t batch, const std::string& range) const {
    const bool dim_ok = dim_ == 0 ? t.dim() == 2 : t.dim() == 2 && t.size(1) == dim_;
    if (!dim_ok || t.size(0) != batch) {
      throw std::runtime_error("text plugin: model output has shape " + ShapeString(t) +
                               ", expected [" + std::to_string(batch) + ", " +
                               (dim_ == 0 ? std::string("dim") : std::to_string(dim_)) + "] (" +
                               range + ")");
    }
    if (!t.is_floating_point()) {
      throw std::runtime_error("text plugin: model output has dtype " +
                               std::string(c10::toString(t.scalar_type())) +
                               ", expected a floating-point tensor (" + range + ")");
    }
    return t.to(at::kCPU, at::kFloat).contiguous();
  }

  // ---- wordpiece ----

  void LoadWordPieceModel() {
    wordpiece_ = std::make_unique<WordPieceTokenizer>(
        WordPieceTokenizer::FromFile(opts_.vocab, opts_.lowercase));
    const std::string vocab_bytes = ReadFile(opts_.vocab, "vocab");
    const std::string bytes = ReadFile(opts_.model, "model");
    module_ = LoadModule(opts_.model, bytes);
    at::Tensor probe;
    try {
      const std::string text = kProbeText;
      const reco_input in{"text/plain", reinterpret_cast<const uint8_t*>(text.data()), text.size()};
      probe = ForwardWordPiece(&in, 1, 0);
    } catch (const std::exception& e) {
      throw std::runtime_error("text plugin: model '" + opts_.model +
                               "' failed on a probe text: " + e.what());
    }
    SetDim(static_cast<uint64_t>(probe.size(1)), opts_.model);
    fingerprint_ = "text-wordpiece-v1:model=" + Hex64(Fnv1a64(bytes.data(), bytes.size())) +
                   ",vocab=" + Hex64(Fnv1a64(vocab_bytes.data(), vocab_bytes.size())) +
                   ",pooling=" + (opts_.pooling == Pooling::kMean ? "mean" : "cls") +
                   ",max_length=" + std::to_string(opts_.max_length) +
                   ",lowercase=" + (opts_.lowercase ? "true" : "false");
  }

  void EmbedWordPiece(const reco_input* inputs, size_t n, float* out) {
    for (size_t first = 0; first < n; first += kBertChunk) {
      const size_t count = std::min(kBertChunk, n - first);
      WriteRows(ForwardWordPiece(inputs + first, count, first), first, out + first * dim_);
    }
  }

  // Tokenises `count` inputs (the first is input `first`), runs the model and pools: a
  // contiguous float tensor [count, H].
  at::Tensor ForwardWordPiece(const reco_input* inputs, size_t count, size_t first) {
    std::vector<std::vector<int64_t>> encoded(count);
    size_t longest = 0;
    for (size_t i = 0; i < count; ++i) {
      const std::string_view text = CheckedText(inputs[i], first + i);
      encoded[i] = wordpiece_->Encode(text, opts_.max_length);
      if (encoded[i].size() <= 2) {
        throw std::runtime_error("input " + std::to_string(first + i) + ": empty text");
      }
      longest = std::max(longest, encoded[i].size());
    }
    const auto b = static_cast<int64_t>(count);
    const auto t = static_cast<int64_t>(longest);
    at::Tensor ids = at::full({b, t}, wordpiece_->pad_id(), at::kLong);
    at::Tensor mask = at::zeros({b, t}, at::kLong);
    for (size_t i = 0; i < count; ++i) {
      int64_t* id_row = ids.data_ptr<int64_t>() + i * t;
      int64_t* mask_row = mask.data_ptr<int64_t>() + i * t;
      std::copy(encoded[i].begin(), encoded[i].end(), id_row);
      std::fill(mask_row, mask_row + encoded[i].size(), 1);
    }
    const std::string range = Range(first, count);
    try {
      torch::InferenceMode guard;
      const c10::IValue result = module_.forward({ids, mask});
      at::Tensor h =
          OutputTensor(result, range, "a float tensor [batch, tokens, hidden] or [batch, hidden]");
      if (h.dim() == 3 && h.size(0) == b && h.size(1) == t) {
        if (!h.is_floating_point()) return CheckRows(h, b, range);  // names the dtype
        h = h.to(at::kFloat);
        if (opts_.pooling == Pooling::kCls) {
          h = h.select(1, 0);
        } else {
          const at::Tensor m = mask.to(h.scalar_type()).unsqueeze(2);
          h = (h * m).sum(1) / m.sum(1).clamp_min(1.0);
        }
      } else if (h.dim() == 3) {
        throw std::runtime_error("text plugin: model output has shape " + ShapeString(h) +
                                 ", expected [" + std::to_string(b) + ", " + std::to_string(t) +
                                 ", hidden] (" + range + ")");
      }
      return CheckRows(h, b, range);
    } catch (const c10::Error& e) {
      throw std::runtime_error("text plugin: model failed on " + range + ": " + TorchMessage(e));
    }
  }

  // L2-normalises the rows of t into out, refusing NaN/Inf and zero rows.
  void WriteRows(const at::Tensor& t, size_t first, float* out) const {
    plugin_common::WriteNormalizedRows(t, dim_, first, out);
  }

  Options opts_;
  uint32_t dim_ = 0;
  std::shared_ptr<const at::Tensor> table_;  // built-in hashed model only
  std::shared_ptr<const WordModel> word_model_;
  std::unique_ptr<WordFeaturizer> words_;          // word-vector models
  std::unique_ptr<WordPieceTokenizer> wordpiece_;  // wordpiece models
  torch::jit::Module module_;
  std::string fingerprint_;
  Bag bag_;  // scratch of embed()
};

// The output dim of a "{}" instance: the default word-vector model's, or the hashed model's when
// the build made no default model.
uint32_t DefaultDim() { return DefaultModelExists() ? kWordDim : kHashedDim; }

}  // namespace
}  // namespace text
}  // namespace reco

// RECO_PLUGIN's entry point, with the default dim decided when the library is first asked.
extern "C" __attribute__((visibility("default"))) const reco_plugin_v1* reco_plugin_entry(
    uint32_t /*host_abi_version*/) {
  static const reco_plugin_v1 table = ::reco::sdk::detail::MakeTable<reco::text::TextEmbedder>(
      "text", "1.1.0", "text", "text/plain", reco::text::DefaultDim());
  return &table;
}
