// reco_dicom_decoder: the dicom plugin's decoder process (see decoder_process.h). It serves
// requests on the socket it gets as file descriptor 0 (decoder_protocol.h) with the same
// DecodeImage()/Describe() the plugin would run in process, until the socket is closed.
//
// It is built as a separate executable only to be embedded in reco_dicom.so; it links GDCM but
// not LibTorch, so it starts in milliseconds.
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "decoder_protocol.h"
#include "dicom_decode.h"

namespace {

using reco::dicom::DecodedImage;
using reco::dicom::DecodeOptions;

constexpr int kSocket = 0;

bool ReadAll(void* data, size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t k = read(kSocket, p, size);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    size -= static_cast<size_t>(k);
  }
  return true;
}

template <class T>
bool ReadValue(T* v) {
  return ReadAll(v, sizeof(T));
}

bool WriteAll(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t k = write(kSocket, p, size);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    size -= static_cast<size_t>(k);
  }
  return true;
}

template <class T>
bool WriteValue(T v) {
  return WriteAll(&v, sizeof(T));
}

bool WriteText(char kind, const std::string& text) {
  return WriteValue(kind) && WriteValue(static_cast<uint32_t>(text.size())) &&
         WriteAll(text.data(), text.size());
}

bool ReadInput(std::string* bytes) {
  uint64_t size = 0;
  if (!ReadValue(&size) || size > reco::dicom::kMaxInputBytes) return false;
  bytes->resize(size);
  return ReadAll(bytes->data(), size);
}

const uint8_t* Data(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// The decoder's current address-space size in bytes (0 when unknown).
uint64_t AddressSpace() {
  unsigned long long pages = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  const int n = std::fscanf(f, "%llu", &pages);
  std::fclose(f);
  return n == 1 ? pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

// Bounds the address space for the next request to what it can need (`budget` more bytes), so
// that a corrupt length field that makes GDCM allocate gigabytes fails at once (std::bad_alloc,
// reported as a corrupt file) rather than zero-filling them for seconds.
void LimitMemory(uint64_t budget) {
  const uint64_t base = AddressSpace();
  if (base == 0) return;
  struct rlimit r;
  if (getrlimit(RLIMIT_AS, &r) != 0) return;
  rlim_t want = static_cast<rlim_t>(base + budget);
  if (r.rlim_max != RLIM_INFINITY && want > r.rlim_max) want = r.rlim_max;
  r.rlim_cur = want;
  setrlimit(RLIMIT_AS, &r);
}

constexpr uint64_t kBaseBudget = 256ull << 20;

// Parsing one input holds GDCM's copy of it; decoding its pixels, a few buffers per pixel value
// (the decoded frames, the frame as integers and doubles, the output floats).
uint64_t ParseBudget(uint64_t input_bytes) { return kBaseBudget + 3 * input_bytes; }
uint64_t DecodeBudget(uint64_t input_bytes, uint64_t max_pixels) {
  return ParseBudget(input_bytes) + 40 * max_pixels;
}

uint64_t current_input_bytes = 0;

void RaiseForPixels(const DecodeOptions& options) {
  LimitMemory(DecodeBudget(current_input_bytes, options.max_pixels));
}

bool ServeDecode() {
  DecodeOptions options;
  uint8_t window = 0, keep = 0;
  uint32_t n = 0;
  if (!ReadValue(&options.max_pixels) || !ReadValue(&window) || !ReadValue(&keep) ||
      !ReadValue(&n) || window > 2) {
    return false;
  }
  options.window = static_cast<reco::dicom::WindowMode>(window);
  options.after_parse = &RaiseForPixels;
  LimitMemory(~0ull >> 2);  // reading the request is bounded by the plugin
  std::vector<std::string> inputs(n);
  for (std::string& in : inputs) {
    if (!ReadInput(&in)) return false;
  }
  for (const std::string& in : inputs) {
    DecodedImage image;
    std::string description;
    current_input_bytes = in.size();
    LimitMemory(ParseBudget(in.size()));
    try {
      image = reco::dicom::DecodeImage(Data(in), in.size(), options, &description, keep != 0);
    } catch (const std::exception& e) {
      return WriteText(reco::dicom::kReplyError, e.what());
    } catch (...) {
      return WriteText(reco::dicom::kReplyError, "unknown error");
    }
    if (!WriteValue(reco::dicom::kReplyImage) || !WriteValue(image.channels) ||
        !WriteValue(image.rows) || !WriteValue(image.cols) ||
        !WriteAll(image.pixels.data(), image.pixels.size() * sizeof(float)) ||
        !WriteValue(static_cast<uint32_t>(description.size())) ||
        !WriteAll(description.data(), description.size())) {
      return false;
    }
  }
  return true;
}

bool ServeDescribe() {
  uint8_t keep = 0;
  std::string in;
  LimitMemory(~0ull >> 2);
  if (!ReadValue(&keep) || !ReadInput(&in)) return false;
  LimitMemory(ParseBudget(in.size()));
  try {
    return WriteText(reco::dicom::kReplyText, reco::dicom::Describe(Data(in), in.size(), keep));
  } catch (const std::exception& e) {
    return WriteText(reco::dicom::kReplyError, e.what());
  } catch (...) {
    return WriteText(reco::dicom::kReplyError, "unknown error");
  }
}

}  // namespace

int main() {
  reco::dicom::QuietGdcm();
  if (!WriteValue(reco::dicom::kReplyReady)) return 1;
  for (char op = 0; ReadValue(&op);) {
    const bool ok = op == reco::dicom::kRequestDecode     ? ServeDecode()
                    : op == reco::dicom::kRequestDescribe ? ServeDescribe()
                                                          : false;
    if (!ok) return 1;
  }
  return 0;
}
