#include "common/item.h"

#include <cstring>

namespace reco {

void PutVarint64(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint64(const char** p, const char* end, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift <= 63 && *p < end; shift += 7) {
    uint64_t byte = static_cast<unsigned char>(**p);
    ++*p;
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

void PutLengthPrefixed(std::string* out, const std::string& s) {
  PutVarint64(out, s.size());
  out->append(s);
}

bool GetLengthPrefixed(const char** p, const char* end, std::string* s) {
  uint64_t n;
  if (!GetVarint64(p, end, &n) || n > static_cast<uint64_t>(end - *p)) return false;
  s->assign(*p, n);
  *p += n;
  return true;
}

namespace {

constexpr uint8_t kItemFormat = 2;  // 2 added the contents count
enum AttrTag : uint8_t { kString = 0, kNumber = 1, kBool = 2, kList = 3 };

void PutFixed64(std::string* out, uint64_t v) {
  char buf[8];
  std::memcpy(buf, &v, 8);
  out->append(buf, 8);
}

bool GetFixed64(const char** p, const char* end, uint64_t* v) {
  if (end - *p < 8) return false;
  std::memcpy(v, *p, 8);
  *p += 8;
  return true;
}

}  // namespace

void EncodeItem(const Item& item, std::string* out) {
  out->push_back(static_cast<char>(kItemFormat));
  PutLengthPrefixed(out, item.id);
  PutVarint64(out, item.internal_id);
  PutLengthPrefixed(out, item.text);
  PutFixed64(out, static_cast<uint64_t>(item.created_ms));
  PutFixed64(out, static_cast<uint64_t>(item.updated_ms));
  PutVarint64(out, item.contents);
  PutVarint64(out, item.attributes.size());
  for (const auto& [name, value] : item.attributes) {
    PutLengthPrefixed(out, name);
    if (const auto* s = std::get_if<std::string>(&value)) {
      out->push_back(kString);
      PutLengthPrefixed(out, *s);
    } else if (const auto* d = std::get_if<double>(&value)) {
      out->push_back(kNumber);
      uint64_t bits;
      std::memcpy(&bits, d, 8);
      PutFixed64(out, bits);
    } else if (const auto* b = std::get_if<bool>(&value)) {
      out->push_back(kBool);
      out->push_back(*b ? 1 : 0);
    } else {
      const auto& list = std::get<std::vector<std::string>>(value);
      out->push_back(kList);
      PutVarint64(out, list.size());
      for (const auto& s : list) PutLengthPrefixed(out, s);
    }
  }
}

bool DecodeItem(const char* data, size_t size, Item* item) {
  const char* p = data;
  const char* end = data + size;
  if (p == end) return false;
  const uint8_t format = static_cast<uint8_t>(*p++);
  if (format != 1 && format != kItemFormat) return false;
  uint64_t created, updated, n, contents = 0;
  if (!GetLengthPrefixed(&p, end, &item->id) || !GetVarint64(&p, end, &item->internal_id) ||
      !GetLengthPrefixed(&p, end, &item->text) || !GetFixed64(&p, end, &created) ||
      !GetFixed64(&p, end, &updated) || (format >= 2 && !GetVarint64(&p, end, &contents)) ||
      contents > 256 || !GetVarint64(&p, end, &n)) {
    return false;
  }
  item->contents = static_cast<uint32_t>(contents);
  item->created_ms = static_cast<int64_t>(created);
  item->updated_ms = static_cast<int64_t>(updated);
  item->attributes.clear();
  for (uint64_t i = 0; i < n; ++i) {
    std::string name;
    if (!GetLengthPrefixed(&p, end, &name) || p == end) return false;
    uint8_t tag = static_cast<uint8_t>(*p++);
    switch (tag) {
      case kString: {
        std::string s;
        if (!GetLengthPrefixed(&p, end, &s)) return false;
        item->attributes.emplace(std::move(name), std::move(s));
        break;
      }
      case kNumber: {
        uint64_t bits;
        if (!GetFixed64(&p, end, &bits)) return false;
        double d;
        std::memcpy(&d, &bits, 8);
        item->attributes.emplace(std::move(name), d);
        break;
      }
      case kBool:
        if (p == end) return false;
        item->attributes.emplace(std::move(name), *p++ != 0);
        break;
      case kList: {
        uint64_t count;
        if (!GetVarint64(&p, end, &count) || count > static_cast<uint64_t>(end - p)) return false;
        std::vector<std::string> list(count);
        for (auto& s : list) {
          if (!GetLengthPrefixed(&p, end, &s)) return false;
        }
        item->attributes.emplace(std::move(name), std::move(list));
        break;
      }
      default:
        return false;
    }
  }
  return p == end;
}

void EncodeProvenance(const VectorProvenance& p, std::string* out) {
  PutLengthPrefixed(out, p.plugin);
  PutLengthPrefixed(out, p.version);
  PutLengthPrefixed(out, p.fingerprint);
}

bool DecodeProvenance(const char* data, size_t size, size_t* consumed, VectorProvenance* prov) {
  const char* p = data;
  const char* end = data + size;
  if (!GetLengthPrefixed(&p, end, &prov->plugin) || !GetLengthPrefixed(&p, end, &prov->version) ||
      !GetLengthPrefixed(&p, end, &prov->fingerprint)) {
    return false;
  }
  *consumed = static_cast<size_t>(p - data);
  return true;
}

}  // namespace reco
