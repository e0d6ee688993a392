// The installable plugin SDK, end to end: `cmake --install --component sdk` into a temp
// prefix, examples/plugin-hello configured and built OUT OF TREE against that prefix with
// plain cmake and the system compiler, the resulting hello.so called through the C ABI as a
// host would, then loaded by the real recod (next to a wrong-ABI library and a non-plugin)
// and used through the real recoctl.
#include <dlfcn.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/filesystem.hpp>
#include <nlohmann/json.hpp>

#include "reco/plugin_abi.h"
#include "testutil/recod_process.h"
#include "testutil/run_command.h"
#include "testutil/temp_dir.h"

namespace reco {
namespace {

namespace fs = boost::filesystem;
using json = nlohmann::json;

using Outcome = testing::CommandResult;

// Runs argv through the shell; stderr goes to `err_path`, or into `out` when it is empty.
Outcome RunShell(const std::vector<std::string>& argv, const std::string& err_path = "") {
  return testing::RunCommand(argv, err_path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// "1.2": the ABI these headers (and so the host and the example) speak.
const std::string kAbi =
    std::to_string(RECO_PLUGIN_ABI_MAJOR) + "." + std::to_string(RECO_PLUGIN_ABI_MINOR);

// The SDK installed into a temp prefix and the example built against it, once per process.
class SdkEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    prefix_ = dir_.Sub("prefix");
    build_ = dir_.Sub("hello-build");
    install_ = RunShell(
        {RECO_CMAKE, "--install", RECO_BUILD_DIR, "--prefix", prefix_, "--component", "sdk"});
    if (install_.exit_code != 0) return;
    configure_ = RunShell(
        {RECO_CMAKE, "-S", std::string(RECO_SOURCE_DIR) + "/examples/plugin-hello", "-B", build_,
         "-G", RECO_CMAKE_GENERATOR, "-DCMAKE_MAKE_PROGRAM=" + std::string(RECO_MAKE_PROGRAM),
         "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_PREFIX_PATH=" + prefix_});
    if (configure_.exit_code != 0) return;
    build_run_ = RunShell({RECO_CMAKE, "--build", build_});
  }

  static std::string plugin() { return instance_->build_ + "/hello.so"; }
  static SdkEnvironment* instance_;

  testing::TempDir dir_;
  std::string prefix_;
  std::string build_;
  Outcome install_, configure_, build_run_;
};
SdkEnvironment* SdkEnvironment::instance_ = nullptr;

class sdk : public ::testing::Test {
 protected:
  void SetUp() override {
    const SdkEnvironment& env = *SdkEnvironment::instance_;
    ASSERT_EQ(env.install_.exit_code, 0) << env.install_.out;
    ASSERT_EQ(env.configure_.exit_code, 0) << env.configure_.out;
    ASSERT_EQ(env.build_run_.exit_code, 0) << env.build_run_.out;
    ASSERT_TRUE(fs::is_regular_file(SdkEnvironment::plugin())) << env.build_run_.out;
  }
  const SdkEnvironment& env() const { return *SdkEnvironment::instance_; }
};

TEST_F(sdk, InstallsOnlyHeadersAndPackage) {
  std::set<std::string> installed;
  for (fs::recursive_directory_iterator it(env().prefix_), end; it != end; ++it) {
    if (fs::is_regular_file(it->path())) {
      installed.insert(fs::relative(it->path(), env().prefix_).string());
    }
  }
  const std::set<std::string> expected = {
      "include/reco/plugin_abi.h",        "include/reco/plugin.hpp",
      "lib/cmake/reco/recoConfig.cmake",  "lib/cmake/reco/recoConfigVersion.cmake",
      "lib/cmake/reco/recoTargets.cmake", "lib/cmake/reco/RecoAddPlugin.cmake",
      "lib/cmake/reco/reco_plugin.map"};
  EXPECT_EQ(installed, expected);  // component `sdk` alone: no recod, no built-in plugins
  EXPECT_EQ(ReadFile(env().prefix_ + "/include/reco/plugin_abi.h"),
            ReadFile(std::string(RECO_SOURCE_DIR) + "/plugins/sdk/reco/plugin_abi.h"));
  EXPECT_TRUE(Contains(ReadFile(env().prefix_ + "/lib/cmake/reco/recoConfigVersion.cmake"),
                       "\"" RECO_VERSION "\""));
}

TEST_F(sdk, ExampleBuildsOutOfTreeAgainstThePrefixWithoutWarnings) {
  // The example found this prefix's package (not another install), with its version and ABI.
  EXPECT_TRUE(Contains(env().configure_.out, "reco " RECO_VERSION " (plugin ABI " + kAbi + ")"))
      << env().configure_.out;
  EXPECT_TRUE(Contains(ReadFile(env().build_ + "/CMakeCache.txt"),
                       "reco_DIR:PATH=" + env().prefix_ + "/lib/cmake/reco"));
  EXPECT_FALSE(Contains(env().build_run_.out, "warning")) << env().build_run_.out;

  // reco_add_plugin's version script: the entry function is the one exported symbol.
  Outcome nm = RunShell({RECO_NM, "-D", "--defined-only", SdkEnvironment::plugin()});
  ASSERT_EQ(nm.exit_code, 0) << nm.out;
  std::istringstream lines(nm.out);
  std::string line;
  std::vector<std::string> exported;
  while (std::getline(lines, line)) {
    if (!line.empty()) exported.push_back(line.substr(line.rfind(' ') + 1));
  }
  EXPECT_EQ(exported, std::vector<std::string>{"reco_plugin_entry"}) << nm.out;
}

// The example as the host sees it: the table, options, errors that name the input.
TEST_F(sdk, ExampleSpeaksTheCAbi) {
  void* lib = dlopen(SdkEnvironment::plugin().c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto entry = reinterpret_cast<reco_plugin_entry_fn>(dlsym(lib, RECO_PLUGIN_ENTRY_SYMBOL));
  ASSERT_NE(entry, nullptr);
  const reco_plugin_v1* t = entry(RECO_PLUGIN_ABI_VERSION);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->abi_version, RECO_PLUGIN_ABI_VERSION);
  EXPECT_EQ(t->struct_size, sizeof(reco_plugin_v1));
  EXPECT_STREQ(t->name, "hello");
  EXPECT_EQ(t->default_dim, 64u);

  reco_instance* bad = t->create(R"({"dim": "0"})");
  EXPECT_EQ(bad, nullptr);
  EXPECT_TRUE(Contains(t->last_error(nullptr), "option \"dim\" must be an integer in [1, 4096]"))
      << t->last_error(nullptr);
  EXPECT_EQ(t->create(R"({"colour": "red"})"), nullptr);
  EXPECT_TRUE(Contains(t->last_error(nullptr), "unknown option \"colour\""))
      << t->last_error(nullptr);
  EXPECT_EQ(t->create(R"({"dim": [1]})"), nullptr);
  EXPECT_TRUE(Contains(t->last_error(nullptr), "string or number")) << t->last_error(nullptr);

  reco_instance* small = t->create(R"({"dim": 16})");  // a number works as well as a string
  ASSERT_NE(small, nullptr) << t->last_error(nullptr);
  EXPECT_EQ(t->dim(small), 16u);
  t->destroy(small);

  reco_instance* inst = t->create("{}");
  ASSERT_NE(inst, nullptr) << t->last_error(nullptr);
  ASSERT_EQ(t->dim(inst), 64u);
  const std::string a = "Waterproof hiking boots", b = "waterproof   BOOTS!", c = "tea kettle";
  auto in = [](const std::string& s, const char* type = "text/plain") {
    return reco_input{type, reinterpret_cast<const uint8_t*>(s.data()), s.size()};
  };
  std::vector<reco_input> inputs = {in(a), in(b), in(c)};
  std::vector<float> out(3 * 64);
  ASSERT_EQ(t->embed_batch(inst, inputs.data(), inputs.size(), out.data()), RECO_OK)
      << t->last_error(inst);
  auto dot = [&](int x, int y) {
    double s = 0;
    for (int d = 0; d < 64; ++d) s += out[x * 64 + d] * out[y * 64 + d];
    return s;
  };
  EXPECT_NEAR(dot(0, 0), 1.0, 1e-5);  // L2-normalised
  EXPECT_GT(dot(0, 1), dot(0, 2));    // shared trigrams score higher

  const std::string empty;
  inputs = {in(a), in(empty)};
  EXPECT_EQ(t->embed_batch(inst, inputs.data(), inputs.size(), out.data()), RECO_ERROR);
  EXPECT_TRUE(Contains(t->last_error(inst), "input 1 is empty")) << t->last_error(inst);
  const std::string punctuation = "?!";
  inputs = {in(punctuation)};
  EXPECT_EQ(t->embed_batch(inst, inputs.data(), 1, out.data()), RECO_ERROR);
  EXPECT_TRUE(Contains(t->last_error(inst), "input 0 has no letters or digits"))
      << t->last_error(inst);
  inputs = {in(a), in(a), in(a, "image/png")};
  EXPECT_EQ(t->embed_batch(inst, inputs.data(), inputs.size(), out.data()), RECO_ERROR);
  EXPECT_TRUE(Contains(t->last_error(inst), "input 2 has content type \"image/png\""))
      << t->last_error(inst);
  t->destroy(inst);
  dlclose(lib);
}

TEST_F(sdk, RecodLoadsTheExampleAndRefusesBadLibraries) {
  testing::TempDir dir;
  const std::string plugins = dir.Sub("plugins");
  fs::create_directories(plugins);
  fs::copy_file(SdkEnvironment::plugin(), plugins + "/hello.so");
  fs::copy_file(BAD_ABI_PLUGIN, plugins + "/bad_abi_plugin.so");
  fs::copy_file(NOT_A_PLUGIN, plugins + "/not_a_plugin.so");

  testing::RecodProcess recod;
  std::string error;
  ASSERT_TRUE(recod.Start(dir.Sub("data"), {"--plugins", plugins}, &error)) << error;
  const std::string err_path = dir.Sub("stderr");
  auto recoctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {std::string(RECO_BIN_DIR) + "/recoctl", "--addr", recod.address()});
    Outcome run = RunShell(args, err_path);
    run.out += ReadFile(err_path);  // a failed command's message is on stderr
    return run;
  };

