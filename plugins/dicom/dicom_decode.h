// DICOM parsing, pixel decoding and header description for the dicom plugin. GDCM types stay
// in dicom_decode.cc; nothing here depends on LibTorch, so the decoder process
// (decoder_process.h, decoder_main.cc) runs it without the model.
//
// Errors are std::runtime_error whose messages never contain identifying values of the input
// (patient name/id/birth date, UIDs, dates, institution, physicians, ...): every message built
// from a parsed file is scrubbed of them before it is thrown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace reco {
namespace dicom {

// How the VOI window (stored values -> display intensity) is chosen for monochrome images.
enum class WindowMode {
  kFile,        // the file's first Window Center/Width, else the modality preset
  kModality,    // the modality preset (CT: soft tissue 40/400 HU), else the 1-99th percentile
  kPercentile,  // always the 1st-99th percentile of the frame's rescaled values
};

struct DecodeOptions {
  uint64_t max_pixels = 100000000;  // rows * columns * frames * samples, checked before decoding
  WindowMode window = WindowMode::kFile;
  // Called once the data set is parsed, before the pixels are decoded (the decoder process
  // raises its memory limit there).
  void (*after_parse)(const DecodeOptions&) = nullptr;
};

// One frame as an intensity image: `channels` (1 or 3) planes of rows * cols floats in [0, 1],
// channel-major (CHW).
struct DecodedImage {
  uint32_t channels = 0;
  uint32_t rows = 0;
  uint32_t cols = 0;
  std::vector<float> pixels;
};

// Silences GDCM's own warning/error/debug output (process-wide, idempotent).
void QuietGdcm();

// Decodes the middle frame of a DICOM file (a multi-frame object embeds its middle frame):
// rescale slope/intercept, VOI window, MONOCHROME1 inversion, PALETTE COLOR through its LUT,
// YBR to RGB. Throws std::runtime_error with a clear message (without the input's index).
// When `description` is given, it also receives Describe()'s JSON of the file.
DecodedImage DecodeImage(const uint8_t* data, size_t size, const DecodeOptions& options,
                         std::string* description = nullptr, bool keep_identifying = false);

// The searchable header attributes of a DICOM file as a JSON object (see dicom_plugin.cc for
// the keys). Identifying attributes are left out, and scrubbed from the free-text ones, unless
// keep_identifying. Reads the header only (stops at the pixel data), so a file truncated in its
// pixel data is still described.
std::string Describe(const uint8_t* data, size_t size, bool keep_identifying);

}  // namespace dicom
}  // namespace reco
