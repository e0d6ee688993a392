// Tests of the built-in DICOM plugin: the real reco_dicom.so, loaded with dlopen() and driven
// through the plugin C ABI only (reco/plugin_abi.h).
//
// The corpus is the set of real DICOM files Debian's python3-pydicom ships (installed by
// tools/setup). The test uses GDCM itself only to read the identifying values of those files
// (in a forked child: GDCM aborts on some of them) and to write synthetic and altered images,
// and LibTorch only to build user TorchScript models.
#include <dlfcn.h>
#include <fcntl.h>
#include <gdcmDataElement.h>
#include <gdcmDataSet.h>
#include <gdcmFile.h>
#include <gdcmImage.h>
#include <gdcmImageWriter.h>
#include <gdcmPhotometricInterpretation.h>
#include <gdcmPixelFormat.h>
#include <gdcmReader.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>
#include <gdcmWriter.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <torch/script.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "reco/plugin_abi.h"
#include "testutil/plugin_table.h"

namespace {

namespace fs = std::filesystem;

constexpr const char* kPydicomDir = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
constexpr uint32_t kDim = 936;

const reco_plugin_v1* Api() {
  static const reco_plugin_v1* api = reco::testing::LoadPluginTable("reco_dicom.so");
  return api;
}

std::string CreateError() { return Api()->last_error(nullptr); }

// One plugin instance, destroyed at scope exit.
class Instance : public reco::testing::PluginInstance {
 public:
  explicit Instance(const std::string& config = "{}")
      : PluginInstance(Api(), config, "application/dicom") {}
  // describe(): true and the JSON, or false and the error in *json.
  bool Describe(const std::string& file, std::string* json) {
    return PluginInstance::Describe(file, json) == RECO_OK;
  }
};

double Dot(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += double{a[i]} * b[i];
  return s;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string Pydicom(const std::string& name) {
  return ReadBytes(std::string(kPydicomDir) + "/" + name);
}

bool HavePydicom() {
  if (fs::is_directory(kPydicomDir)) return true;
  ADD_FAILURE() << kPydicomDir
                << " is missing: run tools/setup (it installs python3-pydicom, whose test files "
                   "are this test's DICOM corpus)";
  return false;
}

// A temporary directory removed with its files at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "reco_dicom_test_XXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// ---------------------------------------------------------------------------------------------
// GDCM helpers.

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  size_t b = 0;
  while (b < s.size() && s[b] == ' ') ++b;
  return s.substr(b);
}

std::string StringOf(const gdcm::DataSet& ds, uint16_t g, uint16_t e) {
  const gdcm::Tag t(g, e);
  if (!ds.FindDataElement(t)) return std::string();
  const gdcm::ByteValue* bv = ds.GetDataElement(t).GetByteValue();
  return bv ? Trimmed(std::string(bv->GetPointer(), bv->GetLength())) : std::string();
}

// What the test reads from a file with GDCM: its identifying values and Modality.
struct Facts {
  bool read = false;  // false: GDCM could not parse it (or aborted)
  std::vector<std::string> identifying;
  std::string patient_name;
  std::string modality;
};

// The facts of one file, read in this (child) process.
std::string FactsRecord(const std::string& path) {
  gdcm::Reader r;
  r.SetFileName(path.c_str());
  r.Read();  // a partial data set is fine: it is what the plugin sees too
  const gdcm::DataSet& ds = r.GetFile().GetDataSet();
  const gdcm::DataSet& meta = r.GetFile().GetHeader();
  std::string out;
  const auto put = [&](const std::string& s) { out += s + '\0'; };
  put(StringOf(ds, 0x0010, 0x0010));  // patient name
  put(StringOf(ds, 0x0008, 0x0060));  // modality
  for (auto [g, e] : std::vector<std::pair<uint16_t, uint16_t>>{{0x0010, 0x0010},
                                                                {0x0010, 0x0020},
                                                                {0x0010, 0x0030},
                                                                {0x0020, 0x000d},
                                                                {0x0020, 0x000e},
                                                                {0x0008, 0x0018},
                                                                {0x0008, 0x0020},
                                                                {0x0008, 0x0050}}) {
    put(StringOf(ds, g, e));
  }
  put(StringOf(meta, 0x0002, 0x0003));
  return out;
}

Facts ParseFacts(const std::string& record) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : record) {
    if (c == '\0') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  Facts facts;
  if (parts.size() < 2) return facts;
  facts.read = true;
  facts.patient_name = parts[0];
  facts.modality = parts[1];
  for (size_t i = 2; i < parts.size(); ++i) {
    // Values of 4+ characters: shorter ones ("ID1") occur by chance in any text.
    if (parts[i].size() >= 4) facts.identifying.push_back(parts[i]);
    if (i == 2) {  // and each component of the patient's name
      std::stringstream ss(parts[i]);
      for (std::string c; std::getline(ss, c, '^');) {
        if (Trimmed(c).size() >= 4) facts.identifying.push_back(Trimmed(c));
      }
    }
  }
  return facts;
}

// Reads the files' identifying values with GDCM in forked children, since GDCM's parser aborts
// on some files (an assertion in Debian's build): a child reads files in order and sends one
// length-prefixed record each; when it dies, the file it was on gets no facts and a new child
// carries on after it.
std::vector<Facts> ReadFacts(const std::vector<std::string>& paths) {
  std::vector<Facts> facts(paths.size());
  size_t next = 0;
  while (next < paths.size()) {
    int fds[2];
    if (pipe(fds) != 0) break;
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      const int devnull = open("/dev/null", O_WRONLY);
      if (devnull >= 0) dup2(devnull, STDERR_FILENO);
      signal(SIGABRT, SIG_DFL);
      gdcm::Trace::SetWarning(false);
      gdcm::Trace::SetError(false);
      for (size_t i = next; i < paths.size(); ++i) {
        const std::string rec = FactsRecord(paths[i]);
        const uint32_t len = static_cast<uint32_t>(rec.size());
        if (write(fds[1], &len, 4) != 4 ||
            write(fds[1], rec.data(), rec.size()) != static_cast<ssize_t>(rec.size())) {
          _exit(1);
        }
      }
      _exit(0);
    }
    close(fds[1]);
    FILE* in = fdopen(fds[0], "rb");
    uint32_t len = 0;
    while (next < paths.size() && fread(&len, 4, 1, in) == 1) {
      std::string rec(len, '\0');
      if (len > 0 && fread(rec.data(), len, 1, in) != 1) break;
      facts[next++] = ParseFacts(rec);
    }
    fclose(in);
    int status = 0;
    waitpid(pid, &status, 0);
    if (next < paths.size()) ++next;  // the child died on paths[next]: it keeps no facts
  }
  return facts;
}

