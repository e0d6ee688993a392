#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <thread>

#include "filter/filter.h"

namespace reco {
namespace filter {
namespace {

std::shared_ptr<const Expr> MustParse(const std::string& text) {
  std::shared_ptr<const Expr> e;
  const Status st = Parse(text, &e);
  EXPECT_TRUE(st.ok()) << text << ": " << st.ToString();
  return e;
}

std::string Normal(const std::string& text) {
  auto e = MustParse(text);
  return e ? ToString(*e) : "<error>";
}

std::string ParseError(const std::string& text) {
  std::shared_ptr<const Expr> e;
  const Status st = Parse(text, &e);
  EXPECT_FALSE(st.ok()) << text << " parsed as " << (e ? ToString(*e) : "");
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  return st.message();
}

// ---------------------------------------------------------------------------------------------
// Parser

TEST(ParseTest, EveryConstruct) {
  EXPECT_EQ(Normal("category = \"shoes\" and price < 80"), "category = \"shoes\" and price < 80");
  EXPECT_EQ(Normal("a == 1"), "a = 1");
  EXPECT_EQ(Normal("a=1"), "a = 1");
  EXPECT_EQ(Normal("a != 1"), "a != 1");
  EXPECT_EQ(Normal("a<1"), "a < 1");
  EXPECT_EQ(Normal("a <= 1"), "a <= 1");
  EXPECT_EQ(Normal("a>1"), "a > 1");
  EXPECT_EQ(Normal("a >= 1"), "a >= 1");
  EXPECT_EQ(Normal("brand in [\"Velora\", 'Kestrel']"), "brand in [\"Velora\", \"Kestrel\"]");
  EXPECT_EQ(Normal("brand in (\"a\")"), "brand in [\"a\"]");
  EXPECT_EQ(Normal("n in (1, 2.5, -3)"), "n in [1, 2.5, -3]");
  EXPECT_EQ(Normal("brand not in [\"a\",\"b\"]"), "brand not in [\"a\", \"b\"]");
  EXPECT_EQ(Normal("tags contains \"trail\""), "tags contains \"trail\"");
  EXPECT_EQ(Normal("price between 10 and 20"), "price between 10 and 20");
  EXPECT_EQ(Normal("colour exists"), "colour exists");
  EXPECT_EQ(Normal("in_stock = true or (price between 10 and 20)"),
            "in_stock = true or price between 10 and 20");
  EXPECT_EQ(Normal("tags contains \"trail\" and not brand in [\"Velora\", 'Kestrel']"),
            "tags contains \"trail\" and not brand in [\"Velora\", \"Kestrel\"]");
  EXPECT_EQ(Normal("b = false"), "b = false");
  EXPECT_EQ(Normal("price between 10 and 20 and in_stock = true"),
            "price between 10 and 20 and in_stock = true");
  EXPECT_EQ(MustParse("price between 10 and 20 and in_stock = true")->children.size(), 2u);
  // Names that begin like keywords are names.
  EXPECT_EQ(Normal("notes exists and android = 1 or index in[1] and order_id=2"),
            "notes exists and android = 1 or index in [1] and order_id = 2");
  EXPECT_EQ(Normal("not(a=1)"), "not a = 1");
  EXPECT_EQ(Normal("meta.size-x_2 >= 2"), "meta.size-x_2 >= 2");
  EXPECT_EQ(Normal("`my attr` = 1"), "`my attr` = 1");
  EXPECT_EQ(Normal("`and` = 1"), "`and` = 1");
  EXPECT_EQ(Normal("`Exists` exists"), "`Exists` exists");
  EXPECT_EQ(Normal("`plain` = 1"), "plain = 1");
  EXPECT_EQ(Normal("`a\\`b\\\\c` = 1"), "`a\\`b\\\\c` = 1");
  EXPECT_EQ(Normal("  \t a\n=\r\n1  "), "a = 1");

  auto e = MustParse("price between 10 and 20");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, Expr::Kind::kPredicate);
  EXPECT_EQ(e->attribute, "price");
  EXPECT_EQ(e->op, Op::kBetween);
  ASSERT_EQ(e->values.size(), 2u);
  EXPECT_EQ(std::get<double>(e->values[0]), 10);
  EXPECT_EQ(std::get<double>(e->values[1]), 20);

