// DICOM parsing and pixel decoding with GDCM (see dicom_decode.h).
//
// The data set is parsed with gdcm::Reader from the input bytes; the attributes that describe
// the pixels (Rows, Columns, Samples per Pixel, Bits Allocated/Stored, High Bit, Pixel
// Representation, Photometric Interpretation, Planar Configuration, Number of Frames, palette
// LUTs, rescale, window) are read and validated here rather than by gdcm::ImageReader, whose
// attribute parsing asserts on valid-but-unusual files (e.g. an RT Dose without Number of
// Frames). Native (uncompressed) and RLE pixel data are read here, for the middle frame only
// (GDCM's raw codec mishandles 32-bit big endian data and its RLE codec multi-byte colour
// samples); JPEG, JPEG-LS and JPEG 2000 go through GDCM's codecs, on a gdcm::Image assembled
// from the validated values. Everything after that (masking to Bits Stored, sign extension,
// rescale, VOI window, palette, colour conversion) is done here.
#include "dicom_decode.h"

#include <gdcmDataElement.h>
#include <gdcmDataSet.h>
#include <gdcmFile.h>
#include <gdcmFileMetaInformation.h>
#include <gdcmFragment.h>
#include <gdcmImage.h>
#include <gdcmItem.h>
#include <gdcmPhotometricInterpretation.h>
#include <gdcmPixelFormat.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfFragments.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>
#include <gdcmUIDs.h>
#include <gdcmVR.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <istream>
#include <mutex>
#include <new>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reco {
namespace dicom {
namespace {

using Tag2 = std::pair<uint16_t, uint16_t>;

const Tag2 kPixelData{0x7fe0, 0x0010};

// Attributes that identify a patient, a study or the people and places involved. They never
// appear in describe() output or in error messages unless keep_identifying is set; their values
// are also scrubbed from the free-text attributes describe() returns.
const Tag2 kIdentifyingTags[] = {
    {0x0002, 0x0003},  // Media Storage SOP Instance UID
    {0x0008, 0x0012},  // Instance Creation Date
    {0x0008, 0x0013},  // Instance Creation Time
    {0x0008, 0x0014},  // Instance Creator UID
    {0x0008, 0x0018},  // SOP Instance UID
    {0x0008, 0x0020},  // Study Date
    {0x0008, 0x0021},  // Series Date
    {0x0008, 0x0022},  // Acquisition Date
    {0x0008, 0x0023},  // Content Date
    {0x0008, 0x002a},  // Acquisition DateTime
    {0x0008, 0x0030},  // Study Time
    {0x0008, 0x0031},  // Series Time
    {0x0008, 0x0032},  // Acquisition Time
    {0x0008, 0x0033},  // Content Time
    {0x0008, 0x0050},  // Accession Number
    {0x0008, 0x0080},  // Institution Name
    {0x0008, 0x0081},  // Institution Address
    {0x0008, 0x0090},  // Referring Physician's Name
    {0x0008, 0x0092},  // Referring Physician's Address
    {0x0008, 0x0094},  // Referring Physician's Telephone Numbers
    {0x0008, 0x1010},  // Station Name
    {0x0008, 0x1040},  // Institutional Department Name
    {0x0008, 0x1048},  // Physician(s) of Record
    {0x0008, 0x1050},  // Performing Physician's Name
    {0x0008, 0x1060},  // Name of Physician(s) Reading Study
    {0x0008, 0x1070},  // Operators' Name
    {0x0010, 0x0010},  // Patient's Name
    {0x0010, 0x0020},  // Patient ID
    {0x0010, 0x0021},  // Issuer of Patient ID
    {0x0010, 0x0030},  // Patient's Birth Date
    {0x0010, 0x0032},  // Patient's Birth Time
    {0x0010, 0x1000},  // Other Patient IDs
    {0x0010, 0x1001},  // Other Patient Names
    {0x0010, 0x1005},  // Patient's Birth Name
    {0x0010, 0x1040},  // Patient's Address
    {0x0010, 0x1060},  // Patient's Mother's Birth Name
    {0x0010, 0x2154},  // Patient's Telephone Numbers
    {0x0010, 0x2180},  // Occupation
    {0x0010, 0x21b0},  // Additional Patient History
    {0x0010, 0x4000},  // Patient Comments
    {0x0018, 0x1000},  // Device Serial Number
    {0x0020, 0x000d},  // Study Instance UID
    {0x0020, 0x000e},  // Series Instance UID
    {0x0020, 0x0010},  // Study ID
    {0x0020, 0x0052},  // Frame of Reference UID
    {0x0020, 0x0200},  // Synchronization Frame of Reference UID
    {0x0032, 0x1032},  // Requesting Physician
    {0x0038, 0x0010},  // Admission ID
    {0x0038, 0x0300},  // Current Patient Location
    {0x0040, 0x0244},  // Performed Procedure Step Start Date
    {0x0040, 0x0245},  // Performed Procedure Step Start Time
    {0x0040, 0x0253},  // Performed Procedure Step ID
    {0x0040, 0x1001},  // Requested Procedure ID
};

// Added to describe() output only with keep_identifying.
const struct {
  const char* key;
  Tag2 tag;
} kIdentifyingKeys[] = {
    {"patient_name", {0x0010, 0x0010}},
    {"patient_id", {0x0010, 0x0020}},
    {"patient_birth_date", {0x0010, 0x0030}},
    {"patient_sex", {0x0010, 0x0040}},
    {"patient_age", {0x0010, 0x1010}},
    {"study_instance_uid", {0x0020, 0x000d}},
    {"series_instance_uid", {0x0020, 0x000e}},
    {"sop_instance_uid", {0x0008, 0x0018}},
    {"study_id", {0x0020, 0x0010}},
    {"study_date", {0x0008, 0x0020}},
    {"study_time", {0x0008, 0x0030}},
    {"series_date", {0x0008, 0x0021}},
    {"acquisition_date", {0x0008, 0x0022}},
    {"accession_number", {0x0008, 0x0050}},
    {"institution_name", {0x0008, 0x0080}},
    {"referring_physician_name", {0x0008, 0x0090}},
    {"performing_physician_name", {0x0008, 0x1050}},
    {"operators_name", {0x0008, 0x1070}},
    {"station_name", {0x0008, 0x1010}},
    {"device_serial_number", {0x0018, 0x1000}},
};

std::runtime_error Error(const std::string& message) { return std::runtime_error(message); }

// ---------------------------------------------------------------------------------------------
// Input stream over borrowed bytes. GDCM seeks (preamble probing), so seeking is supported. A
// read that asks for more than is left is remembered: GDCM accepts a data set whose last value
// is cut short, and this is how a truncated file is told apart from a complete one.

class MemoryBuf : public std::streambuf {
 public:
  MemoryBuf(const uint8_t* data, size_t size) {
    char* p = const_cast<char*>(reinterpret_cast<const char*>(data));
    setg(p, p, p + size);
  }

  // True when the last read that ran past the end (other than GDCM's probe for a next tag at a
  // clean end) was not followed by a seek back.
  bool truncated() const { return truncated_; }