void SetText(gdcm::DataSet* ds, uint16_t g, uint16_t e, gdcm::VR vr, std::string value) {
  if (value.size() % 2) value += vr == gdcm::VR::UI ? '\0' : ' ';
  gdcm::DataElement de(gdcm::Tag(g, e));
  de.SetVR(vr);
  de.SetByteValue(value.data(), static_cast<uint32_t>(value.size()));
  ds->Replace(de);
}

// A synthetic 16-bit monochrome MR image written with gdcm::ImageWriter.
struct Synthetic {
  uint16_t rows = 64;
  uint16_t cols = 64;
  std::vector<uint16_t> pixels;
  bool monochrome1 = false;
  double slope = 1.0;
  double intercept = 0.0;
  std::string window_center, window_width;  // none when empty
  std::string patient_name = "Synthetic^Patient";
  std::string series_description;
};

std::string Write(const Synthetic& s) {
  gdcm::ImageWriter w;
  gdcm::Image& im = w.GetImage();
  im.SetNumberOfDimensions(2);
  im.SetDimension(0, s.cols);
  im.SetDimension(1, s.rows);
  im.SetPixelFormat(gdcm::PixelFormat(1, 16, 16, 15, 0));
  im.SetPhotometricInterpretation(s.monochrome1 ? gdcm::PhotometricInterpretation::MONOCHROME1
                                                : gdcm::PhotometricInterpretation::MONOCHROME2);
  im.SetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  im.SetSlope(s.slope);
  im.SetIntercept(s.intercept);
  gdcm::DataElement px(gdcm::Tag(0x7fe0, 0x0010));
  px.SetVR(gdcm::VR::OW);
  px.SetByteValue(reinterpret_cast<const char*>(s.pixels.data()),
                  static_cast<uint32_t>(s.pixels.size() * 2));
  im.SetDataElement(px);
  gdcm::DataSet& ds = w.GetFile().GetDataSet();
  SetText(&ds, 0x0008, 0x0016, gdcm::VR::UI, "1.2.840.10008.5.1.4.1.1.4");  // MR Image Storage
  SetText(&ds, 0x0008, 0x0060, gdcm::VR::CS, "MR");
  SetText(&ds, 0x0010, 0x0010, gdcm::VR::PN, s.patient_name);
  if (!s.series_description.empty()) {
    SetText(&ds, 0x0008, 0x103e, gdcm::VR::LO, s.series_description);
  }
  if (!s.window_center.empty()) {
    SetText(&ds, 0x0028, 0x1050, gdcm::VR::DS, s.window_center);
    SetText(&ds, 0x0028, 0x1051, gdcm::VR::DS, s.window_width);
  }
  std::ostringstream out;
  w.SetStream(out);
  EXPECT_TRUE(w.Write()) << "gdcm::ImageWriter failed";
  return out.str();
}

// A smooth 64x64 pattern with some texture, values in [0, 2000], even.
std::vector<uint16_t> Pattern(uint16_t rows = 64, uint16_t cols = 64) {
  std::vector<uint16_t> v(size_t{rows} * cols);
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      const double r = std::hypot(x - cols * 0.4, y - rows * 0.55) / cols;
      double f = 1000 + 800 * std::cos(6.0 * r) + 150 * std::sin(0.9 * x) * std::cos(0.7 * y);
      f = std::min(2000.0, std::max(0.0, f));
      v[size_t(y) * cols + x] = static_cast<uint16_t>(2 * std::lround(f / 2));
    }
  }
  return v;
}

// A copy of a file (native pixel data) with `edit` applied to its data set.
template <class Edit>
std::string Altered(const std::string& name, Edit edit) {
  gdcm::Reader r;
  const std::string path = std::string(kPydicomDir) + "/" + name;
  r.SetFileName(path.c_str());
  EXPECT_TRUE(r.Read()) << path;
  // gdcm::Writer keeps a reference-counted pointer to the file: it must live on the heap.
  gdcm::SmartPointer<gdcm::File> file = new gdcm::File(r.GetFile());
  edit(&file->GetDataSet());
  gdcm::Writer w;
  w.SetFile(*file);
  std::ostringstream out;
  w.SetStream(out);
  EXPECT_TRUE(w.Write()) << "gdcm::Writer failed for " << name;
  return out.str();
}

// Adds Gaussian noise of `sigma` stored units to 16-bit native pixel data.
void AddNoise(gdcm::DataSet* ds, double sigma, bool is_signed) {
  const gdcm::DataElement& de = ds->GetDataElement(gdcm::Tag(0x7fe0, 0x0010));
  const gdcm::ByteValue* bv = de.GetByteValue();
  ASSERT_NE(bv, nullptr);
  std::vector<uint8_t> bytes(bv->GetPointer(), bv->GetPointer() + bv->GetLength());
  std::mt19937 rng(1234);
  std::normal_distribution<double> noise(0.0, sigma);
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    const int v = is_signed ? static_cast<int16_t>(bytes[i] | bytes[i + 1] << 8)
                            : static_cast<uint16_t>(bytes[i] | bytes[i + 1] << 8);
    const long n = std::lround(v + noise(rng));
    const long c =
        is_signed ? std::min(32767L, std::max(-32768L, n)) : std::min(65535L, std::max(0L, n));
    bytes[i] = static_cast<uint8_t>(c & 0xff);
    bytes[i + 1] = static_cast<uint8_t>((c >> 8) & 0xff);
  }
  gdcm::DataElement out(de.GetTag());
  out.SetVR(gdcm::VR::OW);
  out.SetByteValue(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<uint32_t>(bytes.size()));
  ds->Replace(out);
}

