// Small LibTorch helpers every built-in plugin uses: the thread setting, error messages,
// fingerprint formatting and the checked, L2-normalised copy of a model's output rows.
// Header-only; every plugin compiles its own hidden copy.
#pragma once

#include <torch/script.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>

namespace reco {
namespace plugin_common {

// The engine's worker threads provide the parallelism; one intra-op thread per call.
inline void SetTorchThreadsOnce() {
  static std::once_flag once;
  std::call_once(once, [] { at::set_num_threads(1); });
}

// A torch error message without C++ backtrace; of an error raised inside a TorchScript model,
// only the final line (the TorchScript traceback before it names the model's source lines).
inline std::string TrimTorchMessage(std::string m) {
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  if (m.rfind("The following operation failed in the TorchScript interpreter", 0) == 0) {
    const size_t nl = m.rfind('\n');
    if (nl != std::string::npos) m = m.substr(nl + 1);
  }
  return m;
}
inline std::string TorchMessage(const c10::Error& e) {
  return TrimTorchMessage(e.what_without_backtrace());
}

// 16 lower-case hex digits.
inline std::string Hex64(uint64_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[i] = digits[v & 0xf];
  return s;
}

// Copies the rows of t (rows x dim floats, contiguous, CPU) into out, L2-normalised; a row with
// NaN/Inf or of zero length is refused, naming the input (first + row).
inline void WriteNormalizedRows(const at::Tensor& t, uint32_t dim, size_t first, float* out) {
  const float* src = t.data_ptr<float>();
  for (int64_t r = 0; r < t.size(0); ++r) {
    const float* row = src + r * dim;
    double ss = 0.0;
    for (uint32_t c = 0; c < dim; ++c) {
      if (!std::isfinite(row[c])) {
        throw std::runtime_error("input " + std::to_string(first + r) +
                                 ": model output contains NaN or Inf");
      }
      ss += double{row[c]} * row[c];
    }
    if (!(ss > 0.0)) {
      throw std::runtime_error("input " + std::to_string(first + r) +
                               ": model output is a zero vector");
    }
    const double inv = 1.0 / std::sqrt(ss);
    float* dst = out + r * dim;
    for (uint32_t c = 0; c < dim; ++c) dst[c] = static_cast<float>(row[c] * inv);
  }
}

}  // namespace plugin_common
}  // namespace reco
