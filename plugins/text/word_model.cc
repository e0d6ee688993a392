#include "word_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "tokenizer.h"
#include "unicode.h"

namespace reco {
namespace text {
namespace {

constexpr uint64_t kSaltNgram = 0x6e6772616d733335ull;  // "ngrams35"
constexpr size_t kMaxSimilar = 3;
constexpr float kMinSimilarity = 0.5f;
constexpr size_t kMaxWordBytes = 128;  // longer words: only their first bytes are n-grammed
constexpr size_t kMaxOovCache = 1u << 16;
constexpr double kIdfRefFraction = 0.05;
constexpr double kIdfFloor = 0.05;

bool IsJoiner(char32_t c) { return c == '-' || c == '\'' || c == 0x2019; }

// Symbols that separate words although BERT's classes call them neither space nor punctuation
// (Unicode category S*: degrees, currency, math, arrows, emoji ...), roughly.
bool IsSymbol(char32_t c) {
  return (c >= 0xA2 && c <= 0xA9) || c == 0xAC || (c >= 0xAE && c <= 0xB1) || c == 0xB4 ||
         c == 0xB8 || c == 0xD7 || c == 0xF7 || (c >= 0x2000 && c <= 0x2BFF) ||
         (c >= 0x3000 && c <= 0x303F) || (c >= 0x1F000 && c <= 0x1FAFF) || c == 0xFFFD;
}

// A letter or digit of a word (after folding).
bool IsWordChar(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
  return !IsWhitespace(c) && !IsControl(c) && !IsPunctuation(c) && !IsMark(c) && !IsSymbol(c) &&
         !IsCjk(c);
}

uint64_t HashGram(const char* p, size_t n) { return Mix64(Fnv1a64(p, n, kFnvOffset ^ kSaltNgram)); }

}  // namespace

void WordNgramHashes(std::string_view word, std::string* scratch, std::vector<uint64_t>* out) {
  std::string& s = *scratch;
  s.assign(1, '<');
  s.append(word.substr(0, kMaxWordBytes));
  s.push_back('>');
  out->clear();
  for (size_t n = kNgramMin; n <= kNgramMax; ++n) {
    for (size_t i = 0; i + n <= s.size(); ++i) out->push_back(HashGram(s.data() + i, n));
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
}

std::vector<uint64_t> WordNgramHashes(std::string_view word) {
  std::string scratch;
  std::vector<uint64_t> out;
  WordNgramHashes(word, &scratch, &out);
  return out;
}

double ZipfFrequency(size_t rank, size_t n) {
  const double harmonic = std::log(static_cast<double>(std::max<size_t>(n, 1))) + 0.5772156649;
  return 1.0 / ((static_cast<double>(rank) + 1.0) * harmonic);
}

std::vector<std::string> WordTokens(std::string_view text,
                                    const std::function<bool(const std::string&)>* keep) {
  std::u32string folded;
  folded.reserve(text.size());
  for (char32_t c : DecodeUtf8(text)) AppendFolded(c, &folded);

  std::vector<std::string> tokens;
  std::vector<std::string> parts;  // the parts of the current run
  std::string compound;            // the run with its joiners
  const auto flush = [&] {
    if (parts.size() == 1) {
      tokens.push_back(std::move(parts[0]));
    } else if (parts.size() > 1) {
      if (keep != nullptr && (*keep)(compound)) {
        tokens.push_back(compound);
      } else {
        for (std::string& p : parts) tokens.push_back(std::move(p));
      }
    }
    parts.clear();
    compound.clear();
  };
  std::string cur;
  for (size_t i = 0; i < folded.size(); ++i) {
    const char32_t c = folded[i];
    if (IsWordChar(c)) {
      AppendUtf8(c, &cur);
      continue;
    }
    if (!cur.empty()) {
      compound += cur;
      parts.push_back(std::move(cur));
      cur.clear();
      if (IsJoiner(c) && i + 1 < folded.size() && IsWordChar(folded[i + 1])) {
        compound.push_back(c == '-' ? '-' : '\'');
        continue;  // the run goes on
      }
    }
    flush();
    if (IsCjk(c)) {
      std::string ideograph;
      AppendUtf8(c, &ideograph);
      tokens.push_back(std::move(ideograph));
    }
  }
  if (!cur.empty()) {
    compound += cur;
    parts.push_back(std::move(cur));
  }
  flush();
  return tokens;
}

bool IsWordToken(std::string_view word) {
  if (word.empty()) return false;
  const std::function<bool(const std::string&)> always = [](const std::string&) { return true; };
  const std::vector<std::string> tokens = WordTokens(word, &always);
  return tokens.size() == 1 && tokens[0] == word;
}

// ---- WordVocabulary ----------------------------------------------------------------------

WordVocabulary::WordVocabulary(std::vector<std::string> words, std::vector<float> weights,
                               uint32_t ngram_buckets)
    : words_(std::move(words)), weights_(std::move(weights)), ngram_buckets_(ngram_buckets) {
  index_.reserve(words_.size() * 2);
  for (size_t i = 0; i < words_.size(); ++i) {
    index_.emplace(std::string_view(words_[i]), static_cast<int64_t>(i));  // first wins
  }
  std::vector<std::pair<uint64_t, uint32_t>> unsorted;
  unsorted.reserve(words_.size() * 20);
  gram_counts_.resize(words_.size());
  std::string scratch;
  std::vector<uint64_t> grams;
  for (size_t i = 0; i < words_.size(); ++i) {
    WordNgramHashes(words_[i], &scratch, &grams);
    gram_counts_[i] = static_cast<uint8_t>(std::min<size_t>(grams.size(), 255));
    for (uint64_t g : grams) unsorted.emplace_back(g, static_cast<uint32_t>(i));
  }
  // Sorted by (hash, word): the hashes are uniform, so a counting sort on their top bits leaves
  // short runs to sort (a plain sort of ~2M pairs is most of a model's load time).
  const int bits = 18;
  std::vector<uint32_t> starts((size_t{1} << bits) + 1, 0);
  for (const auto& p : unsorted) ++starts[(p.first >> (64 - bits)) + 1];
  for (size_t b = 1; b < starts.size(); ++b) starts[b] += starts[b - 1];
  std::vector<std::pair<uint64_t, uint32_t>> pairs(unsorted.size());
  {
    std::vector<uint32_t> next(starts.begin(), starts.end() - 1);
    for (const auto& p : unsorted) pairs[next[p.first >> (64 - bits)]++] = p;
  }
  unsorted = {};
  for (size_t b = 0; b + 1 < starts.size(); ++b) {
    if (starts[b + 1] - starts[b] > 1) {
      std::sort(pairs.begin() + starts[b], pairs.begin() + starts[b + 1]);
    }
  }
  postings_.reserve(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (i == 0 || pairs[i].first != pairs[i - 1].first) {
      grams_.push_back(pairs[i].first);
      offsets_.push_back(static_cast<uint32_t>(postings_.size()));
    }
    postings_.push_back(pairs[i].second);
  }
  offsets_.push_back(static_cast<uint32_t>(postings_.size()));
}

int64_t WordVocabulary::Find(const std::string& word) const {
  const auto it = index_.find(std::string_view(word));
  return it == index_.end() ? -1 : it->second;
}

std::vector<std::pair<int64_t, float>> WordVocabulary::Similar(
    std::string_view word, std::vector<uint16_t>* counts) const {
  std::vector<std::pair<int64_t, float>> best;
  if (words_.empty()) return best;
  counts->resize(words_.size(), 0);
  const std::vector<uint64_t> grams = WordNgramHashes(word);
  std::vector<uint32_t> touched;
  for (uint64_t g : grams) {
    const auto it = std::lower_bound(grams_.begin(), grams_.end(), g);
    if (it == grams_.end() || *it != g) continue;
    const size_t k = static_cast<size_t>(it - grams_.begin());
    for (uint32_t p = offsets_[k]; p < offsets_[k + 1]; ++p) {
      const uint32_t id = postings_[p];
      if ((*counts)[id]++ == 0) touched.push_back(id);
    }
  }
  const double na = static_cast<double>(grams.size());
  for (uint32_t id : touched) {
    const double score = (*counts)[id] / std::sqrt(na * std::max<uint8_t>(gram_counts_[id], 1));
    (*counts)[id] = 0;
    if (score >= kMinSimilarity) best.emplace_back(id, static_cast<float>(std::min(score, 1.0)));
  }
  std::sort(best.begin(), best.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (best.size() > kMaxSimilar) best.resize(kMaxSimilar);
  return best;
}

// ---- WordFeaturizer ----------------------------------------------------------------------

WordFeaturizer::WordFeaturizer(std::shared_ptr<const WordVocabulary> vocab)
    : vocab_(std::move(vocab)) {}

const std::vector<std::pair<int64_t, float>>& WordFeaturizer::Expand(const std::string& word) {
  auto it = oov_cache_.find(word);
  if (it != oov_cache_.end()) return it->second;
  if (oov_cache_.size() >= kMaxOovCache) oov_cache_.clear();
  std::vector<std::pair<int64_t, float>> rows = vocab_->Similar(word, &scratch_);
  if (!rows.empty()) {
    // The similar words stand in for it, weighted by overlap; the whole has the best overlap's
    // weight (a near-certain spelling variant counts almost as the word itself).
    double total = 0;
    for (const auto& r : rows) total += r.second;
    const double confidence = rows[0].second;
    for (auto& r : rows) r.second = static_cast<float>(confidence * r.second / total);
  } else if (vocab_->ngram_buckets() > 0) {
    // The mean of its hashed n-gram rows.
    const std::vector<uint64_t> grams = WordNgramHashes(word);
    const float share = 1.0f / static_cast<float>(grams.size());
    const auto base = static_cast<int64_t>(vocab_->size());
    for (uint64_t g : grams) {
      rows.emplace_back(base + static_cast<int64_t>(g % vocab_->ngram_buckets()), share);
    }
  }
  return oov_cache_.emplace(word, std::move(rows)).first->second;
}

bool WordFeaturizer::AppendBag(std::string_view text, Bag* bag) {
  const std::function<bool(const std::string&)> keep = [this](const std::string& w) {
    return vocab_->Find(w) >= 0;
  };
  const std::vector<std::string> tokens = WordTokens(text, &keep);
  const size_t start = bag->ids.size();
  bag->offsets.push_back(static_cast<int64_t>(start));
  for (const std::string& t : tokens) {
    const float factor = IdfFactor(t);
    const int64_t id = vocab_->Find(t);
    if (id >= 0) {
      bag->ids.push_back(id);
      bag->weights.push_back(vocab_->weight(static_cast<size_t>(id)) * factor);
      continue;
    }
    for (const auto& [row, coefficient] : Expand(t)) {
      bag->ids.push_back(row);
      bag->weights.push_back(coefficient * factor);
    }
  }
  if (bag->ids.size() == start) {
    bag->offsets.pop_back();
    return false;
  }
  return true;
}

float WordFeaturizer::IdfFactor(const std::string& word) const {
  if (idf_.empty()) return 1.0f;
  const auto it = idf_.find(word);
  return it == idf_.end() ? 1.0f : it->second;
}

void WordFeaturizer::Fit(const std::vector<std::string_view>& texts) {
  idf_.clear();
  fit_docs_ = 0;
  fit_hash_ = 0;
  const std::function<bool(const std::string&)> keep = [this](const std::string& w) {
    return vocab_->Find(w) >= 0;
  };
  std::unordered_map<std::string, uint32_t> df;
  for (std::string_view text : texts) {
    std::vector<std::string> tokens = WordTokens(text, &keep);
    if (tokens.empty()) continue;
    ++fit_docs_;
    std::sort(tokens.begin(), tokens.end());
    tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
    for (std::string& t : tokens) ++df[std::move(t)];
  }
  if (fit_docs_ == 0) return;
  const double n = static_cast<double>(fit_docs_);
  const double df0 = std::max(1.0, std::floor(n * kIdfRefFraction));
  const double ref = std::log((n + 1.0) / (df0 + 1.0));
  std::vector<std::pair<std::string, float>> learnt;
  if (ref > 0) {
    for (const auto& [word, count] : df) {
      const double factor = std::log((n + 1.0) / (count + 1.0)) / ref;
      if (factor < 1.0) learnt.emplace_back(word, static_cast<float>(std::max(factor, kIdfFloor)));
    }
  }
  std::sort(learnt.begin(), learnt.end());
  SetLearnt(fit_docs_, learnt);
}

void WordFeaturizer::SetLearnt(size_t docs,
                               const std::vector<std::pair<std::string, float>>& learnt) {
  idf_.clear();
  fit_docs_ = docs;
  uint64_t h = Fnv1a64(&fit_docs_, sizeof(fit_docs_));
  for (const auto& [word, factor] : learnt) {
    h = Fnv1a64(word.data(), word.size(), h);
    h = Fnv1a64(&factor, sizeof(factor), h);
    idf_.emplace(word, factor);
  }
  fit_hash_ = docs > 0 ? Mix64(h) : 0;
}

// State layout: "RIDF1", u64 documents, u64 FitHash, u32 count, then per word (sorted):
// u32 length, the word's bytes, f32 factor. Native byte order (the state lives with one
// database on one machine).
namespace {
constexpr char kFitMagic[] = "RIDF1";
template <class T>
void PutRaw(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
}
}  // namespace

std::string WordFeaturizer::SaveFit() const {
  if (fit_docs_ == 0) return std::string();
  std::vector<std::pair<std::string, float>> learnt(idf_.begin(), idf_.end());
  std::sort(learnt.begin(), learnt.end());
  std::string out(kFitMagic, sizeof(kFitMagic) - 1);
  PutRaw<uint64_t>(&out, fit_docs_);
  PutRaw<uint64_t>(&out, fit_hash_);
  PutRaw<uint32_t>(&out, static_cast<uint32_t>(learnt.size()));
  for (const auto& [word, factor] : learnt) {
    PutRaw<uint32_t>(&out, static_cast<uint32_t>(word.size()));
    out += word;
    PutRaw<float>(&out, factor);
  }
  return out;
}

void WordFeaturizer::LoadFit(const uint8_t* data, size_t size) {
  const char* p = reinterpret_cast<const char*>(data);
  const char* end = p + size;
  auto need = [&](size_t n) {
    if (static_cast<size_t>(end - p) < n) {
      throw std::runtime_error("text plugin: the saved IDF state is truncated");
    }
  };
  auto get = [&](auto* v) {
    need(sizeof(*v));
    std::memcpy(v, p, sizeof(*v));
    p += sizeof(*v);
  };
  const size_t magic = sizeof(kFitMagic) - 1;
  if (size < magic || std::memcmp(p, kFitMagic, magic) != 0) {
    throw std::runtime_error("text plugin: the saved state is not an IDF state of this plugin");
  }
  p += magic;
  uint64_t docs = 0, hash = 0;
  uint32_t count = 0;
  get(&docs);
  get(&hash);
  get(&count);
  std::vector<std::pair<std::string, float>> learnt;
  learnt.reserve(std::min<size_t>(count, size / 9));
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t len = 0;
    get(&len);
    need(len);
    std::string word(p, len);
    p += len;
    float factor = 0;
    get(&factor);
    if (!std::isfinite(factor) || factor <= 0 || factor > 1) {
      throw std::runtime_error("text plugin: the saved IDF state has a bad factor for '" + word +
                               "'");
    }
    learnt.emplace_back(std::move(word), factor);
  }
  if (p != end) throw std::runtime_error("text plugin: the saved IDF state has trailing bytes");
  SetLearnt(docs, learnt);
  if (fit_hash_ != hash) {
    SetLearnt(0, {});
    throw std::runtime_error("text plugin: the saved IDF state fails its checksum");
  }
}

}  // namespace text
}  // namespace reco
