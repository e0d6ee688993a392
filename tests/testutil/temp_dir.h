// A fresh directory under $TMPDIR, removed with everything in it when the object goes.
#pragma once

#include <cstdlib>
#include <string>

#include <boost/filesystem.hpp>

namespace reco {
namespace testing {

class TempDir {
 public:
  TempDir() {
    namespace fs = boost::filesystem;
    path_ = (fs::temp_directory_path() / fs::unique_path("reco-test-%%%%-%%%%-%%%%")).string();
    fs::create_directories(path_);
  }
  ~TempDir() {
    boost::system::error_code ec;
    boost::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace testing
}  // namespace reco
