#include "wordpiece.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "unicode.h"

namespace reco {
namespace text {
namespace {

constexpr size_t kMaxCharsPerWord = 100;  // BertTokenizer's max_input_chars_per_word

std::string Utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) AppendUtf8(c, &out);
  return out;
}

}  // namespace

WordPieceTokenizer WordPieceTokenizer::FromFile(const std::string& path, bool lowercase) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("text plugin: cannot open vocab file '" + path +
                             "': " + std::strerror(errno));
  }
  std::vector<std::string> vocab;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.push_back(std::move(line));
  }
  if (in.bad()) throw std::runtime_error("text plugin: cannot read vocab file '" + path + "'");
  return WordPieceTokenizer(vocab, lowercase, "vocab file '" + path + "'");
}

WordPieceTokenizer::WordPieceTokenizer(const std::vector<std::string>& vocab, bool lowercase,
                                       const std::string& origin)
    : vocab_size_(vocab.size()), lowercase_(lowercase) {
  ids_.reserve(vocab.size() * 2);
  for (size_t i = 0; i < vocab.size(); ++i) ids_[vocab[i]] = static_cast<int64_t>(i);
  const auto special = [&](const char* token) {
    const auto it = ids_.find(token);
    if (it == ids_.end()) {
      throw std::runtime_error("text plugin: " + origin + " has no " + token +
                               " token (a BERT vocab.txt needs [CLS], [SEP], [PAD], [UNK])");
    }
    return it->second;
  };
  cls_ = special("[CLS]");
  sep_ = special("[SEP]");
  pad_ = special("[PAD]");
  unk_ = special("[UNK]");
}

std::vector<std::string> WordPieceTokenizer::BasicTokenize(std::string_view text) const {
  // _clean_text and _tokenize_chinese_chars, then whitespace_tokenize.
  std::vector<std::u32string> words;
  std::u32string cur;
  const auto flush = [&] {
    if (!cur.empty()) words.push_back(std::move(cur));
    cur.clear();
  };
  for (char32_t c : DecodeUtf8(text)) {
    if (c == 0 || c == 0xFFFD || IsControl(c)) continue;
    if (IsWhitespace(c)) {
      flush();
    } else if (IsCjk(c)) {
      flush();
      words.push_back(std::u32string(1, c));
    } else {
      cur.push_back(c);
    }
  }
  flush();
  // Per word: lower-case + strip accents, then split off punctuation.
  std::vector<std::string> tokens;
  std::u32string folded;
  for (const std::u32string& w : words) {
    folded.clear();
    if (lowercase_) {
      for (char32_t c : w) AppendFolded(c, &folded);
    } else {
      folded = w;
    }
    std::u32string piece;
    for (char32_t c : folded) {
      if (IsPunctuation(c)) {
        if (!piece.empty()) tokens.push_back(Utf8(piece));
        piece.clear();
        tokens.push_back(Utf8(std::u32string(1, c)));
      } else if (IsWhitespace(c)) {  // folding never makes whitespace, but be safe
        if (!piece.empty()) tokens.push_back(Utf8(piece));
        piece.clear();
      } else {
        piece.push_back(c);
      }
    }
    if (!piece.empty()) tokens.push_back(Utf8(piece));
  }
  return tokens;
}

void WordPieceTokenizer::AppendPieces(const std::string& token, std::vector<int64_t>* ids) const {
  const std::u32string chars = DecodeUtf8(token);
  if (chars.size() > kMaxCharsPerWord) {
    ids->push_back(unk_);
    return;
  }
  std::vector<int64_t> pieces;
  std::string sub;
  size_t start = 0;
  while (start < chars.size()) {
    size_t end = chars.size();
    int64_t found = -1;
    while (start < end) {
      sub.assign(start > 0 ? "##" : "");
      for (size_t i = start; i < end; ++i) AppendUtf8(chars[i], &sub);
      const auto it = ids_.find(sub);
      if (it != ids_.end()) {
        found = it->second;
        break;
      }
      --end;
    }
    if (found < 0) {
      ids->push_back(unk_);
      return;
    }
    pieces.push_back(found);
    start = end;
  }
  ids->insert(ids->end(), pieces.begin(), pieces.end());
}

std::vector<int64_t> WordPieceTokenizer::Encode(std::string_view text, size_t max_length) const {
  std::vector<int64_t> ids{cls_};
  const size_t limit = max_length < 2 ? 0 : max_length - 2;
  for (const std::string& token : BasicTokenize(text)) {
    if (ids.size() - 1 >= limit) break;
    AppendPieces(token, &ids);
  }
  if (ids.size() - 1 > limit) ids.resize(limit + 1);
  ids.push_back(sep_);
  return ids;
}

}  // namespace text
}  // namespace reco
