// AttributeIndex: per attribute, a bitmap of the ids that have it, and
//   strings, tags: value -> bitmap of ids (hash map);
//   bools:         one bitmap per value;
//   numbers:       a NumericColumn (sorted pairs with block bitmaps).
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>

#include "filter/bitmap.h"
#include "filter/numeric_column.h"

namespace reco {
namespace filter {

namespace {

enum class AttrType { kString, kNumber, kBool, kTags };

// The alternatives of AttrValue, in order.
AttrType TypeOf(const AttrValue& v) {
  switch (v.index()) {
    case 0:
      return AttrType::kString;
    case 1:
      return AttrType::kNumber;
    case 2:
      return AttrType::kBool;
    default:
      return AttrType::kTags;
  }
}

const char* Plural(AttrType t) {
  switch (t) {
    case AttrType::kString:
      return "strings";
    case AttrType::kNumber:
      return "numbers";
    case AttrType::kBool:
      return "bools";
    case AttrType::kTags:
      return "string lists";
  }
  return "?";
}

const char* Singular(AttrType t) {
  switch (t) {
    case AttrType::kString:
      return "a string";
    case AttrType::kNumber:
      return "a number";
    case AttrType::kBool:
      return "a bool";
    case AttrType::kTags:
      return "a string list";
  }
  return "?";
}

const char* LiteralKind(const Literal& v) {
  switch (v.index()) {
    case 0:
      return "a string";
    case 1:
      return "a number";
    default:
      return "a bool";
  }
}

bool IsNaN(const AttrValue& v) {
  const double* d = std::get_if<double>(&v);
  return d != nullptr && std::isnan(*d);
}

// Evaluation depth beyond what Parse() produces (it nests at most kMaxFilterDepth levels),
// for trees built by hand.
constexpr int kMaxEvalDepth = 4 * kMaxFilterDepth;
constexpr size_t kMaxKnownListed = 20;  // names an unknown-attribute error lists

}  // namespace

struct AttributeIndex::Impl {
  struct Column {
    Column(AttrType t, const AttributeIndexOptions& o) : type(t) {
      if (t == AttrType::kNumber) {
        numbers = std::make_unique<NumericColumn>(o.range_block_size, o.min_rebuild_changes);
      }
    }
    AttrType type;
    Bitmap has;                                         // ids that have the attribute
    std::unordered_map<std::string, Posting> postings;  // kString, kTags: value -> ids
    Bitmap trues, falses;                               // kBool
    std::unique_ptr<NumericColumn> numbers;             // kNumber
  };

  explicit Impl(AttributeIndexOptions o) : options(o) {}

  Status CheckOne(const std::string& name, const AttrValue& value) const;
  Status Eval(const Expr& e, int depth, Bitmap* out) const;
  Status EvalAnd(const Expr& e, int depth, Bitmap* out) const;
  Status EvalPredicate(const Expr& e, Bitmap* out) const;
  Status EvalNumber(const Expr& e, const Column& col, Bitmap* out) const;
  Status UnknownAttribute(const std::string& name) const;

  // *out = the union of the postings of `values` (strings, already type-checked).
  static void PostingsOf(const Column& col, const std::vector<Literal>& values, Bitmap* out);

