#include <gtest/gtest.h>

#include <cmath>

#include "engine/plugin_host.h"

namespace reco {
namespace engine {
namespace {

TEST(PluginHost, LoadsTheRealTextPluginAndEmbeds) {
  PluginHost host;
  Status st = host.LoadLibrary(std::string(RECO_PLUGIN_DIR) + "/reco_text.so");
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto infos = host.plugins();
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_EQ(infos[0].name, "text");
  EXPECT_EQ(infos[0].abi,
            std::to_string(RECO_PLUGIN_ABI_MAJOR) + "." + std::to_string(RECO_PLUGIN_ABI_MINOR));
  EXPECT_EQ(infos[0].modality, "text");
  EXPECT_GT(infos[0].default_dim, 0u);

  std::unique_ptr<Embedder> e;
  ASSERT_TRUE(host.CreateEmbedder("text", "{}", &e).ok());
  EXPECT_EQ(e->dim(), infos[0].default_dim);
  EXPECT_EQ(e->provenance().plugin, "text");
  EXPECT_FALSE(e->provenance().fingerprint.empty());
  std::string a = "red running shoes", b = "running shoe, red", c = "stainless steel kettle";
  std::vector<float> out;
  ASSERT_TRUE(e->EmbedTexts({&a, &b, &c}, 2, &out).ok());
  ASSERT_EQ(out.size(), 3u * e->dim());
  auto dot = [&](size_t i, size_t j) {
    double s = 0;
    for (size_t d = 0; d < e->dim(); ++d) s += out[i * e->dim() + d] * out[j * e->dim() + d];
    return s;
  };
  EXPECT_NEAR(dot(0, 0), 1.0, 1e-4);
  EXPECT_GT(dot(0, 1), dot(0, 2) + 0.2);
}

TEST(PluginHost, RefusesAWrongAbiVersionNamingBoth) {
  PluginHost host;
  Status st = host.LoadLibrary(std::string(BAD_PLUGIN_DIR) + "/bad_abi_plugin.so");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("ABI 2.0"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("ABI " + std::to_string(RECO_PLUGIN_ABI_MAJOR) + "." +
                              std::to_string(RECO_PLUGIN_ABI_MINOR)),
            std::string::npos)
      << st.message();
  EXPECT_TRUE(host.plugins().empty());
}

TEST(PluginHost, LoadsAPluginBuiltForAnOlderMinorVersion) {
  PluginHost host;
  Status st = host.LoadLibrary(std::string(OLD_PLUGIN_DIR) + "/old_abi_plugin.so");
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(host.plugins()[0].abi, "1.0");
  std::unique_ptr<Embedder> e;
  ASSERT_TRUE(host.CreateEmbedder("old", "{}", &e).ok());
  std::string text = "abc";
  std::vector<float> out;
  ASSERT_TRUE(e->EmbedTexts({&text}, 4, &out).ok());
  EXPECT_EQ(out, (std::vector<float>{3, 1}));
}

TEST(PluginHost, RefusesALibraryThatIsNotAPlugin) {
  PluginHost host;
  Status st = host.LoadLibrary(std::string(BAD_PLUGIN_DIR) + "/not_a_plugin.so");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not a reco plugin"), std::string::npos) << st.message();
  st = host.LoadLibrary(std::string(BAD_PLUGIN_DIR) + "/does_not_exist.so");
  EXPECT_FALSE(st.ok());
}

TEST(PluginHost, DirectoryLoadKeepsGoodOnesAndRemembersWhy) {
  PluginHost host;
  ASSERT_TRUE(host.LoadDirectory(BAD_PLUGIN_DIR).ok());
  EXPECT_TRUE(host.plugins().empty());
  ASSERT_EQ(host.refused().size(), 2u);
  ASSERT_TRUE(host.LoadDirectory(TEST_PLUGIN_DIR).ok());
  ASSERT_EQ(host.plugins().size(), 1u);
  EXPECT_EQ(host.plugins()[0].name, "hello");
  // The same plugin twice is refused.
  EXPECT_EQ(host.LoadLibrary(std::string(TEST_PLUGIN_DIR) + "/hello_plugin.so").code(),
            Status::Code::kAlreadyExists);
  EXPECT_FALSE(host.LoadDirectory("/nonexistent/plugins").ok());
}

TEST(PluginHost, PluginErrorsAndExceptionsBecomeStatuses) {
  PluginHost host;
  ASSERT_TRUE(host.LoadDirectory(TEST_PLUGIN_DIR).ok());
  std::unique_ptr<Embedder> e;
  Status st = host.CreateEmbedder("hello", R"({"refuse":"1"})", &e);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("option 'refuse' is set"), std::string::npos) << st.message();
  EXPECT_TRUE(host.CreateEmbedder("nope", "{}", &e).IsNotFound());

  ASSERT_TRUE(host.CreateEmbedder("hello", "{}", &e).ok());
  std::string ok = "abc", fail = "FAIL", thrown = "THROW";
  std::vector<float> out;
  st = e->EmbedTexts({&ok, &fail}, 8, &out);
  EXPECT_EQ(st.code(), Status::Code::kPluginError);
  EXPECT_NE(st.message().find("told to fail"), std::string::npos) << st.message();
  st = e->EmbedTexts({&thrown}, 8, &out);
  EXPECT_EQ(st.code(), Status::Code::kPluginError);
  // The instance keeps working after an error.
  ASSERT_TRUE(e->EmbedTexts({&ok}, 8, &out).ok());
  EXPECT_EQ(out.size(), 4u);
}

TEST(PluginHost, EmbedderKeepsItsLibraryAliveAfterTheHostIsGone) {
  std::unique_ptr<Embedder> e;
  {
    PluginHost host;
    ASSERT_TRUE(host.LoadDirectory(TEST_PLUGIN_DIR).ok());
    ASSERT_TRUE(host.CreateEmbedder("hello", "{}", &e).ok());
  }
  std::string text = "still here";
  std::vector<float> out;
  ASSERT_TRUE(e->EmbedTexts({&text}, 1, &out).ok());
  EXPECT_EQ(e->provenance().fingerprint, "hello-fp");
}

}  // namespace
}  // namespace engine
}  // namespace reco