  e = MustParse("`my attr` not in ['x']");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->attribute, "my attr");
  EXPECT_EQ(e->op, Op::kNotIn);
  EXPECT_EQ(std::get<std::string>(e->values.at(0)), "x");
}

TEST(ParseTest, Precedence) {
  // 'and' binds tighter than 'or'.
  auto e = MustParse("a = 1 or b = 2 and c = 3");
  ASSERT_TRUE(e);
  ASSERT_EQ(e->kind, Expr::Kind::kOr);
  ASSERT_EQ(e->children.size(), 2u);
  EXPECT_EQ(e->children[0]->kind, Expr::Kind::kPredicate);
  EXPECT_EQ(e->children[1]->kind, Expr::Kind::kAnd);
  EXPECT_EQ(ToString(*e), "a = 1 or b = 2 and c = 3");

  e = MustParse("a = 1 and b = 2 or c = 3");
  ASSERT_EQ(e->kind, Expr::Kind::kOr);
  EXPECT_EQ(e->children[0]->kind, Expr::Kind::kAnd);

  // 'not' binds tighter than 'and'.
  e = MustParse("not a = 1 and b = 2");
  ASSERT_EQ(e->kind, Expr::Kind::kAnd);
  EXPECT_EQ(e->children[0]->kind, Expr::Kind::kNot);
  EXPECT_EQ(e->children[1]->kind, Expr::Kind::kPredicate);
  EXPECT_EQ(ToString(*e), "not a = 1 and b = 2");

  e = MustParse("not (a = 1 and b = 2)");
  ASSERT_EQ(e->kind, Expr::Kind::kNot);
  EXPECT_EQ(e->children[0]->kind, Expr::Kind::kAnd);
  EXPECT_EQ(ToString(*e), "not (a = 1 and b = 2)");

  e = MustParse("(a = 1 or b = 2) and c = 3");
  ASSERT_EQ(e->kind, Expr::Kind::kAnd);
  EXPECT_EQ(e->children[0]->kind, Expr::Kind::kOr);
  EXPECT_EQ(ToString(*e), "(a = 1 or b = 2) and c = 3");

  EXPECT_EQ(Normal("not not a = 1"), "not not a = 1");
  EXPECT_EQ(Normal("((a = 1))"), "a = 1");

  // Chains of one operator are flattened, parenthesised or not.
  e = MustParse("a = 1 and (b = 2 and c = 3) and d = 4");
  ASSERT_EQ(e->kind, Expr::Kind::kAnd);
  EXPECT_EQ(e->children.size(), 4u);
  e = MustParse("(a = 1 or b = 2) or c = 3 or d = 4");
  ASSERT_EQ(e->kind, Expr::Kind::kOr);
  EXPECT_EQ(e->children.size(), 4u);
  EXPECT_EQ(Normal("a = 1 and (b = 2 or c = 3 and not (d = 4 or e = 5))"),
            "a = 1 and (b = 2 or c = 3 and not (d = 4 or e = 5))");
}

TEST(ParseTest, QuotesAndEscapes) {
  const auto value = [](const std::string& text) {
    auto e = MustParse(text);
    return e ? std::get<std::string>(e->values.at(0)) : std::string("<error>");
  };
  EXPECT_EQ(value("s = \"a\\\"b\\\\c\""), "a\"b\\c");
  EXPECT_EQ(value("s = 'it\\'s'"), "it's");
  EXPECT_EQ(value("s = 'say \"hi\"'"), "say \"hi\"");
  EXPECT_EQ(value("s = \"it's\""), "it's");
  EXPECT_EQ(value("s = \"tab\\tnl\\ncr\\r\""), "tab\tnl\ncr\r");
  EXPECT_EQ(value("s = \"\""), "");
  EXPECT_EQ(value("s = \"caf\xc3\xa9 and or ( ]\""), "caf\xc3\xa9 and or ( ]");
  // The normal form re-escapes, and parses back to the same value.
  EXPECT_EQ(Normal("s = 'a\"b\\\\c\\n'"), "s = \"a\\\"b\\\\c\\n\"");
  EXPECT_EQ(value(Normal("s = 'a\"b\\\\c\\n'")), "a\"b\\c\n");
}

TEST(ParseTest, Numbers) {
  const auto number = [](const std::string& literal) {
    auto e = MustParse("n = " + literal);
    return e ? std::get<double>(e->values.at(0)) : -999.0;
  };
  EXPECT_EQ(number("0"), 0);
  EXPECT_EQ(number("42"), 42);
  EXPECT_EQ(number("-2"), -2);
  EXPECT_EQ(number("+3"), 3);
  EXPECT_EQ(number("4.5"), 4.5);
  EXPECT_EQ(number(".5"), 0.5);
  EXPECT_EQ(number("-.5"), -0.5);
  EXPECT_EQ(number("5."), 5);
  EXPECT_EQ(number("1e3"), 1000);
  EXPECT_EQ(number("1E-2"), 0.01);
  EXPECT_EQ(number("-1.5e+2"), -150);
  EXPECT_EQ(number("0.1"), 0.1);
  EXPECT_EQ(number("123456789012"), 123456789012.0);
  EXPECT_EQ(Normal("n<-5"), "n < -5");
  EXPECT_EQ(Normal("n = 0.1"), "n = 0.1");
  EXPECT_EQ(Normal("n = 1e21"), "n = 1e+21");
  EXPECT_EQ(Normal("n = 2.50"), "n = 2.5");
  EXPECT_EQ(Normal("n between -1.5 and +1e1"), "n between -1.5 and 10");
  // Round trip of awkward values.
  for (double v : {0.1, 1.0 / 3, -2.5e-300, 1.7976931348623157e308, 123456.789}) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    EXPECT_EQ(number(buf), v);
    auto e = MustParse(std::string("n = ") + buf);
    auto again = MustParse(ToString(*e));
    EXPECT_EQ(std::get<double>(again->values.at(0)), v);
  }
}

TEST(ParseTest, KeywordsAreCaseInsensitive) {
  EXPECT_EQ(Normal("A = 1 AND B = 2 Or NOT c Exists"), "A = 1 and B = 2 or not c exists");
  EXPECT_EQ(Normal("x IN [1] and y Not In (2)"), "x in [1] and y not in [2]");
  EXPECT_EQ(Normal("x BETWEEN 1 AnD 2"), "x between 1 and 2");
  EXPECT_EQ(Normal("t CONTAINS 'a'"), "t contains \"a\"");
  EXPECT_EQ(Normal("b = TRUE or b = False"), "b = true or b = false");
  // Names keep their case.
  auto e = MustParse("Brand = 'x'");
  EXPECT_EQ(e->attribute, "Brand");
}

