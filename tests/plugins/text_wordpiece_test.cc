// Tests of the text plugin's wordpiece models (user BERT-style TorchScript models with a
// vocab.txt): a small model exported with PyTorch by text_bert_export.py, whose own reference
// WordPiece ids and pooled outputs the plugin (driven through the C ABI of the real
// reco_text.so) and its C++ tokenizer must reproduce.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "plugins/text/wordpiece.h"
#include "reco/plugin_abi.h"
#include "testutil/plugin_table.h"

namespace {

const reco_plugin_v1* Api() {
  static const reco_plugin_v1* api = reco::testing::LoadPluginTable("reco_text.so");
  return api;
}

std::string CreateError() { return Api()->last_error(nullptr); }

class Instance : public reco::testing::PluginInstance {
 public:
  explicit Instance(const std::string& config) : PluginInstance(Api(), config, "text/plain") {}
};

// The first python3 that imports torch (Debian's first: a pyenv/venv python3 on PATH may lack
// it), or "".
std::string PythonWithTorch() {
  for (const char* py : {"/usr/bin/python3", "python3"}) {
    const std::string cmd = std::string(py) + " -c 'import torch' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return "";
}

// Runs text_bert_export.py into a new temporary folder; "" (and a test failure) when it cannot.
std::string Export() {
  const std::string python = PythonWithTorch();
  if (python.empty()) {
    ADD_FAILURE() << "python3 cannot import torch: run tools/setup (it installs Debian's "
                     "python3-torch) to export the test's BERT model";
    return "";
  }
  std::string tmpl = ::testing::TempDir() + "reco_text_bert_XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return "";
  }
  const std::string cmd =
      python + " " + RECO_SOURCE_DIR + "/tests/plugins/text_bert_export.py " + tmpl + " 2>&1";
  if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "failed: " << cmd;
  return tmpl;
}

// The export, made once per process and removed at exit.
const std::string& ExportDir() {
  struct Dir {
    std::string path = Export();
    ~Dir() {
      std::error_code ec;
      if (!path.empty()) std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

nlohmann::json Reference() {
  std::ifstream in(ExportDir() + "/reference.json");
  return nlohmann::json::parse(in);
}

std::string Config(const std::string& model, const std::string& extra = "") {
  return R"({"model": ")" + ExportDir() + "/" + model +
         R"(", "tokenizer": "wordpiece", "vocab": ")" + ExportDir() + R"(/vocab.txt")" + extra +
         "}";
}

// Each row of `got` (n x dim) equals the reference row to 1e-5.
void ExpectRows(const std::vector<float>& got, const nlohmann::json& want, size_t dim,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size() * dim) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(want[i].size(), dim) << what;
    for (size_t c = 0; c < dim; ++c) {
      ASSERT_NEAR(got[i * dim + c], want[i][c].get<float>(), 1e-5)
          << what << ": sentence " << i << " col " << c;
    }
  }
}

TEST(TextWordPiece, TokenIdsMatchPythonsReferenceTokenizer) {
  ASSERT_FALSE(ExportDir().empty());
  const nlohmann::json ref = Reference();
  const reco::text::WordPieceTokenizer tok =
      reco::text::WordPieceTokenizer::FromFile(ExportDir() + "/vocab.txt", true);
  const auto sentences = ref["sentences"].get<std::vector<std::string>>();
  for (const char* max_length : {"128", "8"}) {
    const nlohmann::json& want = ref["ids"][max_length];
    ASSERT_EQ(want.size(), sentences.size());
    for (size_t i = 0; i < sentences.size(); ++i) {
      EXPECT_EQ(tok.Encode(sentences[i], std::stoul(max_length)),
                want[i].get<std::vector<int64_t>>())
          << "max_length " << max_length << ": \"" << sentences[i] << "\"";
    }
  }
}

TEST(TextWordPiece, MeanAndClsPoolingMatchPyTorch) {
  ASSERT_FALSE(ExportDir().empty());
  const nlohmann::json ref = Reference();
  const auto sentences = ref["sentences"].get<std::vector<std::string>>();

  Instance mean(Config("model.pt"));  // pooling "mean" is the default
  ASSERT_TRUE(mean.ok()) << CreateError();
  EXPECT_EQ(mean.dim(), 32u);
  EXPECT_EQ(mean.fingerprint().rfind("text-wordpiece-v1:model=", 0), 0u) << mean.fingerprint();
  EXPECT_NE(mean.fingerprint().find(",pooling=mean,max_length=128,lowercase=true"),
            std::string::npos)
      << mean.fingerprint();
  // One batch (padded to the longest sentence) and one sentence at a time.
  ExpectRows(mean.EmbedOk(sentences), ref["mean"], 32, "mean, one batch");
  std::vector<float> singles;
  for (const std::string& s : sentences) {
    const std::vector<float> v = mean.EmbedOk({s});
    singles.insert(singles.end(), v.begin(), v.end());
  }
  ExpectRows(singles, ref["mean"], 32, "mean, one at a time");

  Instance cls(Config("model.pt", R"(, "pooling": "cls", "max_length": "128")"));
  ASSERT_TRUE(cls.ok()) << CreateError();
  ExpectRows(cls.EmbedOk(sentences), ref["cls"], 32, "cls");
  EXPECT_NE(cls.fingerprint(), mean.fingerprint());

  // A model that pools itself ([B, H]): the output is used as it is.
  Instance pooled(Config("model_pooled.pt", R"(, "pooling": "mean")"));
  ASSERT_TRUE(pooled.ok()) << CreateError();
  ExpectRows(pooled.EmbedOk(sentences), ref["cls"], 32, "pooled model");

  // Truncation to max_length (numbers are accepted too).
  Instance short_inst(Config("model.pt", R"(, "max_length": 8)"));
  ASSERT_TRUE(short_inst.ok()) << CreateError();
  ExpectRows(short_inst.EmbedOk(sentences), ref["mean_8"], 32, "max_length 8");
}

