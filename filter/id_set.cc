// IdSet and the bitmap helpers of bitmap.h.
#include <algorithm>
#include <limits>

#include "filter/bitmap.h"

namespace reco {
namespace filter {

namespace {

// The bit array of an empty set: Contains() answers false inline without a bitmap.
const uint64_t kNoBits[1] = {0};

// A bit array is built when it costs at most this many 64-bit words per id in the set
// (1,024 bits per id: 1,000 ids spread over 1M ids still get one, 125 KiB) ...
constexpr uint64_t kDenseWordsPerId = 16;
// ... or at most this many words whatever the count (32 KiB).
constexpr uint64_t kDenseMinWords = 4096;

}  // namespace

void BitmapFromIds(std::vector<uint64_t>* ids, Bitmap* out) {
  Bitmap result;
  std::sort(ids->begin(), ids->end());
  // Ids below 2^32 go to one 32-bit bitmap through roaring's bulk add (fast on sorted input).
  const auto high = std::lower_bound(ids->begin(), ids->end(),
                                     uint64_t{std::numeric_limits<uint32_t>::max()} + 1);
  if (high != ids->begin()) {
    std::vector<uint32_t> low(ids->begin(), high);
    Roaring r;
    r.addMany(low.size(), low.data());
    Bitmap low_map(r);
    result.swap(low_map);
  }
  for (auto it = high; it != ids->end(); ++it) result.add(*it);
  out->swap(result);
}

void UnionOf(const std::vector<const Bitmap*>& inputs, Bitmap* out) {
  Bitmap result;
  if (!inputs.empty()) {
    // Start from the largest so the others are or-ed into its containers.
    const auto largest = std::max_element(
        inputs.begin(), inputs.end(),
        [](const Bitmap* a, const Bitmap* b) { return a->cardinality() < b->cardinality(); });
    result = **largest;
    for (auto it = inputs.begin(); it != inputs.end(); ++it) {
      if (it != largest) result |= **it;
    }
  }
  out->swap(result);
}

size_t BitmapBytes(const Bitmap& b) {
  // The serialised size, plus per bitmap roaring's map node, arrays and container headers.
  constexpr size_t kNonEmptyBytes = 250;  // measured: ~300 bytes for a bitmap of a few ids
  return sizeof(Bitmap) + b.getSizeInBytes(false) + (b.isEmpty() ? 0 : kNonEmptyBytes);
}

void Posting::Add(uint64_t id) {
  if (many_ != nullptr) {
    many_->add(id);
  } else if (!has_one_) {
    one_ = id;
    has_one_ = true;
  } else if (one_ != id) {
    many_ = std::make_unique<Bitmap>();
    many_->add(one_);
    many_->add(id);
    has_one_ = false;
  }
}

void Posting::Remove(uint64_t id) {
  if (many_ == nullptr) {
    if (has_one_ && one_ == id) has_one_ = false;
    return;
  }
  many_->remove(id);
  if (many_->cardinality() <= 1) {
    has_one_ = !many_->isEmpty();
    if (has_one_) one_ = many_->minimum();
    many_.reset();
  }
}

void Posting::AddTo(std::vector<uint64_t>* ids, std::vector<const Bitmap*>* bitmaps) const {
  if (has_one_) ids->push_back(one_);
  if (many_ != nullptr) bitmaps->push_back(many_.get());
}

size_t Posting::MemoryBytes() const {
  return sizeof(*this) + (many_ == nullptr ? 0 : BitmapBytes(*many_));
}

IdSet::Rep::Rep(Bitmap* b) {
  bitmap.swap(*b);
  count = bitmap.cardinality();
  max_id = count == 0 ? 0 : bitmap.maximum();
  const uint64_t words = max_id / 64 + 1;
  dense_ok = count > 0 && words <= std::max<uint64_t>(kDenseMinWords, kDenseWordsPerId * count);
}

const uint64_t* IdSet::Rep::DenseBits() const {
  if (!dense_ok) return nullptr;
  std::call_once(dense_once_, [this] {
    const uint64_t words = max_id / 64 + 1;
    dense_.reset(new uint64_t[words]());
    bitmap.iterate(
        [](uint64_t id, void* arg) {
          static_cast<uint64_t*>(arg)[id >> 6] |= uint64_t{1} << (id & 63);
          return true;
        },
        dense_.get());
  });
  return dense_.get();
}

IdSet IdSetBuilder::Make(Bitmap* bitmap) {
  auto rep = std::make_shared<const IdSet::Rep>(bitmap);
  if (rep->count == 0) return IdSet();
  return IdSet(std::move(rep));
}

IdSet::IdSet() : bits_(kNoBits) {}

IdSet::IdSet(std::shared_ptr<const Rep> rep)
    : rep_(std::move(rep)), count_(rep_->count), num_bits_(rep_->max_id + 1) {}

IdSet IdSet::FromIds(std::vector<uint64_t> ids) {
  Bitmap bitmap;
  BitmapFromIds(&ids, &bitmap);
  return IdSetBuilder::Make(&bitmap);
}

IdSet::~IdSet() = default;

IdSet::IdSet(const IdSet& other)
    : rep_(other.rep_),
      count_(other.count_),
      num_bits_(other.num_bits_),
      bits_(other.bits_.load(std::memory_order_acquire)) {}

IdSet& IdSet::operator=(const IdSet& other) {
  if (this != &other) {
    rep_ = other.rep_;
    count_ = other.count_;
    num_bits_ = other.num_bits_;
    bits_.store(other.bits_.load(std::memory_order_acquire), std::memory_order_release);
  }
  return *this;
}

IdSet::IdSet(IdSet&& other) noexcept
    : rep_(std::move(other.rep_)),
      count_(other.count_),
      num_bits_(other.num_bits_),
      bits_(other.bits_.load(std::memory_order_acquire)) {
  other.count_ = 0;
  other.num_bits_ = 0;
  other.bits_.store(kNoBits, std::memory_order_release);
}

IdSet& IdSet::operator=(IdSet&& other) noexcept {
  if (this != &other) {
    rep_ = std::move(other.rep_);
    count_ = other.count_;
    num_bits_ = other.num_bits_;
    bits_.store(other.bits_.load(std::memory_order_acquire), std::memory_order_release);
    other.rep_.reset();
    other.count_ = 0;
    other.num_bits_ = 0;
    other.bits_.store(kNoBits, std::memory_order_release);
  }
  return *this;
}

bool IdSet::ContainsSlow(uint64_t id) const {
  if (rep_ == nullptr) return false;
  if (const uint64_t* bits = rep_->DenseBits()) {
    bits_.store(bits, std::memory_order_release);
    return id < num_bits_ && ((bits[id >> 6] >> (id & 63)) & 1) != 0;
  }
  return rep_->bitmap.contains(id);
}

void IdSet::ForEach(const std::function<void(uint64_t)>& fn) const {
  if (rep_ == nullptr) return;
  // The C++ iterator rather than roaring's C callback: fn may throw.
  for (auto it = rep_->bitmap.begin(), end = rep_->bitmap.end(); it != end; ++it) fn(*it);
}

std::vector<uint64_t> IdSet::ToVector() const {
  std::vector<uint64_t> ids;
  if (rep_ == nullptr) return ids;
  ids.reserve(count_);  // so push_back cannot throw inside roaring's C iteration
  rep_->bitmap.iterate(
      [](uint64_t id, void* arg) {
        static_cast<std::vector<uint64_t>*>(arg)->push_back(id);
        return true;
      },
      &ids);
  return ids;
}

}  // namespace filter
}  // namespace reco
