#include "tokenizer.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>
#include <utility>

namespace reco {
namespace text {
namespace {

// Per-kind salts: the same string as a word, a bigram or a 3-gram hashes differently.
constexpr uint64_t kSaltWord = 0x9e3779b97f4a7c15ull;
constexpr uint64_t kSaltBigram = 0xc2b2ae3d27d4eb4full;
constexpr uint64_t kSaltTrigram = 0x165667b19e3779f9ull;

constexpr float kWordWeight = 1.0f;
constexpr float kBigramWeight = 0.5f;
// English function words carry little meaning but are frequent in descriptions: their word
// and bigram features get a small weight (so "for men" still differs from "men").
constexpr float kStopWordScale = 0.2f;
constexpr float kStopBigramScale = 0.5f;

bool IsStopWord(const std::string& w) {
  static const std::unordered_set<std::string>* const words = new std::unordered_set<std::string>{
      "a",     "an",   "and",  "are",  "as",  "at",   "be",   "but",  "by",   "can",   "do",
      "does",  "each", "for",  "from", "has", "have", "he",   "her",  "his",  "i",     "if",
      "in",    "into", "is",   "it",   "its", "me",   "my",   "no",   "not",  "of",    "on",
      "or",    "our",  "out",  "over", "she", "so",   "than", "that", "the",  "their", "them",
      "they",  "this", "to",   "up",   "us",  "was",  "we",   "were", "what", "when",  "which",
      "while", "who",  "will", "with", "you", "your"};
  return words->count(w) > 0;
}

bool IsWordByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

char Lower(unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); }

uint64_t HashFeature(uint64_t salt, std::string_view s) {
  return Mix64(Fnv1a64(s.data(), s.size(), kFnvOffset ^ salt));
}

struct Raw {
  uint64_t hash;
  float weight;
};

}  // namespace

uint64_t Fnv1a64(const void* data, size_t size, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = seed;
  for (size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= kFnvPrime;
  }
  return h;
}

uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

std::vector<std::string> Tokenize(std::string_view text) {
  std::vector<std::string> words;
  std::string cur;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsWordByte(c)) {
      cur.push_back(Lower(c));
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

std::vector<Feature> Featurize(std::string_view text, uint32_t buckets) {
  std::vector<Feature> out;
  if (buckets == 0) return out;
  const std::vector<std::string> words = Tokenize(text);
  if (words.empty()) return out;

  std::vector<Raw> raw;
  raw.reserve(words.size() * 8);
  std::string scratch;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    const bool stop = IsStopWord(w);
    raw.push_back({HashFeature(kSaltWord, w), stop ? kWordWeight * kStopWordScale : kWordWeight});
    if (i + 1 < words.size()) {
      scratch.assign(w);
      scratch.push_back(' ');
      scratch.append(words[i + 1]);
      const bool stop_pair = stop || IsStopWord(words[i + 1]);
      raw.push_back({HashFeature(kSaltBigram, scratch),
                     stop_pair ? kBigramWeight * kStopBigramScale : kBigramWeight});
    }
    scratch.assign("<");
    scratch.append(w);
    scratch.push_back('>');
    const size_t grams = scratch.size() - 2;  // >= 1: every word has at least one byte
    const float gram_weight = 1.0f / std::sqrt(static_cast<float>(grams));
    for (size_t g = 0; g < grams; ++g) {
      raw.push_back(
          {HashFeature(kSaltTrigram, std::string_view(scratch).substr(g, 3)), gram_weight});
    }
  }

  // Sublinear term frequency per distinct feature: mean weight * (1 + ln count).
  std::sort(raw.begin(), raw.end(), [](const Raw& a, const Raw& b) { return a.hash < b.hash; });
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size();) {
    size_t j = i;
    double sum = 0.0;
    while (j < raw.size() && raw[j].hash == raw[i].hash) sum += raw[j++].weight;
    const double count = static_cast<double>(j - i);
    const double weight = sum / count * (1.0 + std::log(count));
    out.push_back({static_cast<int64_t>(raw[i].hash % buckets), static_cast<float>(weight)});
    i = j;
  }

  // Merge collisions, in bucket order so the result does not depend on hash order.
  std::sort(out.begin(), out.end(), [](const Feature& a, const Feature& b) {
    return a.bucket != b.bucket ? a.bucket < b.bucket : a.weight < b.weight;
  });
  size_t n = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    if (n > 0 && out[n - 1].bucket == out[i].bucket) {
      out[n - 1].weight += out[i].weight;
    } else {
      out[n++] = out[i];
    }
  }
  out.resize(n);
  return out;
}

bool AppendBag(std::string_view text, uint32_t buckets, Bag* bag) {
  const std::vector<Feature> features = Featurize(text, buckets);
  if (features.empty()) return false;
  bag->offsets.push_back(static_cast<int64_t>(bag->ids.size()));
  for (const Feature& f : features) {
    bag->ids.push_back(f.bucket);
    bag->weights.push_back(f.weight);
  }
  return true;
}

}  // namespace text
}  // namespace reco
