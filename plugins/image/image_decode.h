// Image decoding of the image plugin: bytes -> 8-bit RGB pixels, upright.
//
// Formats are sniffed from their magic bytes (the content type is not trusted): JPEG
// (baseline and progressive), PNG (8/16-bit, palette, grey, alpha), BMP, GIF (first frame)
// and binary PNM (P5 grey, P6 colour). JPEG, PNG, BMP and GIF are decoded by stb_image (Debian
// libstb-dev), fed from memory; PNM by a reader of our own, because stb_image 2.27 ignores the
// maxval, reads 16-bit samples in the wrong byte order and refuses header comments.
//
// Safety: the header's dimensions are read first (stb_image's info reader of the sniffed
// format) and an image larger than `max_pixels` or with a zero side is refused before any
// pixel is decoded; a decoder that reads past the end of the input (a truncated file, which
// stb_image would otherwise fill with zeros for BMP, GIF and JPEG) is an error. A JPEG's
// marker segments are checked before stb_image sees them: Debian's stb_image (2.27) writes past
// its arrays on a Huffman table of more than 256 codes (fixed upstream in 2.28).
//
// Pixels: grey is replicated to RGB; alpha (grey+alpha, RGBA, transparent palette entries) is
// composited over white. A JPEG's EXIF orientation (APP1 "Exif", IFD0 tag 0x0112, values
// 1..8) is applied, so the pixels are as a viewer shows them.
//
// Errors are std::runtime_error with a message that says what is wrong (without the input's
// index, which the caller adds).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace reco {
namespace image {

enum class Format { kUnknown, kJpeg, kPng, kBmp, kGif, kPnm };

// Format from the first bytes; kUnknown when none matches.
Format SniffFormat(const uint8_t* data, size_t size);

// "JPEG", "PNG", "BMP", "GIF", "PNM" or "unknown".
const char* FormatName(Format f);

// Width, height and channel count from the header, without decoding pixels.
struct ImageInfo {
  Format format = Format::kUnknown;
  int width = 0;   // as stored (before EXIF orientation)
  int height = 0;  // as stored
  int channels = 0;
  int orientation = 1;          // EXIF orientation (JPEG), 1 when absent or invalid
  int pnm_maxval = 0;           // PNM: the largest sample value (1..65535)
  size_t pnm_pixel_offset = 0;  // PNM: where the pixel array starts
};

// Reads the header; throws on an unknown format or a header the decoder refuses.
ImageInfo ReadInfo(const uint8_t* data, size_t size);

// Interleaved 8-bit RGB, row-major, top row first.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3
};

// Decodes and orients an image; throws std::runtime_error with the reason.
RgbImage Decode(const uint8_t* data, size_t size, uint64_t max_pixels);

// The EXIF orientation of a JPEG (1..8), or 1 without a valid tag. Never throws.
int JpegExifOrientation(const uint8_t* data, size_t size);

// Applies EXIF orientation `o` (1..8) to an image: 2 mirror horizontally, 3 rotate 180,
// 4 mirror vertically, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90
// counter-clockwise. 5..8 swap width and height.
RgbImage Orient(const RgbImage& in, int o);

}  // namespace image
}  // namespace reco
