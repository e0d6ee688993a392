// Tokenizer of the text plugin: turns a text into hashed sparse features, laid out as the
// inputs of an EmbeddingBag (ids, offsets, per-sample weights).
//
// Features of a text:
//  - words: ASCII lower-cased; a word is a run of [a-z0-9] or bytes >= 0x80 (so UTF-8 words
//    survive); weight 1.0 per occurrence, 0.2 for English stop words ("the", "with", ...);
//  - word bigrams ("running shoes"): weight 0.5 per occurrence, 0.25 when one of the two words
//    is a stop word;
//  - character 3-grams of each word with boundary markers ("<shoe>" -> "<sh", "sho", "hoe",
//    "oe>"): n grams of one word weigh 1/sqrt(n) each, so a word's 3-grams together have the
//    same L2 mass as the word itself; "shoe" and "shoes" share 3 of their 3-grams.
// Repeated features get sublinear term frequency: mean weight * (1 + ln count). Each feature
// is hashed (64-bit FNV-1a with a per-kind salt, then a 64-bit finaliser) into one of
// `buckets` buckets; features that collide add up.
//
// Header and source are shared by the plugin and its tests; nothing here depends on torch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace reco {
namespace text {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ull;
constexpr uint64_t kFnvPrime = 0x100000001b3ull;

// 64-bit FNV-1a of `size` bytes, starting from `seed`.
uint64_t Fnv1a64(const void* data, size_t size, uint64_t seed = kFnvOffset);

// SplitMix64 finaliser: a bijective 64-bit mixer.
uint64_t Mix64(uint64_t x);

// The words of a text, lower-cased, in order.
std::vector<std::string> Tokenize(std::string_view text);

// One hashed feature.
struct Feature {
  int64_t bucket;
  float weight;
};

// The features of a text, merged per bucket and sorted by bucket. Empty when the text has no
// words. `buckets` must be > 0.
std::vector<Feature> Featurize(std::string_view text, uint32_t buckets);

// EmbeddingBag inputs of a batch: bag i is ids[offsets[i] .. offsets[i+1]) (or to the end).
struct Bag {
  std::vector<int64_t> ids;
  std::vector<int64_t> offsets;
  std::vector<float> weights;
  size_t size() const { return offsets.size(); }
  void clear() {
    ids.clear();
    offsets.clear();
    weights.clear();
  }
};

// Appends the text's features as a new bag. Returns false, and appends nothing, when the text
// has no features (empty or only separators).
bool AppendBag(std::string_view text, uint32_t buckets, Bag* bag);

}  // namespace text
}  // namespace reco
