// reco::filter — attribute filters: a small expression language over item attributes, and an
// in-memory attribute index per collection that turns an expression into the set of matching
// internal ids. No roaring type appears here (the bitmaps live behind IdSet and AttributeIndex).
//
//   std::shared_ptr<const filter::Expr> expr;
//   RECO_RETURN_IF_ERROR(filter::Parse("category = \"shoes\" and price < 80", &expr));
//   filter::IdSet ids;
//   RECO_RETURN_IF_ERROR(index.Evaluate(*expr, &ids));
//
// Grammar (keywords case-insensitive):
//   expr      := and_expr ('or' and_expr)*
//   and_expr  := unary ('and' unary)*
//   unary     := 'not' unary | '(' expr ')' | predicate
//   predicate := NAME ('=' | '==' | '!=' | '<' | '<=' | '>' | '>=') value
//              | NAME 'in' list | NAME 'not' 'in' list
//              | NAME 'contains' value
//              | NAME 'between' NUMBER 'and' NUMBER        (inclusive)
//              | NAME 'exists'
//   list      := '[' value (',' value)* ']' | '(' value (',' value)* ')'
//   value     := "string" | 'string' | NUMBER | true | false
//                (escapes: \" \' \` \\ \n \t \r; NUMBER: [+-] digits [. digits] [e [+-] digits],
//                either side of the point may be empty: 5. .5)
//   NAME      := [A-Za-z_][A-Za-z0-9_.-]* | `any text` (same escapes; a name spelt like a
//                keyword needs the backquotes)
// Limits: kMaxFilterBytes of text, kMaxFilterDepth nested 'not' / '(', kMaxListValues values
// in a list.
//
// Semantics, per attribute type (string, number, bool, string list = tags):
//   - a predicate never matches an item that lacks the attribute;
//   - '!=' and 'not in' match items that have the attribute with another value
//     (on tags: items whose tags hold none of the values);
//   - 'not X' is the complement of X within all live items, so it includes items that lack
//     the attribute ('not brand = "x"' differs from 'brand != "x"');
//   - on tags, '=' and 'contains' mean "the list holds the value", 'in' "holds any of them";
//     on a string, 'contains' is equality;
//   - '<' '<=' '>' '>=' 'between' need numbers; 'contains' needs strings or tags.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "common/item.h"
#include "common/status.h"

namespace reco {
namespace filter {

inline constexpr size_t kMaxFilterBytes = 64 * 1024;  // longest filter text, in bytes
inline constexpr int kMaxFilterDepth = 64;            // deepest nesting of 'not' and '('
inline constexpr size_t kMaxListValues = 10000;       // most values in one 'in' list

// A literal of a filter: a string, a number or a bool.
using Literal = std::variant<std::string, double, bool>;

enum class Op {
  kEq,        // NAME = value
  kNe,        // NAME != value
  kLt,        // NAME < value
  kLe,        // NAME <= value
  kGt,        // NAME > value
  kGe,        // NAME >= value
  kIn,        // NAME in [values]
  kNotIn,     // NAME not in [values]
  kContains,  // NAME contains value
  kBetween,   // NAME between values[0] and values[1], inclusive
  kExists,    // NAME exists
};

// "=", "!=", "<", ..., "in", "not in", "contains", "between", "exists".
const char* OpName(Op op);

// A parsed filter. Trees are immutable once built and shared through shared_ptr<const Expr>.
struct Expr {
  enum class Kind { kAnd, kOr, kNot, kPredicate };

  Kind kind = Kind::kPredicate;
  std::vector<std::shared_ptr<const Expr>> children;  // kAnd, kOr: two or more; kNot: one

  // kPredicate only:
  std::string attribute;
  Op op = Op::kExists;
  // kEq..kGe, kContains: one value; kIn, kNotIn: 1..kMaxListValues; kBetween: two numbers
  // (low, high); kExists: none.
  std::vector<Literal> values;
};

// Parses a filter expression. Errors are InvalidArgument and say where, e.g.
// "filter: at column 17: expected a value after '<', found 'and'" (columns count characters
// from 1). Nested 'and's (and 'or's) are flattened into one node.
Status Parse(const std::string& text, std::shared_ptr<const Expr>* out);

// A normalised form, for logs and tests: lower-case keywords, '=' for '==', double-quoted
// strings, shortest round-trip numbers, [lists], parentheses only where needed. Parse() of the
// result gives an equal tree.
std::string ToString(const Expr& expr);

// An immutable set of ids. Copies are cheap (they share the bitmap). Contains() is inline and
// allocation-free once the set has built its bit array (lazily, on the first call, when the
// ids are dense enough to make one worthwhile); it is meant for nearest-neighbour searches
// that test many candidates. All methods may be called from several threads at once.
class IdSet {
 public:
  IdSet();  // empty
  // The set of `ids` (any order, duplicates allowed).
  static IdSet FromIds(std::vector<uint64_t> ids);
  ~IdSet();
  IdSet(const IdSet& other);
  IdSet& operator=(const IdSet& other);
  IdSet(IdSet&& other) noexcept;
  IdSet& operator=(IdSet&& other) noexcept;