// ---------------------------------------------------------------------------------------------
// The pydicom corpus and what each file must give.

enum class Outcome { kEmbed, kNoPixels, kRefused };

struct Expectation {
  Outcome outcome;
  const char* error;   // a substring of the error
  const char* reason;  // why (for refused files)
};

// Files (paths relative to the corpus; a trailing '/' matches a folder) that do not embed.
// Every other file must embed.
const std::map<std::string, Expectation>& Expectations() {
  static const std::map<std::string, Expectation> m = {
      // No pixel data: structured reports, RT objects, waveforms, directories, stubs.
      {"ExplVR_BigEndNoMeta.dcm", {Outcome::kNoPixels, "RT Ion Plan Storage", "RT Ion Plan"}},
      {"ExplVR_LitEndNoMeta.dcm", {Outcome::kNoPixels, "RT Ion Plan Storage", "RT Ion Plan"}},
      {"UN_sequence.dcm", {Outcome::kNoPixels, "", "one private sequence"}},
      {"empty_charset_LEI.dcm", {Outcome::kNoPixels, "", "character set stub"}},
      {"no_meta_group_length.dcm", {Outcome::kNoPixels, "RT Image Storage", "header stub"}},
      {"priv_SQ.dcm", {Outcome::kNoPixels, "", "private sequence stub"}},
      {"reportsi.dcm", {Outcome::kNoPixels, "Basic Text SR Storage", "structured report"}},
      {"reportsi_with_empty_number_tags.dcm",
       {Outcome::kNoPixels, "Basic Text SR Storage", "structured report"}},
      {"rtplan.dcm", {Outcome::kNoPixels, "RT Plan Storage", "RT plan"}},
      {"rtstruct.dcm", {Outcome::kNoPixels, "RT Structure Set Storage", "RT structure set"}},
      {"test-SR.dcm", {Outcome::kNoPixels, "Comprehensive SR Storage", "structured report"}},
      {"waveform_ecg.dcm", {Outcome::kNoPixels, "ECG Waveform Storage", "ECG waveform"}},
      {"dicomdirtests/DICOMDIR",
       {Outcome::kNoPixels, "Media Storage Directory Storage", "DICOMDIR"}},
      {"dicomdirtests/DICOMDIR-bigEnd",
       {Outcome::kNoPixels, "Media Storage Directory Storage", "DICOMDIR"}},
      {"dicomdirtests/DICOMDIR-empty.dcm",
       {Outcome::kNoPixels, "Media Storage Directory Storage", "DICOMDIR"}},
      {"dicomdirtests/DICOMDIR-implicit",
       {Outcome::kNoPixels, "Media Storage Directory Storage", "DICOMDIR"}},
      {"dicomdirtests/DICOMDIR-nopatient",
       {Outcome::kNoPixels, "Media Storage Directory Storage", "DICOMDIR"}},
      {"dicomdirtests/DICOMDIR-reordered",
       {Outcome::kNoPixels, "Media Storage Directory Storage", "DICOMDIR"}},
      {"dicomdirtests/TINY_ALPHA/DICOMDIR",
       {Outcome::kNoPixels, "Media Storage Directory Storage", "DICOMDIR"}},
      {"dicomdirtests/TINY_ALPHA/PT000000/",
       {Outcome::kNoPixels, "CT Image Storage",
        "pydicom's minimal File-set: CT instances without pixel data"}},
      // Deliberately broken files, and ones GDCM cannot read.
      {"JPEG2000-embedded-sequence-delimiter.dcm",
       {Outcome::kRefused, "cannot decode the JPEG 2000",
        "4 bytes of the JPEG 2000 stream overwritten with a sequence delimiter (pydicom #1140)"}},
      {"MR_truncated.dcm", {Outcome::kRefused, "truncated", "pixel data cut short"}},
      {"rtplan_truncated.dcm", {Outcome::kRefused, "truncated", "data set cut short"}},
      {"badVR.dcm", {Outcome::kRefused, "Number of Frames", "Number of Frames is '1A'"}},
      {"meta_missing_tsyntax.dcm",
       {Outcome::kRefused, "corrupt DICOM file",
        "File Meta Information without a Transfer Syntax UID: GDCM cannot parse the data set"}},
      {"no_meta.dcm",
       {Outcome::kRefused, "not a DICOM file",
        "no File Meta Information and a stray byte before the data set: GDCM cannot parse it"}},
      {"nested_priv_SQ.dcm",
       {Outcome::kRefused, "Rows", "a 2-byte Pixel Data element and no image attributes"}},
      {"dicomdirtests/DICOMDIR-nooffset",
       {Outcome::kRefused, "crashed",
        "DICOMDIR with offsets removed: GDCM's parser aborts (assertion), the plugin's decoder "
        "process absorbs it"}},
      {"README.txt", {Outcome::kRefused, "not a DICOM file", "text"}},
      {"rtplan.dump", {Outcome::kRefused, "not a DICOM file", "text dump"}},
      {"rtstruct.dump", {Outcome::kRefused, "not a DICOM file", "text dump"}},
      {"test1.json", {Outcome::kRefused, "not a DICOM file", "DICOM JSON, not Part 10"}},
      {"test_PN.json", {Outcome::kRefused, "not a DICOM file", "DICOM JSON, not Part 10"}},
      {"zipMR.gz", {Outcome::kRefused, "not a DICOM file", "gzip archive"}},
      {"dicomdirtests/README.txt", {Outcome::kRefused, "not a DICOM file", "text"}},
      {"dicomdirtests/TINY_ALPHA/README", {Outcome::kRefused, "not a DICOM file", "Python"}},
  };
  return m;
}

Expectation ExpectationFor(const std::string& rel) {
  const auto& m = Expectations();
  if (auto it = m.find(rel); it != m.end()) return it->second;
  for (const auto& [key, e] : m) {
    if (!key.empty() && key.back() == '/' && rel.rfind(key, 0) == 0) return e;
  }
  return {Outcome::kEmbed, "", ""};
}

