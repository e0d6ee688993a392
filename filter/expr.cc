// Parse(): a recursive-descent parser over an on-demand lexer (one token of lookahead), so
// the first error in reading order is the one reported. ToString(): its inverse.
#include <charconv>

#include "filter/filter.h"

namespace reco {
namespace filter {

namespace {

enum class Tok {
  kEnd,
  kWord,    // bare word: an attribute name or a keyword
  kName,    // `backquoted` attribute name (never a keyword)
  kString,  // "..." or '...'
  kNumber,
  kOp,  // = == != < <= > >=
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
};

struct Token {
  Tok kind = Tok::kEnd;
  size_t pos = 0;    // byte offset in the text
  std::string raw;   // the source text
  std::string text;  // kName, kString: the unescaped text; kWord: lower-case
  double number = 0;
};

bool IsNameStart(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9') || c == '.' || c == '-'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}
bool IsOpChar(char c) { return c == '=' || c == '!' || c == '<' || c == '>'; }

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// Keywords, lower-case; a name spelt like one (in any case) must be backquoted.
bool IsReserved(const std::string& lower_word) {
  for (const char* k :
       {"and", "or", "not", "in", "contains", "between", "exists", "true", "false"}) {
    if (lower_word == k) return true;
  }
  return false;
}

// What an error message says it found.
std::string Describe(const Token& t) {
  constexpr size_t kMaxShown = 40;
  std::string shown = t.raw.size() > kMaxShown ? t.raw.substr(0, kMaxShown) + "..." : t.raw;
  switch (t.kind) {
    case Tok::kEnd:
      return "end of input";
    case Tok::kString:
      return "string " + shown;
    case Tok::kName:
      return "name " + shown;
    default:
      return "'" + shown + "'";
  }
}

class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) {}

  Status Run(std::shared_ptr<const Expr>* out) {
    RECO_RETURN_IF_ERROR(Advance());
    std::shared_ptr<const Expr> e;
    RECO_RETURN_IF_ERROR(ParseOr(&e));
    if (tok_.kind != Tok::kEnd) {
      return Error(tok_.pos, "unexpected " + Describe(tok_) +
                                 " after the end of the expression (expected 'and', 'or' or "
                                 "the end)");
    }
    *out = std::move(e);
    return Status::OK();
  }

 private:
  // "filter: at column C: msg", C counting characters (UTF-8 code points) from 1.
  Status Error(size_t pos, const std::string& msg) const {
    return Status::InvalidArgument("filter: at column " + std::to_string(ColumnOf(pos)) + ": " +
                                   msg);
  }

  size_t ColumnOf(size_t pos) const {
    size_t column = 1;
    for (size_t i = 0; i < pos && i < text_.size(); ++i) {
      if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++column;
    }
    return column;
  }

  bool IsKeyword(const char* word) const { return tok_.kind == Tok::kWord && tok_.text == word; }

  // Reads the next token into tok_.
  Status Advance() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
    tok_ = Token();
    tok_.pos = pos_;
    if (pos_ >= text_.size()) return Status::OK();
    const char c = text_[pos_];
    const char next = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
    if (IsNameStart(c)) {
      size_t end = pos_ + 1;
      while (end < text_.size() && IsNameChar(text_[end])) ++end;
      return Take(Tok::kWord, end, Lower(text_.substr(pos_, end - pos_)));
    }
    if (IsDigit(c) || (c == '.' && IsDigit(next)) ||
        ((c == '-' || c == '+') && (IsDigit(next) || next == '.'))) {
      return LexNumber();
    }
    if (c == '"' || c == '\'' || c == '`') return LexQuoted(c);
    if (IsOpChar(c)) {
      size_t end = pos_;
      while (end < text_.size() && IsOpChar(text_[end])) ++end;
      const std::string op = text_.substr(pos_, end - pos_);
      if (op != "=" && op != "==" && op != "!=" && op != "<" && op != "<=" && op != ">" &&
          op != ">=") {
        return Error(pos_, "unknown operator '" + op + "' (operators: = == != < <= > >=)");
      }
      return Take(Tok::kOp, end, op);
    }
    switch (c) {
      case '(':
        return Take(Tok::kLParen, pos_ + 1, "(");
      case ')':
        return Take(Tok::kRParen, pos_ + 1, ")");
      case '[':
        return Take(Tok::kLBracket, pos_ + 1, "[");
      case ']':
        return Take(Tok::kRBracket, pos_ + 1, "]");
      case ',':
        return Take(Tok::kComma, pos_ + 1, ",");
      default:
        break;
    }
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      static const char kHex[] = "0123456789abcdef";
      return Error(pos_, std::string("unexpected character 0x") + kHex[u >> 4] + kHex[u & 15]);
    }
    size_t end = pos_ + 1;  // the whole UTF-8 sequence
    while (end < text_.size() && (static_cast<unsigned char>(text_[end]) & 0xC0) == 0x80) ++end;
    return Error(pos_, "unexpected character '" + text_.substr(pos_, end - pos_) + "'");
  }