TEST(ParseTest, ErrorsSayWhere) {
  EXPECT_EQ(ParseError("a = 1 or price <and"),
            "filter: at column 17: expected a value after '<', found 'and'");
  EXPECT_EQ(ParseError("price < and x = 1"),
            "filter: at column 9: expected a value after '<', found 'and'");
  // Missing value.
  EXPECT_EQ(ParseError("price <"),
            "filter: at column 8: expected a value after '<', found end of input");
  EXPECT_EQ(ParseError("price = )"), "filter: at column 9: expected a value after '=', found ')'");
  // Unclosed quotes: the column of the opening quote.
  EXPECT_EQ(ParseError("brand = \"Velora"), "filter: at column 9: unclosed string (no closing \")");
  EXPECT_EQ(ParseError("brand = 'Velora\\'"),
            "filter: at column 9: unclosed string (no closing ')");
  EXPECT_EQ(ParseError("brand = 'x\\"), "filter: at column 9: unclosed string (no closing ')");
  EXPECT_EQ(ParseError("`brand = 1"), "filter: at column 1: unclosed name (no closing `)");
  // Trailing tokens.
  EXPECT_EQ(ParseError("price < 5 )"),
            "filter: at column 11: unexpected ')' after the end of the expression (expected "
            "'and', 'or' or the end)");
  EXPECT_NE(ParseError("a = 1 b = 2").find("at column 7: unexpected 'b' after the end"),
            std::string::npos);
  // Unknown operators.
  EXPECT_EQ(ParseError("price => 5"),
            "filter: at column 7: unknown operator '=>' (operators: = == != < <= > >=)");
  EXPECT_NE(ParseError("price <> 5").find("at column 7: unknown operator '<>'"), std::string::npos);
  EXPECT_NE(ParseError("price ! 5").find("at column 7: unknown operator '!'"), std::string::npos);
  EXPECT_EQ(ParseError("price ~ 5"), "filter: at column 7: unexpected character '~'");
  EXPECT_NE(ParseError("price like 5").find("at column 7: expected an operator after 'price'"),
            std::string::npos);
  EXPECT_NE(ParseError("price").find("at column 6: expected an operator after 'price'"),
            std::string::npos);
  // Too deep: 64 levels are fine, the 65th is refused where it opens.
  EXPECT_TRUE(MustParse(std::string(64, '(') + "a = 1" + std::string(64, ')')));
  EXPECT_EQ(ParseError(std::string(65, '(') + "a = 1" + std::string(65, ')')),
            "filter: at column 65: expression nested deeper than 64 levels");
  std::string nots;
  for (int i = 0; i < 64; ++i) nots += "not ";
  EXPECT_TRUE(MustParse(nots + "a = 1"));
  EXPECT_EQ(ParseError(nots + "not a = 1"),
            "filter: at column 257: expression nested deeper than 64 levels");
  // Other mistakes.
  EXPECT_EQ(ParseError(""),
            "filter: at column 1: expected an attribute name, 'not' or '(', found end of input");
  EXPECT_EQ(ParseError("   "),
            "filter: at column 4: expected an attribute name, 'not' or '(', found end of input");
  EXPECT_NE(ParseError("and = 1").find("at column 1: expected an attribute name, 'not' or '(', "
                                       "found 'and' (quote a name that is a keyword: `and`)"),
            std::string::npos);
  EXPECT_NE(ParseError("5 = price").find("at column 1: expected an attribute name"),
            std::string::npos);
  EXPECT_NE(ParseError("a = 1 and").find("at column 10: expected an attribute name"),
            std::string::npos);
  EXPECT_EQ(ParseError("category = shoes"),
            "filter: at column 12: expected a value after '=', found 'shoes' (strings need "
            "quotes: \"shoes\")");
  EXPECT_EQ(ParseError("(a = 1"),
            "filter: at column 7: expected ')' to close the '(' at column 1, found end of input");
  EXPECT_NE(ParseError("price between 10 20").find("at column 18: expected 'and' after"),
            std::string::npos);
  EXPECT_NE(ParseError("price between 'a' and 2").find("at column 15: expected a number"),
            std::string::npos);
  EXPECT_NE(ParseError("price between 1 and x").find("at column 21: expected a number"),
            std::string::npos);
  EXPECT_NE(ParseError("brand in 'a'").find("at column 10: expected '[' or '('"),
            std::string::npos);
  EXPECT_NE(ParseError("brand in [")
                .find("at column 11: expected a value in the list, found "
                      "end of input"),
            std::string::npos);
  EXPECT_NE(ParseError("brand in []").find("at column 11: expected a value in the list"),
            std::string::npos);
  EXPECT_NE(ParseError("brand in ['a',]").find("at column 15: expected a value after ','"),
            std::string::npos);
  EXPECT_NE(ParseError("brand in ['a')").find("at column 14: expected ',' or ']' in the list"),
            std::string::npos);
  EXPECT_NE(ParseError("brand not 'a'").find("at column 11: expected 'in' after 'brand not'"),
            std::string::npos);
  EXPECT_NE(ParseError("s = \"bad \\q\"").find("at column 10: unknown escape '\\q'"),
            std::string::npos);
  EXPECT_EQ(ParseError("x = 1.2.3"), "filter: at column 5: malformed number '1.2.3'");
  EXPECT_EQ(ParseError("x = 12abc"), "filter: at column 5: malformed number '12abc'");
  EXPECT_EQ(ParseError("x = 1e999"), "filter: at column 5: number '1e999' is out of range");
  EXPECT_EQ(ParseError("x = - 1"), "filter: at column 5: unexpected character '-'");
  EXPECT_EQ(ParseError("x = 1 & y = 2"), "filter: at column 7: unexpected character '&'");
  EXPECT_EQ(ParseError("x = \x01"), "filter: at column 5: unexpected character 0x01");
  EXPECT_EQ(ParseError("``= 1"), "filter: at column 1: empty attribute name ``");
  // Columns count characters, not bytes.
  EXPECT_EQ(ParseError("s = \"caf\xc3\xa9\" and <"),
            "filter: at column 16: expected an attribute name, 'not' or '(', found '<'");
  EXPECT_EQ(ParseError("s = '\xc3\xa9' or \xc3\xa9"),
            "filter: at column 12: unexpected character '\xc3\xa9'");
}

TEST(ParseTest, Limits) {
  // Text: 64 KiB is accepted, one byte more is not.
  const std::string head = "s = \"";
  std::string text = head + std::string(kMaxFilterBytes - head.size() - 1, 'x') + "\"";
  ASSERT_EQ(text.size(), kMaxFilterBytes);
  EXPECT_TRUE(MustParse(text));
  text.insert(head.size(), "x");
  EXPECT_EQ(ParseError(text), "filter: expression is 65537 bytes; the limit is 65536");

  // Lists: 10,000 values are accepted, 10,001 are not.
  std::string list = "n in [0";
  for (size_t i = 1; i < kMaxListValues; ++i) list += "," + std::to_string(i % 10);
  auto e = MustParse(list + "]");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->values.size(), kMaxListValues);
  const std::string too_long = list + ",1]";
  EXPECT_EQ(ParseError(too_long), "filter: at column " + std::to_string(too_long.size() - 1) +
                                      ": list has more than 10000 values");
}

// ---------------------------------------------------------------------------------------------
// IdSet