  AttributeIndexOptions options;
  Bitmap all;                             // live ids
  std::map<std::string, Column> columns;  // every attribute ever inserted, by name
};

Status AttributeIndex::Impl::CheckOne(const std::string& name, const AttrValue& value) const {
  if (IsNaN(value)) return Status::InvalidArgument("attribute '" + name + "' is NaN");
  const auto it = columns.find(name);
  if (it != columns.end() && it->second.type != TypeOf(value)) {
    return Status::InvalidArgument("attribute '" + name + "' holds " + Plural(it->second.type) +
                                   " in this collection; got " + Singular(TypeOf(value)));
  }
  return Status::OK();
}

Status AttributeIndex::Impl::UnknownAttribute(const std::string& name) const {
  std::string msg = "unknown attribute '" + name + "' (";
  if (columns.empty()) return Status::InvalidArgument(msg + "no item has attributes)");
  msg += "known: ";
  size_t listed = 0;
  for (const auto& [known, col] : columns) {
    if (listed == kMaxKnownListed) break;
    if (listed++ > 0) msg += ", ";
    msg += known;
  }
  if (columns.size() > listed) msg += " and " + std::to_string(columns.size() - listed) + " more";
  return Status::InvalidArgument(msg + ")");
}

void AttributeIndex::Impl::PostingsOf(const Column& col, const std::vector<Literal>& values,
                                      Bitmap* out) {
  std::vector<uint64_t> ids;
  std::vector<const Bitmap*> bitmaps;
  for (const Literal& v : values) {
    const auto it = col.postings.find(std::get<std::string>(v));
    if (it != col.postings.end()) it->second.AddTo(&ids, &bitmaps);
  }
  std::sort(bitmaps.begin(), bitmaps.end());
  bitmaps.erase(std::unique(bitmaps.begin(), bitmaps.end()), bitmaps.end());  // repeated values
  Bitmap result;
  UnionOf(bitmaps, &result);
  if (!ids.empty()) {
    Bitmap lone;
    BitmapFromIds(&ids, &lone);
    if (result.isEmpty()) {
      result.swap(lone);
    } else {
      result |= lone;
    }
  }
  out->swap(result);
}

Status AttributeIndex::Impl::Eval(const Expr& e, int depth, Bitmap* out) const {
  if (depth > kMaxEvalDepth) {
    return Status::InvalidArgument("filter: expression nested deeper than " +
                                   std::to_string(kMaxEvalDepth) + " levels");
  }
  for (const auto& child : e.children) {
    if (child == nullptr) return Status::InvalidArgument("filter: malformed expression (null)");
  }
  switch (e.kind) {
    case Expr::Kind::kAnd:
      if (e.children.empty()) return Status::InvalidArgument("filter: 'and' without operands");
      return EvalAnd(e, depth, out);
    case Expr::Kind::kOr: {
      if (e.children.empty()) return Status::InvalidArgument("filter: 'or' without operands");
      std::vector<Bitmap> parts(e.children.size());
      std::vector<const Bitmap*> inputs;
      for (size_t i = 0; i < e.children.size(); ++i) {
        RECO_RETURN_IF_ERROR(Eval(*e.children[i], depth + 1, &parts[i]));
        inputs.push_back(&parts[i]);
      }
      UnionOf(inputs, out);
      return Status::OK();
    }
    case Expr::Kind::kNot: {
      if (e.children.size() != 1) {
        return Status::InvalidArgument("filter: 'not' needs exactly one operand");
      }
      Bitmap inner;
      RECO_RETURN_IF_ERROR(Eval(*e.children[0], depth + 1, &inner));
      Bitmap result = all;
      result -= inner;
      out->swap(result);
      return Status::OK();
    }
    case Expr::Kind::kPredicate:
      return EvalPredicate(e, out);
  }
  return Status::InvalidArgument("filter: malformed expression");
}

// Intersects the operands smallest first; operands of the form 'not X' are subtracted instead
// of complemented and intersected.
Status AttributeIndex::Impl::EvalAnd(const Expr& e, int depth, Bitmap* out) const {
  std::vector<Bitmap> positive, negative;
  positive.reserve(e.children.size());
  negative.reserve(e.children.size());
  for (const auto& child : e.children) {
    const bool negated = child->kind == Expr::Kind::kNot && child->children.size() == 1 &&
                         child->children[0] != nullptr;
    std::vector<Bitmap>& into = negated ? negative : positive;
    into.emplace_back();
    RECO_RETURN_IF_ERROR(Eval(negated ? *child->children[0] : *child, depth + 2, &into.back()));
  }
  Bitmap result;
  if (positive.empty()) {
    result = all;
  } else {
    std::vector<std::pair<uint64_t, Bitmap*>> by_size;
    for (Bitmap& b : positive) by_size.emplace_back(b.cardinality(), &b);
    std::sort(by_size.begin(), by_size.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    result.swap(*by_size[0].second);
    for (size_t i = 1; i < by_size.size() && !result.isEmpty(); ++i) result &= *by_size[i].second;
  }
  for (const Bitmap& b : negative) {
    if (result.isEmpty()) break;
    result -= b;
  }
  out->swap(result);
  return Status::OK();
}

Status AttributeIndex::Impl::EvalPredicate(const Expr& e, Bitmap* out) const {
  const auto it = columns.find(e.attribute);
  if (it == columns.end()) return UnknownAttribute(e.attribute);
  const Column& col = it->second;
  const std::string op = OpName(e.op);

  size_t want = 1;  // values the operator takes
  switch (e.op) {
    case Op::kIn:
    case Op::kNotIn:
      want = e.values.empty() ? 1 : e.values.size();
      break;
    case Op::kBetween:
      want = 2;
      break;
    case Op::kExists:
      want = 0;
      break;
    default:
      break;
  }
  if (e.values.size() != want) {
    return Status::InvalidArgument("filter: operator '" + op + "' on attribute '" + e.attribute +
                                   "' needs " + std::to_string(want) + " value(s); got " +
                                   std::to_string(e.values.size()));
  }
  if (e.op == Op::kExists) {
    *out = col.has;
    return Status::OK();
  }

  // Which operators each type takes, and the literal type they compare with.
  bool allowed = false;
  switch (col.type) {
    case AttrType::kString:
    case AttrType::kTags:
    case AttrType::kBool:
      allowed = e.op == Op::kEq || e.op == Op::kNe || e.op == Op::kIn || e.op == Op::kNotIn ||
                (e.op == Op::kContains && col.type != AttrType::kBool);
      break;
    case AttrType::kNumber:
      allowed = e.op != Op::kContains;
      break;
  }
  if (!allowed) {
    const char* needs = e.op == Op::kContains ? "strings or string lists" : "numbers";
    return Status::InvalidArgument("operator '" + op + "' does not apply to attribute '" +
                                   e.attribute + "', which holds " + Plural(col.type) +
                                   " (it needs " + needs + ")");
  }
  const size_t want_index = col.type == AttrType::kNumber ? 1 : col.type == AttrType::kBool ? 2 : 0;
  for (const Literal& v : e.values) {
    if (v.index() != want_index) {
      return Status::InvalidArgument("attribute '" + e.attribute + "' holds " + Plural(col.type) +
                                     "; operator '" + op + "' cannot compare it with " +
                                     LiteralKind(v));
    }
    if (const double* d = std::get_if<double>(&v); d != nullptr && std::isnan(*d)) {
      return Status::InvalidArgument("filter: NaN compared with attribute '" + e.attribute + "'");
    }
  }

  if (col.type == AttrType::kNumber) return EvalNumber(e, col, out);

  Bitmap matched;
  if (col.type == AttrType::kBool) {
    std::vector<const Bitmap*> parts;
    const bool want_true = std::any_of(e.values.begin(), e.values.end(),
                                       [](const Literal& v) { return std::get<bool>(v); });
    const bool want_false = std::any_of(e.values.begin(), e.values.end(),
                                        [](const Literal& v) { return !std::get<bool>(v); });
    if (want_true) parts.push_back(&col.trues);
    if (want_false) parts.push_back(&col.falses);
    UnionOf(parts, &matched);
  } else {
    PostingsOf(col, e.values, &matched);  // on tags: lists that hold any of the values
  }
  if (e.op == Op::kNe || e.op == Op::kNotIn) {
    Bitmap result = col.has;
    result -= matched;
    out->swap(result);
  } else {
    out->swap(matched);
  }
  return Status::OK();
}

Status AttributeIndex::Impl::EvalNumber(const Expr& e, const Column& col, Bitmap* out) const {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const NumericColumn& n = *col.numbers;
  const double v = std::get<double>(e.values[0]);
  switch (e.op) {
    case Op::kEq:
      n.Equal({v}, out);
      break;
    case Op::kLt:
      n.Range(-kInf, true, v, false, out);
      break;
    case Op::kLe:
      n.Range(-kInf, true, v, true, out);
      break;
    case Op::kGt:
      n.Range(v, false, kInf, true, out);
      break;
    case Op::kGe:
      n.Range(v, true, kInf, true, out);
      break;
    case Op::kBetween:
      n.Range(v, true, std::get<double>(e.values[1]), true, out);
      break;
    case Op::kIn:
    case Op::kNe:
    case Op::kNotIn: {
      std::vector<double> values;
      for (const Literal& l : e.values) values.push_back(std::get<double>(l));
      Bitmap matched;
      n.Equal(std::move(values), &matched);
      if (e.op == Op::kIn) {
        out->swap(matched);
      } else {
        Bitmap result = col.has;
        result -= matched;
        out->swap(result);
      }
      break;
    }
    case Op::kContains:
    case Op::kExists:
      return Status::Internal("filter: unexpected operator on a number");
  }
  return Status::OK();
}

AttributeIndex::AttributeIndex(AttributeIndexOptions options)
    : impl_(std::make_unique<Impl>(options)) {}
AttributeIndex::~AttributeIndex() = default;
AttributeIndex::AttributeIndex(AttributeIndex&&) noexcept = default;
AttributeIndex& AttributeIndex::operator=(AttributeIndex&&) noexcept = default;

Status AttributeIndex::Check(const Attributes& attrs) const {
  for (const auto& [name, value] : attrs) RECO_RETURN_IF_ERROR(impl_->CheckOne(name, value));
  return Status::OK();
}

Status AttributeIndex::CheckBatch(const std::vector<const Attributes*>& batch) const {
  // Types that names new to the index take within the batch: name -> (type, first item).
  std::map<std::string, std::pair<AttrType, size_t>> first_seen;
  for (size_t i = 0; i < batch.size(); ++i) {
    const std::string where = "item " + std::to_string(i);
    for (const auto& [name, value] : *batch[i]) {
      RECO_RETURN_IF_ERROR(impl_->CheckOne(name, value).WithContext(where));
      if (impl_->columns.count(name) > 0) continue;
      const auto [it, added] = first_seen.emplace(name, std::make_pair(TypeOf(value), i));
      if (!added && it->second.first != TypeOf(value)) {
        return Status::InvalidArgument(
            where + ": attribute '" + name + "' is " + Singular(it->second.first) + " in item " +
            std::to_string(it->second.second) + " of this batch; got " + Singular(TypeOf(value)));
      }
    }
  }
  return Status::OK();
}

void AttributeIndex::Insert(uint64_t id, const Attributes& attrs) {
  impl_->all.add(id);
  for (const auto& [name, value] : attrs) {
    if (IsNaN(value)) continue;
    auto it = impl_->columns.find(name);
    if (it == impl_->columns.end()) {
      it = impl_->columns.try_emplace(name, TypeOf(value), impl_->options).first;
    }
    Impl::Column& col = it->second;
    if (col.type != TypeOf(value)) continue;  // failed Check(): not indexed
    col.has.add(id);
    switch (col.type) {
      case AttrType::kString:
        col.postings[std::get<std::string>(value)].Add(id);
        break;
      case AttrType::kNumber:
        col.numbers->Insert(std::get<double>(value), id);
        break;
      case AttrType::kBool:
        (std::get<bool>(value) ? col.trues : col.falses).add(id);
        break;
      case AttrType::kTags:
        for (const std::string& tag : std::get<std::vector<std::string>>(value)) {
          col.postings[tag].Add(id);
        }
        break;
    }
  }
}

void AttributeIndex::Erase(uint64_t id, const Attributes& attrs) {
  impl_->all.remove(id);
  const auto erase_posting = [id](Impl::Column* col, const std::string& value) {
    const auto it = col->postings.find(value);
    if (it == col->postings.end()) return;
    it->second.Remove(id);
    if (it->second.empty()) col->postings.erase(it);
  };
  for (const auto& [name, value] : attrs) {
    const auto it = impl_->columns.find(name);
    if (it == impl_->columns.end() || IsNaN(value) || it->second.type != TypeOf(value)) continue;
    Impl::Column& col = it->second;
    col.has.remove(id);
    switch (col.type) {
      case AttrType::kString:
        erase_posting(&col, std::get<std::string>(value));
        break;
      case AttrType::kNumber:
        col.numbers->Erase(std::get<double>(value), id);
        break;
      case AttrType::kBool:
        (std::get<bool>(value) ? col.trues : col.falses).remove(id);
        break;
      case AttrType::kTags:
        for (const std::string& tag : std::get<std::vector<std::string>>(value)) {
          erase_posting(&col, tag);
        }
        break;
    }
  }
}

Status AttributeIndex::Evaluate(const Expr& expr, IdSet* out) const {
  Bitmap result;
  RECO_RETURN_IF_ERROR(impl_->Eval(expr, 0, &result));
  *out = IdSetBuilder::Make(&result);
  return Status::OK();
}

size_t AttributeIndex::MemoryBytes() const {
  // Hash map nodes: next pointer, cached hash and malloc's header, besides key and value.
  constexpr size_t kNodeBytes = 4 * sizeof(void*);
  constexpr size_t kInlineChars = 15;  // std::string's short-string buffer
  size_t bytes = sizeof(Impl) + BitmapBytes(impl_->all);
  for (const auto& [name, col] : impl_->columns) {
    bytes += sizeof(col) + 4 * sizeof(void*) + name.capacity() + BitmapBytes(col.has) +
             BitmapBytes(col.trues) + BitmapBytes(col.falses);
    bytes += col.postings.bucket_count() * sizeof(void*);
    for (const auto& [value, ids] : col.postings) {
      bytes += kNodeBytes + sizeof(value) + ids.MemoryBytes() +
               (value.capacity() > kInlineChars ? value.capacity() + 1 : 0);
    }
    if (col.numbers) bytes += col.numbers->MemoryBytes();
  }
  return bytes;
}

size_t AttributeIndex::size() const { return impl_->all.cardinality(); }

}  // namespace filter
}  // namespace reco