  Outcome list = recoctl({"plugins", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.out;
  const json listed = list.JsonLines().at(0);
  ASSERT_EQ(listed["plugins"].size(), 1u) << listed.dump(2);
  const json& hello = listed["plugins"][0];
  EXPECT_EQ(hello["name"], "hello");
  EXPECT_EQ(hello["version"], "1.0.0");  // the example's project(VERSION)
  EXPECT_EQ(hello["abi"], kAbi);
  EXPECT_EQ(hello["modality"], "text");
  EXPECT_EQ(hello["content_types"], "text/plain");
  EXPECT_EQ(hello["default_dim"], 64);
  EXPECT_EQ(hello["path"], plugins + "/hello.so");

  ASSERT_EQ(listed["refused"].size(), 2u) << listed.dump(2);
  std::map<std::string, std::string> refused;
  for (const auto& r : listed["refused"]) {
    refused[fs::path(r["path"].get<std::string>()).filename().string()] = r["reason"];
  }
  const std::string& abi = refused["bad_abi_plugin.so"];
  EXPECT_TRUE(Contains(abi, "ABI 2.0") && Contains(abi, "ABI " + kAbi)) << abi;  // both versions
  EXPECT_TRUE(Contains(refused["not_a_plugin.so"], "not a reco plugin"))
      << refused["not_a_plugin.so"];

  // Options reach the plugin, and its refusal reaches the user.
  Outcome bad = recoctl({"collection", "create", "bad", "--space",
                         "name=body,plugin=hello,index=Flat,metric=cosine,colour=red"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(Contains(bad.out, "unknown option \"colour\"")) << bad.out;

  Outcome create = recoctl({"collection", "create", "docs", "--space",
                            "name=body,plugin=hello,index=Flat,metric=cosine"});
  ASSERT_EQ(create.exit_code, 0) << create.out;
  Outcome get = recoctl({"collection", "get", "docs", "--json"});
  ASSERT_EQ(get.exit_code, 0) << get.out;
  EXPECT_EQ(get.JsonLines().at(0)["spaces"][0]["dim"], 64) << get.out;

  const std::string items = dir.Sub("items.jsonl");
  std::ofstream(items) << R"({"id": "boots", "text": "Waterproof leather hiking boots"})"
                          "\n"
                       << R"({"id": "kettle", "text": "Electric tea kettle, 1.7 litres"})"
                          "\n"
                       << R"({"id": "lamp", "text": "Brass reading lamp with dimmer"})"
                          "\n"
                       << R"({"id": "socks", "text": "Merino wool socks"})"
                          "\n";
  Outcome import = recoctl({"import", "docs", items});
  ASSERT_EQ(import.exit_code, 0) << import.out;

  Outcome boots =
      recoctl({"search", "docs", "--text", "hiking boot, waterproof", "-k", "2", "--json"});
  ASSERT_EQ(boots.exit_code, 0) << boots.out;
  ASSERT_EQ(boots.JsonLines().size(), 2u) << boots.out;
  EXPECT_EQ(boots.JsonLines()[0]["id"], "boots") << boots.out;
  Outcome kettle = recoctl({"search", "docs", "--text", "a kettle for tea", "-k", "1", "--json"});
  ASSERT_EQ(kettle.exit_code, 0) << kettle.out;
  EXPECT_EQ(kettle.JsonLines().at(0)["id"], "kettle") << kettle.out;

  // Text the plugin cannot embed: the error comes back naming the input.
  Outcome punct = recoctl({"upsert", "docs", "--id", "p", "--text", "?!"});
  EXPECT_EQ(punct.exit_code, 1);
  EXPECT_TRUE(Contains(punct.out, "input 0 has no letters or digits")) << punct.out;

  EXPECT_EQ(recod.Stop(), 0);  // instances destroyed, then the library unloaded, cleanly
}

}  // namespace
}  // namespace reco

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  reco::SdkEnvironment::instance_ = new reco::SdkEnvironment;
  ::testing::AddGlobalTestEnvironment(reco::SdkEnvironment::instance_);
  return RUN_ALL_TESTS();
}