  Status Take(Tok kind, size_t end, std::string text) {
    tok_.kind = kind;
    tok_.raw = text_.substr(pos_, end - pos_);
    tok_.text = std::move(text);
    pos_ = end;
    return Status::OK();
  }

  // [+-] digits [. digits] [e [+-] digits] (digits may be empty on one side of the point).
  Status LexNumber() {
    size_t end = pos_;
    if (text_[end] == '+' || text_[end] == '-') ++end;
    while (end < text_.size() && IsDigit(text_[end])) ++end;
    if (end < text_.size() && text_[end] == '.') {
      ++end;
      while (end < text_.size() && IsDigit(text_[end])) ++end;
    }
    if (end < text_.size() && (text_[end] == 'e' || text_[end] == 'E')) {
      size_t exp = end + 1;
      if (exp < text_.size() && (text_[exp] == '+' || text_[exp] == '-')) ++exp;
      if (exp < text_.size() && IsDigit(text_[exp])) {
        while (exp < text_.size() && IsDigit(text_[exp])) ++exp;
        end = exp;
      }
    }
    if (end < text_.size() && IsNameChar(text_[end])) {
      size_t bad = end;
      while (bad < text_.size() && IsNameChar(text_[bad])) ++bad;
      return Error(pos_, "malformed number '" + text_.substr(pos_, bad - pos_) + "'");
    }
    const size_t from = text_[pos_] == '+' ? pos_ + 1 : pos_;  // from_chars takes no '+'
    double value = 0;
    const auto [ptr, ec] = std::from_chars(text_.data() + from, text_.data() + end, value);
    if (ec == std::errc::result_out_of_range) {
      return Error(pos_, "number '" + text_.substr(pos_, end - pos_) + "' is out of range");
    }
    if (ec != std::errc() || ptr != text_.data() + end) {
      return Error(pos_, "malformed number '" + text_.substr(pos_, end - pos_) + "'");
    }
    RECO_RETURN_IF_ERROR(Take(Tok::kNumber, end, ""));
    tok_.number = value;
    return Status::OK();
  }

  // "string", 'string' or `name`, with backslash escapes.
  Status LexQuoted(char quote) {
    std::string out;
    size_t i = pos_ + 1;
    while (true) {
      if (i >= text_.size()) {
        return Error(pos_, std::string(quote == '`' ? "unclosed name" : "unclosed string") +
                               " (no closing " + quote + ")");
      }
      const char c = text_[i];
      if (c == quote) break;
      if (c != '\\') {
        out += c;
        ++i;
        continue;
      }
      const char e = i + 1 < text_.size() ? text_[i + 1] : '\0';
      switch (e) {
        case '\\':
        case '"':
        case '\'':
        case '`':
          out += e;
          break;
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        default:
          if (i + 1 >= text_.size()) {
            return Error(pos_, std::string(quote == '`' ? "unclosed name" : "unclosed string") +
                                   " (no closing " + quote + ")");
          }
          return Error(i, std::string("unknown escape '\\") + e +
                              "' (escapes: \\\" \\' \\` \\\\ \\n \\t \\r)");
      }
      i += 2;
    }
    if (quote == '`' && out.empty()) return Error(pos_, "empty attribute name ``");
    return Take(quote == '`' ? Tok::kName : Tok::kString, i + 1, std::move(out));
  }