TEST(TextWordPiece, ConfigErrors) {
  ASSERT_FALSE(ExportDir().empty());
  const std::string dir = ExportDir();
  struct Case {
    std::string config;
    std::string message;
  };
  const std::string model = dir + "/model.pt";
  // A vocab without [UNK].
  const std::string bad_vocab = dir + "/no_unk.txt";
  std::ofstream(bad_vocab) << "[PAD]\n[CLS]\n[SEP]\nred\n";
  const std::vector<Case> cases = {
      {R"({"model": ")" + model + R"(", "tokenizer": "wordpiece"})", "vocab"},
      {R"({"tokenizer": "wordpiece", "vocab": ")" + dir + R"(/vocab.txt"})", "model"},
      {R"({"model": ")" + model + R"(", "tokenizer": "wordpiece", "vocab": ")" + dir +
           R"(/missing.txt"})",
       "missing.txt"},
      {R"({"model": ")" + model + R"(", "tokenizer": "wordpiece", "vocab": ")" + bad_vocab +
           R"("})",
       "[UNK]"},
      {Config("model.pt", R"(, "pooling": "max")"), "pooling"},
      {Config("model.pt", R"(, "max_length": "1")"), "max_length"},
      {Config("model.pt", R"(, "lowercase": "maybe")"), "lowercase"},
      {Config("model.pt", R"(, "buckets": "1024")"), "buckets"},
      {R"({"pooling": "cls"})", "wordpiece"},
      {R"({"vocab": ")" + dir + R"(/vocab.txt"})", "wordpiece"},
  };
  for (const Case& c : cases) {
    Instance inst(c.config);
    EXPECT_FALSE(inst.ok()) << c.config;
    EXPECT_NE(CreateError().find(c.message), std::string::npos)
        << c.config << " -> " << CreateError();
  }
  // An empty text (nothing but separators/control characters) names its input.
  Instance inst(Config("model.pt"));
  ASSERT_TRUE(inst.ok()) << CreateError();
  std::vector<float> out;
  EXPECT_EQ(inst.Embed({"fine", " \t\x01 "}, &out), RECO_ERROR);
  EXPECT_NE(inst.error().find("input 1: empty text"), std::string::npos) << inst.error();
  // A case-sensitive tokenizer gives other ids, hence other vectors.
  Instance cased(Config("model.pt", R"(, "lowercase": false)"));
  ASSERT_TRUE(cased.ok()) << CreateError();
  const std::vector<float> a = inst.EmbedOk({"Red Shoes"});
  const std::vector<float> b = cased.EmbedOk({"Red Shoes"});
  EXPECT_NE(a, b);
}

// Not a correctness test: prints throughput of the small BERT model for the record.
TEST(TextWordPiece, ReportsSpeed) {
  ASSERT_FALSE(ExportDir().empty());
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  auto t0 = Clock::now();
  Instance inst(Config("model.pt"));
  const double create_s = seconds(Clock::now() - t0);
  ASSERT_TRUE(inst.ok()) << CreateError();
  std::vector<std::string> texts;
  std::ifstream catalogue(std::string(RECO_SOURCE_DIR) + "/examples/catalogue.jsonl");
  for (std::string line; std::getline(catalogue, line);) {
    if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  }
  ASSERT_GE(texts.size(), 32u);
  texts.resize(texts.size() / 32 * 32);
  inst.EmbedOk({texts[0]});  // warm-up
  inst.EmbedOk({texts[1]});
  t0 = Clock::now();
  for (const std::string& t : texts) inst.EmbedOk({t});
  const double one_s = seconds(Clock::now() - t0);
  t0 = Clock::now();
  for (size_t i = 0; i < texts.size(); i += 32) {
    inst.EmbedOk(std::vector<std::string>(texts.begin() + i, texts.begin() + i + 32));
  }
  const double batch_s = seconds(Clock::now() - t0);
  std::cout << "[ speed    ] wordpiece (2-layer BERT, hidden 32): " << texts.size()
            << " texts; create " << create_s * 1e3 << " ms; batch 1: " << texts.size() / one_s
            << " items/s; batch 32: " << texts.size() / batch_s << " items/s\n";
}

}  // namespace
