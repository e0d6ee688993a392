// Unicode helpers of the text plugin's tokenizers (no dependency, no locale): UTF-8 decoding
// and the character classes and case/accent folding of BERT's BasicTokenizer, from tables
// generated from Python's unicodedata (gen_unicode_tables.py -> unicode_tables.inc).
#pragma once

#include <string>
#include <string_view>

namespace reco {
namespace text {

// The code points of UTF-8 text; an invalid or truncated sequence decodes to U+FFFD per byte.
std::u32string DecodeUtf8(std::string_view text);

// Appends the UTF-8 encoding of `cp` to `out`.
void AppendUtf8(char32_t cp, std::string* out);

// BERT's classes: whitespace (space, \t, \n, \r and category Zs); control (Cc, Cf, but not
// \t \n \r); punctuation (ASCII 33-47, 58-64, 91-96, 123-126, and categories P*); nonspacing
// mark (Mn); CJK ideograph (the CJK Unified Ideographs blocks, as BERT's _is_chinese_char).
bool IsWhitespace(char32_t cp);
bool IsControl(char32_t cp);
bool IsPunctuation(char32_t cp);
bool IsMark(char32_t cp);
bool IsCjk(char32_t cp);

// Lower-cases `cp` and strips its accents (NFD without Mn), as BERT's do_lower_case does for
// one character, appending the result (zero, one or more code points) to `out`. Python's
// context-dependent final sigma is not applied (Σ always becomes σ).
void AppendFolded(char32_t cp, std::u32string* out);

// The Unicode version the tables follow.
const char* UnicodeVersion();

}  // namespace text
}  // namespace reco
