// Decoding with stb_image (the one translation unit of the plugin that holds its
// implementation), EXIF orientation and alpha compositing. See image_decode.h.
#include "image_decode.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

// Only the formats the plugin decodes with stb_image; no stdio, no HDR/float paths.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#include <stb/stb_image.h>

namespace reco {
namespace image {
namespace {

// Feeds stb_image from memory through its callback API, noting when the decoder asks for
// bytes past the end (stb_image silently substitutes zeros for some formats).
struct Reader {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  bool overrun = false;

  static int Read(void* user, char* out, int n) {
    auto* r = static_cast<Reader*>(user);
    if (n <= 0) return 0;
    const size_t left = r->size - r->pos;
    if (left == 0) {
      r->overrun = true;
      return 0;
    }
    const size_t k = std::min(left, static_cast<size_t>(n));
    std::memcpy(out, r->data + r->pos, k);
    r->pos += k;
    return static_cast<int>(k);
  }
  static void Skip(void* user, int n) {
    auto* r = static_cast<Reader*>(user);
    if (n < 0) {
      const size_t back = static_cast<size_t>(-static_cast<long long>(n));
      r->pos = back > r->pos ? 0 : r->pos - back;
    } else if (static_cast<size_t>(n) > r->size - r->pos) {
      r->overrun = true;
      r->pos = r->size;
    } else {
      r->pos += static_cast<size_t>(n);
    }
  }
  static int Eof(void* user) {
    const auto* r = static_cast<const Reader*>(user);
    return r->pos >= r->size ? 1 : 0;
  }
};

const stbi_io_callbacks kCallbacks = {&Reader::Read, &Reader::Skip, &Reader::Eof};

std::string Reason() {
  const char* r = stbi_failure_reason();
  return r != nullptr && r[0] != '\0' ? r : "unknown decoder error";
}

// The reason a decoder of format f gave, or "" when there is none of its own: stb_image probes
// the formats in turn, and some decoders fail without setting a reason, which leaves the one
// of another format's probe.
std::string DecoderReason(Format f) {
  const std::string r = Reason();
  if ((r == "bad png sig" && f != Format::kPng) || (r == "no SOI" && f != Format::kJpeg) ||
      r == "unknown image type" || r == "unknown decoder error") {
    return std::string();
  }
  return r;
}

std::string HexPrefix(const uint8_t* data, size_t size) {
  std::string s;
  char buf[4];
  for (size_t i = 0; i < std::min<size_t>(size, 8); ++i) {
    std::snprintf(buf, sizeof(buf), "%s%02x", i ? " " : "", data[i]);
    s += buf;
  }
  return s;
}

uint32_t Get16(const uint8_t* p, bool le) { return le ? p[0] | (p[1] << 8) : (p[0] << 8) | p[1]; }
uint32_t Get32(const uint8_t* p, bool le) {
  return le ? p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t{p[3]} << 24)
            : (uint32_t{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
}

// Orientation tag of a TIFF structure (the body of an Exif APP1 segment); 0 if none.
int TiffOrientation(const uint8_t* t, size_t n) {
  if (n < 8) return 0;
  bool le;
  if (t[0] == 'I' && t[1] == 'I') {
    le = true;
  } else if (t[0] == 'M' && t[1] == 'M') {
    le = false;
  } else {
    return 0;
  }
  if (Get16(t + 2, le) != 42) return 0;
  const uint32_t ifd = Get32(t + 4, le);
  if (ifd < 8 || ifd > n - 2) return 0;
  const uint32_t count = Get16(t + ifd, le);
  for (uint32_t i = 0; i < count; ++i) {
    const size_t e = size_t{ifd} + 2 + size_t{i} * 12;
    if (e + 12 > n) break;
    if (Get16(t + e, le) != 0x0112) continue;
    const uint32_t type = Get16(t + e + 2, le);
    const uint32_t values = Get32(t + e + 4, le);
    uint32_t v = 0;
    if (type == 3 && values >= 1) {  // SHORT, the type the standard prescribes
      v = Get16(t + e + 8, le);
    } else if (type == 4 && values >= 1) {  // LONG, written by a few tools
      v = Get32(t + e + 8, le);
    }
    return v >= 1 && v <= 8 ? static_cast<int>(v) : 0;
  }
  return 0;
}

std::string Dims(int w, int h) { return std::to_string(w) + "x" + std::to_string(h); }

bool IsPnmSpace(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Reads the header of a binary PNM (P5/P6): magic, width, height, maxval, separated by
// whitespace and '#' comments, then one whitespace byte before the samples.
void ReadPnmHeader(const uint8_t* d, size_t n, ImageInfo* info) {
  size_t pos = 2;
  long long values[3];
  for (long long& v : values) {
    while (pos < n && (IsPnmSpace(d[pos]) || d[pos] == '#')) {
      if (d[pos] == '#') {
        while (pos < n && d[pos] != '\n' && d[pos] != '\r') ++pos;
      } else {
        ++pos;
      }
    }
    if (pos >= n) throw std::runtime_error("truncated PNM header");
    if (d[pos] < '0' || d[pos] > '9') {
      throw std::runtime_error("bad PNM header: expected a number at byte " + std::to_string(pos));
    }
    v = 0;
    while (pos < n && d[pos] >= '0' && d[pos] <= '9') {
      v = v * 10 + (d[pos++] - '0');
      if (v > INT_MAX) throw std::runtime_error("bad PNM header: number too large");
    }
  }
  if (pos >= n) throw std::runtime_error("truncated PNM header");
  if (!IsPnmSpace(d[pos])) {
    throw std::runtime_error("bad PNM header: no whitespace after the maxval");
  }
  if (values[2] < 1 || values[2] > 65535) {
    throw std::runtime_error("bad PNM header: maxval " + std::to_string(values[2]) +
                             " is not in 1..65535");
  }
  info->width = static_cast<int>(values[0]);
  info->height = static_cast<int>(values[1]);
  info->channels = d[1] == '5' ? 1 : 3;
  info->pnm_maxval = static_cast<int>(values[2]);
  info->pnm_pixel_offset = pos + 1;
}

// Decodes the samples of a PNM whose header ReadInfo read (and whose size Decode checked).
std::vector<uint8_t> DecodePnmSamples(const uint8_t* d, size_t n, const ImageInfo& info) {
  const size_t count = size_t(info.width) * size_t(info.height) * size_t(info.channels);
  const bool wide = info.pnm_maxval > 255;
  const size_t need = count * (wide ? 2 : 1);
  const size_t have = n - std::min(info.pnm_pixel_offset, n);
  if (have < need) {
    throw std::runtime_error("truncated PNM data: a " + std::to_string(info.width) + "x" +
                             std::to_string(info.height) + " image needs " + std::to_string(need) +
                             " bytes of samples, " + std::to_string(have) + " follow the header");
  }
  const uint8_t* p = d + info.pnm_pixel_offset;
  const uint32_t maxval = static_cast<uint32_t>(info.pnm_maxval);
  std::vector<uint8_t> out(count);
  for (size_t i = 0; i < count; ++i) {
    uint32_t v = wide ? (uint32_t{p[2 * i]} << 8) | p[2 * i + 1] : p[i];
    v = std::min(v, maxval);  // samples above maxval are invalid; clamp them
    out[i] = static_cast<uint8_t>((v * 255 + maxval / 2) / maxval);
  }
  return out;
}

// Walks a JPEG's marker segments the way stb_image 2.27 reads them (fill bytes, bytes between
// segments, entropy-coded data up to the next marker that is not a stuffed 00 or a restart) and
// refuses what it would mishandle: a Huffman table (DHT) of more than 256 codes, which it writes
// past its table arrays, and a segment cut by the end of the data. Reading more segments than
// stb_image would (it stops at the first one it does not know) only ever refuses invalid data.
void CheckJpegSegments(const uint8_t* d, size_t n) {
  size_t pos = 2;  // after SOI
  while (pos < n) {
    if (d[pos] != 0xFF) {  // padding or garbage between segments
      ++pos;
      continue;
    }
    while (pos < n && d[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) return;
    const uint8_t marker = d[pos++];
    if (marker == 0xD9) return;                                          // EOI
    if (marker <= 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;  // no length field
    if (pos + 2 > n) throw std::runtime_error("truncated JPEG data: a marker segment is cut");
    const size_t len = (size_t{d[pos]} << 8) | d[pos + 1];
    if (marker == 0xC4) {
      // DHT: tables of (class/id, 16 code counts, values), read past the segment as stb does.
      long left = static_cast<long>(len) - 2;
      size_t t = pos + 2;
      while (left > 0) {
        size_t codes = 0;
        for (size_t i = 1; i <= 16; ++i) codes += t + i < n ? d[t + i] : 0;
        if (codes > 256) {
          throw std::runtime_error("cannot decode JPEG: bad Huffman table (" +
                                   std::to_string(codes) + " codes, at most 256)");
        }
        t += 17 + codes;
        left -= static_cast<long>(17 + codes);
      }
    }
    if (pos + len > n) {
      throw std::runtime_error("truncated JPEG data: a marker segment runs past the end of the " +
                               std::to_string(n) + " bytes given");
    }
    pos += std::max<size_t>(len, 2);
    if (marker == 0xDA) {  // entropy-coded data: up to FF (FF...) X, X not 00 or RSTn
      while (pos < n) {
        const void* ff = std::memchr(d + pos, 0xFF, n - pos);
        if (ff == nullptr) return;
        size_t q = static_cast<size_t>(static_cast<const uint8_t*>(ff) - d);
        while (q < n && d[q] == 0xFF) ++q;
        if (q >= n) return;
        if (d[q] != 0x00 && (d[q] < 0xD0 || d[q] > 0xD7)) {
          pos = q - 1;  // the marker's last FF
          break;
        }
        pos = q + 1;
      }
    }
  }
}

}  // namespace

Format SniffFormat(const uint8_t* d, size_t n) {
  if (d == nullptr) return Format::kUnknown;
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return Format::kJpeg;
  if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return Format::kPng;
  if (n >= 6 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0)) {
    return Format::kGif;
  }
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return Format::kBmp;
  if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7' &&
      (d[2] == ' ' || d[2] == '\t' || d[2] == '\n' || d[2] == '\r' || d[2] == '#')) {
    return Format::kPnm;
  }
  return Format::kUnknown;
}

const char* FormatName(Format f) {
  switch (f) {
    case Format::kJpeg:
      return "JPEG";
    case Format::kPng:
      return "PNG";
    case Format::kBmp:
      return "BMP";
    case Format::kGif:
      return "GIF";
    case Format::kPnm:
      return "PNM";
    case Format::kUnknown:
      break;
  }
  return "unknown";
}

int JpegExifOrientation(const uint8_t* d, size_t n) {
  if (d == nullptr || n < 4 || d[0] != 0xFF || d[1] != 0xD8) return 1;
  size_t pos = 2;
  while (pos + 4 <= n) {
    if (d[pos] != 0xFF) return 1;
    const uint8_t marker = d[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {  // no length field
      pos += 2;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return 1;  // start of scan / end: no more headers
    const size_t len = (size_t{d[pos + 2]} << 8) | d[pos + 3];
    if (len < 2 || pos + 2 + len > n) return 1;
    const uint8_t* seg = d + pos + 4;
    const size_t seg_len = len - 2;
    if (marker == 0xE1 && seg_len >= 6 && std::memcmp(seg, "Exif\0\0", 6) == 0) {
      const int o = TiffOrientation(seg + 6, seg_len - 6);
      return o == 0 ? 1 : o;
    }
    pos += 2 + len;
  }
  return 1;
}

ImageInfo ReadInfo(const uint8_t* data, size_t size) {
  if (data == nullptr || size == 0) throw std::runtime_error("empty input (0 bytes)");
  ImageInfo info;
  info.format = SniffFormat(data, size);
  if (info.format == Format::kUnknown) {
    throw std::runtime_error("unrecognised image format (first bytes: " + HexPrefix(data, size) +
                             "); supported: JPEG, PNG, BMP, GIF, PNM (P5/P6)");
  }
  const char* name = FormatName(info.format);
  if (info.format == Format::kPnm) {
    if (data[1] != '5' && data[1] != '6') {
      throw std::runtime_error(std::string("unsupported PNM variant P") + char(data[1]) +
                               " (only binary greymap P5 and pixmap P6 are supported)");
    }
    ReadPnmHeader(data, size, &info);
  } else {
    if (size > static_cast<size_t>(INT_MAX)) {
      throw std::runtime_error(std::string(name) + " input of " + std::to_string(size) +
                               " bytes is too large");
    }
    if (info.format == Format::kJpeg) CheckJpegSegments(data, size);
    // The sniffed format's own header reader (stb_image's internal one; the public
    // stbi_info_* would try every format and report only "unknown image type").
    Reader reader{data, size};
    stbi__context ctx;
    stbi__start_callbacks(&ctx, const_cast<stbi_io_callbacks*>(&kCallbacks), &reader);
    stbi__g_failure_reason = nullptr;
    int ok = 0;
    switch (info.format) {
      case Format::kJpeg:
        ok = stbi__jpeg_info(&ctx, &info.width, &info.height, &info.channels);
        break;
      case Format::kPng:
        ok = stbi__png_info(&ctx, &info.width, &info.height, &info.channels);
        break;
      case Format::kBmp:
        ok = stbi__bmp_info(&ctx, &info.width, &info.height, &info.channels);
        break;
      case Format::kGif:
        ok = stbi__gif_info(&ctx, &info.width, &info.height, &info.channels);
        break;
      default:
        break;
    }
    if (!ok && info.format == Format::kPng && size >= 24 &&
        std::memcmp(data + 12, "IHDR", 4) == 0 && stbi_failure_reason() != nullptr &&
        std::strcmp(stbi_failure_reason(), "too large") == 0) {
      // stb_image refuses a PNG above 2^30 bytes of pixels from its header; report its size so
      // that the caller refuses it with the max_pixels message.
      info.width = static_cast<int>(Get32(data + 16, /*le=*/false) & 0x7fffffffu);
      info.height = static_cast<int>(Get32(data + 20, /*le=*/false) & 0x7fffffffu);
      info.channels = 4;
      ok = 1;
    }
    if (!ok) {
      const char* r = stbi_failure_reason();
      if (r != nullptr &&
          (std::strcmp(r, "0-pixel image") == 0 || std::strcmp(r, "0 width") == 0)) {
        throw std::runtime_error(std::string("zero-sized ") + name + " image (" + r + ")");
      }
      throw std::runtime_error(std::string(reader.overrun ? "truncated " : "cannot read the ") +
                               name + " header" +
                               (r != nullptr && r[0] != '\0' ? std::string(": ") + r : ""));
    }
  }
  if (info.width <= 0 || info.height <= 0) {
    throw std::runtime_error(std::string("zero-sized ") + name + " image (" +
                             Dims(info.width, info.height) + ")");
  }
  if (info.format == Format::kJpeg) info.orientation = JpegExifOrientation(data, size);
  return info;
}

namespace {

// Decodes a JPEG, PNG, BMP or GIF with stb_image into *px; returns the pixels.
const stbi_uc* DecodeWithStb(const uint8_t* data, size_t size, const ImageInfo& info,
                             std::unique_ptr<stbi_uc, void (*)(void*)>* px, int* w, int* h,
                             int* n) {
  const char* name = FormatName(info.format);
  Reader reader{data, size};
  stbi__g_failure_reason = nullptr;
  px->reset(stbi_load_from_callbacks(&kCallbacks, &reader, w, h, n, 0));
  if (reader.overrun || !*px) {
    const std::string reason = *px ? std::string() : DecoderReason(info.format);
    if (reader.overrun) {
      throw std::runtime_error(std::string("truncated ") + name +
                               " data: the decoder needed more than the " + std::to_string(size) +
                               " bytes given" + (reason.empty() ? "" : " (" + reason + ")"));
    }
    if (reason == "outofdata") {  // the PNG reader's "chunk runs past the end"
      throw std::runtime_error(std::string("truncated ") + name + " data (" + reason + ")");
    }
    throw std::runtime_error(std::string("cannot decode ") + name + ": " +
                             (reason.empty() ? "corrupt data" : reason));
  }
  return px->get();
}

}  // namespace

RgbImage Decode(const uint8_t* data, size_t size, uint64_t max_pixels) {
  const ImageInfo info = ReadInfo(data, size);
  const char* name = FormatName(info.format);
  const uint64_t pixels = uint64_t(info.width) * uint64_t(info.height);
  if (pixels > max_pixels) {
    throw std::runtime_error(std::string(name) + " image is " + Dims(info.width, info.height) +
                             " = " + std::to_string(pixels) +
                             " pixels, more than max_pixels = " + std::to_string(max_pixels));
  }

  int w = 0, h = 0, n = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(nullptr, &stbi_image_free);
  std::vector<uint8_t> pnm;
  const stbi_uc* src = nullptr;
  if (info.format == Format::kPnm) {
    pnm = DecodePnmSamples(data, size, info);
    w = info.width;
    h = info.height;
    n = info.channels;
    src = pnm.data();
  } else {
    src = DecodeWithStb(data, size, info, &px, &w, &h, &n);
  }

  if (w != info.width || h != info.height || n < 1 || n > 4) {
    throw std::runtime_error(std::string("inconsistent ") + name + " image: header says " +
                             Dims(info.width, info.height) + ", decoder gave " + Dims(w, h) +
                             " with " + std::to_string(n) + " channels");
  }

  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.resize(size_t(w) * size_t(h) * 3);
  uint8_t* dst = img.pixels.data();
  const size_t count = size_t(w) * size_t(h);
  // Over white: c * a + 255 * (1 - a) = 255 - (255 - c) * a / 255, rounded.
  const auto over_white = [](uint32_t c, uint32_t a) -> uint8_t {
    return static_cast<uint8_t>(255 - ((255 - c) * a + 127) / 255);
  };
  switch (n) {
    case 1:
      for (size_t i = 0; i < count; ++i) dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = src[i];
      break;
    case 2:
      for (size_t i = 0; i < count; ++i) {
        dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = over_white(src[2 * i], src[2 * i + 1]);
      }
      break;
    case 3:
      std::memcpy(dst, src, count * 3);
      break;
    default:
      for (size_t i = 0; i < count; ++i) {
        const uint32_t a = src[4 * i + 3];
        for (int c = 0; c < 3; ++c) dst[3 * i + c] = over_white(src[4 * i + c], a);
      }
      break;
  }
  px.reset();
  pnm = std::vector<uint8_t>();
  if (info.orientation != 1) img = Orient(img, info.orientation);
  return img;
}

RgbImage Orient(const RgbImage& in, int o) {
  if (o < 2 || o > 8) return in;
  const int W = in.width, H = in.height;
  RgbImage out;
  const bool swap = o >= 5;
  out.width = swap ? H : W;
  out.height = swap ? W : H;
  out.pixels.resize(in.pixels.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (o) {
        case 2:
          sx = W - 1 - x;
          break;
        case 3:
          sx = W - 1 - x;
          sy = H - 1 - y;
          break;
        case 4:
          sy = H - 1 - y;
          break;
        case 5:
          sx = y;
          sy = x;
          break;
        case 6:
          sx = y;
          sy = H - 1 - x;
          break;
        case 7:
          sx = W - 1 - y;
          sy = H - 1 - x;
          break;
        default:  // 8
          sx = W - 1 - y;
          sy = x;
          break;
      }
      const uint8_t* s = &in.pixels[(size_t(sy) * W + sx) * 3];
      uint8_t* d = &out.pixels[(size_t(y) * out.width + x) * 3];
      d[0] = s[0];
      d[1] = s[1];
      d[2] = s[2];
    }
  }
  return out;
}

}  // namespace image
}  // namespace reco
