// hello: an example reco embedding plugin, built out of tree against the installed SDK.
//
// It embeds text as a bag of character trigrams hashed into `dim` buckets and L2-normalised,
// so the cosine similarity of two vectors approximates how many letter triples the two texts
// share: "waterproof boots" lands near "waterproof hiking boot" without any model file.
//
// Text is normalised first: ASCII letters are lower-cased, every run of ASCII characters that
// are not letters or digits becomes one space, other bytes (UTF-8) are kept, and a space pads
// each end so that word starts and ends make trigrams of their own (" bo", "ts ").
//
// Config (a JSON object; recod passes a space's options as strings):
//   "dim"  output dimension, 1..4096 (default 64), as a string or a number.
// Errors name the option or the input (its index in the batch) that is wrong.
#include <cmath>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "reco/plugin.hpp"

#ifndef HELLO_PLUGIN_VERSION
#define HELLO_PLUGIN_VERSION "1.0.0"
#endif

namespace hello {
namespace {

constexpr uint32_t kDefaultDim = 64;
constexpr uint32_t kMaxDim = 4096;

// Reads a flat JSON object whose values are strings or numbers into key -> text. (A real
// plugin would use a JSON library; this one keeps to the standard library.)
class FlatJsonObject {
 public:
  static std::map<std::string, std::string> Parse(const std::string& text) {
    FlatJsonObject p(text);
    std::map<std::string, std::string> out;
    p.Expect('{');
    if (!p.Consume('}')) {
      do {
        p.Expect('"');
        std::string key = p.String();
        p.Expect(':');
        p.SkipSpace();
        std::string value;
        if (p.Consume('"')) {
          value = p.String();
        } else {
          value = p.Number();
        }
        out[key] = value;
      } while (p.Consume(','));
      p.Expect('}');
    }
    p.SkipSpace();
    if (p.pos_ != p.s_.size()) p.Fail("text after the closing '}'");
    return out;
  }

 private:
  explicit FlatJsonObject(const std::string& s) : s_(s) {}

  [[noreturn]] void Fail(const std::string& what) const {
    throw std::invalid_argument(
        "hello plugin: config must be a JSON object of string or number "
        "values; " +
        what + " at byte " + std::to_string(pos_) + " of " + s_);
  }
  void SkipSpace() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void Expect(char c) {
    if (!Consume(c)) Fail(std::string("expected '") + c + "'");
  }
  // The rest of a string whose opening quote was consumed.
  std::string String() {
    std::string out;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return out;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u':
          AppendUtf8(Hex4(), &out);
          break;
        default:
          Fail(std::string("unknown escape '\\") + e + "'");
      }
    }
    Fail("unterminated string");
  }
  uint32_t Hex4() {
    if (pos_ + 4 > s_.size()) Fail("short \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        Fail("bad \\u escape");
      }
    }
    return v;
  }
  // Surrogate pairs are not combined: option values here are numbers.
  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  // A JSON number's text, checked later by whoever reads the option.
  std::string Number() {
    const size_t begin = pos_;
    while (pos_ < s_.size() && std::string("+-.eE0123456789").find(s_[pos_]) != std::string::npos) {
      ++pos_;
    }
    if (pos_ == begin) Fail("expected a string or a number");
    return s_.substr(begin, pos_ - begin);
  }

  const std::string& s_;
  size_t pos_ = 0;
};

uint32_t ParseDim(const std::string& value) {
  const bool digits = !value.empty() && value.size() <= 9 &&
                      value.find_first_not_of("0123456789") == std::string::npos;
  const unsigned long n = digits ? std::stoul(value) : 0;
  if (n < 1 || n > kMaxDim) {
    throw std::invalid_argument("hello plugin: option \"dim\" must be an integer in [1, " +
                                std::to_string(kMaxDim) + "], got \"" + value + "\"");
  }
  return static_cast<uint32_t>(n);
}

bool IsAsciiAlnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// See the header comment: " Waterproof, boots!" -> " waterproof boots ".
std::string Normalise(const std::string& text) {
  std::string out = " ";
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x80 || IsAsciiAlnum(c)) {
      out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
    } else if (out.back() != ' ') {
      out.push_back(' ');
    }
  }
  if (out.back() != ' ') out.push_back(' ');
  return out;
}

// FNV-1a, 64-bit: a fixed hash, so a vector never depends on the machine or the run.
uint64_t Fnv1a(const char* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(p[i]);
    h *= 0x100000001b3ull;
  }
  return h;
}

bool IsPlainText(const char* content_type) {
  if (content_type == nullptr) return false;
  const std::string t(content_type);
  return t == "text/plain" || t.rfind("text/plain;", 0) == 0;  // "text/plain; charset=utf-8"
}

class TrigramEmbedder : public reco::sdk::Embedder {
 public:
  explicit TrigramEmbedder(const std::string& config_json) {
    for (const auto& [key, value] : FlatJsonObject::Parse(config_json)) {
      if (key == "dim") {
        dim_ = ParseDim(value);
      } else {
        throw std::invalid_argument("hello plugin: unknown option \"" + key + "\" (known: dim)");
      }
    }
  }

  uint32_t dim() const override { return dim_; }

  // Changes whenever the same text would get another vector.
  std::string fingerprint() const override {
    return "hello-trigram-fnv1a-v1-dim" + std::to_string(dim_);
  }

  void embed(const reco_input* inputs, size_t n, float* out) override {
    // Check the whole batch first, so that a bad input leaves `out` untouched.
    for (size_t i = 0; i < n; ++i) Check(inputs[i], i);
    for (size_t i = 0; i < n; ++i) EmbedOne(reco::sdk::InputText(inputs[i]), i, out + i * dim_);
  }

 private:
  static void Check(const reco_input& in, size_t i) {
    if (!IsPlainText(in.content_type)) {
      throw std::invalid_argument(
          "hello plugin: input " + std::to_string(i) + " has content type \"" +
          (in.content_type ? in.content_type : "(null)") + "\"; this plugin accepts text/plain");
    }
    if (in.size == 0) {
      throw std::invalid_argument("hello plugin: input " + std::to_string(i) + " is empty text");
    }
    if (in.data == nullptr) {
      throw std::invalid_argument("hello plugin: input " + std::to_string(i) + " has size " +
                                  std::to_string(in.size) + " but no data");
    }
  }

  void EmbedOne(const std::string& text, size_t i, float* v) const {
    const std::string s = Normalise(text);
    if (s.size() < 3) {
      throw std::invalid_argument("hello plugin: input " + std::to_string(i) +
                                  " has no letters or digits to embed");
    }
    std::vector<float> counts(dim_, 0.0f);
    for (size_t p = 0; p + 3 <= s.size(); ++p) counts[Fnv1a(s.data() + p, 3) % dim_] += 1.0f;
    double norm = 0;
    for (float c : counts) norm += static_cast<double>(c) * c;
    const float scale = static_cast<float>(1.0 / std::sqrt(norm));  // norm >= 1: one trigram
    for (uint32_t d = 0; d < dim_; ++d) v[d] = counts[d] * scale;
  }

  uint32_t dim_ = kDefaultDim;
};

}  // namespace
}  // namespace hello

RECO_PLUGIN(hello::TrigramEmbedder, "hello", HELLO_PLUGIN_VERSION, "text", "text/plain",
            hello::kDefaultDim)