TEST(IdSetTest, Basics) {
  IdSet empty;
  EXPECT_EQ(empty.Count(), 0u);
  EXPECT_TRUE(empty.empty());
  EXPECT_FALSE(empty.Contains(0));
  EXPECT_FALSE(empty.Contains(~uint64_t{0}));
  EXPECT_TRUE(empty.ToVector().empty());

  IdSet s = IdSet::FromIds({9, 3, 3, 1000000, 0, uint64_t{1} << 40, 64});
  const std::vector<uint64_t> want = {0, 3, 9, 64, 1000000, uint64_t{1} << 40};
  EXPECT_EQ(s.Count(), want.size());
  EXPECT_EQ(s.ToVector(), want);
  std::vector<uint64_t> seen;
  s.ForEach([&](uint64_t id) { seen.push_back(id); });
  EXPECT_EQ(seen, want);
  for (uint64_t id : want) EXPECT_TRUE(s.Contains(id)) << id;
  for (uint64_t id : {1ull, 2ull, 63ull, 65ull, 999999ull, (1ull << 40) + 1, ~0ull}) {
    EXPECT_FALSE(s.Contains(id)) << id;
  }

  // Copies share, moves leave an empty set behind.
  IdSet copy = s;
  EXPECT_EQ(copy.ToVector(), want);
  IdSet moved = std::move(copy);
  EXPECT_EQ(moved.ToVector(), want);
  EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): moved-from state is defined
  EXPECT_FALSE(copy.Contains(0));
  copy = moved;
  EXPECT_TRUE(copy.Contains(1000000));
}

TEST(IdSetTest, DenseAndSparseContainsAgree) {
  std::mt19937_64 rng(7);
  for (size_t n : {10u, 1000u, 100000u}) {
    std::vector<uint64_t> ids;
    std::vector<bool> truth(2100000);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t id = rng() % 2000000;
      ids.push_back(id);
      truth[id] = true;
    }
    const IdSet s = IdSet::FromIds(ids);
    EXPECT_EQ(s.Count(), static_cast<size_t>(std::count(truth.begin(), truth.end(), true)));
    // Several threads make the first Contains calls at once (the lazy bit array).
    std::vector<std::thread> threads;
    std::vector<size_t> mismatches(4, 0);
    for (size_t t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (uint64_t id = t; id < 2100000; id += 4) {
          if (s.Contains(id) != truth[id]) ++mismatches[t];
        }
      });
    }
    for (auto& th : threads) th.join();
    for (size_t m : mismatches) EXPECT_EQ(m, 0u) << n;
  }
}

// ---------------------------------------------------------------------------------------------
// AttributeIndex

Attributes Attrs(std::initializer_list<std::pair<const std::string, AttrValue>> list) {
  return Attributes(list);
}

std::vector<uint64_t> Eval(const AttributeIndex& index, const std::string& text) {
  auto e = MustParse(text);
  if (!e) return {999999};
  IdSet ids;
  const Status st = index.Evaluate(*e, &ids);
  EXPECT_TRUE(st.ok()) << text << ": " << st.ToString();
  return ids.ToVector();
}

std::string EvalError(const AttributeIndex& index, const std::string& text) {
  auto e = MustParse(text);
  if (!e) return "<parse error>";
  IdSet ids;
  const Status st = index.Evaluate(*e, &ids);
  EXPECT_FALSE(st.ok()) << text;
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  return st.message();
}

using Ids = std::vector<uint64_t>;

class SmallCatalogue : public ::testing::Test {
 protected:
  void SetUp() override {
    using Tags = std::vector<std::string>;
    index_.Insert(1, Attrs({{"brand", std::string("Velora")},
                            {"category", std::string("shoes")},
                            {"price", 79.5},
                            {"in_stock", true},
                            {"tags", Tags{"trail", "running"}}}));
    index_.Insert(2, Attrs({{"brand", std::string("Kestrel")},
                            {"category", std::string("shoes")},
                            {"price", 120.0},
                            {"in_stock", false},
                            {"tags", Tags{"road"}}}));
    index_.Insert(3, Attrs({{"brand", std::string("Nimbus")},
                            {"category", std::string("jackets")},
                            {"price", 15.0},
                            {"tags", Tags{}}}));
    index_.Insert(4, Attrs({{"category", std::string("socks")}, {"price", 20.0}}));
    index_.Insert(5, Attrs({}));
  }
  AttributeIndex index_;
};