 protected:
  std::streamsize xsgetn(char* s, std::streamsize n) override {
    const std::streamsize avail = egptr() - gptr();
    const std::streamsize k = std::min(avail, n);
    if (k < n && (k > 0 || n > 4)) {
      truncated_ = true;
    }
    if (k > 0) {
      std::memcpy(s, gptr(), static_cast<size_t>(k));
      setg(eback(), gptr() + k, egptr());
    }
    return k;
  }
  int_type underflow() override {
    return gptr() < egptr() ? traits_type::to_int_type(*gptr()) : traits_type::eof();
  }
  pos_type seekoff(off_type off, std::ios_base::seekdir dir, std::ios_base::openmode) override {
    // A real seek (not tellg) after a short read: GDCM probed a value, failed and went back to
    // parse it another way (e.g. an explicit VR element in an implicit VR data set).
    if (off != 0 || dir != std::ios_base::cur) truncated_ = false;
    char* base = dir == std::ios_base::beg ? eback() : dir == std::ios_base::cur ? gptr() : egptr();
    const off_type target = (base - eback()) + off;
    if (target < 0 || target > egptr() - eback()) return pos_type(off_type(-1));
    setg(eback(), eback() + target, egptr());
    return pos_type(target);
  }
  pos_type seekpos(pos_type pos, std::ios_base::openmode mode) override {
    return seekoff(off_type(pos), std::ios_base::beg, mode);
  }

 private:
  bool truncated_ = false;
};

// ---------------------------------------------------------------------------------------------
// Attribute access. Values are read from the raw bytes GDCM keeps: text values as they are,
// binary (US) values little endian, which GDCM has already swapped to for explicit big endian
// data sets except where the VR is unknown.

const gdcm::DataElement* Find(const gdcm::DataSet& ds, Tag2 tag) {
  const gdcm::Tag t(tag.first, tag.second);
  if (!ds.FindDataElement(t)) return nullptr;
  const gdcm::DataElement& de = ds.GetDataElement(t);
  return de.GetTag() == t ? &de : nullptr;
}

// The raw bytes of a value ("" when absent, empty or not a plain value).
std::string Raw(const gdcm::DataSet& ds, Tag2 tag) {
  const gdcm::DataElement* de = Find(ds, tag);
  if (de == nullptr) return std::string();
  const gdcm::ByteValue* bv = de->GetByteValue();
  if (bv == nullptr || bv->GetPointer() == nullptr) return std::string();
  return std::string(bv->GetPointer(), bv->GetLength());
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\0')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\0')) --e;
  return s.substr(b, e - b);
}

std::string Text(const gdcm::DataSet& ds, Tag2 tag) { return Trim(Raw(ds, tag)); }

std::string FirstValue(const std::string& s) { return Trim(s.substr(0, s.find('\\'))); }

bool ParseInt(const std::string& text, long long* out) {
  const std::string s = Trim(text);
  if (s.empty() || s.size() > 18) return false;
  size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
  if (i == s.size()) return false;
  for (size_t k = i; k < s.size(); ++k) {
    if (s[k] < '0' || s[k] > '9') return false;
  }
  *out = std::strtoll(s.c_str(), nullptr, 10);
  return true;
}

bool ParseDouble(const std::string& text, double* out) {
  const std::string s = Trim(text);
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E')) {
      return false;
    }
  }
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

// First value of a DS attribute.
bool FirstDouble(const gdcm::DataSet& ds, Tag2 tag, double* out) {
  const std::string raw = Raw(ds, tag);
  return !raw.empty() && ParseDouble(FirstValue(raw), out);
}

bool BigEndian(const gdcm::TransferSyntax& ts) {
  return ts == gdcm::TransferSyntax::ExplicitVRBigEndian;
}

// Values of a US/SS attribute (up to `max` of them).
std::vector<uint16_t> UShorts(const gdcm::DataSet& ds, Tag2 tag, bool big_endian, size_t max) {
  std::vector<uint16_t> v;
  const gdcm::DataElement* de = Find(ds, tag);
  if (de == nullptr) return v;
  const gdcm::ByteValue* bv = de->GetByteValue();
  if (bv == nullptr || bv->GetPointer() == nullptr) return v;
  const auto* p = reinterpret_cast<const uint8_t*>(bv->GetPointer());
  const gdcm::VR::VRType vr = de->GetVR();
  const bool swap = big_endian && (vr == gdcm::VR::UN || vr == gdcm::VR::INVALID);
  for (size_t i = 0; i + 1 < bv->GetLength() && v.size() < max; i += 2) {
    v.push_back(swap ? static_cast<uint16_t>(p[i] << 8 | p[i + 1])
                     : static_cast<uint16_t>(p[i] | p[i + 1] << 8));
  }
  return v;
}

bool UShort(const gdcm::DataSet& ds, Tag2 tag, bool big_endian, uint16_t* out) {
  const std::vector<uint16_t> v = UShorts(ds, tag, big_endian, 1);
  if (v.empty()) return false;
  *out = v[0];
  return true;
}

// Item `index` (0-based) of a sequence, kept alive by `holder`; nullptr when absent.
const gdcm::DataSet* Item(const gdcm::DataSet& ds, Tag2 tag, size_t index,
                          gdcm::SmartPointer<gdcm::SequenceOfItems>* holder) {
  const gdcm::DataElement* de = Find(ds, tag);
  if (de == nullptr) return nullptr;
  try {
    *holder = de->GetValueAsSQ();
  } catch (...) {
    return nullptr;
  }
  if (!*holder || (*holder)->GetNumberOfItems() <= index) return nullptr;
  return &(*holder)->GetItem(index + 1).GetNestedDataSet();  // GDCM items are 1-based
}

// The first item of `macro` for frame `frame` of an enhanced (functional groups) object:
// shared functional groups first, then the frame's own.
const gdcm::DataSet* FunctionalGroup(const gdcm::DataSet& ds, Tag2 macro, size_t frame,
                                     std::vector<gdcm::SmartPointer<gdcm::SequenceOfItems>>* keep) {
  keep->resize(keep->size() + 2);
  auto& outer = (*keep)[keep->size() - 2];
  auto& inner = (*keep)[keep->size() - 1];
  if (const gdcm::DataSet* shared = Item(ds, {0x5200, 0x9229}, 0, &outer)) {
    if (const gdcm::DataSet* item = Item(*shared, macro, 0, &inner)) return item;
  }
  if (const gdcm::DataSet* own = Item(ds, {0x5200, 0x9230}, frame, &outer)) {
    if (const gdcm::DataSet* item = Item(*own, macro, 0, &inner)) return item;
  }
  return nullptr;
}

// Text of an attribute converted to UTF-8 from the data set's character set (ISO_IR 100
// (Latin-1) and the default repertoire are converted; UTF-8 and other sets are passed on and
// any invalid UTF-8 is replaced when the JSON is written).
std::string Utf8(const std::string& s, bool latin1) {
  if (!latin1) return s;
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xc0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3f));
    }
  }
  return out;
}

bool IsLatin1(const gdcm::DataSet& ds) {
  const std::string cs = FirstValue(Raw(ds, {0x0008, 0x0005}));
  return cs.empty() || cs == "ISO_IR 100" || cs == "ISO 2022 IR 100";
}

// ---------------------------------------------------------------------------------------------
// Identifying values and scrubbing.

class Scrubber {
 public:
  Scrubber() = default;
  Scrubber(const gdcm::DataSet& ds, const gdcm::DataSet& meta) {
    const bool latin1 = IsLatin1(ds);
    for (const Tag2& tag : kIdentifyingTags) {
      Add(Utf8(Text(tag.first == 0x0002 ? meta : ds, tag), latin1));
    }
    std::sort(values_.begin(), values_.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    values_.erase(std::unique(values_.begin(), values_.end()), values_.end());
  }

  static constexpr std::string_view kMark = "[removed]";

  // s with every identifying value (and every name component of 3+ characters) replaced.
  std::string operator()(std::string s) const {
    for (const std::string& v : values_) {
      for (size_t pos = s.find(v); pos != std::string::npos; pos = s.find(v, pos + kMark.size())) {
        s.replace(pos, v.size(), kMark);
      }
    }
    return s;
  }

 private:
  void Add(const std::string& value) {
    if (value.empty()) return;
    AddOne(value);
    // Multi-valued attributes and person names: each value and each name component too.
    std::string part;
    for (char c : value + "\\") {
      if (c == '\\' || c == '^' || c == '=' || c == ' ' || c == ',') {
        AddOne(part);
        part.clear();
      } else {
        part += c;
      }
    }
  }
  void AddOne(const std::string& v) {
    const std::string t = Trim(v);
    if (t.size() >= 3 && t != kMark) values_.push_back(t);
  }

  std::vector<std::string> values_;
};

// ---------------------------------------------------------------------------------------------
// Names of UIDs (for messages and describe()).

bool LooksLikeUid(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || c == '.')) return false;
  }
  return true;
}

