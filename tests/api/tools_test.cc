// The real recod (port 0, temp data dir) driven by the real recoctl binary: the command-line
// contract, --json shapes, import validation and exit codes.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "testutil/recod_process.h"
#include "testutil/run_command.h"
#include "testutil/temp_dir.h"

namespace reco {
namespace {

using json = nlohmann::json;

using Outcome = testing::CommandResult;

// Runs a program, capturing stdout, stderr (through stderr_path) and the exit code.
Outcome RunCommand(const std::string& program, std::vector<std::string> args,
                   const std::string& stderr_path) {
  args.insert(args.begin(), program);
  return testing::RunCommand(args, stderr_path);
}

class apiTools : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    // An empty plugin directory: these tests use plugin "none" and start faster without a model.
    boost::filesystem::create_directories(dir_.Sub("plugins"));
    ASSERT_TRUE(recod_.Start(dir_.Sub("data"), {"--plugins", dir_.Sub("plugins")}, &error))
        << error;
  }

  Outcome Recoctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"--addr", recod_.address()});
    return RunCommand(std::string(RECO_BIN_DIR) + "/recoctl", args, dir_.Sub("stderr"));
  }

  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = dir_.Sub(name);
    std::ofstream(path) << content;
    return path;
  }

  void CreateShop() {
    Outcome run = Recoctl({"collection", "create", "shop", "--space",
                           "name=v,plugin=none,index=Flat,metric=l2,dim=4"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }

  static std::string Line(const std::string& id, const std::string& vector,
                          const std::string& title) {
    return R"({"id": ")" + id + R"(", "text": "about )" + id + R"(", "attributes": {"title": ")" +
           title + R"(", "price": 9.5, "tags": ["a", "b"], "new": true}, "vectors": {"v": )" +
           vector + "}}\n";
  }

  int64_t Items() {
    Outcome run = Recoctl({"stats", "shop", "--json"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    auto lines = run.JsonLines();
    return lines.size() == 1 ? lines[0].at("items").get<int64_t>() : -1;
  }

  testing::TempDir dir_;
  testing::RecodProcess recod_;
};

TEST_F(apiTools, CreateImportSearchStatsAndGet) {
  CreateShop();
  Outcome list = Recoctl({"collection", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto collections = list.JsonLines();
  ASSERT_EQ(collections.size(), 1u);
  EXPECT_EQ(collections[0]["name"], "shop");
  EXPECT_EQ(collections[0]["spaces"][0]["plugin"], "none");
  EXPECT_EQ(collections[0]["spaces"][0]["dim"], 4);

  const std::string file =
      WriteFile("items.jsonl", Line("a", "[1, 0, 0, 0]", "Red shoe") + "\n" +  // a blank line
                                   Line("b", "[0, 1, 0, 0]", "Blue hat") +
                                   Line("c", "[0.9, 0.1, 0, 0]", "Pink shoe") +
                                   Line("d", "[0, 0, 1, 0]", "Green lamp"));
  Outcome import = Recoctl({"import", "shop", file, "--batch", "3"});
  ASSERT_EQ(import.exit_code, 0) << import.err;
  EXPECT_NE(import.out.find("imported 4 items into shop"), std::string::npos) << import.out;

  Outcome search =
      Recoctl({"search", "shop", "--vector", "[1,0,0,0]", "--space", "v", "-k", "3", "--json"});
  ASSERT_EQ(search.exit_code, 0) << search.err;
  auto hits = search.JsonLines();
  ASSERT_EQ(hits.size(), 3u) << search.out;
  EXPECT_EQ(hits[0]["id"], "a");
  EXPECT_EQ(hits[1]["id"], "c");
  for (size_t i = 0; i < hits.size(); ++i) {
    EXPECT_EQ(hits[i]["rank"], i + 1);
    ASSERT_TRUE(hits[i]["score"].is_number());
    if (i > 0) {
      EXPECT_GE(hits[i - 1]["score"].get<double>(), hits[i]["score"].get<double>());
    }
  }

  Outcome similar = Recoctl({"--json", "similar", "shop", "a", "-k", "2"});
  ASSERT_EQ(similar.exit_code, 0) << similar.err;
  auto neighbours = similar.JsonLines();
  ASSERT_EQ(neighbours.size(), 2u);
  EXPECT_EQ(neighbours[0]["id"], "c");
  for (const auto& hit : neighbours) EXPECT_NE(hit["id"], "a");

  Outcome table = Recoctl({"similar", "shop", "a", "-k", "1"});  // human output shows titles
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("Pink shoe"), std::string::npos) << table.out;

  Outcome stats = Recoctl({"stats", "shop", "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  auto stats_lines = stats.JsonLines();
  ASSERT_EQ(stats_lines.size(), 1u);
  const json& s = stats_lines[0];
  EXPECT_EQ(s["items"], 4);
  ASSERT_EQ(s["spaces"].size(), 1u);
  EXPECT_EQ(s["spaces"][0]["name"], "v");
  EXPECT_EQ(s["spaces"][0]["vectors"], 4);
  EXPECT_EQ(s["spaces"][0]["dim"], 4);
  EXPECT_EQ(s["spaces"][0]["index"], "Flat");
  EXPECT_EQ(s["spaces"][0]["metric"], "l2");
  EXPECT_EQ(s["spaces"][0]["plugin"], "none");

  Outcome get = Recoctl({"get", "shop", "c", "--vectors", "--json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  auto items = get.JsonLines();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["id"], "c");
  EXPECT_EQ(items[0]["text"], "about c");
  EXPECT_EQ(items[0]["attributes"]["title"], "Pink shoe");
  EXPECT_EQ(items[0]["attributes"]["price"], 9.5);
  EXPECT_EQ(items[0]["attributes"]["new"], true);
  EXPECT_EQ(items[0]["attributes"]["tags"], json({"a", "b"}));
  EXPECT_GT(items[0]["created_ms"].get<int64_t>(), 0);
  EXPECT_EQ(items[0]["vectors"]["v"]["values"], json({0.9, 0.1, 0.0, 0.0}));
  EXPECT_EQ(items[0]["vectors"]["v"]["plugin"], "none");
}

TEST_F(apiTools, EventsRecommendationsFeedbackAndAbTest) {
  CreateShop();
  std::string items;
  for (int i = 0; i < 8; ++i) {
    const float angle = 0.2f * i;
    items += Line(
        "p" + std::to_string(i),
        "[" + std::to_string(std::cos(angle)) + ", " + std::to_string(std::sin(angle)) + ", 0, 0]",
        "Product " + std::to_string(i));
  }
  ASSERT_EQ(Recoctl({"import", "shop", WriteFile("items.jsonl", items)}).exit_code, 0);
  const std::string events = WriteFile(
      "events.csv", "user,item,type\nann,p0,view\nann,p1,purchase\nbob,p6,view\ncat,p1,view\n");
  Outcome import = Recoctl({"events", "import", "shop", events, "--json"});
  ASSERT_EQ(import.exit_code, 0) << import.err;

  // A logged answer: every line carries the request id and the variant.
  Outcome rec =
      Recoctl({"recommend", "shop", "--user", "ann", "-k", "3", "--variant", "A", "--json"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  auto lines = rec.JsonLines();
  ASSERT_EQ(lines.size(), 3u) << rec.out;
  const std::string request = lines[0].at("request_id").get<std::string>();
  EXPECT_EQ(request.size(), 16u);
  EXPECT_EQ(lines[0]["variant"], "A");
  EXPECT_EQ(lines[0]["id"], "p2");  // nearest to ann's history p0, p1 (both left out as seen)
  for (const auto& line : lines) EXPECT_EQ(line["request_id"], request);

  Outcome click = Recoctl({"events", "add", "shop", "--user", "ann", "--item", "p2", "--type",
                           "click", "--request-id", request, "--json"});
  ASSERT_EQ(click.exit_code, 0) << click.err;
  EXPECT_EQ(click.JsonLines().at(0)["attributed"], 1);
  Outcome bad = Recoctl({"events", "add", "shop", "--user", "ann", "--item", "p2", "--type",
                         "click", "--request-id", "xyz"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("request id 'xyz'"), std::string::npos) << bad.err;

  // Variant B for two users, one click between them.
  std::string b_request;
  for (const char* user : {"bob", "dan"}) {
    Outcome b =
        Recoctl({"recommend", "shop", "--user", user, "-k", "2", "--variant", "B", "--json"});
    ASSERT_EQ(b.exit_code, 0) << b.err;
    ASSERT_EQ(b.JsonLines().size(), 2u) << b.out;
    if (b_request.empty()) b_request = b.JsonLines()[0].at("request_id").get<std::string>();
  }
  Outcome human = Recoctl({"recommend", "shop", "--user", "eve", "-k", "1", "--no-log"});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  EXPECT_EQ(human.out.find("request "), std::string::npos) << human.out;

  Outcome ctr = Recoctl({"analytics", "ctr", "shop", "--json"});
  ASSERT_EQ(ctr.exit_code, 0) << ctr.err;
  auto rows = ctr.JsonLines();
  ASSERT_GE(rows.size(), 3u) << ctr.out;
  EXPECT_EQ(rows[0]["variant"], "A");
  EXPECT_EQ(rows[0]["impressions"], 3);
  EXPECT_EQ(rows[0]["clicks"], 1);
  EXPECT_NEAR(rows[0]["ctr"].get<double>(), 1.0 / 3, 1e-9);
  EXPECT_LT(rows[0]["ctr_low"].get<double>(), rows[0]["ctr"].get<double>());
  EXPECT_EQ(rows[1]["variant"], "B");
  EXPECT_EQ(rows[1]["requests"], 2);
  EXPECT_EQ(rows[1]["impressions"], 4);
  EXPECT_EQ(rows[1]["clicks"], 0);
  EXPECT_EQ(rows[2]["variant"], "all");
  EXPECT_EQ(rows[2]["impressions"], 7);
  bool listed_p2 = false;
  for (const auto& row : rows) listed_p2 |= row.contains("id") && row["id"] == "p2";
  EXPECT_TRUE(listed_p2) << ctr.out;

  Outcome coverage = Recoctl({"analytics", "coverage", "shop", "--variant", "A", "--json"});
  ASSERT_EQ(coverage.exit_code, 0) << coverage.err;
  auto cov = coverage.JsonLines();
  ASSERT_EQ(cov.size(), 1u) << coverage.out;
  EXPECT_EQ(cov[0]["catalogue_items"], 8);
  EXPECT_EQ(cov[0]["items_shown"], 3);
  EXPECT_NEAR(cov[0]["coverage"].get<double>(), 3.0 / 8, 1e-9);
  EXPECT_GT(cov[0]["gini"].get<double>(), 0.5);

  Outcome ab = Recoctl({"analytics", "ab", "shop", "--a", "A", "--b", "B", "--json"});
  ASSERT_EQ(ab.exit_code, 0) << ab.err;
  auto metrics = ab.JsonLines();
  ASSERT_EQ(metrics.size(), 2u) << ab.out;
  EXPECT_EQ(metrics[0]["metric"], "ctr");
  EXPECT_NEAR(metrics[0]["a"].get<double>(), 1.0 / 3, 1e-9);
  EXPECT_EQ(metrics[0]["b"], 0.0);
  EXPECT_LE(metrics[0]["low"].get<double>(), metrics[0]["difference"].get<double>());
  EXPECT_GE(metrics[0]["high"].get<double>(), metrics[0]["difference"].get<double>());
  EXPECT_EQ(metrics[0]["significant"], false);  // 1 of 3 against 0 of 4 proves nothing
  EXPECT_EQ(metrics[0]["a_impressions"], 3);
  Outcome ab_text = Recoctl({"analytics", "ab", "shop", "--a", "A", "--b", "B"});
  ASSERT_EQ(ab_text.exit_code, 0) << ab_text.err;
  EXPECT_NE(ab_text.out.find("not significant"), std::string::npos) << ab_text.out;
  Outcome unknown = Recoctl({"analytics", "ab", "shop", "--a", "A", "--b", "Z"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("variant 'Z'"), std::string::npos) << unknown.err;

  Outcome top = Recoctl({"analytics", "top", "shop", "--type", "view", "--json"});
  ASSERT_EQ(top.exit_code, 0) << top.err;
  ASSERT_FALSE(top.JsonLines().empty());
}

// The built-in plugins through the real tools: image and DICOM files named in an import file,
// a search by image, provenance in `get`, de-identified DICOM attributes, a fitted re-embed,
// and collaborative training with progress and the offline evaluation.
class apiToolsWithPlugins : public apiTools {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(recod_.Start(dir_.Sub("data"), {"--plugins", RECO_PLUGIN_DIR}, &error)) << error;
  }
};

TEST_F(apiToolsWithPlugins, ContentFilesSearchByImageFittedReembedAndProvenance) {
  const std::string photos = "/usr/lib/python3/dist-packages/skimage/data/";
  const std::string dicom = "/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm";
  Outcome plugins = Recoctl({"plugins", "--json"});
  ASSERT_EQ(plugins.exit_code, 0) << plugins.err;
  std::set<std::string> names;
  const auto listed = plugins.JsonLines();
  ASSERT_EQ(listed.size(), 1u) << plugins.out;
  for (const auto& p : listed[0]["plugins"]) {
    names.insert(p["name"].get<std::string>());
    EXPECT_EQ(p["abi"], "1.2");
  }
  EXPECT_EQ(names, (std::set<std::string>{"dicom", "image", "text"}));

  Outcome create =
      Recoctl({"collection", "create", "pics", "--space", "name=img,plugin=image", "--space",
               "name=body,plugin=text", "--space", "name=scan,plugin=dicom"});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  // Files relative to the import file's folder, and an absolute one.
  boost::filesystem::create_directories(dir_.Sub("files"));
  for (const char* name : {"coffee.png", "chelsea.png", "astronaut.png"}) {
    boost::filesystem::copy_file(photos + name, dir_.Sub(std::string("files/") + name));
  }
  const std::string file = WriteFile(
      "files/items.jsonl",
      R"({"id": "coffee", "text": "a cup of coffee on a saucer", "image": "coffee.png"})"
      "\n"
      R"({"id": "cat", "text": "a ginger cat looking sideways", "image": "chelsea.png"})"
      "\n"
      R"({"id": "astronaut", "text": "an astronaut in a space suit", "image": ")" +
          dir_.Sub("files/astronaut.png") + R"("})" + "\n" +
          R"({"id": "ct", "text": "a small CT slice", "dicom": ")" + dicom + R"("})" + "\n");
  Outcome import = Recoctl({"import", "pics", file});
  ASSERT_EQ(import.exit_code, 0) << import.err;

  // A re-compressed, smaller copy would be the real test (tests/plugins has it); here the same
  // photo must come back first through the tool's --image.
  Outcome search = Recoctl({"search", "pics", "--space", "img", "--image",
                            dir_.Sub("files/chelsea.png"), "-k", "2", "--json"});
  ASSERT_EQ(search.exit_code, 0) << search.err;
  auto hits = search.JsonLines();
  ASSERT_EQ(hits.size(), 2u) << search.out;
  EXPECT_EQ(hits[0]["id"], "cat");
  Outcome by_text =
      Recoctl({"search", "pics", "--space", "body", "--text", "kitten", "-k", "1", "--json"});
  ASSERT_EQ(by_text.exit_code, 0) << by_text.err;
  EXPECT_EQ(by_text.JsonLines().at(0)["id"], "cat");

  Outcome get = Recoctl({"get", "pics", "coffee", "--json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  const json item = get.JsonLines().at(0);
  EXPECT_EQ(item["spaces"]["img"]["plugin"], "image");
  EXPECT_FALSE(item["spaces"]["img"]["fingerprint"].get<std::string>().empty());
  EXPECT_EQ(item["contents"][0]["content_type"], "image/png");
  // DICOM: searchable header attributes, never the patient's identity.
  Outcome ct = Recoctl({"get", "pics", "ct", "--json"});
  ASSERT_EQ(ct.exit_code, 0) << ct.err;
  EXPECT_EQ(ct.JsonLines().at(0)["attributes"]["modality"], "CT") << ct.out;
  EXPECT_EQ(ct.out.find("CompressedSamples"), std::string::npos) << ct.out;  // PatientName
  Outcome bad = Recoctl({"search", "pics", "--space", "img", "--image", dicom});
  EXPECT_EQ(bad.exit_code, 1);

  // Fit the text space's term weights on the collection and swap them in.
  Outcome reembed = Recoctl({"reembed", "pics", "body", "--fit", "--wait", "--json"});
  ASSERT_EQ(reembed.exit_code, 0) << reembed.err;
  const json done = reembed.JsonLines().at(0);
  EXPECT_EQ(done["state"], "done");
  EXPECT_NE(done["fingerprint"].get<std::string>().find(",idf="), std::string::npos) << done;
  Outcome again =
      Recoctl({"search", "pics", "--space", "body", "--text", "kitten", "-k", "1", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.JsonLines().at(0)["id"], "cat");
}

TEST_F(apiTools, TrainWithProgressAndEvaluate) {
  Outcome create =
      Recoctl({"collection", "create", "cf", "--space",
               "name=bpr,plugin=collaborative,dim=9,metric=ip", "--unknown-items", "create"});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  std::string events = "user,item,type\n";
  for (int u = 0; u < 40; ++u) {
    for (int n = 0; n < 10; ++n) {
      events += "u" + std::to_string(u) + ",i" +
                std::to_string((u % 2) * 20 + (u * 7 + n * 3) % 20) + ",click\n";
    }
  }
  ASSERT_EQ(Recoctl({"events", "import", "cf", WriteFile("cf.csv", events)}).exit_code, 0);
  Outcome train = Recoctl({"train", "cf", "--epochs", "300"});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_NE(train.out.find("trained BPR-MF on 40 users x 40 items: 300 epochs"), std::string::npos)
      << train.out;
  Outcome json_train = Recoctl({"train", "cf", "--epochs", "5", "--incremental", "--json"});
  ASSERT_EQ(json_train.exit_code, 0) << json_train.err;
  auto result = json_train.JsonLines();  // progress lines go to stderr with --json
  ASSERT_EQ(result.size(), 1u) << json_train.out;
  EXPECT_EQ(result[0]["epochs"], 5);
  EXPECT_EQ(result[0]["warm_items"], 40);
  Outcome stats = Recoctl({"stats", "cf", "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  const json space = stats.JsonLines().at(0)["spaces"][0];
  EXPECT_EQ(space["train_state"], "done");
  EXPECT_EQ(space["train_epoch"], 5);
  EXPECT_EQ(space["vectors"], 40);

  Outcome rec = Recoctl({"recommend", "cf", "--user", "u2", "-k", "3", "--explain", "--json"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  for (const auto& line : rec.JsonLines()) {
    EXPECT_LT(std::stoi(line["id"].get<std::string>().substr(1)), 20) << line;
    EXPECT_TRUE(line["parts"].contains("model:bpr")) << line;
  }

  Outcome eval =
      Recoctl({"eval", "cf", "-k", "5", "--strategies", "most-popular,ease,content", "--json"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  auto rows = eval.JsonLines();
  ASSERT_EQ(rows.size(), 3u) << eval.out;
  EXPECT_EQ(rows[0]["strategy"], "most-popular");
  EXPECT_GT(rows[1]["recall@5"].get<double>(), rows[0]["recall@5"].get<double>());
  EXPECT_TRUE(rows[2].contains("error"));  // no content space in this collection
  Outcome bad = Recoctl({"eval", "cf", "--strategies", "magic"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("unknown strategy 'magic'"), std::string::npos) << bad.err;
}

TEST_F(apiTools, FilteredSearchIndexKnobsBackupAndStats) {
  Outcome create = Recoctl({"collection", "create", "shop", "--space",
                            "name=v,plugin=none,index=HNSW16,metric=l2,dim=4,ef_search=40"});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  Outcome get = Recoctl({"collection", "get", "shop", "--json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  std::string items;
  for (int i = 0; i < 30; ++i) {
    items += R"({"id": "i)" + std::to_string(i) + R"(", "attributes": {"price": )" +
             std::to_string(i) + R"(, "category": ")" + (i % 3 ? "hats" : "shoes") +
             R"("}, "vectors": {"v": [)" + std::to_string(i) + ", 0, 0, 0]}}\n";
  }
  ASSERT_EQ(Recoctl({"import", "shop", WriteFile("items.jsonl", items)}).exit_code, 0);

  Outcome search = Recoctl({"search", "shop", "--vector", "[10,0,0,0]", "-k", "3", "--filter",
                            "category = \"shoes\" and price < 20", "--ef", "64", "--json"});
  ASSERT_EQ(search.exit_code, 0) << search.err;
  auto hits = search.JsonLines();
  ASSERT_EQ(hits.size(), 3u) << search.out;
  EXPECT_EQ(hits[0]["id"], "i9");
  EXPECT_EQ(hits[1]["id"], "i12");
  Outcome similar =
      Recoctl({"similar", "shop", "i3", "-k", "2", "--filter", "price >= 25", "--json"});
  ASSERT_EQ(similar.exit_code, 0) << similar.err;
  ASSERT_EQ(similar.JsonLines().size(), 2u);
  EXPECT_EQ(similar.JsonLines()[0]["id"], "i25");

  Outcome bad = Recoctl({"search", "shop", "--vector", "[1,0,0,0]", "--filter", "price <"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("column"), std::string::npos) << bad.err;
  Outcome bad_ef = Recoctl({"search", "shop", "--vector", "[1,0,0,0]", "--ef", "999999"});
  EXPECT_EQ(bad_ef.exit_code, 1);
  EXPECT_NE(bad_ef.err.find("ef"), std::string::npos) << bad_ef.err;

  Outcome stats = Recoctl({"stats", "shop", "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  const json s = stats.JsonLines().at(0);
  EXPECT_EQ(s["spaces"][0]["backend"], "hnswlib");
  EXPECT_EQ(s["spaces"][0]["trained"], true);
  EXPECT_GT(s["spaces"][0]["memory_bytes"].get<int64_t>(), 0);
  EXPECT_GT(s["disk_bytes"].get<int64_t>(), 0);
  EXPECT_GT(s["attribute_index_bytes"].get<int64_t>(), 0);

  const std::string backup = dir_.Sub("backup");
  Outcome done = Recoctl({"backup", backup});
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(Recoctl({"backup", backup}).exit_code, 1);  // exists already
  ASSERT_EQ(Recoctl({"delete", "shop", "i9"}).exit_code, 0);
  // The backup opens as is, with the item deleted after it still there.
  testing::RecodProcess copy;
  std::string error;
  ASSERT_TRUE(copy.Start(backup, {"--plugins", dir_.Sub("plugins")}, &error)) << error;
  Outcome from_copy =
      RunCommand(std::string(RECO_BIN_DIR) + "/recoctl",
                 {"--addr", copy.address(), "get", "shop", "i9", "--json"}, dir_.Sub("stderr2"));
  EXPECT_EQ(from_copy.exit_code, 0) << from_copy.err;
  EXPECT_EQ(copy.Stop(), 0);
}

TEST_F(apiTools, UpsertAndDeleteOneItem) {
  CreateShop();
  Outcome upsert =
      Recoctl({"upsert", "shop", "--id", "x", "--text", "hello", "--attr", "title=Blue hat",
               "--attr", "price=3", "--vector", "[0,0,0,1]", "--space", "v"});
  ASSERT_EQ(upsert.exit_code, 0) << upsert.err;
  Outcome from_json =
      Recoctl({"upsert", "shop", "--json", R"({"id": "y", "vectors": {"v": [0, 0, 1, 1]}})"});
  ASSERT_EQ(from_json.exit_code, 0) << from_json.err;

  Outcome get = Recoctl({"get", "shop", "x", "--json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  auto item = get.JsonLines().at(0);
  EXPECT_EQ(item["attributes"]["title"], "Blue hat");
  EXPECT_EQ(item["attributes"]["price"], 3);
  EXPECT_FALSE(item.contains("vectors"));
  EXPECT_EQ(Items(), 2);

  ASSERT_EQ(Recoctl({"delete", "shop", "x"}).exit_code, 0);
  Outcome gone = Recoctl({"get", "shop", "x"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("error: NotFound"), std::string::npos) << gone.err;
}

TEST_F(apiTools, ImportWithAMalformedLineImportsNothing) {
  CreateShop();
  const std::string file = WriteFile(
      "bad.jsonl", Line("a", "[1, 0, 0, 0]", "A") + Line("b", "[0, 1, 0, 0]", "B") +
                       "{\"id\": \"c\", \"vectors\": \n" + Line("d", "[0, 0, 1, 0]", "D"));
  Outcome run = Recoctl({"import", "shop", file});
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.err.find("line 3"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("nothing was imported"), std::string::npos) << run.err;
  EXPECT_EQ(Items(), 0);
}

TEST_F(apiTools, ImportRefusedByTheServerSaysWhichLinesWereKept) {
  CreateShop();
  // Line 4 has a vector of the wrong size: the engine refuses its batch (lines 3-4).
  const std::string file =
      WriteFile("dim.jsonl", Line("a", "[1, 0, 0, 0]", "A") + Line("b", "[0, 1, 0, 0]", "B") +
                                 Line("c", "[0, 0, 1, 0]", "C") + Line("d", "[0, 0, 1]", "D") +
                                 Line("e", "[0, 0, 0, 1]", "E"));
  Outcome run = Recoctl({"import", "shop", file, "--batch", "2"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("line 4"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("lines 1-2 were imported"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("lines 3-5 were not"), std::string::npos) << run.err;
  EXPECT_EQ(Items(), 2);
}

TEST_F(apiTools, FailuresExitOneAndUsageErrorsExitTwo) {
  Outcome missing = Recoctl({"stats", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("error: NotFound:"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("nope"), std::string::npos) << missing.err;

  CreateShop();
  Outcome zero_k = Recoctl({"search", "shop", "--vector", "[1,0,0,0]", "-k", "0"});
  EXPECT_EQ(zero_k.exit_code, 1);
  EXPECT_NE(zero_k.err.find("OutOfRange"), std::string::npos) << zero_k.err;

  EXPECT_EQ(Recoctl({"search", "shop", "-k", "3"}).exit_code, 2);  // no query
  EXPECT_EQ(Recoctl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Recoctl({"get", "shop"}).exit_code, 2);
  EXPECT_EQ(Recoctl({"collection", "create", "x"}).exit_code, 2);  // no --space

  Outcome refused = RunCommand(std::string(RECO_BIN_DIR) + "/recoctl",
                               {"--addr", "127.0.0.1:1", "ping"}, dir_.Sub("stderr"));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("IOError"), std::string::npos) << refused.err;

  Outcome ping = Recoctl({"ping", "--json"});
  ASSERT_EQ(ping.exit_code, 0) << ping.err;
  EXPECT_EQ(ping.JsonLines().at(0)["ok"], true);
  Outcome plugins = Recoctl({"plugins", "--json"});
  ASSERT_EQ(plugins.exit_code, 0) << plugins.err;
  EXPECT_TRUE(plugins.JsonLines().at(0)["plugins"].is_array());
  EXPECT_TRUE(plugins.JsonLines().at(0)["refused"].is_array());
}

TEST_F(apiTools, RecodStopsCleanlyOnSigtermAndRejectsBadFlags) {
  CreateShop();
  EXPECT_EQ(recod_.Stop(), 0);

  Outcome bad = RunCommand(std::string(RECO_BIN_DIR) + "/recod",
                           {"--data", dir_.Sub("x"), "--bogus"}, dir_.Sub("stderr"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("usage"), std::string::npos) << bad.err;
  Outcome no_port = RunCommand(std::string(RECO_BIN_DIR) + "/recod", {"--data", dir_.Sub("x")},
                               dir_.Sub("stderr"));
  EXPECT_EQ(no_port.exit_code, 2);
  std::ofstream(dir_.Sub("file")) << "not a directory";
  Outcome bad_data =
      RunCommand(std::string(RECO_BIN_DIR) + "/recod",
                 {"--data", dir_.Sub("file"), "--port", "0", "--plugins", dir_.Sub("plugins")},
                 dir_.Sub("stderr"));
  EXPECT_EQ(bad_data.exit_code, 1);
  EXPECT_NE(bad_data.err.find("cannot open the engine"), std::string::npos) << bad_data.err;
  EXPECT_EQ(bad_data.out, "");  // never claimed to listen

  // A restart on the same directory still has the collection.
  std::string error;
  ASSERT_TRUE(recod_.Start(dir_.Sub("data"), {"--plugins", dir_.Sub("plugins")}, &error)) << error;
  Outcome get = Recoctl({"collection", "get", "shop", "--json"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(get.JsonLines().at(0)["name"], "shop");
}

}  // namespace
}  // namespace reco