  // expr := and_expr ('or' and_expr)*   (and_expr likewise with 'and' over unary)
  Status ParseOr(std::shared_ptr<const Expr>* out) { return ParseChain(Expr::Kind::kOr, out); }

  Status ParseChain(Expr::Kind kind, std::shared_ptr<const Expr>* out) {
    const char* keyword = kind == Expr::Kind::kOr ? "or" : "and";
    const auto parse_operand = [&](std::shared_ptr<const Expr>* e) {
      return kind == Expr::Kind::kOr ? ParseChain(Expr::Kind::kAnd, e) : ParseUnary(e);
    };
    std::shared_ptr<const Expr> first;
    RECO_RETURN_IF_ERROR(parse_operand(&first));
    if (!IsKeyword(keyword)) {
      *out = std::move(first);
      return Status::OK();
    }
    auto node = std::make_shared<Expr>();
    node->kind = kind;
    const auto add = [&](std::shared_ptr<const Expr> e) {
      if (e->kind == kind) {  // (a and b) and c == a and b and c
        node->children.insert(node->children.end(), e->children.begin(), e->children.end());
      } else {
        node->children.push_back(std::move(e));
      }
    };
    add(std::move(first));
    while (IsKeyword(keyword)) {
      RECO_RETURN_IF_ERROR(Advance());
      std::shared_ptr<const Expr> e;
      RECO_RETURN_IF_ERROR(parse_operand(&e));
      add(std::move(e));
    }
    *out = std::move(node);
    return Status::OK();
  }

  // unary := 'not' unary | '(' expr ')' | predicate
  Status ParseUnary(std::shared_ptr<const Expr>* out) {
    if (IsKeyword("not") || tok_.kind == Tok::kLParen) {
      if (++depth_ > kMaxFilterDepth) {
        return Error(tok_.pos, "expression nested deeper than " + std::to_string(kMaxFilterDepth) +
                                   " levels");
      }
      std::shared_ptr<const Expr> inner;
      if (tok_.kind == Tok::kLParen) {
        const size_t open = tok_.pos;
        RECO_RETURN_IF_ERROR(Advance());
        RECO_RETURN_IF_ERROR(ParseOr(&inner));
        if (tok_.kind != Tok::kRParen) {
          return Error(tok_.pos, "expected ')' to close the '(' at column " +
                                     std::to_string(ColumnOf(open)) + ", found " + Describe(tok_));
        }
        RECO_RETURN_IF_ERROR(Advance());
        *out = std::move(inner);
      } else {
        RECO_RETURN_IF_ERROR(Advance());
        RECO_RETURN_IF_ERROR(ParseUnary(&inner));
        auto node = std::make_shared<Expr>();
        node->kind = Expr::Kind::kNot;
        node->children.push_back(std::move(inner));
        *out = std::move(node);
      }
      --depth_;
      return Status::OK();
    }
    return ParsePredicate(out);
  }