// GDCM's name of a UID, without the comment after a colon ("JPEG Baseline (Process 1):
// Default Transfer Syntax for Lossy JPEG 8 Bit Image Compression" -> "JPEG Baseline (Process 1)").
std::string UidName(const std::string& uid) {
  if (!LooksLikeUid(uid)) return std::string();
  gdcm::UIDs u;
  if (!u.SetFromUID(uid.c_str()) || u.GetName() == nullptr) return std::string();
  const std::string name = u.GetName();
  return Trim(name.substr(0, name.find(':')));
}

// "CT Image Storage", else the UID itself, else "unknown".
std::string UidLabel(const std::string& uid) {
  const std::string name = UidName(uid);
  if (!name.empty()) return name;
  return LooksLikeUid(uid) ? uid : std::string("unknown");
}

// A code string from the file, safe to print (letters, digits, space, '_').
std::string SafeCode(const std::string& s) {
  std::string out;
  for (char c : Trim(s).substr(0, 32)) {
    out += ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '_') ? c : '?';
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parsing.

struct Parsed {
  gdcm::Reader reader;
  Scrubber scrub;
  gdcm::TransferSyntax ts;
  std::string sop_class_uid;

  const gdcm::DataSet& ds() const { return reader.GetFile().GetDataSet(); }
  const gdcm::DataSet& meta() const { return reader.GetFile().GetHeader(); }
};

bool HasPreamble(const uint8_t* data, size_t size) {
  return size >= 132 && std::memcmp(data + 128, "DICM", 4) == 0;
}

// Parses the data set (up to the pixel data when header_only). Throws a clear error for input
// that is not DICOM, corrupt or truncated.
void Parse(const uint8_t* data, size_t size, bool header_only, Parsed* p) {
  if (data == nullptr || size == 0) throw Error("empty input (no DICOM data)");
  MemoryBuf buf(data, size);
  std::istream in(&buf);
  p->reader.SetStream(in);
  bool ok = false;
  try {
    ok = header_only ? p->reader.ReadUpToTag(gdcm::Tag(kPixelData.first, kPixelData.second))
                     : p->reader.Read();
  } catch (const std::bad_alloc&) {
    throw Error("corrupt DICOM file: a length field asks for more memory than the decoder allows");
  } catch (...) {
    ok = false;
  }
  const gdcm::DataSet& ds = p->ds();
  p->scrub = Scrubber(ds, p->meta());
  p->ts = p->reader.GetFile().GetHeader().GetDataSetTransferSyntax();
  const std::string ts_uid = Text(p->meta(), {0x0002, 0x0010});
  if (!ts_uid.empty() &&
      gdcm::TransferSyntax::GetTSType(ts_uid.c_str()) == gdcm::TransferSyntax::TS_END) {
    throw Error(p->scrub("transfer syntax " + UidLabel(ts_uid) + " is not supported"));
  }
  if (!ok || ds.IsEmpty()) {
    if (ds.IsEmpty()) {
      throw Error(HasPreamble(data, size)
                      ? "corrupt DICOM file: no data set could be parsed after the header"
                      : "not a DICOM file (no DICM preamble and no parsable data set)");
    }
    throw Error("truncated or corrupt DICOM file: parsing stopped after " +
                std::to_string(ds.Size()) + " data elements");
  }
  // The deflate reader reads ahead in blocks, so short reads are normal there. A header-only
  // read has stopped at the pixel data, whose value it may have started reading.
  if (!header_only && buf.truncated() &&
      p->ts != gdcm::TransferSyntax::DeflatedExplicitVRLittleEndian) {
    throw Error("truncated DICOM file: the data ends inside a data element (" +
                std::to_string(size) + " bytes)");
  }
  p->sop_class_uid = Text(ds, {0x0008, 0x0016});
  if (p->sop_class_uid.empty()) p->sop_class_uid = Text(p->meta(), {0x0002, 0x0002});
}

// ---------------------------------------------------------------------------------------------
// Pixel description.

enum class Photometric { kMono1, kMono2, kPalette, kRgb, kYbrFull, kYbr422, kYbrRct, kYbrIct };

struct PixelInfo {
  uint32_t rows = 0, cols = 0, spp = 1, frames = 1;
  uint32_t bits_allocated = 0, bits_stored = 0, high_bit = 0;
  bool is_signed = false;
  bool planar = false;
  Photometric pi = Photometric::kMono2;
  std::string pi_text;
};

Photometric ParsePhotometric(const std::string& s, bool* ok) {
  *ok = true;
  if (s == "MONOCHROME1") return Photometric::kMono1;
  if (s == "MONOCHROME2") return Photometric::kMono2;
  if (s == "PALETTE COLOR") return Photometric::kPalette;
  if (s == "RGB") return Photometric::kRgb;
  if (s == "YBR_FULL") return Photometric::kYbrFull;
  if (s == "YBR_FULL_422") return Photometric::kYbr422;
  if (s == "YBR_RCT") return Photometric::kYbrRct;
  if (s == "YBR_ICT") return Photometric::kYbrIct;
  *ok = false;
  return Photometric::kMono2;
}

bool IsMonochrome(Photometric pi) { return pi == Photometric::kMono1 || pi == Photometric::kMono2; }

gdcm::PhotometricInterpretation::PIType GdcmPhotometric(Photometric pi) {
  switch (pi) {
    case Photometric::kRgb:
      return gdcm::PhotometricInterpretation::RGB;
    case Photometric::kYbrFull:
      return gdcm::PhotometricInterpretation::YBR_FULL;
    case Photometric::kYbr422:
      return gdcm::PhotometricInterpretation::YBR_FULL_422;
    case Photometric::kYbrRct:
      return gdcm::PhotometricInterpretation::YBR_RCT;
    case Photometric::kYbrIct:
      return gdcm::PhotometricInterpretation::YBR_ICT;
    default:
      // Monochrome and palette images are decoded as plain stored values; inversion and the
      // palette are applied here.
      return gdcm::PhotometricInterpretation::MONOCHROME2;
  }
}

PixelInfo ReadPixelInfo(const Parsed& p) {
  const gdcm::DataSet& ds = p.ds();
  const bool be = BigEndian(p.ts);
  PixelInfo info;
  uint16_t v = 0;
  if (!UShort(ds, {0x0028, 0x0010}, be, &v) || v == 0) {
    throw Error("pixel data without a valid Rows attribute (0028,0010)");
  }
  info.rows = v;
  if (!UShort(ds, {0x0028, 0x0011}, be, &v) || v == 0) {
    throw Error("pixel data without a valid Columns attribute (0028,0011)");
  }
  info.cols = v;
  if (UShort(ds, {0x0028, 0x0002}, be, &v)) info.spp = v;
  if (info.spp != 1 && info.spp != 3) {
    throw Error("unsupported Samples per Pixel " + std::to_string(info.spp) + " (1 or 3)");
  }
  if (!UShort(ds, {0x0028, 0x0100}, be, &v)) {
    throw Error("pixel data without a Bits Allocated attribute (0028,0100)");
  }
  info.bits_allocated = v;
  if (v != 1 && v != 8 && v != 16 && v != 32) {
    throw Error("unsupported Bits Allocated " + std::to_string(v) + " (1, 8, 16 or 32)");
  }
  info.bits_stored = UShort(ds, {0x0028, 0x0101}, be, &v) ? v : info.bits_allocated;
  if (info.bits_stored < 1 || info.bits_stored > info.bits_allocated) {
    throw Error("invalid Bits Stored " + std::to_string(info.bits_stored) +
                " with Bits Allocated " + std::to_string(info.bits_allocated));
  }
  info.high_bit = UShort(ds, {0x0028, 0x0102}, be, &v) ? v : info.bits_stored - 1;
  if (info.high_bit + 1 < info.bits_stored || info.high_bit >= info.bits_allocated) {
    throw Error("invalid High Bit " + std::to_string(info.high_bit) + " with Bits Stored " +
                std::to_string(info.bits_stored) + " and Bits Allocated " +
                std::to_string(info.bits_allocated));
  }
  info.is_signed = UShort(ds, {0x0028, 0x0103}, be, &v) && v == 1;
  info.pi_text = Text(ds, {0x0028, 0x0004});
  if (info.pi_text.empty()) {
    info.pi = info.spp == 1 ? Photometric::kMono2 : Photometric::kRgb;
    info.pi_text = info.spp == 1 ? "MONOCHROME2" : "RGB";
  } else {
    bool ok = false;
    info.pi = ParsePhotometric(info.pi_text, &ok);
    if (!ok) {
      throw Error("unsupported Photometric Interpretation '" + SafeCode(info.pi_text) + "'");
    }
  }
  const bool one_sample = IsMonochrome(info.pi) || info.pi == Photometric::kPalette;
  if (one_sample != (info.spp == 1)) {
    throw Error("Photometric Interpretation " + SafeCode(info.pi_text) + " with " +
                std::to_string(info.spp) + " samples per pixel");
  }
  info.planar = info.spp == 3 && UShort(ds, {0x0028, 0x0006}, be, &v) && v == 1;
  const std::string frames = Raw(ds, {0x0028, 0x0008});
  if (!Trim(frames).empty()) {
    long long n = 0;
    if (!ParseInt(FirstValue(frames), &n) || n < 1 || n > (1ll << 31)) {
      throw Error("invalid Number of Frames '" + SafeCode(FirstValue(frames)) + "'");
    }
    info.frames = static_cast<uint32_t>(n);
  }
  if (info.bits_allocated == 1 && info.spp != 1) {
    throw Error("1-bit pixel data with 3 samples per pixel is not supported");
  }
  return info;
}

// Bytes of native (uncompressed) pixel data in the file.
uint64_t NativeBytes(const PixelInfo& info) {
  const uint64_t pixels = uint64_t{info.rows} * info.cols * info.frames;
  if (info.bits_allocated == 1) return (pixels * info.spp + 7) / 8;
  if (info.pi == Photometric::kYbr422) return pixels * 2 * (info.bits_allocated / 8);
  return pixels * info.spp * (info.bits_allocated / 8);
}

// Which transfer syntaxes are decoded, and the bit depths their codecs take.
void CheckCodec(const PixelInfo& info, const gdcm::TransferSyntax& ts) {
  using TS = gdcm::TransferSyntax;
  const uint32_t ba = info.bits_allocated;
  const std::string name = UidLabel(TS::GetTSString(ts));
  const auto refuse = [&](const std::string& why) {
    throw Error("cannot decode " + name + " pixel data with " + why);
  };
  switch (static_cast<TS::TSType>(ts)) {
    case TS::ImplicitVRLittleEndian:
    case TS::ExplicitVRLittleEndian:
    case TS::ExplicitVRBigEndian:
    case TS::DeflatedExplicitVRLittleEndian:
      if (info.pi == Photometric::kYbr422 && (ba != 8 || info.cols % 2 != 0)) {
        refuse("YBR_FULL_422 other than 8 bits and an even number of columns");
      }
      if (info.pi == Photometric::kYbrRct || info.pi == Photometric::kYbrIct) {
        refuse("Photometric Interpretation " + info.pi_text + " (JPEG 2000 only)");
      }
      return;
    case TS::JPEGBaselineProcess1:
      if (ba != 8) refuse("Bits Allocated " + std::to_string(ba) + " (8 for JPEG baseline)");
      return;
    case TS::JPEGExtendedProcess2_4:
    case TS::JPEGExtendedProcess3_5:
    case TS::JPEGSpectralSelectionProcess6_8:
    case TS::JPEGFullProgressionProcess10_12:
    case TS::JPEGLosslessProcess14:
    case TS::JPEGLosslessProcess14_1:
    case TS::JPEGLSLossless:
    case TS::JPEGLSNearLossless:
    case TS::JPEG2000Lossless:
    case TS::JPEG2000:
      if (ba != 8 && ba != 16) refuse("Bits Allocated " + std::to_string(ba) + " (8 or 16)");
      return;
    case TS::RLELossless:
      if (ba == 1) refuse("Bits Allocated 1");
      return;
    default:
      throw Error("transfer syntax " + name + " is not supported");
  }
}

// ---------------------------------------------------------------------------------------------
// Compressed stream inspection.

const gdcm::ByteValue* FirstFragment(const gdcm::DataElement& pixels) {
  const gdcm::SequenceOfFragments* sf = pixels.GetSequenceOfFragments();
  if (sf == nullptr || sf->GetNumberOfFragments() == 0) return nullptr;
  return sf->GetFragment(0).GetByteValue();
}

// Colour space of a 3-component JPEG's samples: +1 YCbCr, 0 RGB, -1 not said by the stream
// (an Adobe APP14 transform flag, a JFIF APP0, component ids 'R','G','B' or subsampled chroma
// components say it).
int JpegColorSpace(const gdcm::ByteValue* bv) {
  if (bv == nullptr || bv->GetPointer() == nullptr) return -1;
  const auto* p = reinterpret_cast<const uint8_t*>(bv->GetPointer());
  const size_t n = bv->GetLength();
  if (n < 4 || p[0] != 0xff || p[1] != 0xd8) return -1;
  bool jfif = false;
  int adobe = -1;
  size_t pos = 2;
  while (pos + 4 <= n) {
    if (p[pos] != 0xff) return -1;
    const uint8_t m = p[pos + 1];
    if (m == 0xff) {
      ++pos;
      continue;
    }
    const size_t len = static_cast<size_t>(p[pos + 2]) << 8 | p[pos + 3];
    const uint8_t* d = p + pos + 4;
    const size_t dlen = len >= 2 ? len - 2 : 0;
    if (pos + 2 + len > n) return -1;
    if (m == 0xe0 && dlen >= 5 && std::memcmp(d, "JFIF\0", 5) == 0) jfif = true;
    if (m == 0xee && dlen >= 12 && std::memcmp(d, "Adobe", 5) == 0) adobe = d[11];
    const bool sof = m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
    if (sof) {
      if (adobe == 0) return 0;
      if (adobe > 0 || jfif) return 1;
      if (dlen < 6 + 9 || d[5] != 3) return -1;
      if (d[6] == 'R' && d[9] == 'G' && d[12] == 'B') return 0;
      // Subsampled second and third components: chroma, so YCbCr.
      const auto h = [&](int c) { return d[7 + 3 * c] >> 4; };
      const auto v = [&](int c) { return d[7 + 3 * c] & 15; };
      if ((h(0) > h(1) || v(0) > v(1)) && (h(0) > h(2) || v(0) > v(2))) return 1;
      return -1;
    }
    if (m == 0xda) return -1;
    pos += 2 + len;
  }
  return -1;
}

// Signedness and precision of component 0 of a JPEG 2000 code stream (from its SIZ segment).
bool J2kComponent(const gdcm::ByteValue* bv, bool* is_signed, uint32_t* precision) {
  if (bv == nullptr || bv->GetPointer() == nullptr) return false;
  const auto* p = reinterpret_cast<const uint8_t*>(bv->GetPointer());
  const size_t n = std::min<size_t>(bv->GetLength(), 1 << 16);
  for (size_t i = 0; i + 41 <= n; ++i) {
    if (p[i] == 0xff && p[i + 1] == 0x4f && p[i + 2] == 0xff && p[i + 3] == 0x51) {
      const uint8_t ssiz = p[i + 2 + 40];
      *is_signed = (ssiz & 0x80) != 0;
      *precision = (ssiz & 0x7f) + 1u;
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Value transforms.

struct Rescale {
  double slope = 1.0;
  double intercept = 0.0;
};

Rescale ReadRescale(const gdcm::DataSet& ds, size_t frame) {
  Rescale r;
  double s = 0, i = 0;
  const bool has_s = FirstDouble(ds, {0x0028, 0x1053}, &s);
  const bool has_i = FirstDouble(ds, {0x0028, 0x1052}, &i);
  if (has_s || has_i) {
    if (has_s && s != 0.0) r.slope = s;
    if (has_i) r.intercept = i;
    return r;
  }
  std::vector<gdcm::SmartPointer<gdcm::SequenceOfItems>> keep;
  if (const gdcm::DataSet* fg = FunctionalGroup(ds, {0x0028, 0x9145}, frame, &keep)) {
    if (FirstDouble(*fg, {0x0028, 0x1053}, &s) && s != 0.0) r.slope = s;
    if (FirstDouble(*fg, {0x0028, 0x1052}, &i)) r.intercept = i;
    return r;
  }
  if (FirstDouble(ds, {0x3004, 0x000e}, &s) && s > 0.0) r.slope = s;  // RT Dose Grid Scaling
  return r;
}

enum class VoiFunction { kLinear, kLinearExact, kSigmoid };

struct Window {
  double center = 0.0;
  double width = 0.0;
  VoiFunction function = VoiFunction::kLinear;
};

bool WindowFrom(const gdcm::DataSet& ds, Window* w) {
  double c = 0, wd = 0;
  if (!FirstDouble(ds, {0x0028, 0x1050}, &c) || !FirstDouble(ds, {0x0028, 0x1051}, &wd) ||
      !(wd > 0.0)) {
    return false;
  }
  w->center = c;
  w->width = wd;
  const std::string f = Text(ds, {0x0028, 0x1056});
  w->function = f == "SIGMOID"        ? VoiFunction::kSigmoid
                : f == "LINEAR_EXACT" ? VoiFunction::kLinearExact
                                      : VoiFunction::kLinear;
  if (w->function == VoiFunction::kLinear && wd < 1.0) w->function = VoiFunction::kLinearExact;
  return true;
}

bool FileWindow(const gdcm::DataSet& ds, size_t frame, Window* w) {
  if (WindowFrom(ds, w)) return true;
  std::vector<gdcm::SmartPointer<gdcm::SequenceOfItems>> keep;
  const gdcm::DataSet* fg = FunctionalGroup(ds, {0x0028, 0x9132}, frame, &keep);
  return fg != nullptr && WindowFrom(*fg, w);
}

float ApplyWindow(double x, const Window& w) {
  double y = 0.0;
  switch (w.function) {
    case VoiFunction::kLinear: {
      // PS3.3 C.11.2.1.2.1
      const double c = w.center - 0.5, wm = w.width - 1.0;
      if (x <= c - wm / 2) {
        y = 0.0;
      } else if (x > c + wm / 2) {
        y = 1.0;
      } else {
        y = (x - c) / wm + 0.5;
      }
      break;
    }
    case VoiFunction::kLinearExact:
      y = (x - w.center) / w.width + 0.5;
      break;
    case VoiFunction::kSigmoid:
      y = 1.0 / (1.0 + std::exp(-4.0 * (x - w.center) / w.width));
      break;
  }
  return static_cast<float>(std::min(1.0, std::max(0.0, y)));
}

// The 1st and 99th percentile of `values` (from at most 2^16 evenly spaced samples), widened to
// the full range when they coincide.
Window PercentileWindow(const std::vector<double>& values) {
  std::vector<double> s;
  const size_t step = std::max<size_t>(1, values.size() >> 16);
  for (size_t i = 0; i < values.size(); i += step) s.push_back(values[i]);
  Window w;
  w.function = VoiFunction::kLinearExact;
  if (s.empty()) {
    w.width = 1.0;
    return w;
  }
  const auto at = [&](double q) {
    const size_t k = static_cast<size_t>(q * static_cast<double>(s.size() - 1) + 0.5);
    std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(k), s.end());
    return s[k];
  };
  double lo = at(0.01), hi = at(0.99);
  if (!(hi > lo)) {
    lo = *std::min_element(s.begin(), s.end());
    hi = *std::max_element(s.begin(), s.end());
  }
  if (!(hi > lo)) {  // a constant image
    w.center = lo + 0.5;
    w.width = 1.0;
    return w;
  }
  w.center = (lo + hi) / 2;
  w.width = hi - lo;
  return w;
}

// ---------------------------------------------------------------------------------------------
// Palette.

struct Palette {
  int32_t first = 0;
  std::vector<float> rgb[3];  // entries in [0, 1]
};

Palette ReadPalette(const gdcm::DataSet& ds, bool big_endian, bool is_signed) {
  Palette pal;
  for (int c = 0; c < 3; ++c) {
    const uint16_t elem = static_cast<uint16_t>(0x1101 + c);
    const std::vector<uint16_t> d = UShorts(ds, {0x0028, elem}, big_endian, 3);
    if (d.size() < 3) throw Error("PALETTE COLOR image without a valid palette LUT descriptor");
    if (Find(ds, {0x0028, static_cast<uint16_t>(0x1221 + c)}) != nullptr &&
        Find(ds, {0x0028, static_cast<uint16_t>(0x1201 + c)}) == nullptr) {
      throw Error("segmented palette color lookup tables are not supported");
    }
    const size_t count = d[0] == 0 ? 65536 : d[0];
    const uint32_t bits = d[2];
    if (bits != 8 && bits != 16) {
      throw Error("unsupported palette LUT entry size " + std::to_string(bits) + " bits");
    }
    pal.first = is_signed ? static_cast<int16_t>(d[1]) : static_cast<int32_t>(d[1]);
    const std::string data = Raw(ds, {0x0028, static_cast<uint16_t>(0x1201 + c)});
    const auto* p = reinterpret_cast<const uint8_t*>(data.data());
    std::vector<uint32_t> entries(count);
    if (bits == 8 && data.size() >= count && data.size() < 2 * count) {
      for (size_t i = 0; i < count; ++i) entries[i] = p[i];
    } else if (data.size() >= 2 * count) {
      for (size_t i = 0; i < count; ++i) {
        entries[i] = big_endian ? (p[2 * i] << 8 | p[2 * i + 1]) : (p[2 * i] | p[2 * i + 1] << 8);
      }
    } else {
      throw Error("palette LUT data is shorter than its descriptor says");
    }
    const uint32_t max = *std::max_element(entries.begin(), entries.end());
    // 8-bit entries may sit in either byte of a 16-bit word; 16-bit tables sometimes hold
    // 8-bit values.
    double scale = bits == 8 ? 255.0 : 65535.0;
    if (bits == 8 && max > 255) {
      bool low_zero = true;
      for (uint32_t e : entries) low_zero = low_zero && (e & 0xff) == 0;
      for (uint32_t& e : entries) e = low_zero ? e >> 8 : e & 0xff;
    } else if (bits == 16 && max <= 255) {
      scale = 255.0;
    }
    pal.rgb[c].resize(count);
    for (size_t i = 0; i < count; ++i) pal.rgb[c][i] = static_cast<float>(entries[i] / scale);
  }
  if (pal.rgb[0].size() != pal.rgb[1].size() || pal.rgb[0].size() != pal.rgb[2].size()) {
    throw Error("palette LUTs of different lengths");
  }
  return pal;
}

// ---------------------------------------------------------------------------------------------
// Decoding.

// The samples of one frame as little-endian integers of Bits Allocated / 8 bytes each (or
// packed bits when Bits Allocated is 1), with where the frame starts.
struct FrameBytes {
  std::vector<uint8_t> owned;     // when the frame had to be copied or decoded
  const uint8_t* data = nullptr;  // the frame's first byte (1-bit data: the data's first byte)
  uint64_t first_bit = 0;         // 1-bit data: the frame's first bit
  bool planar = false;            // samples stored as colour planes
};

// Native (uncompressed) pixel data: the middle frame, in place when the bytes are already little
// endian. GDCM's reader has swapped explicit big endian OW values to little-endian 16-bit words;
// other VRs keep the file's byte order.
FrameBytes NativeFrame(const gdcm::DataElement& pixels, const PixelInfo& info,
                       const gdcm::TransferSyntax& ts, uint32_t frame) {
  const auto* all = reinterpret_cast<const uint8_t*>(pixels.GetByteValue()->GetPointer());
  const uint64_t pixels_per_frame = uint64_t{info.rows} * info.cols;
  FrameBytes f;
  if (info.bits_allocated == 1) {
    f.data = all;
    f.first_bit = uint64_t{frame} * pixels_per_frame;
    return f;
  }
  const uint32_t bytes = info.bits_allocated / 8;
  if (info.pi == Photometric::kYbr422) {  // Y0 Y1 Cb Cr per pair of pixels (8-bit, checked)
    const uint8_t* src = all + uint64_t{frame} * pixels_per_frame * 2;
    f.owned.resize(pixels_per_frame * 3);
    for (uint64_t i = 0; i + 1 < pixels_per_frame; i += 2) {
      const uint8_t* q = src + 2 * i;
      uint8_t* d = f.owned.data() + 3 * i;
      d[0] = q[0], d[1] = q[2], d[2] = q[3];
      d[3] = q[1], d[4] = q[2], d[5] = q[3];
    }
    f.data = f.owned.data();
    return f;
  }
  const uint64_t frame_bytes = pixels_per_frame * info.spp * bytes;
  const uint8_t* src = all + uint64_t{frame} * frame_bytes;
  f.planar = info.planar;
  const gdcm::VR::VRType vr = pixels.GetVR();
  if (!BigEndian(ts) || bytes == 1 || (vr == gdcm::VR::OW && bytes == 2) || vr == gdcm::VR::OL) {
    f.data = src;
    return f;
  }
  f.owned.resize(frame_bytes);
  for (uint64_t i = 0; i < frame_bytes; i += bytes) {
    uint8_t* d = f.owned.data() + i;
    const uint8_t* q = src + i;
    if (vr == gdcm::VR::OW) {  // 32-bit values in 16-bit words that are already swapped
      d[0] = q[2], d[1] = q[3], d[2] = q[0], d[3] = q[1];
    } else {
      for (uint32_t k = 0; k < bytes; ++k) d[k] = q[bytes - 1 - k];
    }
  }
  f.data = f.owned.data();
  return f;
}

uint32_t LE32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// RLE Lossless (PS3.5 Annex G): one fragment per frame; a 64-byte header with the offsets of
// spp * bytes PackBits segments, each holding one byte (most significant first) of one sample
// of every pixel. Decoded here (GDCM interleaves multi-byte colour segments wrongly).
FrameBytes RleFrame(const gdcm::DataElement& pixels, const PixelInfo& info, uint32_t frame) {
  const gdcm::SequenceOfFragments* sf = pixels.GetSequenceOfFragments();
  if (sf == nullptr || sf->GetNumberOfFragments() != info.frames) {
    throw Error("RLE pixel data with " + std::to_string(sf ? sf->GetNumberOfFragments() : 0) +
                " fragments for " + std::to_string(info.frames) + " frames");
  }
  const gdcm::ByteValue* bv = sf->GetFragment(frame).GetByteValue();
  if (bv == nullptr || bv->GetPointer() == nullptr || bv->GetLength() < 64) {
    throw Error("corrupt RLE frame (shorter than its 64-byte header)");
  }
  const auto* p = reinterpret_cast<const uint8_t*>(bv->GetPointer());
  const uint64_t size = bv->GetLength();
  const uint32_t bytes = info.bits_allocated / 8;
  const uint32_t segments = info.spp * bytes;
  if (LE32(p) != segments) {
    throw Error("corrupt RLE frame (" + std::to_string(LE32(p)) + " segments, expected " +
                std::to_string(segments) + ")");
  }
  const uint64_t pixels_per_frame = uint64_t{info.rows} * info.cols;
  FrameBytes f;
  f.owned.assign(pixels_per_frame * info.spp * bytes, 0);
  for (uint32_t s = 0; s < segments; ++s) {
    const uint64_t begin = LE32(p + 4 + 4 * s);
    const uint64_t end = s + 1 < segments ? LE32(p + 8 + 4 * s) : size;
    if (begin < 64 || begin > end || end > size) throw Error("corrupt RLE frame (segment offsets)");
    const uint32_t sample = s / bytes;
    const uint32_t byte = bytes - 1 - s % bytes;  // little-endian position of this byte
    uint8_t* out = f.owned.data() + uint64_t{sample} * bytes + byte;
    const uint64_t stride = uint64_t{info.spp} * bytes;
    uint64_t written = 0;
    for (uint64_t q = begin; q < end && written < pixels_per_frame;) {
      const int n = static_cast<int8_t>(p[q++]);
      if (n >= 0) {  // n + 1 literal bytes
        for (int k = 0; k <= n && q < end && written < pixels_per_frame; ++k) {
          out[written++ * stride] = p[q++];
        }
      } else if (n != -128) {  // the next byte 1 - n times
        if (q >= end) break;
        const uint8_t v = p[q++];
        for (int k = 0; k < 1 - n && written < pixels_per_frame; ++k) out[written++ * stride] = v;
      }
    }
    if (written < pixels_per_frame) {
      throw Error("corrupt RLE frame (segment " + std::to_string(s) + " decodes to " +
                  std::to_string(written) + " of " + std::to_string(pixels_per_frame) + " bytes)");
    }
  }
  f.data = f.owned.data();
  return f;
}

// JPEG, JPEG-LS and JPEG 2000: GDCM's codecs decompress all frames (interleaved samples);
// returns the middle frame.
FrameBytes CodecFrame(const gdcm::DataElement& pixels, const PixelInfo& info,
                      const gdcm::TransferSyntax& ts, uint32_t frame) {
  gdcm::Image image;
  image.SetNumberOfDimensions(info.frames > 1 ? 3 : 2);
  image.SetDimension(0, info.cols);
  image.SetDimension(1, info.rows);
  if (info.frames > 1) image.SetDimension(2, info.frames);
  image.SetPixelFormat(gdcm::PixelFormat(
      static_cast<unsigned short>(info.spp), static_cast<unsigned short>(info.bits_allocated),
      static_cast<unsigned short>(info.high_bit + 1), static_cast<unsigned short>(info.high_bit),
      static_cast<unsigned short>(info.is_signed ? 1 : 0)));
  image.SetPhotometricInterpretation(GdcmPhotometric(info.pi));
  image.SetPlanarConfiguration(0);
  image.SetTransferSyntax(ts);
  image.SetNeedByteSwap(false);
  image.SetDataElement(pixels);
  const uint64_t frame_bytes =
      uint64_t{info.rows} * info.cols * info.spp * (info.bits_allocated / 8);
  const uint64_t total = frame_bytes * info.frames;
  if (image.GetBufferLength() != total) {
    throw Error("inconsistent pixel description (GDCM expects " +
                std::to_string(image.GetBufferLength()) + " decoded bytes, not " +
                std::to_string(total) + ")");
  }
  std::vector<uint8_t> all(total);
  bool ok = false;
  try {
    ok = image.GetBuffer(reinterpret_cast<char*>(all.data()));
  } catch (...) {
    ok = false;
  }
  if (!ok) {
    throw Error("cannot decode the " + UidLabel(gdcm::TransferSyntax::GetTSString(ts)) +
                " pixel data: corrupt or unsupported stream");
  }
  FrameBytes f;
  f.owned.assign(all.begin() + static_cast<std::ptrdiff_t>(frame * frame_bytes),
                 all.begin() + static_cast<std::ptrdiff_t>((frame + 1) * frame_bytes));
  f.data = f.owned.data();
  return f;
}

// Stored values of a frame (all samples, interleaved), masked to `bits` and sign-extended
// (integers, held as doubles to be rescaled in place).
std::vector<double> FrameValues(const FrameBytes& f, const PixelInfo& info, bool is_signed,
                                uint32_t bits) {
  const uint64_t pixels = uint64_t{info.rows} * info.cols;
  const uint64_t count = pixels * info.spp;
  std::vector<double> out(count);
  if (info.bits_allocated == 1) {
    for (uint64_t i = 0; i < count; ++i) {
      const uint64_t bit = f.first_bit + i;
      out[i] = (f.data[bit / 8] >> (bit % 8)) & 1;
    }
    return out;
  }
  const uint32_t shift = info.high_bit + 1 - info.bits_stored;
  const uint64_t mask = (1ull << bits) - 1;
  const uint32_t bytes = info.bits_allocated / 8;
  for (uint64_t i = 0; i < count; ++i) {
    // i = pixel * spp + sample; planar data stores one plane per sample.
    const uint64_t at = f.planar ? (i % info.spp) * pixels + i / info.spp : i;
    const uint8_t* q = f.data + at * bytes;
    uint64_t raw = 0;
    for (uint32_t k = 0; k < bytes; ++k) raw |= uint64_t{q[k]} << (8 * k);
    raw = (raw >> shift) & mask;
    int64_t v = static_cast<int64_t>(raw);
    if (is_signed && ((raw >> (bits - 1)) & 1) != 0) v -= static_cast<int64_t>(1ull << bits);
    out[i] = static_cast<double>(v);
  }
  return out;
}

DecodedImage DecodePixels(const Parsed& p, const DecodeOptions& options) {
  const gdcm::DataSet& ds = p.ds();
  const gdcm::DataElement* pixels = Find(ds, kPixelData);
  if (pixels == nullptr) {
    if (Find(ds, {0x7fe0, 0x0008}) != nullptr || Find(ds, {0x7fe0, 0x0009}) != nullptr) {
      throw Error("float pixel data is not supported (SOP class " + UidLabel(p.sop_class_uid) +
                  ")");
    }
    throw Error("no pixel data (SOP class " + UidLabel(p.sop_class_uid) + ")");
  }
  PixelInfo info = ReadPixelInfo(p);
  const uint64_t values = uint64_t{info.rows} * info.cols * info.frames * info.spp;
  if (values > options.max_pixels) {
    throw Error("image too large: " + std::to_string(info.rows) + " x " +
                std::to_string(info.cols) + " x " + std::to_string(info.frames) + " frames x " +
                std::to_string(info.spp) + " samples = " + std::to_string(values) +
                " values, more than max_pixels " + std::to_string(options.max_pixels));
  }
  CheckCodec(info, p.ts);
  const bool encapsulated = p.ts.IsEncapsulated();
  const gdcm::ByteValue* first_fragment = nullptr;
  if (encapsulated) {
    first_fragment = FirstFragment(*pixels);
    if (first_fragment == nullptr) {
      throw Error("compressed pixel data without fragments (" +
                  UidLabel(gdcm::TransferSyntax::GetTSString(p.ts)) + ")");
    }
  } else {
    const gdcm::ByteValue* bv = pixels->GetByteValue();
    const uint64_t have = bv ? static_cast<uint64_t>(bv->GetLength()) : 0;
    if (bv == nullptr || bv->GetPointer() == nullptr || have < NativeBytes(info)) {
      throw Error("pixel data is shorter than Rows x Columns x Frames x Samples says (" +
                  std::to_string(have) + " of " + std::to_string(NativeBytes(info)) +
                  " bytes): truncated or inconsistent file");
    }
  }

  // Effective bit depth and signedness of the decoded values. A JPEG 2000 code stream that
  // says its samples are signed is sign-extended at its own precision; unsigned code streams
  // may hold two's complement values of Bits Stored bits (Pixel Representation 1).
  uint32_t bits = info.bits_stored;
  bool is_signed = info.is_signed;
  if (p.ts == gdcm::TransferSyntax::JPEG2000Lossless || p.ts == gdcm::TransferSyntax::JPEG2000) {
    bool s = false;
    uint32_t precision = 0;
    if (J2kComponent(first_fragment, &s, &precision) && s && precision <= info.bits_allocated) {
      is_signed = true;
      bits = std::max(bits, precision);
    }
  }

  // The middle frame.
  const uint32_t frame = info.frames / 2;
  const FrameBytes fb = !encapsulated ? NativeFrame(*pixels, info, p.ts, frame)
                        : p.ts == gdcm::TransferSyntax::RLELossless
                            ? RleFrame(*pixels, info, frame)
                            : CodecFrame(*pixels, info, p.ts, frame);
  std::vector<double> v = FrameValues(fb, info, is_signed, bits);
  const uint64_t n = uint64_t{info.rows} * info.cols;

  DecodedImage out;
  out.rows = info.rows;
  out.cols = info.cols;
  if (IsMonochrome(info.pi)) {
    const Rescale r = ReadRescale(ds, frame);
    // Pixel Padding Value (the area outside a scan's field of view) stays out of the statistics.
    uint16_t pad = 0;
    const bool has_pad = UShort(ds, {0x0028, 0x0120}, BigEndian(p.ts), &pad);
    const double padding = is_signed ? static_cast<int16_t>(pad) : static_cast<double>(pad);
    std::vector<uint8_t> padded;
    if (has_pad) {
      padded.resize(n);
      for (uint64_t i = 0; i < n; ++i) padded[i] = v[i] == padding;
    }
    std::vector<double>& x = v;  // rescaled in place
    for (uint64_t i = 0; i < n; ++i) x[i] = x[i] * r.slope + r.intercept;
    Window w;
    bool have = options.window == WindowMode::kFile && FileWindow(ds, frame, &w);
    const std::string modality = Text(ds, {0x0008, 0x0060});
    if (!have && options.window != WindowMode::kPercentile && modality == "CT" && n > 0 &&
        *std::min_element(x.begin(), x.end()) < -200.0) {
      w.center = 40.0;  // soft tissue, in Hounsfield units
      w.width = 400.0;
      w.function = VoiFunction::kLinear;
      have = true;
    }
    if (!have) {
      std::vector<double> kept;
      for (uint64_t i = 0; i < padded.size(); ++i) {
        if (!padded[i]) kept.push_back(x[i]);
      }
      w = PercentileWindow(kept.empty() ? x : kept);
    }
    const bool invert = info.pi == Photometric::kMono1;
    out.channels = 1;
    out.pixels.resize(n);
    for (uint64_t i = 0; i < n; ++i) {
      const float y = ApplyWindow(x[i], w);
      out.pixels[i] = invert ? 1.0f - y : y;
    }
    return out;
  }

  out.channels = 3;
  out.pixels.resize(3 * n);
  float* r = out.pixels.data();
  float* g = r + n;
  float* b = g + n;
  if (info.pi == Photometric::kPalette) {
    const Palette pal = ReadPalette(ds, BigEndian(p.ts), is_signed);
    const int64_t last = static_cast<int64_t>(pal.rgb[0].size()) - 1;
    for (uint64_t i = 0; i < n; ++i) {
      const auto index = static_cast<int64_t>(v[i]) - pal.first;
      const auto k = static_cast<size_t>(std::min(last, std::max<int64_t>(0, index)));
      r[i] = pal.rgb[0][k];
      g[i] = pal.rgb[1][k];
      b[i] = pal.rgb[2][k];
    }
    return out;
  }
  // Colour: which space the decoded samples are in. JPEG 2000 applies its inverse component
  // transform (YBR_RCT/ICT come out as RGB); GDCM's JPEG decoder leaves the components as
  // coded, which the JPEG stream itself may say.
  bool ybr = info.pi == Photometric::kYbrFull || info.pi == Photometric::kYbr422;
  const bool jpeg_lossy = p.ts == gdcm::TransferSyntax::JPEGBaselineProcess1 ||
                          p.ts == gdcm::TransferSyntax::JPEGExtendedProcess2_4;
  if (jpeg_lossy) {
    const int cs = JpegColorSpace(first_fragment);
    if (cs >= 0) ybr = cs == 1;
  }
  const double max = std::ldexp(1.0, static_cast<int>(std::min<uint32_t>(bits, 62))) - 1.0;
  const double half = (max + 1.0) / 2;
  const auto unit = [&](double x) {
    return static_cast<float>(std::min(1.0, std::max(0.0, x / max)));
  };
  for (uint64_t i = 0; i < n; ++i) {
    double c0 = v[3 * i], c1 = v[3 * i + 1], c2 = v[3 * i + 2];
    if (is_signed) {  // signed colour samples: shift to the unsigned range
      c0 += half;
      c1 += half;
      c2 += half;
    }
    if (ybr) {  // ITU-R BT.601 full range (PS3.3 C.7.6.3.1.2)
      const double y = c0, cb = c1 - half, cr = c2 - half;
      c0 = y + 1.402 * cr;
      c1 = y - 0.344136 * cb - 0.714136 * cr;
      c2 = y + 1.772 * cb;
    }
    r[i] = unit(c0);
    g[i] = unit(c1);
    b[i] = unit(c2);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// describe().

void PutText(nlohmann::json* j, const char* key, const std::string& value, const Scrubber* scrub,
             bool latin1) {
  if (value.empty()) return;
  const std::string v = Utf8(value, latin1);
  (*j)[key] = scrub ? (*scrub)(v) : v;
}

// describe() of a parsed data set.
std::string DescribeParsed(const Parsed& p, bool keep_identifying) {
  const gdcm::DataSet& ds = p.ds();
  const bool latin1 = IsLatin1(ds);
  const Scrubber* scrub = keep_identifying ? nullptr : &p.scrub;
  const bool be = BigEndian(p.ts);
  nlohmann::json j = nlohmann::json::object();
  PutText(&j, "modality", Text(ds, {0x0008, 0x0060}), scrub, latin1);
  PutText(&j, "body_part", Text(ds, {0x0018, 0x0015}), scrub, latin1);
  PutText(&j, "study_description", Text(ds, {0x0008, 0x1030}), scrub, latin1);
  PutText(&j, "series_description", Text(ds, {0x0008, 0x103e}), scrub, latin1);
  PutText(&j, "manufacturer", Text(ds, {0x0008, 0x0070}), scrub, latin1);
  PutText(&j, "manufacturer_model", Text(ds, {0x0008, 0x1090}), scrub, latin1);
  uint16_t v = 0;
  const bool has_rows = UShort(ds, {0x0028, 0x0010}, be, &v);
  if (has_rows) j["rows"] = v;
  if (UShort(ds, {0x0028, 0x0011}, be, &v)) j["columns"] = v;
  long long frames = 0;
  if (ParseInt(FirstValue(Raw(ds, {0x0028, 0x0008})), &frames) && frames >= 1) {
    j["frames"] = frames;
  } else if (has_rows) {
    j["frames"] = 1;
  }
  double d = 0;
  std::vector<gdcm::SmartPointer<gdcm::SequenceOfItems>> keep;
  const gdcm::DataSet* measures = FunctionalGroup(ds, {0x0028, 0x9110}, 0, &keep);
  if (FirstDouble(ds, {0x0028, 0x0030}, &d) ||
      (measures && FirstDouble(*measures, {0x0028, 0x0030}, &d))) {
    j["pixel_spacing"] = d;
  }
  if (FirstDouble(ds, {0x0018, 0x0050}, &d) ||
      (measures && FirstDouble(*measures, {0x0018, 0x0050}, &d))) {
    j["slice_thickness"] = d;
  }
  PutText(&j, "photometric", Text(ds, {0x0028, 0x0004}), scrub, latin1);
  const char* ts_uid = gdcm::TransferSyntax::GetTSString(p.ts);
  if (ts_uid != nullptr && p.ts != gdcm::TransferSyntax::TS_END) {
    const std::string name = UidName(ts_uid);
    j["transfer_syntax"] = name.empty() ? std::string(ts_uid) : name;
  }
  if (!p.sop_class_uid.empty()) j["sop_class"] = UidLabel(p.sop_class_uid);
  if (keep_identifying) {
    for (const auto& k : kIdentifyingKeys) {
      PutText(&j, k.key, Text(ds, k.tag), nullptr, latin1);
    }
  }
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

void QuietGdcm() {
  static std::once_flag once;
  std::call_once(once, [] {
    gdcm::Trace::SetDebug(false);
    gdcm::Trace::SetWarning(false);
    gdcm::Trace::SetError(false);
  });
}

DecodedImage DecodeImage(const uint8_t* data, size_t size, const DecodeOptions& options,
                         std::string* description, bool keep_identifying) {
  QuietGdcm();
  Parsed p;
  Parse(data, size, /*header_only=*/false, &p);
  if (options.after_parse != nullptr) options.after_parse(options);
  try {
    DecodedImage image = DecodePixels(p, options);
    if (description != nullptr) *description = DescribeParsed(p, keep_identifying);
    return image;
  } catch (const std::bad_alloc&) {
    throw Error(
        "out of memory while decoding the pixel data (a corrupt stream, or more than the "
        "decoder's memory limit for max_pixels)");
  } catch (const std::exception& e) {
    throw Error(p.scrub(e.what()));
  } catch (...) {
    throw Error("unknown error while decoding the pixel data");
  }
}

std::string Describe(const uint8_t* data, size_t size, bool keep_identifying) {
  QuietGdcm();
  Parsed p;
  Parse(data, size, /*header_only=*/true, &p);
  return DescribeParsed(p, keep_identifying);
}

}  // namespace dicom
}  // namespace reco