// Every regular file of the corpus, relative paths, sorted.
std::vector<std::string> CorpusFiles() {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(kPydicomDir)) {
    if (e.is_regular_file()) files.push_back(fs::relative(e.path(), kPydicomDir).string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// ---------------------------------------------------------------------------------------------

TEST(DicomPlugin, ExportsOnlyTheEntryAndDescribesItself) {
  const reco_plugin_v1* api = Api();
  ASSERT_NE(api, nullptr);
  EXPECT_GE(api->struct_size, RECO_PLUGIN_V1_MIN_SIZE);
  EXPECT_EQ(RECO_PLUGIN_ABI_MAJOR_OF(api->abi_version), RECO_PLUGIN_ABI_MAJOR);
  EXPECT_STREQ(api->name, "dicom");
  EXPECT_STREQ(api->version, "1.0.0");
  EXPECT_STREQ(api->modality, "dicom");
  EXPECT_STREQ(api->content_types, "application/dicom");
  EXPECT_EQ(api->default_dim, kDim);
  ASSERT_TRUE(RECO_PLUGIN_HAS(api, describe));
  ASSERT_NE(api->describe, nullptr);

  void* self =
      dlopen((std::string(RECO_PLUGIN_DIR) + "/reco_dicom.so").c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(self, nullptr);
  // The decoder and the embedded decoder executable are compiled in but not visible outside.
  EXPECT_EQ(dlsym(self, "_ZN4reco5dicom9QuietGdcmEv"), nullptr);
  EXPECT_EQ(dlsym(self, "_ZN4reco5dicom8DescribeB5cxx11EPKhmb"), nullptr);
  EXPECT_EQ(dlsym(self, "reco_dicom_decoder_begin"), nullptr);
  dlclose(self);  // drops the NOLOAD reference only
}

TEST(DicomPlugin, DefaultInstanceAndCreationTime) {
  const auto t0 = std::chrono::steady_clock::now();
  Instance inst;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(inst.ok()) << CreateError();
  EXPECT_EQ(inst.dim(), kDim);
  EXPECT_EQ(inst.fingerprint(), "dicom-default-v1:input_size=256,window=file");
  std::cout << "[ perf     ] create (default model): " << secs * 1000 << " ms\n";
  Instance small(R"({"input_size": 64, "window": "percentile"})");
  ASSERT_TRUE(small.ok()) << CreateError();
  EXPECT_EQ(small.dim(), kDim);
  EXPECT_EQ(small.fingerprint(), "dicom-default-v1:input_size=64,window=percentile");
}

TEST(DicomPlugin, RefusesBadOptions) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"[]", "JSON object"},
      {R"({"colour": "1"})", "unknown option \"colour\""},
      {R"({"channels": "1"})", "apply only with \"model\""},
      {R"({"input_size": "8"})", "\"input_size\" must be in [16, 2048]"},
      {R"({"window": "soft"})", "\"window\" must be"},
      {R"({"keep_identifying": "yes"})", "\"keep_identifying\" must be true or false"},
      {R"({"max_pixels": "0"})", "\"max_pixels\""},
      {R"({"model": "/nonexistent/model.pt"})", "/nonexistent/model.pt"},
  };
  for (const auto& [config, message] : cases) {
    Instance inst(config);
    EXPECT_FALSE(inst.ok()) << config;
    EXPECT_NE(CreateError().find(message), std::string::npos) << config << ": " << CreateError();
  }
}

// Every file of the pydicom corpus has an asserted outcome: embeds (unit norm, finite), "no
// pixel data" with its SOP class, or a listed refusal with its reason. describe() never shows
// identifying values (nor do errors), and gives rows/columns/modality for images.
TEST(DicomPlugin, PydicomCorpus) {
  if (!HavePydicom()) return;
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  size_t embedded = 0, no_pixels = 0, refused = 0;
  std::vector<std::string> refusals;
  const std::vector<std::string> files = CorpusFiles();
  std::vector<std::string> paths;
  for (const std::string& rel : files) paths.push_back(std::string(kPydicomDir) + "/" + rel);
  const std::vector<Facts> all_facts = ReadFacts(paths);
  for (size_t f = 0; f < files.size(); ++f) {
    const std::string& rel = files[f];
    const Facts& facts = all_facts[f];
    SCOPED_TRACE(rel);
    const std::string bytes = ReadBytes(std::string(kPydicomDir) + "/" + rel);
    const Expectation want = ExpectationFor(rel);
    std::vector<float> v;
    const int rc = inst.Embed({bytes}, &v);
    const std::string error = rc == RECO_OK ? std::string() : inst.error();
    switch (want.outcome) {
      case Outcome::kEmbed: {
        ASSERT_EQ(rc, RECO_OK) << error;
        for (float x : v) ASSERT_TRUE(std::isfinite(x));
        EXPECT_NEAR(Dot(v.data(), v.data(), kDim), 1.0, 1e-4);
        ++embedded;
        break;
      }
      case Outcome::kNoPixels:
        ASSERT_EQ(rc, RECO_ERROR);
        EXPECT_EQ(error.rfind("input 0: no pixel data (SOP class ", 0), 0u) << error;
        EXPECT_NE(error.find(want.error), std::string::npos) << error;
        ++no_pixels;
        break;
      case Outcome::kRefused:
        ASSERT_EQ(rc, RECO_ERROR) << "expected a refusal: " << want.reason;
        EXPECT_EQ(error.rfind("input 0: ", 0), 0u) << error;
        EXPECT_NE(error.find(want.error), std::string::npos) << error;
        refusals.push_back(rel + " (" + want.reason + "): " + error);
        ++refused;
        break;
    }

    std::string json;
    const bool described = inst.Describe(bytes, &json);
    if (want.outcome == Outcome::kEmbed) {
      ASSERT_TRUE(described) << json;
      const nlohmann::json j = nlohmann::json::parse(json);
      ASSERT_TRUE(j.is_object());
      EXPECT_TRUE(j.contains("rows") && j["rows"].is_number()) << json;
      EXPECT_TRUE(j.contains("columns") && j["columns"].is_number()) << json;
      EXPECT_TRUE(j.contains("frames")) << json;
      EXPECT_TRUE(j.contains("transfer_syntax")) << json;
      if (facts.read && !facts.modality.empty()) {
        EXPECT_EQ(j.value("modality", std::string()), facts.modality) << json;
      }
      EXPECT_FALSE(j.contains("patient_name")) << json;
    }
    if (described) {
      EXPECT_TRUE(nlohmann::json::parse(json).is_object()) << json;
    }
    for (const std::string& id : facts.identifying) {
      EXPECT_EQ(json.find(id), std::string::npos) << "describe() shows '" << id << "': " << json;
      EXPECT_EQ(error.find(id), std::string::npos) << "error shows '" << id << "': " << error;
    }
  }
  std::cout << "[ corpus   ] " << embedded << " embedded, " << no_pixels << " without pixel data, "
            << refused << " refused\n";
  for (const std::string& r : refusals) std::cout << "[ refused  ] " << r << "\n";
  EXPECT_GE(embedded, 70u);
  EXPECT_GE(no_pixels, 60u);
}

