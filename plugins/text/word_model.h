// The word-vector model of the text plugin (its default: GloVe 6B 100-d), the part without
// torch: tokenisation into vocabulary words, out-of-vocabulary words, and fitted term weights.
// The converter (convert_glove.cc) and the plugin share it, so both agree on every id.
//
// A text becomes an EmbeddingBag input over a table of K word rows followed by B n-gram rows:
//  - words: folded (lower-cased, accents stripped: unicode.h) runs of letters and digits; a run
//    joined by '-' or an apostrophe ("t-shirt", "men's") is one word when the vocabulary has
//    it, else its parts; CJK ideographs are words of their own; other punctuation separates;
//  - a vocabulary word w is row id(w) with weight sif(w) = a / (a + p(w)), p(w) the Zipf
//    frequency of its rank in the source list (the source lists words by frequency), so "the",
//    "with" weigh little and content words about 1 (Arora et al. 2017, "SIF");
//  - an out-of-vocabulary word ("sneakerz") is spelled like vocabulary words: its character
//    3..5-grams (with < > word boundaries) are looked up in an inverted index of the
//    vocabulary's n-grams, and the (up to 3) words with cosine n-gram overlap >= 0.5 stand in
//    for it, weighted by overlap ("sneakerz" -> "sneakers"); a word like none of them is the
//    mean of its hashed n-gram rows (K + hash % B), rows the converter derived from the
//    vocabulary (the mean centred vector of the words containing each n-gram);
//  - after Fit(corpus) each word's weight is also multiplied by a clipped IDF learnt from the
//    corpus: min(1, ln((N+1)/(df+1)) / ln((N+1)/(df0+1))), df0 = max(1, N/20), floor 0.05, so
//    words in more than 5% of the corpus's texts weigh less ("with", a brand on every item).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace reco {
namespace text {

struct Bag;

constexpr size_t kNgramMin = 3;
constexpr size_t kNgramMax = 5;
// Identifies the hashing below; stored in the model so a plugin refuses a model whose n-gram
// rows were hashed differently.
constexpr const char* kWordModelHash = "fnv1a64-mix64-ngram3-5-v1";
constexpr const char* kWordModelKind = "reco-text-word-vectors-v1";

// The distinct 64-bit hashes of the character n-grams (kNgramMin..kNgramMax bytes of "<w>",
// where w is the UTF-8 word, at most its first 128 bytes) of a word, sorted.
std::vector<uint64_t> WordNgramHashes(std::string_view word);
// The same into *out (cleared first), with *scratch for the framed word.
void WordNgramHashes(std::string_view word, std::string* scratch, std::vector<uint64_t>* out);

// The Zipf frequency of 0-based rank r among n words: 1 / ((r + 1) * H(n)).
double ZipfFrequency(size_t rank, size_t n);

// The folded words of a text, with '-'/apostrophe compounds kept whole when `keep` says so
// (keep == nullptr: always split). Exposed for the converter and the tests.
std::vector<std::string> WordTokens(std::string_view text,
                                    const std::function<bool(const std::string&)>* keep = nullptr);

// True when `word` is a single token of WordTokens (so a vocabulary entry can ever be looked
// up): folded, no separator, joiners only between letters or digits.
bool IsWordToken(std::string_view word);

// The read-only part shared by all instances of one model file: vocabulary, weights and the
// inverted n-gram index.
class WordVocabulary {
 public:
  // `words` in row order; `weights` one per word; `ngram_buckets` rows follow the words.
  WordVocabulary(std::vector<std::string> words, std::vector<float> weights,
                 uint32_t ngram_buckets);

  size_t size() const { return words_.size(); }
  uint32_t ngram_buckets() const { return ngram_buckets_; }
  const std::string& word(size_t id) const { return words_[id]; }
  float weight(size_t id) const { return weights_[id]; }
  // Row of a vocabulary word, or -1.
  int64_t Find(const std::string& word) const;

  // Up to 3 vocabulary words whose n-grams overlap `word`'s with cosine >= 0.5, best first,
  // as (id, cosine). `counts` is scratch of size() entries, all zero on entry and on return.
  std::vector<std::pair<int64_t, float>> Similar(std::string_view word,
                                                 std::vector<uint16_t>* counts) const;

 private:
  std::vector<std::string> words_;
  std::vector<float> weights_;
  uint32_t ngram_buckets_;
  std::unordered_map<std::string_view, int64_t> index_;  // views into words_
  // Inverted index: the sorted distinct n-gram hashes of all words, and for each the words
  // containing it (postings_[offsets_[i] .. offsets_[i+1])).
  std::vector<uint64_t> grams_;
  std::vector<uint32_t> offsets_;
  std::vector<uint32_t> postings_;
  std::vector<uint8_t> gram_counts_;  // distinct n-grams of each word (capped at 255)
};

// One instance's view of a model: the shared vocabulary plus what this instance learnt (IDF)
// and caches (out-of-vocabulary expansions).
class WordFeaturizer {
 public:
  explicit WordFeaturizer(std::shared_ptr<const WordVocabulary> vocab);

  // Appends the text's bag. Returns false, appending nothing, when the text has no word.
  bool AppendBag(std::string_view text, Bag* bag);

  // Learns the clipped IDF of each word from the texts (replacing what an earlier Fit learnt).
  void Fit(const std::vector<std::string_view>& texts);
  bool fitted() const { return fit_docs_ > 0; }
  // A hash of the fitted weights (0 before Fit).
  uint64_t FitHash() const { return fit_hash_; }
  // The fitted multiplier of a word (1 before Fit, and for words the corpus lacks).
  float IdfFactor(const std::string& word) const;
  // What Fit learnt as bytes ("" before Fit), and restoring it: afterwards this featurizer
  // weighs words, and hashes (FitHash), exactly as the one that saved it. Throws
  // std::runtime_error on bytes that are not such a state.
  std::string SaveFit() const;
  void LoadFit(const uint8_t* data, size_t size);

  // An out-of-vocabulary word's rows and their coefficients (exposed for the tests).
  const std::vector<std::pair<int64_t, float>>& Expand(const std::string& word);

 private:
  std::shared_ptr<const WordVocabulary> vocab_;
  std::vector<uint16_t> scratch_;
  std::unordered_map<std::string, std::vector<std::pair<int64_t, float>>> oov_cache_;
  // Installs learnt (word, factor) pairs, sorted by word, from `docs` documents.
  void SetLearnt(size_t docs, const std::vector<std::pair<std::string, float>>& learnt);

  std::unordered_map<std::string, float> idf_;
  size_t fit_docs_ = 0;
  uint64_t fit_hash_ = 0;
};

}  // namespace text
}  // namespace reco