  Status ParsePredicate(std::shared_ptr<const Expr>* out) {
    auto node = std::make_shared<Expr>();
    node->kind = Expr::Kind::kPredicate;
    if (tok_.kind == Tok::kName) {
      node->attribute = tok_.text;
    } else if (tok_.kind == Tok::kWord && !IsReserved(tok_.text)) {
      node->attribute = tok_.raw;  // names keep their case
    } else {
      std::string hint;
      if (tok_.kind == Tok::kWord) hint = " (quote a name that is a keyword: `" + tok_.raw + "`)";
      return Error(tok_.pos,
                   "expected an attribute name, 'not' or '(', found " + Describe(tok_) + hint);
    }
    const std::string name_shown = tok_.raw;
    RECO_RETURN_IF_ERROR(Advance());

    if (tok_.kind == Tok::kOp) {
      const std::string op = tok_.text;
      node->op = op == "=" || op == "==" ? Op::kEq
                 : op == "!="            ? Op::kNe
                 : op == "<"             ? Op::kLt
                 : op == "<="            ? Op::kLe
                 : op == ">"             ? Op::kGt
                                         : Op::kGe;
      RECO_RETURN_IF_ERROR(Advance());
      RECO_RETURN_IF_ERROR(ParseValue("after '" + op + "'", &node->values));
    } else if (IsKeyword("in")) {
      node->op = Op::kIn;
      RECO_RETURN_IF_ERROR(Advance());
      RECO_RETURN_IF_ERROR(ParseList("in", &node->values));
    } else if (IsKeyword("not")) {
      RECO_RETURN_IF_ERROR(Advance());
      if (!IsKeyword("in")) {
        return Error(tok_.pos, "expected 'in' after '" + name_shown + " not', found " +
                                   Describe(tok_) + " (to negate a predicate, put 'not' first)");
      }
      node->op = Op::kNotIn;
      RECO_RETURN_IF_ERROR(Advance());
      RECO_RETURN_IF_ERROR(ParseList("not in", &node->values));
    } else if (IsKeyword("contains")) {
      node->op = Op::kContains;
      RECO_RETURN_IF_ERROR(Advance());
      RECO_RETURN_IF_ERROR(ParseValue("after 'contains'", &node->values));
    } else if (IsKeyword("between")) {
      node->op = Op::kBetween;
      RECO_RETURN_IF_ERROR(Advance());
      RECO_RETURN_IF_ERROR(ParseNumber("after 'between'", &node->values));
      if (!IsKeyword("and")) {
        return Error(tok_.pos, "expected 'and' after 'between " + node_last_raw_ + "', found " +
                                   Describe(tok_));
      }
      RECO_RETURN_IF_ERROR(Advance());
      RECO_RETURN_IF_ERROR(ParseNumber("after 'and' of 'between'", &node->values));
    } else if (IsKeyword("exists")) {
      node->op = Op::kExists;
      RECO_RETURN_IF_ERROR(Advance());
    } else {
      return Error(tok_.pos, "expected an operator after '" + name_shown +
                                 "' (= == != < <= > >= in, not in, contains, between, exists), "
                                 "found " +
                                 Describe(tok_));
    }
    *out = std::move(node);
    return Status::OK();
  }

  // value := string | NUMBER | true | false
  Status ParseValue(const std::string& where, std::vector<Literal>* values) {
    switch (tok_.kind) {
      case Tok::kString:
        values->emplace_back(tok_.text);
        break;
      case Tok::kNumber:
        values->emplace_back(tok_.number);
        break;
      case Tok::kWord:
        if (tok_.text == "true" || tok_.text == "false") {
          values->emplace_back(tok_.text == "true");
          break;
        }
        return Error(
            tok_.pos,
            "expected a value " + where + ", found " + Describe(tok_) +
                (IsReserved(tok_.text) ? "" : " (strings need quotes: \"" + tok_.raw + "\")"));
      default:
        return Error(tok_.pos, "expected a value " + where + ", found " + Describe(tok_));
    }
    node_last_raw_ = tok_.raw;
    return Advance();
  }

  Status ParseNumber(const std::string& where, std::vector<Literal>* values) {
    if (tok_.kind != Tok::kNumber) {
      return Error(tok_.pos, "expected a number " + where + ", found " + Describe(tok_));
    }
    return ParseValue(where, values);
  }

  // list := '[' value (',' value)* ']' | '(' value (',' value)* ')'
  Status ParseList(const std::string& op, std::vector<Literal>* values) {
    if (tok_.kind != Tok::kLBracket && tok_.kind != Tok::kLParen) {
      return Error(tok_.pos, "expected '[' or '(' to start the list after '" + op + "', found " +
                                 Describe(tok_));
    }
    const bool bracket = tok_.kind == Tok::kLBracket;
    const char* close = bracket ? "']'" : "')'";
    RECO_RETURN_IF_ERROR(Advance());
    while (true) {
      if (values->size() == kMaxListValues) {
        return Error(tok_.pos, "list has more than " + std::to_string(kMaxListValues) + " values");
      }
      RECO_RETURN_IF_ERROR(ParseValue(values->empty() ? "in the list" : "after ','", values));
      if (tok_.kind == Tok::kComma) {
        RECO_RETURN_IF_ERROR(Advance());
        continue;
      }
      if (tok_.kind == (bracket ? Tok::kRBracket : Tok::kRParen)) break;
      return Error(tok_.pos, std::string("expected ',' or ") + close + " in the list, found " +
                                 Describe(tok_));
    }
    return Advance();
  }