// The same image in different transfer syntaxes embeds to (nearly) the same vector.
TEST(DicomPlugin, EncodingsOfOneImageAgree) {
  if (!HavePydicom()) return;
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  // Lossless encodings agree exactly (up to float rounding); lossy JPEG ones nearly.
  const std::vector<std::pair<double, std::vector<std::string>>> groups = {
      {0.9999,
       {"MR_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm",
        "MR_small_implicit.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_padded.dcm"}},
      {0.9999,
       {"SC_rgb_rle.dcm", "SC_rgb_rle_16bit.dcm", "SC_rgb_rle_32bit.dcm", "SC_rgb_gdcm_KY.dcm",
        "SC_rgb_jpeg_gdcm.dcm"}},
      {0.99,
       {"SC_rgb_rle.dcm", "SC_rgb_dcmtk_+eb+cr.dcm", "SC_rgb_dcmtk_+eb+cy+n1.dcm",
        "SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_dcmtk_+eb+cy+s2.dcm", "SC_rgb_jpeg_lossy_gdcm.dcm",
        "SC_rgb_jpeg_dcmtk.dcm", "SC_ybr_full_422_uncompressed.dcm"}},
      {0.9999,
       {"SC_rgb_rle_2frame.dcm", "SC_rgb_rle_16bit_2frame.dcm", "SC_rgb_rle_32bit_2frame.dcm"}},
      {0.9999, {"rtdose.dcm", "rtdose_expb.dcm", "rtdose_rle.dcm"}},
      {0.9999, {"rtdose_1frame.dcm", "rtdose_expb_1frame.dcm", "rtdose_rle_1frame.dcm"}},
      {0.9999, {"liver_1frame.dcm", "liver_expb_1frame.dcm"}},
      {0.9999, {"JPEG-lossy.dcm", "JPGExtended.dcm"}},
  };
  for (const auto& [threshold, group] : groups) {
    std::vector<std::string> files;
    for (const std::string& name : group) files.push_back(Pydicom(name));
    const std::vector<float> v = inst.EmbedOk(files);
    ASSERT_EQ(v.size(), files.size() * kDim);
    for (size_t i = 1; i < files.size(); ++i) {
      EXPECT_GT(Dot(v.data(), v.data() + i * kDim, kDim), threshold)
          << group[0] << " vs " << group[i];
    }
  }
  // The middle frame of a two-frame object is its second frame, not its first.
  const std::vector<float> two =
      inst.EmbedOk({Pydicom("SC_rgb_rle.dcm"), Pydicom("SC_rgb_rle_2frame.dcm")});
  EXPECT_LT(Dot(two.data(), two.data() + kDim, kDim), 0.99);
  // And in-process decoding gives the same vectors as the decoder process.
  Instance direct(R"({"isolate": false})");
  ASSERT_TRUE(direct.ok()) << CreateError();
  const std::vector<std::string> some = {Pydicom("CT_small.dcm"), Pydicom("SC_rgb_rle.dcm"),
                                         Pydicom("J2K_pixelrep_mismatch.dcm")};
  EXPECT_EQ(direct.EmbedOk(some), inst.EmbedOk(some));
}

TEST(DicomPlugin, KeepIdentifyingShowsThePatient) {
  if (!HavePydicom()) return;
  const std::string ct = Pydicom("CT_small.dcm");
  Instance plain;
  Instance keep(R"({"keep_identifying": "true"})");
  ASSERT_TRUE(plain.ok() && keep.ok()) << CreateError();
  std::string a, b;
  ASSERT_TRUE(plain.Describe(ct, &a)) << a;
  ASSERT_TRUE(keep.Describe(ct, &b)) << b;
  const nlohmann::json ja = nlohmann::json::parse(a), jb = nlohmann::json::parse(b);
  EXPECT_EQ(ja.value("modality", ""), "CT");
  EXPECT_EQ(ja.value("rows", 0), 128);
  EXPECT_EQ(ja.value("columns", 0), 128);
  EXPECT_NEAR(ja.value("pixel_spacing", 0.0), 0.661468, 1e-6);
  EXPECT_NEAR(ja.value("slice_thickness", 0.0), 5.0, 1e-9);
  EXPECT_EQ(ja.value("photometric", ""), "MONOCHROME2");
  EXPECT_EQ(ja.value("transfer_syntax", ""), "Explicit VR Little Endian");
  EXPECT_EQ(ja.value("sop_class", ""), "CT Image Storage");
  for (const char* key : {"patient_name", "patient_id", "study_instance_uid", "study_date"}) {
    EXPECT_FALSE(ja.contains(key)) << key;
  }
  EXPECT_EQ(jb.value("patient_name", ""), "CompressedSamples^CT1");
  EXPECT_EQ(jb.value("patient_id", ""), "1CT1");
  EXPECT_EQ(jb.value("study_date", ""), "20040119");
  EXPECT_EQ(jb.value("study_instance_uid", ""), "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322");
  EXPECT_EQ(jb.value("modality", ""), "CT");
  // A synthetic file's patient name appears only with keep_identifying, also where a free-text
  // attribute repeats it.
  Synthetic s;
  s.pixels = Pattern();
  s.patient_name = "Doe^Jane";
  s.series_description = "Jane Doe follow-up";
  const std::string file = Write(s);
  ASSERT_TRUE(plain.Describe(file, &a)) << a;
  ASSERT_TRUE(keep.Describe(file, &b)) << b;
  EXPECT_EQ(a.find("Doe"), std::string::npos) << a;
  EXPECT_EQ(a.find("Jane"), std::string::npos) << a;
  EXPECT_EQ(nlohmann::json::parse(a).value("series_description", ""),
            "[removed] [removed] follow-up")
      << a;
  EXPECT_EQ(nlohmann::json::parse(b).value("patient_name", ""), "Doe^Jane") << b;
  EXPECT_EQ(nlohmann::json::parse(b).value("series_description", ""), "Jane Doe follow-up") << b;
}