  bool Contains(uint64_t id) const {
    const uint64_t* bits = bits_.load(std::memory_order_acquire);
    if (bits != nullptr) return id < num_bits_ && ((bits[id >> 6] >> (id & 63)) & 1) != 0;
    return ContainsSlow(id);
  }
  size_t Count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // Calls fn for every id, in increasing order.
  void ForEach(const std::function<void(uint64_t)>& fn) const;
  std::vector<uint64_t> ToVector() const;  // increasing order

 private:
  struct Rep;  // the bitmap (bitmap.h)
  friend struct IdSetBuilder;
  explicit IdSet(std::shared_ptr<const Rep> rep);
  bool ContainsSlow(uint64_t id) const;  // asks the bitmap; builds the bit array if due

  std::shared_ptr<const Rep> rep_;  // null when empty
  size_t count_ = 0;
  uint64_t num_bits_ = 0;  // bits_ covers ids [0, num_bits_): the largest id + 1
  // rep_'s bit array once built (null before, and for sets too sparse to have one).
  mutable std::atomic<const uint64_t*> bits_{nullptr};
};

// Tunables of AttributeIndex; the defaults suit collections of any size.
struct AttributeIndexOptions {
  // Number attributes keep (value, id) pairs sorted, with a bitmap of ids per block of this
  // many consecutive pairs; a range query unions the blocks it covers. >= 1.
  size_t range_block_size = 4096;
  // Changes to a number attribute are kept aside (and merged into each query's answer) until
  // there are max(this, live values / 32) of them; then the sorted pairs are rebuilt.
  size_t min_rebuild_changes = 4096;
};

// The attribute index of one collection, in memory; the engine rebuilds it from storage at
// start by calling Insert() for every item. An attribute name keeps the type of the first value
// it was inserted with (string, number, bool or string list) for the index's lifetime.
// Changes to number attributes are folded in by the next Evaluate() that reads them; after a
// bulk load that first query pays for sorting the values (~0.1 s per million).
// Thread-safety: const methods may run concurrently; mutations need exclusive access.
class AttributeIndex {
 public:
  explicit AttributeIndex(AttributeIndexOptions options = {});
  ~AttributeIndex();
  AttributeIndex(AttributeIndex&&) noexcept;
  AttributeIndex& operator=(AttributeIndex&&) noexcept;
  AttributeIndex(const AttributeIndex&) = delete;
  AttributeIndex& operator=(const AttributeIndex&) = delete;

  // InvalidArgument when an attribute's type differs from the type the name holds here
  // ("attribute 'price' holds numbers in this collection; got a string"), or a number is NaN.
  Status Check(const Attributes& attrs) const;
  // Check() for a batch about to be inserted together: also refuses a name given two types
  // within the batch. The message starts with the position, from 0: "item 3: attribute ...".
  Status CheckBatch(const std::vector<const Attributes*>& batch) const;

  // Adds live item `id` (not live already). Attributes that fail Check() are not indexed.
  void Insert(uint64_t id, const Attributes& attrs);
  // Removes live item `id`; `attrs` are the attributes it was inserted with. An update is
  // Erase(id, old) + Insert(id, new).
  void Erase(uint64_t id, const Attributes& attrs);

  // The live ids that match `expr`. InvalidArgument for an attribute no item has ever had
  // ("unknown attribute 'colour' (known: brand, category, price, tags)"), or an operator or
  // value that does not fit the attribute's type (the message names the attribute, its type
  // and the operator).
  Status Evaluate(const Expr& expr, IdSet* out) const;

  size_t MemoryBytes() const;  // approximate
  size_t size() const;         // live ids

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace filter
}  // namespace reco