  const std::string& text_;
  size_t pos_ = 0;             // where the lexer reads next
  Token tok_;                  // the current token
  int depth_ = 0;              // 'not's and '('s open
  std::string node_last_raw_;  // the source of the last value read, for messages
};

void WriteQuoted(const std::string& s, char quote, std::string* out) {
  *out += quote;
  for (const char c : s) {
    switch (c) {
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\r':
        *out += "\\r";
        break;
      default:
        if (c == quote) *out += '\\';
        *out += c;
    }
  }
  *out += quote;
}

void WriteName(const std::string& name, std::string* out) {
  bool bare = !name.empty() && IsNameStart(name[0]) && !IsReserved(Lower(name));
  for (const char c : name) bare = bare && IsNameChar(c);
  if (bare) {
    *out += name;
  } else {
    WriteQuoted(name, '`', out);
  }
}

void WriteLiteral(const Literal& v, std::string* out) {
  if (const auto* s = std::get_if<std::string>(&v)) {
    WriteQuoted(*s, '"', out);
  } else if (const auto* b = std::get_if<bool>(&v)) {
    *out += *b ? "true" : "false";
  } else {
    char buf[64];
    const auto result = std::to_chars(buf, buf + sizeof(buf), std::get<double>(v));
    out->append(buf, result.ptr);
  }
}

void Write(const Expr& e, std::string* out) {
  // An operand is parenthesised when its operator binds no tighter than the one around it.
  const auto operand = [out](const std::shared_ptr<const Expr>& child, bool paren_and) {
    if (child == nullptr) {
      *out += "<null>";
      return;
    }
    const bool paren =
        child->kind == Expr::Kind::kOr || (paren_and && child->kind == Expr::Kind::kAnd);
    if (paren) *out += '(';
    Write(*child, out);
    if (paren) *out += ')';
  };
  switch (e.kind) {
    case Expr::Kind::kAnd:
    case Expr::Kind::kOr: {
      const bool is_and = e.kind == Expr::Kind::kAnd;
      for (size_t i = 0; i < e.children.size(); ++i) {
        if (i > 0) *out += is_and ? " and " : " or ";
        operand(e.children[i], is_and);
      }
      return;
    }
    case Expr::Kind::kNot:
      *out += "not ";
      if (e.children.size() == 1) operand(e.children[0], true);
      return;
    case Expr::Kind::kPredicate:
      break;
  }
  WriteName(e.attribute, out);
  *out += ' ';
  *out += OpName(e.op);
  switch (e.op) {
    case Op::kExists:
      return;
    case Op::kIn:
    case Op::kNotIn:
      *out += " [";
      for (size_t i = 0; i < e.values.size(); ++i) {
        if (i > 0) *out += ", ";
        WriteLiteral(e.values[i], out);
      }
      *out += ']';
      return;
    case Op::kBetween:
      for (size_t i = 0; i < e.values.size(); ++i) {
        *out += i == 0 ? " " : " and ";
        WriteLiteral(e.values[i], out);
      }
      return;
    default:
      for (const Literal& v : e.values) {
        *out += ' ';
        WriteLiteral(v, out);
      }
  }
}

}  // namespace

std::string ToString(const Expr& expr) {
  std::string out;
  Write(expr, &out);
  return out;
}

const char* OpName(Op op) {
  switch (op) {
    case Op::kEq:
      return "=";
    case Op::kNe:
      return "!=";
    case Op::kLt:
      return "<";
    case Op::kLe:
      return "<=";
    case Op::kGt:
      return ">";
    case Op::kGe:
      return ">=";
    case Op::kIn:
      return "in";
    case Op::kNotIn:
      return "not in";
    case Op::kContains:
      return "contains";
    case Op::kBetween:
      return "between";
    case Op::kExists:
      return "exists";
  }
  return "?";
}

Status Parse(const std::string& text, std::shared_ptr<const Expr>* out) {
  if (text.size() > kMaxFilterBytes) {
    return Status::InvalidArgument("filter: expression is " + std::to_string(text.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxFilterBytes));
  }
  return Parser(text).Run(out);
}

}  // namespace filter
}  // namespace reco