TEST_F(SmallCatalogue, Semantics) {
  EXPECT_EQ(index_.size(), 5u);
  EXPECT_EQ(Eval(index_, "category = \"shoes\" and price < 80"), Ids({1}));
  EXPECT_EQ(Eval(index_, "tags contains \"trail\" and not brand in [\"Velora\", 'Kestrel']"),
            Ids({}));
  EXPECT_EQ(Eval(index_, "not brand in [\"Velora\", 'Kestrel']"), Ids({3, 4, 5}));
  EXPECT_EQ(Eval(index_, "brand not in [\"Velora\", 'Kestrel']"), Ids({3}));
  EXPECT_EQ(Eval(index_, "in_stock = true or (price between 10 and 20)"), Ids({1, 3, 4}));
  // A comparison never matches an item without the attribute; 'not' complements over all.
  EXPECT_EQ(Eval(index_, "brand != \"Velora\""), Ids({2, 3}));
  EXPECT_EQ(Eval(index_, "not brand = \"Velora\""), Ids({2, 3, 4, 5}));
  EXPECT_EQ(Eval(index_, "brand exists"), Ids({1, 2, 3}));
  EXPECT_EQ(Eval(index_, "not brand exists"), Ids({4, 5}));
  EXPECT_EQ(Eval(index_, "tags exists"), Ids({1, 2, 3}));
  EXPECT_EQ(Eval(index_, "in_stock != true"), Ids({2}));
  EXPECT_EQ(Eval(index_, "in_stock in [true, false]"), Ids({1, 2}));
  EXPECT_EQ(Eval(index_, "in_stock not in [true]"), Ids({2}));
  // Tags: '=' and 'contains' hold the value, 'in' any of them, '!=' / 'not in' none.
  EXPECT_EQ(Eval(index_, "tags = 'road'"), Ids({2}));
  EXPECT_EQ(Eval(index_, "tags in ['road', 'trail']"), Ids({1, 2}));
  EXPECT_EQ(Eval(index_, "tags != 'road'"), Ids({1, 3}));
  EXPECT_EQ(Eval(index_, "tags not in ['road', 'trail']"), Ids({3}));
  // 'contains' on a string is equality.
  EXPECT_EQ(Eval(index_, "brand contains 'Nimbus'"), Ids({3}));
  EXPECT_EQ(Eval(index_, "brand contains 'Nim'"), Ids({}));
  // Numbers.
  EXPECT_EQ(Eval(index_, "price = 79.5"), Ids({1}));
  EXPECT_EQ(Eval(index_, "price != 79.5"), Ids({2, 3, 4}));
  EXPECT_EQ(Eval(index_, "price <= 20"), Ids({3, 4}));
  EXPECT_EQ(Eval(index_, "price < 20"), Ids({3}));
  EXPECT_EQ(Eval(index_, "price > 79.5"), Ids({2}));
  EXPECT_EQ(Eval(index_, "price >= 79.5"), Ids({1, 2}));
  EXPECT_EQ(Eval(index_, "price between 15 and 79.5"), Ids({1, 3, 4}));
  EXPECT_EQ(Eval(index_, "price between 80 and 10"), Ids({}));
  EXPECT_EQ(Eval(index_, "price in [20, 120, 3]"), Ids({2, 4}));
  EXPECT_EQ(Eval(index_, "price not in [20, 120]"), Ids({1, 3}));
  EXPECT_EQ(Eval(index_, "not price > -1e300"), Ids({5}));
  // An unmatched value, and an and/or with only negated operands.
  EXPECT_EQ(Eval(index_, "brand = 'Nobody'"), Ids({}));
  EXPECT_EQ(Eval(index_, "not brand exists and not price < 18"), Ids({4, 5}));
  EXPECT_EQ(Eval(index_, "not brand exists or not price < 18"), Ids({1, 2, 4, 5}));

  // Updates and deletes.
  index_.Erase(1, Attrs({{"brand", std::string("Velora")},
                         {"category", std::string("shoes")},
                         {"price", 79.5},
                         {"in_stock", true},
                         {"tags", std::vector<std::string>{"trail", "running"}}}));
  index_.Insert(1, Attrs({{"brand", std::string("Velora")}, {"price", 60.0}}));
  EXPECT_EQ(Eval(index_, "category = \"shoes\" and price < 80"), Ids({}));
  EXPECT_EQ(Eval(index_, "price < 80"), Ids({1, 3, 4}));
  EXPECT_EQ(Eval(index_, "tags = 'trail'"), Ids({}));
  EXPECT_EQ(Eval(index_, "in_stock exists"), Ids({2}));
  index_.Erase(5, Attrs({}));
  EXPECT_EQ(index_.size(), 4u);
  EXPECT_EQ(Eval(index_, "not brand exists"), Ids({4}));
  // An attribute every item has lost is still known (and holds its type).
  index_.Erase(2, Attrs({{"brand", std::string("Kestrel")},
                         {"category", std::string("shoes")},
                         {"price", 120.0},
                         {"in_stock", false},
                         {"tags", std::vector<std::string>{"road"}}}));
  EXPECT_EQ(Eval(index_, "in_stock = true"), Ids({}));
  EXPECT_EQ(EvalError(index_, "in_stock = 1"),
            "attribute 'in_stock' holds bools; operator '=' cannot compare it with a number");
}

TEST_F(SmallCatalogue, TypeErrorsAndUnknownAttributes) {
  EXPECT_EQ(EvalError(index_, "colour = 'red'"),
            "unknown attribute 'colour' (known: brand, category, in_stock, price, tags)");
  EXPECT_EQ(EvalError(index_, "price = 'cheap'"),
            "attribute 'price' holds numbers; operator '=' cannot compare it with a string");
  EXPECT_EQ(EvalError(index_, "price in [1, true]"),
            "attribute 'price' holds numbers; operator 'in' cannot compare it with a bool");
  EXPECT_EQ(EvalError(index_, "brand < 'm'"),
            "operator '<' does not apply to attribute 'brand', which holds strings (it needs "
            "numbers)");
  EXPECT_EQ(EvalError(index_, "brand = 3"),
            "attribute 'brand' holds strings; operator '=' cannot compare it with a number");
  EXPECT_EQ(EvalError(index_, "in_stock >= true"),
            "operator '>=' does not apply to attribute 'in_stock', which holds bools (it needs "
            "numbers)");
  EXPECT_EQ(EvalError(index_, "in_stock between 1 and 2"),
            "operator 'between' does not apply to attribute 'in_stock', which holds bools (it "
            "needs numbers)");
  EXPECT_EQ(EvalError(index_, "price contains 3"),
            "operator 'contains' does not apply to attribute 'price', which holds numbers (it "
            "needs strings or string lists)");
  EXPECT_EQ(EvalError(index_, "in_stock contains true"),
            "operator 'contains' does not apply to attribute 'in_stock', which holds bools (it "
            "needs strings or string lists)");
  EXPECT_EQ(EvalError(index_, "tags contains 1"),
            "attribute 'tags' holds string lists; operator 'contains' cannot compare it with a "
            "number");
  EXPECT_EQ(EvalError(index_, "tags > 1"),
            "operator '>' does not apply to attribute 'tags', which holds string lists (it needs "
            "numbers)");
  // Errors anywhere in the tree are reported, even where the answer is already known.
  EXPECT_NE(EvalError(index_, "brand = 'Nobody' and price = 'x'").find("'price' holds numbers"),
            std::string::npos);
  EXPECT_NE(EvalError(index_, "not (brand exists or colour exists)").find("'colour'"),
            std::string::npos);

  AttributeIndex empty;
  EXPECT_EQ(EvalError(empty, "colour = 'red'"),
            "unknown attribute 'colour' (no item has attributes)");
  AttributeIndex many;
  Attributes a;
  for (int i = 0; i < 25; ++i) a["a" + std::to_string(100 + i)] = 1.0;
  many.Insert(1, a);
  EXPECT_EQ(EvalError(many, "colour = 'red'"),
            "unknown attribute 'colour' (known: a100, a101, a102, a103, a104, a105, a106, a107, "
            "a108, a109, a110, a111, a112, a113, a114, a115, a116, a117, a118, a119 and 5 more)");

  // Hand-built trees are checked too.
  Expr bad;
  bad.kind = Expr::Kind::kAnd;
  IdSet ids;
  EXPECT_FALSE(index_.Evaluate(bad, &ids).ok());
  bad.kind = Expr::Kind::kPredicate;
  bad.attribute = "price";
  bad.op = Op::kBetween;
  bad.values = {1.0};
  EXPECT_FALSE(index_.Evaluate(bad, &ids).ok());
}

