// Reading a model file whole, and loading a TorchScript module from bytes already in memory
// (the plugins hash the bytes for their fingerprint, so they read them anyway). Header-only;
// every plugin compiles its own hidden copy.
#pragma once

#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/script.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace reco {
namespace plugin_common {

// Reads a whole file into *bytes with one sized read. False with *error set ("is a
// directory", "cannot open: <errno text>", "cannot read") otherwise.
inline bool ReadWholeFile(const std::string& path, std::string* bytes, std::string* error) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    *error = "is a directory, not a file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = std::string("cannot open: ") + std::strerror(errno);
    return false;
  }
  const std::streamoff size = in.seekg(0, std::ios::end).tellg();
  bytes->clear();
  if (size > 0) {
    bytes->resize(static_cast<size_t>(size));
    in.seekg(0, std::ios::beg).read(bytes->data(), size);
  }
  if (size < 0 || in.gcount() != std::max<std::streamoff>(size, 0) || in.bad()) {
    *error = "cannot read";
    return false;
  }
  return true;
}

// Lets LibTorch read a TorchScript archive straight out of a string the caller keeps alive
// for the duration of the load (an istringstream would copy it once more).
class BytesReadAdapter final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BytesReadAdapter(const std::string& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    const size_t count = std::min<size_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, count);
    return count;
  }

 private:
  const std::string& bytes_;
};

// torch::jit::load from bytes on the CPU; throws what torch::jit::load throws.
inline torch::jit::Module LoadModule(const std::string& bytes) {
  return torch::jit::load(std::make_shared<BytesReadAdapter>(bytes), torch::kCPU);
}

}  // namespace plugin_common
}  // namespace reco
