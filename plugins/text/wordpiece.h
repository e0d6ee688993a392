// BERT's tokenizer: basic tokenisation (clean control characters, split CJK ideographs, split
// on whitespace, lower-case and strip accents when `lowercase`, split off punctuation) then
// greedy longest-match-first WordPiece over a vocab.txt ("##" marks a continuation piece; a
// word longer than 100 characters or with no split is [UNK]). Encode() frames the pieces as
// [CLS] ... [SEP], truncated to max_length. Follows Hugging Face's BertTokenizer (slow) with
// the Unicode tables of unicode.h; no torch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace reco {
namespace text {

class WordPieceTokenizer {
 public:
  // Reads a vocab.txt: one token a line, the 0-based line number is its id (a token listed
  // twice keeps its last id, as BertTokenizer's load_vocab). A trailing "\r" is dropped. Throws
  // std::runtime_error naming the file when it cannot be read or lacks [CLS], [SEP], [PAD] or
  // [UNK].
  static WordPieceTokenizer FromFile(const std::string& path, bool lowercase);

  WordPieceTokenizer(const std::vector<std::string>& vocab, bool lowercase,
                     const std::string& origin = "vocab");

  // Basic tokenisation: the words and punctuation marks of a text.
  std::vector<std::string> BasicTokenize(std::string_view text) const;
  // WordPiece ids of one basic token.
  void AppendPieces(const std::string& token, std::vector<int64_t>* ids) const;
  // [CLS] pieces [SEP], with the pieces truncated so that the whole has at most max_length
  // (>= 2) ids.
  std::vector<int64_t> Encode(std::string_view text, size_t max_length) const;

  size_t vocab_size() const { return vocab_size_; }
  int64_t cls_id() const { return cls_; }
  int64_t sep_id() const { return sep_; }
  int64_t pad_id() const { return pad_; }
  int64_t unk_id() const { return unk_; }
  bool lowercase() const { return lowercase_; }

 private:
  std::unordered_map<std::string, int64_t> ids_;
  size_t vocab_size_ = 0;
  bool lowercase_ = true;
  int64_t cls_ = -1, sep_ = -1, pad_ = -1, unk_ = -1;
};

}  // namespace text
}  // namespace reco