TEST_F(SmallCatalogue, Check) {
  using Tags = std::vector<std::string>;
  EXPECT_TRUE(index_.Check(Attrs({{"brand", std::string("x")}, {"price", 1.0}})).ok());
  EXPECT_TRUE(index_.Check(Attrs({{"colour", 1.0}})).ok());  // new names take any type
  Status st = index_.Check(Attrs({{"brand", std::string("x")}, {"price", std::string("9")}}));
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "attribute 'price' holds numbers in this collection; got a string");
  st = index_.Check(Attrs({{"tags", std::string("trail")}}));
  EXPECT_EQ(st.message(), "attribute 'tags' holds string lists in this collection; got a string");
  st = index_.Check(Attrs({{"in_stock", 1.0}}));
  EXPECT_EQ(st.message(), "attribute 'in_stock' holds bools in this collection; got a number");
  st = index_.Check(Attrs({{"brand", Tags{"a"}}}));
  EXPECT_EQ(st.message(), "attribute 'brand' holds strings in this collection; got a string list");
  st = index_.Check(Attrs({{"weight", std::nan("")}}));
  EXPECT_EQ(st.message(), "attribute 'weight' is NaN");

  // A type holds for the index's lifetime; Insert skips values that fail Check().
  index_.Insert(10, Attrs({{"price", std::string("9")}, {"brand", std::string("Zed")}}));
  EXPECT_EQ(Eval(index_, "brand = 'Zed'"), Ids({10}));
  EXPECT_EQ(Eval(index_, "price exists"), Ids({1, 2, 3, 4}));
  index_.Erase(10, Attrs({{"price", std::string("9")}, {"brand", std::string("Zed")}}));
  EXPECT_EQ(Eval(index_, "brand = 'Zed'"), Ids({}));

  // A batch may not give one new name two types.
  const Attributes a = Attrs({{"colour", std::string("red")}});
  const Attributes b = Attrs({{"colour", 3.0}});
  const Attributes c = Attrs({{"price", true}});
  EXPECT_TRUE(index_.CheckBatch({&a, &a}).ok());
  st = index_.CheckBatch({&a, &a, &b});
  EXPECT_EQ(st.message(),
            "item 2: attribute 'colour' is a string in item 0 of this batch; got a "
            "number");
  st = index_.CheckBatch({&a, &c});
  EXPECT_EQ(st.message(), "item 1: attribute 'price' holds numbers in this collection; got a bool");
}

// ---------------------------------------------------------------------------------------------
// Randomised: the index against a brute-force evaluator.

bool Holds(const std::vector<std::string>& tags, const Literal& v) {
  return std::find(tags.begin(), tags.end(), std::get<std::string>(v)) != tags.end();
}

bool Matches(const Expr& e, const Attributes& attrs) {
  switch (e.kind) {
    case Expr::Kind::kAnd:
      return std::all_of(e.children.begin(), e.children.end(),
                         [&](const auto& c) { return Matches(*c, attrs); });
    case Expr::Kind::kOr:
      return std::any_of(e.children.begin(), e.children.end(),
                         [&](const auto& c) { return Matches(*c, attrs); });
    case Expr::Kind::kNot:
      return !Matches(*e.children[0], attrs);
    case Expr::Kind::kPredicate:
      break;
  }
  const auto it = attrs.find(e.attribute);
  if (it == attrs.end()) return false;
  if (e.op == Op::kExists) return true;
  const AttrValue& a = it->second;
  const auto equal = [&](const Literal& v) {
    if (const auto* tags = std::get_if<std::vector<std::string>>(&a)) return Holds(*tags, v);
    if (const auto* s = std::get_if<std::string>(&a)) return *s == std::get<std::string>(v);
    if (const auto* d = std::get_if<double>(&a)) return *d == std::get<double>(v);
    return std::get<bool>(a) == std::get<bool>(v);
  };
  const auto any = [&] { return std::any_of(e.values.begin(), e.values.end(), equal); };
  switch (e.op) {
    case Op::kEq:
    case Op::kContains:
    case Op::kIn:
      return any();
    case Op::kNe:
    case Op::kNotIn:
      return !any();
    case Op::kLt:
      return std::get<double>(a) < std::get<double>(e.values[0]);
    case Op::kLe:
      return std::get<double>(a) <= std::get<double>(e.values[0]);
    case Op::kGt:
      return std::get<double>(a) > std::get<double>(e.values[0]);
    case Op::kGe:
      return std::get<double>(a) >= std::get<double>(e.values[0]);
    case Op::kBetween:
      return std::get<double>(e.values[0]) <= std::get<double>(a) &&
             std::get<double>(a) <= std::get<double>(e.values[1]);
    case Op::kExists:
      return true;
  }
  return false;
}

class RandomCatalogue {
 public:
  explicit RandomCatalogue(uint32_t seed) : rng_(seed) {}

  Attributes RandomItem() {
    Attributes a;
    if (Chance(0.8)) a["brand"] = Pick(kBrands);
    if (Chance(0.8)) a["category"] = Pick(kCategories);
    if (Chance(0.8)) a["price"] = RandomPrice();
    if (Chance(0.7)) a["rating"] = static_cast<double>(Int(1, 5));
    if (Chance(0.7)) a["in_stock"] = Chance(0.6);
    if (Chance(0.75)) {
      std::vector<std::string> tags;
      for (int n = Int(0, 3); n > 0; --n) tags.push_back(Pick(kTags));
      a["tags"] = tags;
    }
    return a;
  }