TEST(DicomPlugin, TruncatedCorruptAndOversizedInputs) {
  if (!HavePydicom()) return;
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  TempDir tmp;
  const std::string ct = Pydicom("CT_small.dcm");
  WriteBytes(tmp.File("truncated.dcm"), ct.substr(0, ct.size() * 3 / 4));
  std::string garbage(4096, '\0');
  std::mt19937 rng(99);
  for (char& c : garbage) c = static_cast<char>(rng());
  WriteBytes(tmp.File("garbage.dcm"), garbage);

  const std::string truncated = ReadBytes(tmp.File("truncated.dcm"));
  std::string e = inst.EmbedError(truncated);
  EXPECT_EQ(e.rfind("input 0: truncated", 0), 0u) << e;
  EXPECT_EQ(e.find("CompressedSamples"), std::string::npos) << e;
  e = inst.EmbedError(ReadBytes(tmp.File("garbage.dcm")));
  EXPECT_EQ(e, "input 0: not a DICOM file (no DICM preamble and no parsable data set)");
  e = inst.EmbedError("");
  EXPECT_EQ(e, "input 0: empty input (no DICOM data)");
  // The header of a truncated file is still described.
  std::string json;
  EXPECT_TRUE(inst.Describe(truncated, &json)) << json;
  EXPECT_FALSE(inst.Describe(garbage, &json));
  EXPECT_NE(json.find("not a DICOM file"), std::string::npos) << json;

  // max_pixels is checked before decoding.
  Instance limited(R"({"max_pixels": "10000"})");
  ASSERT_TRUE(limited.ok()) << CreateError();
  e = limited.EmbedError(ct);
  EXPECT_NE(e.find("image too large: 128 x 128 x 1 frames x 1 samples = 16384 values, more than "
                   "max_pixels 10000"),
            std::string::npos)
      << e;

  // A batch fails at its first bad input and names it; content types are checked.
  std::vector<float> out;
  EXPECT_EQ(inst.Embed({ct, Pydicom("MR_small.dcm"), Pydicom("rtplan.dcm"), ct}, &out), RECO_ERROR);
  EXPECT_EQ(inst.error(), "input 2: no pixel data (SOP class RT Plan Storage)");
  EXPECT_EQ(inst.Embed({ct}, &out, "image/png"), RECO_ERROR);
  EXPECT_NE(inst.error().find("unsupported content type 'image/png'"), std::string::npos);
}

// Monochrome handling: MONOCHROME1 is inverted, the rescale is applied before the window.
TEST(DicomPlugin, MonochromeInversionAndRescale) {
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  const std::vector<uint16_t> v = Pattern();
  const uint16_t max = *std::max_element(v.begin(), v.end());
  Synthetic mono2, mono1, mono2_inverted;
  mono2.pixels = v;
  mono1.monochrome1 = true;
  for (uint16_t x : v) mono1.pixels.push_back(static_cast<uint16_t>(max - x));
  mono2_inverted.pixels = mono1.pixels;
  const std::vector<float> e = inst.EmbedOk({Write(mono2), Write(mono1), Write(mono2_inverted)});
  ASSERT_EQ(e.size(), 3u * kDim);
  const double same = Dot(e.data(), e.data() + kDim, kDim);
  const double inverted = Dot(e.data(), e.data() + 2 * kDim, kDim);
  EXPECT_GT(same, 0.9999) << "MONOCHROME1 of the inverted values should look like the original";
  EXPECT_LT(inverted, 0.97) << "an inverted image should look different";

  // Stored u = (v + 1000) / 2 with slope 2, intercept -1000 is the same image as v; the same
  // stored values without the rescale are not (the window 1000/1000 is in rescaled units).
  Synthetic plain, rescaled, unscaled;
  plain.pixels = v;
  plain.window_center = rescaled.window_center = unscaled.window_center = "1000";
  plain.window_width = rescaled.window_width = unscaled.window_width = "1000";
  for (uint16_t x : v) rescaled.pixels.push_back(static_cast<uint16_t>((x + 1000) / 2));
  rescaled.slope = 2.0;
  rescaled.intercept = -1000.0;
  unscaled.pixels = rescaled.pixels;
  const std::vector<float> r = inst.EmbedOk({Write(plain), Write(rescaled), Write(unscaled)});
  ASSERT_EQ(r.size(), 3u * kDim);
  EXPECT_GT(Dot(r.data(), r.data() + kDim, kDim), 0.9999);
  EXPECT_LT(Dot(r.data(), r.data() + 2 * kDim, kDim), 0.97);
}