  // A random filter over the attributes above, with keywords in random case.
  std::string RandomFilter(int depth = 0) {
    const double r = Uniform();
    if (depth < 3 && r < 0.3) {
      const int n = Int(2, 3);
      const std::string op = Chance(0.5) ? Keyword("and") : Keyword("or");
      std::string s = "(";
      for (int i = 0; i < n; ++i) s += (i ? " " + op + " " : "") + RandomFilter(depth + 1);
      return s + ")";
    }
    if (depth < 3 && r < 0.4) return Keyword("not") + " " + RandomFilter(depth + 1);
    if (depth < 3 && r < 0.5) {
      // Unparenthesised: precedence decides.
      return RandomFilter(depth + 1) + " " + Keyword(Chance(0.5) ? "and" : "or") + " " +
             RandomFilter(depth + 1);
    }
    return RandomPredicate();
  }

 private:
  static inline const std::vector<std::string> kBrands = {"Velora", "Kestrel", "Nimbus", "Arc",
                                                          "Zed",    "Orla",    "Pike"};
  static inline const std::vector<std::string> kCategories = {"shoes", "jackets", "socks", "hats"};
  static inline const std::vector<std::string> kTags = {"trail", "road",  "running", "winter",
                                                        "sale",  "light", "new",     "eco"};

  bool Chance(double p) { return Uniform() < p; }
  double Uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::string Pick(const std::vector<std::string>& v) {
    return v[static_cast<size_t>(Int(0, static_cast<int>(v.size()) - 1))];
  }
  double RandomPrice() {
    // Many repeats (whole numbers) and some unique values.
    if (Chance(0.7)) return static_cast<double>(Int(0, 100));
    return Int(0, 10000) / 100.0 - 5;
  }
  std::string Keyword(const std::string& k) {
    std::string s = k;
    for (char& c : s) {
      if (Chance(0.3)) c = static_cast<char>(c - 'a' + 'A');
    }
    return s;
  }
  std::string Str(const std::vector<std::string>& domain) {
    const std::string v = Chance(0.1) ? "Nobody" : Pick(domain);
    return Chance(0.5) ? "\"" + v + "\"" : "'" + v + "'";
  }
  std::string Num() {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%g", RandomPrice());
    return buf;
  }
  std::string List(const std::function<std::string()>& value) {
    const int n = Int(1, 4);
    std::string s = Chance(0.5) ? "[" : "(";
    const char* close = s == "[" ? "]" : ")";
    for (int i = 0; i < n; ++i) s += (i ? ", " : "") + value();
    return s + close;
  }

  std::string RandomPredicate() {
    const int which = Int(0, 5);
    if (Chance(0.08)) {
      const char* names[] = {"brand", "category", "price", "rating", "in_stock", "tags"};
      return std::string(names[which]) + " " + Keyword("exists");
    }
    switch (which) {
      case 0:
      case 1: {
        const auto& domain = which == 0 ? kBrands : kCategories;
        const std::string name = which == 0 ? "brand" : "category";
        const auto value = [&] { return Str(domain); };
        switch (Int(0, 5)) {
          case 0:
            return name + " = " + value();
          case 1:
            return name + " == " + value();
          case 2:
            return name + " != " + value();
          case 3:
            return name + " " + Keyword("in") + " " + List(value);
          case 4:
            return name + " " + Keyword("not") + " " + Keyword("in") + " " + List(value);
          default:
            return name + " " + Keyword("contains") + " " + value();
        }
      }
      case 2:
      case 3: {
        const std::string name = which == 2 ? "price" : "rating";
        const auto value = [&] { return which == 2 ? Num() : std::to_string(Int(0, 6)); };
        switch (Int(0, 8)) {
          case 0:
            return name + " = " + value();
          case 1:
            return name + " != " + value();
          case 2:
            return name + " < " + value();
          case 3:
            return name + " <= " + value();
          case 4:
            return name + " > " + value();
          case 5:
            return name + " >= " + value();
          case 6:
            return name + " " + Keyword("between") + " " + value() + " " + Keyword("and") + " " +
                   value();
          case 7:
            return name + " " + Keyword("in") + " " + List(value);
          default:
            return name + " " + Keyword("not") + " " + Keyword("in") + " " + List(value);
        }
      }
      case 4: {
        const auto value = [&] { return Keyword(Chance(0.5) ? "true" : "false"); };
        switch (Int(0, 3)) {
          case 0:
            return "in_stock = " + value();
          case 1:
            return "in_stock != " + value();
          case 2:
            return "in_stock " + Keyword("in") + " " + List(value);
          default:
            return "in_stock " + Keyword("not") + " " + Keyword("in") + " " + List(value);
        }
      }
      default: {
        const auto value = [&] { return Str(kTags); };
        switch (Int(0, 4)) {
          case 0:
            return "tags " + Keyword("contains") + " " + value();
          case 1:
            return "tags = " + value();
          case 2:
            return "tags != " + value();
          case 3:
            return "tags " + Keyword("in") + " " + List(value);
          default:
            return "tags " + Keyword("not") + " " + Keyword("in") + " " + List(value);
        }
      }
    }
  }

  std::mt19937 rng_;
};

void ExpectSameAsBruteForce(const AttributeIndex& index, const std::map<uint64_t, Attributes>& live,
                            RandomCatalogue* gen, int filters, size_t* nonempty) {
  ASSERT_EQ(index.size(), live.size());
  for (int i = 0; i < filters; ++i) {
    const std::string text = gen->RandomFilter();
    std::shared_ptr<const Expr> e;
    ASSERT_TRUE(Parse(text, &e).ok()) << text;
    // The normal form means the same.
    std::shared_ptr<const Expr> again;
    ASSERT_TRUE(Parse(ToString(*e), &again).ok()) << ToString(*e);
    ASSERT_EQ(ToString(*again), ToString(*e));

    std::vector<uint64_t> want;
    for (const auto& [id, attrs] : live) {
      if (Matches(*e, attrs)) want.push_back(id);
    }
    IdSet got;
    const Status st = index.Evaluate(*(i % 2 ? again : e), &got);
    ASSERT_TRUE(st.ok()) << text << ": " << st.ToString();
    ASSERT_EQ(got.ToVector(), want) << text << "\nnormal form: " << ToString(*e);
    ASSERT_EQ(got.Count(), want.size());
    for (size_t k = 0; k < want.size(); k += 7) ASSERT_TRUE(got.Contains(want[k]));
    if (!want.empty()) ++*nonempty;
  }
}