// A slightly noised or re-windowed copy of a slice is nearer to its original than to any other
// series of the corpus.
TEST(DicomPlugin, NoisedAndRewindowedCopiesFindTheirOriginal) {
  if (!HavePydicom()) return;
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  const std::vector<std::string> series = {"CT_small.dcm",        "MR_small.dcm",
                                           "693_J2KI.dcm",        "J2K_pixelrep_mismatch.dcm",
                                           "JPEG2000.dcm",        "image_dfl.dcm",
                                           "rtdose.dcm",          "liver_1frame.dcm",
                                           "SC_rgb_rle.dcm",      "ExplVR_BigEnd.dcm",
                                           "GDCMJ2K_TextGBR.dcm", "SC_jpeg_no_color_transform.dcm"};
  std::vector<std::string> files;
  for (const std::string& s : series) files.push_back(Pydicom(s));
  const std::vector<float> ref = inst.EmbedOk(files);
  ASSERT_EQ(ref.size(), series.size() * kDim);

  const auto set_window = [](gdcm::DataSet* ds, const char* c, const char* w) {
    SetText(ds, 0x0028, 0x1050, gdcm::VR::DS, c);
    SetText(ds, 0x0028, 0x1051, gdcm::VR::DS, w);
  };
  struct Copy {
    std::string name;
    size_t original;
    std::string bytes;
  };
  const std::vector<Copy> copies = {
      {"CT_small + noise (sigma 10 HU)", 0,
       Altered("CT_small.dcm", [](gdcm::DataSet* ds) { AddNoise(ds, 10.0, true); })},
      {"CT_small re-windowed 60/350", 0,
       Altered("CT_small.dcm", [&](gdcm::DataSet* ds) { set_window(ds, "60", "350"); })},
      {"MR_small + noise (sigma 15)", 1,
       Altered("MR_small.dcm", [](gdcm::DataSet* ds) { AddNoise(ds, 15.0, true); })},
      {"MR_small re-windowed 650/1400", 1,
       Altered("MR_small.dcm", [&](gdcm::DataSet* ds) { set_window(ds, "650", "1400"); })},
      {"693_J2KI re-windowed 45/120", 2,
       Altered("693_J2KI.dcm", [&](gdcm::DataSet* ds) { set_window(ds, "45", "120"); })},
      {"J2K_pixelrep_mismatch re-windowed 35/90", 3,
       Altered("J2K_pixelrep_mismatch.dcm",
               [&](gdcm::DataSet* ds) { set_window(ds, "35", "90"); })},
  };
  for (const Copy& c : copies) {
    const std::vector<float> v = inst.EmbedOk({c.bytes});
    ASSERT_EQ(v.size(), kDim) << c.name;
    size_t best = 0;
    double best_sim = -2, orig_sim = 0, runner_up = -2;
    for (size_t i = 0; i < series.size(); ++i) {
      const double s = Dot(v.data(), ref.data() + i * kDim, kDim);
      if (i == c.original) orig_sim = s;
      if (s > best_sim) {
        runner_up = best_sim;
        best_sim = s;
        best = i;
      } else {
        runner_up = std::max(runner_up, s);
      }
    }
    EXPECT_EQ(series[best], series[c.original]) << c.name;
    std::cout << "[ nearest  ] " << c.name << ": original " << orig_sim << ", next best "
              << runner_up << "\n";
  }
}

// ---------------------------------------------------------------------------------------------
// User models.

torch::jit::Module ConvModel(const std::string& forward) {
  torch::manual_seed(11);
  torch::jit::Module m("UserDicomModel");
  m.register_buffer("weight", torch::randn({8, 1, 3, 3}));
  m.register_buffer("bias", torch::randn({8}) * 0.1);
  m.define(forward);
  return m;
}

const char* kConvForward = R"JIT(
def forward(self, x: Tensor) -> Tensor:
    y = torch.relu(torch.conv2d(x, self.weight, self.bias, [2, 2]))
    return torch.adaptive_avg_pool2d(y, [1, 1]).flatten(1) + 0.01
)JIT";

uint64_t Fnv1a64(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

TEST(DicomPlugin, UserModel) {
  if (!HavePydicom()) return;
  TempDir tmp;
  const std::string path = tmp.File("conv.pt");
  ConvModel(kConvForward).save(path);
  const std::string config =
      R"({"model": ")" + path +
      R"(", "channels": "1", "input_size": "64", "mean": 0.5, "std": "0.25"})";
  Instance inst(config);
  ASSERT_TRUE(inst.ok()) << CreateError();
  EXPECT_EQ(inst.dim(), 8u);
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(Fnv1a64(ReadBytes(path))));
  EXPECT_EQ(inst.fingerprint(), std::string("dicom-model-v1:fnv1a64=") + hex +
                                    ",input_size=64,channels=1,mean=0.5,std=0.25,window=file");
  const std::vector<float> v =
      inst.EmbedOk({Pydicom("CT_small.dcm"), Pydicom("SC_rgb_rle.dcm"), Pydicom("MR_small.dcm")});
  ASSERT_EQ(v.size(), 3u * 8);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(Dot(&v[i * 8], &v[i * 8], 8), 1.0, 1e-5);

  // The model sees [B, channels, input_size, input_size], normalised.
  torch::jit::Module shape("ShapeModel");
  shape.define(R"JIT(
def forward(self, x: Tensor) -> Tensor:
    b = x.size(0)
    info = torch.tensor([float(x.size(1)), float(x.size(2)), float(x.size(3))]).expand(b, 3)
    return torch.cat([info, x.mean([1, 2, 3]).unsqueeze(1) + 100.0], 1)
)JIT");
  shape.save(tmp.File("shape.pt"));
  Instance s(R"({"model": ")" + tmp.File("shape.pt") + R"(", "channels": 3, "input_size": 48})");
  ASSERT_TRUE(s.ok()) << CreateError();
  ASSERT_EQ(s.dim(), 4u);
  const std::vector<float> o = s.EmbedOk({Pydicom("CT_small.dcm")});
  ASSERT_EQ(o.size(), 4u);
  EXPECT_NEAR(o[1] / o[0], 16.0, 1e-3);  // 48 / 3
  EXPECT_NEAR(o[2] / o[0], 16.0, 1e-3);

  // Wrong output shape: always (create fails), or only for batches (embed fails).
  ConvModel(R"JIT(
def forward(self, x: Tensor) -> Tensor:
    return torch.conv2d(x, self.weight, self.bias)
)JIT")
      .save(tmp.File("map.pt"));
  Instance map(R"({"model": ")" + tmp.File("map.pt") + R"("})");
  EXPECT_FALSE(map.ok());
  EXPECT_NE(CreateError().find("model output has shape [1, 8, 254, 254], expected [1, dim]"),
            std::string::npos)
      << CreateError();
  ConvModel(R"JIT(
def forward(self, x: Tensor) -> Tensor:
    y = torch.adaptive_avg_pool2d(torch.conv2d(x, self.weight, self.bias), [1, 1]).flatten(1)
    return y.mean(0, True)
)JIT")
      .save(tmp.File("pooled.pt"));
  Instance pooled(R"({"model": ")" + tmp.File("pooled.pt") + R"(", "input_size": 32})");
  ASSERT_TRUE(pooled.ok()) << CreateError();
  std::vector<float> out;
  EXPECT_EQ(pooled.Embed({Pydicom("CT_small.dcm"), Pydicom("MR_small.dcm")}, &out), RECO_ERROR);
  EXPECT_EQ(pooled.error(),
            "dicom plugin: model output has shape [1, 8], expected [2, 8] (inputs 0..1)");

  // NaN output.
  ConvModel(R"JIT(
def forward(self, x: Tensor) -> Tensor:
    return torch.log(x.mean([2, 3]) - 2.0)
)JIT")
      .save(tmp.File("nan.pt"));
  Instance nan(R"({"model": ")" + tmp.File("nan.pt") + R"(", "input_size": 32})");
  ASSERT_TRUE(nan.ok()) << CreateError();
  EXPECT_EQ(nan.Embed({Pydicom("CT_small.dcm")}, &out), RECO_ERROR);
  EXPECT_EQ(nan.error(), "input 0: model output contains NaN or Inf");

  // Not a model.
  WriteBytes(tmp.File("junk.pt"), "not a zip");
  Instance junk(R"({"model": ")" + tmp.File("junk.pt") + R"("})");
  EXPECT_FALSE(junk.ok());
  EXPECT_NE(CreateError().find(tmp.File("junk.pt")), std::string::npos) << CreateError();
}

// Mutated files (truncations, flipped header and pixel bytes) never take the host down: each
// embeds (unit norm) or fails with a message, GDCM aborts included.
TEST(DicomPlugin, MutatedFilesNeverCrashTheHost) {
  if (!HavePydicom()) return;
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  const std::vector<std::string> seeds = {"CT_small.dcm",
                                          "MR_small_RLE.dcm",
                                          "MR_small_jp2klossless.dcm",
                                          "SC_rgb_jpeg_dcmtk.dcm",
                                          "MR_small_jpeg_ls_lossless.dcm",
                                          "rtdose_expb.dcm",
                                          "SC_rgb_dcmtk_+eb+cy+np.dcm",
                                          "liver_1frame.dcm"};
  std::mt19937_64 rng(2024);
  size_t ok = 0, failed = 0, crashed = 0;
  for (const std::string& name : seeds) {
    const std::string orig = Pydicom(name);
    for (int k = 0; k < 24; ++k) {
      std::string b = orig;
      if (k % 3 == 0) {
        b.resize(rng() % b.size());
      } else {
        const size_t span = k % 3 == 1 ? std::min<size_t>(b.size(), 1500) : b.size();
        for (int f = 0, n = 1 + static_cast<int>(rng() % 6); f < n; ++f) {
          b[rng() % span] = static_cast<char>(rng());
        }
      }
      std::vector<float> v;
      if (inst.Embed({b}, &v) == RECO_OK) {
        ASSERT_NEAR(Dot(v.data(), v.data(), kDim), 1.0, 1e-4) << name << " #" << k;
        ++ok;
      } else {
        const std::string e = inst.error();
        ASSERT_EQ(e.rfind("input 0: ", 0), 0u) << e;
        ASSERT_GT(e.size(), 12u) << e;
        ++failed;
        if (e.find("crashed") != std::string::npos) ++crashed;
      }
      std::string json;
      inst.Describe(b, &json);
      EXPECT_FALSE(json.empty());
    }
  }
  std::cout << "[ mutated  ] " << ok << " embedded, " << failed << " refused (" << crashed
            << " by a GDCM abort in the decoder process)\n";
  EXPECT_GT(ok, 0u);
  EXPECT_GT(failed, 0u);
}

// Instances are independent (each has its own decoder process) and may run concurrently.
TEST(DicomPlugin, ConcurrentInstancesAgree) {
  if (!HavePydicom()) return;
  const std::vector<std::string> files = {Pydicom("CT_small.dcm"), Pydicom("MR_small_RLE.dcm"),
                                          Pydicom("SC_rgb_jpeg_dcmtk.dcm")};
  Instance reference;
  ASSERT_TRUE(reference.ok()) << CreateError();
  const std::vector<float> want = reference.EmbedOk(files);
  std::vector<std::vector<float>> got(3);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] {
      Instance inst;
      for (int r = 0; r < 4 && inst.ok(); ++r) {
        std::vector<float> v;
        if (inst.Embed(files, &v) == RECO_OK) got[t] = v;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const std::vector<float>& v : got) EXPECT_EQ(v, want);
}

// Throughput (printed): slices/s at batch 1 and 32, for 128x128 CT and 512x512 synthetic MR.
TEST(DicomPlugin, Throughput) {
  if (!HavePydicom()) return;
  Synthetic big;
  big.rows = big.cols = 512;
  big.pixels = Pattern(512, 512);
  const std::vector<std::pair<std::string, std::string>> images = {
      {"CT 128x128", Pydicom("CT_small.dcm")}, {"MR 512x512", Write(big)}};
  for (const char* config : {"{}", R"({"isolate": false})"}) {
    Instance inst(config);
    ASSERT_TRUE(inst.ok()) << CreateError();
    for (const auto& [label, bytes] : images) {
      for (size_t batch : {size_t{1}, size_t{32}}) {
        const std::vector<std::string> files(batch, bytes);
        inst.EmbedOk(files);  // warm up
        const int rounds = batch == 1 ? 8 : 1;
        const auto t0 = std::chrono::steady_clock::now();
        for (int r = 0; r < rounds; ++r) inst.EmbedOk(files);
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::cout << "[ perf     ] " << config << " " << label << " batch " << batch << ": "
                  << static_cast<int>(rounds * batch / secs) << " slices/s\n";
      }
    }
  }
}

}  // namespace