void RunRandomised(const AttributeIndexOptions& options, uint32_t seed) {
  RandomCatalogue gen(seed);
  std::mt19937 rng(seed + 1);
  AttributeIndex index(options);
  std::map<uint64_t, Attributes> live;
  size_t nonempty = 0;

  uint64_t next_id = 0;
  for (; next_id < 5000; ++next_id) {
    live[next_id] = gen.RandomItem();
    index.Insert(next_id, live[next_id]);
  }
  ExpectSameAsBruteForce(index, live, &gen, 150, &nonempty);

  // Rounds of updates, deletes and inserts, each followed by queries.
  for (int round = 0; round < 30; ++round) {
    const int changes = round % 3 == 0 ? 400 : 40;
    for (int c = 0; c < changes; ++c) {
      const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
      if (live.empty() || kind < 2) {
        live[next_id] = gen.RandomItem();
        index.Insert(next_id, live[next_id]);
        ++next_id;
        continue;
      }
      auto it = live.lower_bound(std::uniform_int_distribution<uint64_t>(0, next_id)(rng));
      if (it == live.end()) it = live.begin();
      index.Erase(it->first, it->second);
      if (kind < 5) {
        live.erase(it);  // delete
      } else {
        it->second = gen.RandomItem();  // update
        index.Insert(it->first, it->second);
      }
    }
    ExpectSameAsBruteForce(index, live, &gen, 25, &nonempty);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(nonempty, 300u);  // the filters are not all trivially empty
  EXPECT_GT(index.MemoryBytes(), 5000u * 8);
}

TEST(AttributeIndexRandomTest, MatchesBruteForce) { RunRandomised({}, 1); }

TEST(AttributeIndexRandomTest, MatchesBruteForceWithSmallBlocks) {
  // Small blocks and frequent rebuilds exercise every path of the number index.
  AttributeIndexOptions options;
  options.range_block_size = 16;
  options.min_rebuild_changes = 8;
  RunRandomised(options, 2);
}

TEST(AttributeIndexRandomTest, MatchesBruteForceWithLargeSideLog) {
  AttributeIndexOptions options;
  options.range_block_size = 64;
  options.min_rebuild_changes = 100000;  // changes stay in the side structures
  RunRandomised(options, 3);
}

TEST(AttributeIndexConcurrencyTest, ConcurrentQueriesAfterChanges) {
  // The first queries after changes fold them in; several threads may race to do it.
  AttributeIndex index;
  std::map<uint64_t, double> price;
  for (uint64_t id = 0; id < 20000; ++id) {
    price[id] = static_cast<double>((id * 7919) % 1000);
    index.Insert(id, Attrs({{"price", price[id]}}));
  }
  for (int round = 0; round < 5; ++round) {
    for (uint64_t id = round; id < 20000; id += 7) {
      index.Erase(id, Attrs({{"price", price[id]}}));
      price[id] = static_cast<double>((id * 31 + round) % 1000);
      index.Insert(id, Attrs({{"price", price[id]}}));
    }
    size_t want = 0;
    for (const auto& [id, p] : price) want += p >= 250 && p < 750;
    auto e = MustParse("price >= 250 and price < 750");
    std::vector<size_t> got(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < got.size(); ++t) {
      threads.emplace_back([&, t] {
        IdSet ids;
        if (index.Evaluate(*e, &ids).ok()) got[t] = ids.Count();
      });
    }
    for (auto& th : threads) th.join();
    for (size_t g : got) EXPECT_EQ(g, want) << round;
  }
}

// ---------------------------------------------------------------------------------------------
// A million items: a range over half of them. Times are printed, never asserted.

TEST(AttributeIndexScaleTest, MillionItems) {
  constexpr uint64_t kItems = 1000000;
  AttributeIndex index;
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> price(0, 1000);
  Attributes a;
  size_t cheap = 0, c7 = 0, cheap_c7 = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t id = 0; id < kItems; ++id) {
    const double p = price(rng);
    const bool is_c7 = id % 100 == 7;
    a["price"] = p;
    a["category"] = "c" + std::to_string(id % 100);
    index.Insert(id, a);
    cheap += p < 500;
    c7 += is_c7;
    cheap_c7 += p < 500 && is_c7;
  }
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(index.size(), kItems);

  const auto ms = [](auto from, auto to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
  };
  const auto run = [&](const std::string& text, size_t want) {
    auto e = MustParse(text);
    IdSet ids;
    const auto start = std::chrono::steady_clock::now();
    const Status st = index.Evaluate(*e, &ids);
    const auto end = std::chrono::steady_clock::now();
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(ids.Count(), want) << text;
    return ms(start, end);
  };
  // The first query folds the inserted values in (sorts them once).
  const double first = run("price < 500", cheap);
  double range = 1e9, equality = 1e9, both = 1e9, contains = 1e9;
  for (int rep = 0; rep < 3; ++rep) {
    range = std::min(range, run("price < 500", cheap));
    equality = std::min(equality, run("category = \"c7\"", c7));
    both = std::min(both, run("category = \"c7\" and price < 500", cheap_c7));
  }
  // Contains on the half-range result (the first call builds the bit array).
  {
    auto e = MustParse("price < 500");
    IdSet ids;
    ASSERT_TRUE(index.Evaluate(*e, &ids).ok());
    const auto start = std::chrono::steady_clock::now();
    size_t hits = 0;
    for (uint64_t id = 0; id < kItems; ++id) hits += ids.Contains(id);
    contains = ms(start, std::chrono::steady_clock::now());
    EXPECT_EQ(hits, cheap);
  }
  std::printf(
      "[ timing ] 1M items: insert %.1f ms, first range (folds) %.2f ms, range 50%% %.2f ms, "
      "equality 1%% %.3f ms, and %.2f ms, 1M Contains %.2f ms, memory %.1f MiB\n",
      ms(t0, t1), first, range, equality, both, contains, index.MemoryBytes() / 1048576.0);
}

}  // namespace
}  // namespace filter
}  // namespace reco
