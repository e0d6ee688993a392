// Runs each reco_bench subcommand with very small sizes and checks that it exits 0 and prints
// its result lines (--json), each figure with its baseline. Sizes keep the whole file < 20 s.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "testutil/run_command.h"
#include "testutil/temp_dir.h"

namespace reco {
namespace {

using json = nlohmann::json;

struct BenchRun {
  int exit_code = -1;
  std::string out;
  std::vector<json> results;  // the --json lines

  // Result lines whose "result" field is `kind`.
  std::vector<json> Of(const std::string& kind) const {
    std::vector<json> out;
    for (const auto& r : results) {
      if (r.value("result", "") == kind) out.push_back(r);
    }
    return out;
  }
};

BenchRun Bench(const testing::TempDir& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {std::string(RECO_BIN_DIR) + "/reco_bench"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--json", "--dir", dir.Sub("scratch")});
  const testing::CommandResult ran = testing::RunCommand(argv, dir.Sub("stderr"));
  BenchRun run;
  run.exit_code = ran.exit_code;
  run.out = ran.out;
  std::istringstream lines(run.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] == '{') run.results.push_back(json::parse(line));
  }
  if (run.exit_code != 0) {
    ADD_FAILURE() << argv[0] << " " << args.front() << " exited " << run.exit_code << "\nstdout:\n"
                  << run.out << "\nstderr:\n"
                  << ran.err;
  }
  return run;
}

// Every run starts with the machine line.
void ExpectMachine(const BenchRun& run) {
  EXPECT_NE(run.out.find("machine: nproc"), std::string::npos);
  ASSERT_EQ(run.Of("machine").size(), 1u);
}

TEST(BenchSmokeTest, Ann) {
  testing::TempDir dir;
  // A tiny .fvecs file: 2,000 clustered 16-d vectors.
  const int n = 2000, dim = 16;
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> centers(20 * dim);
  for (auto& c : centers) c = g(rng);
  std::ofstream out(dir.Sub("tiny.fvecs"), std::ios::binary);
  for (int i = 0; i < n; ++i) {
    out.write(reinterpret_cast<const char*>(&dim), 4);
    for (int j = 0; j < dim; ++j) {
      const float v = centers[(i % 20) * dim + j] + 0.3f * g(rng);
      out.write(reinterpret_cast<const char*>(&v), 4);
    }
  }
  out.close();
  BenchRun run = Bench(dir, {"ann", "--vectors", dir.Sub("tiny.fvecs"), "--queries", "50", "--m",
                             "8", "--ef-construction", "40", "--ef", "10,80", "--nlist", "16",
                             "--nprobe", "1,16", "--rounds", "1", "--min-seconds", "0"});
  ExpectMachine(run);
  std::set<std::string> built;
  for (const auto& b : run.Of("build")) {
    built.insert(b["system"].get<std::string>() + " " + b["index"].get<std::string>());
  }
  EXPECT_EQ(built, (std::set<std::string>{"engine HNSW8", "engine IVF16,Flat", "faiss HNSW8",
                                          "faiss IVF16,Flat", "hnswlib HNSW8"}));
  const auto queries = run.Of("query");
  ASSERT_EQ(queries.size(), 4u);  // 2 ef + 2 nprobe
  for (const auto& q : queries) {
    ASSERT_TRUE(q["engine"].is_object()) << q.dump();
    EXPECT_GT(q["engine"]["qps"].get<double>(), 0);
    EXPECT_TRUE(q["ratio"].is_number()) << q.dump();
  }
  // nprobe = nlist visits every list: exact.
  EXPECT_NEAR(queries[3]["engine"]["recall"].get<double>(), 1.0, 1e-9);
  EXPECT_NEAR(queries[3]["faiss"]["recall"].get<double>(), 1.0, 1e-9);
  ASSERT_EQ(run.Of("headline").size(), 1u);
  EXPECT_NE(run.out.find("engine/hnswlib"), std::string::npos);
}

TEST(BenchSmokeTest, Exact) {
  testing::TempDir dir;
  BenchRun run = Bench(dir, {"exact", "--n", "5000", "--dim", "16", "--queries", "5", "--batch",
                             "4", "--reps", "1", "--rounds", "1"});
  ExpectMachine(run);
  EXPECT_EQ(run.Of("bandwidth").size(), 2u);
  const auto singles = run.Of("single");
  ASSERT_EQ(singles.size(), 4u);  // FAISS, VectorIndex x 2 threads, engine
  for (const auto& s : singles) {
    EXPECT_GT(s["qps"].get<double>(), 0);
    EXPECT_GT(s["baseline_qps"].get<double>(), 0);
    EXPECT_NEAR(s["recall"].get<double>(), 1.0, 1e-9) << s.dump();  // exact search
  }
  ASSERT_EQ(run.Of("batch").size(), 1u);
}

TEST(BenchSmokeTest, Ingest) {
  testing::TempDir dir;
  BenchRun run = Bench(
      dir, {"ingest", "--n", "1000", "--dim", "16", "--batch", "250", "--ef-construction", "40"});
  ExpectMachine(run);
  ASSERT_EQ(run.Of("baseline").size(), 1u);
  const auto engine = run.Of("engine");
  ASSERT_EQ(engine.size(), 2u);  // Flat, HNSW16
  for (const auto& e : engine) EXPECT_GT(e["ratio"].get<double>(), 0);
}

TEST(BenchSmokeTest, Restart) {
  testing::TempDir dir;
  BenchRun run =
      Bench(dir, {"restart", "--n", "1000", "--dim", "16", "--reps", "1", "--queries", "5"});
  ExpectMachine(run);
  const auto load = run.Of("open_with_index_files");
  ASSERT_EQ(load.size(), 1u);
  EXPECT_GT(load[0]["ratio"].get<double>(), 0);
  EXPECT_EQ(run.Of("open_rebuild").size(), 1u);
}

TEST(BenchSmokeTest, Filtered) {
  testing::TempDir dir;
  BenchRun run = Bench(dir, {"filtered", "--n", "2000", "--dim", "16", "--queries", "10", "--nlist",
                             "16", "--min-seconds", "0"});
  ExpectMachine(run);
  const auto rows = run.Of("query");
  ASSERT_EQ(rows.size(), 15u);  // 5 filters x 3 spaces
  for (const auto& r : rows) {
    EXPECT_GT(r["baseline_qps"].get<double>(), 0);
    if (r["space"] == "Flat") {
      EXPECT_NEAR(r["recall"].get<double>(), 1.0, 1e-9) << r.dump();
    }
  }
}

TEST(BenchSmokeTest, Memory) {
  testing::TempDir dir;
  BenchRun run = Bench(dir, {"memory", "--n", "1000", "--dim", "16", "--specs",
                             "Flat;HNSW16;IVF16,Flat;IVF16,PQ4;SQ8"});
  ExpectMachine(run);
  const auto rows = run.Of("index");
  ASSERT_EQ(rows.size(), 5u);
  for (const auto& r : rows) {
    EXPECT_EQ(r["baseline_bytes_per_vector"].get<double>(), 64.0);
    EXPECT_GT(r["stats_bytes_per_vector"].get<double>(), 0) << r.dump();
  }
}

TEST(BenchSmokeTest, Plugins) {
  // The built plugins on the plugin tests' corpora, where they are installed (tools/setup).
  const std::string plugins = RECO_PLUGIN_DIR;
  std::vector<std::string> which;
  if (std::ifstream(plugins + "/text-glove100.pt")) which.push_back("text");
  if (std::ifstream("/usr/lib/python3/dist-packages/skimage/data/astronaut.png")) {
    which.push_back("image");
  }
  if (std::ifstream("/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm")) {
    which.push_back("dicom");
  }
  if (which.empty()) GTEST_SKIP() << "no GloVe model, skimage photos or pydicom files";
  std::string list;
  for (const auto& w : which) list += (list.empty() ? "" : ",") + w;
  testing::TempDir dir;
  BenchRun run =
      Bench(dir, {"plugins", "--plugin-dir", plugins, "--plugins", list, "--batches", "1,4",
                  "--pass-items", "4", "--min-seconds", "0", "--rounds", "1", "--reps", "1"});
  ExpectMachine(run);
  EXPECT_NE(run.out.find("plugin/forward"), std::string::npos);
  EXPECT_NE(run.out.find("engine/forward"), std::string::npos);
  std::set<std::string> seen;
  for (const auto& r : run.Of("throughput")) {
    seen.insert(r["plugin"].get<std::string>() + " " + std::to_string(r["batch"].get<int>()));
    EXPECT_GT(r["forward_ips"].get<double>(), 0) << r.dump();
    EXPECT_GT(r["plugin_ips"].get<double>(), 0) << r.dump();
    EXPECT_GT(r["ratio"].get<double>(), 0) << r.dump();
    EXPECT_GT(r["ratio_prep"].get<double>(), 0) << r.dump();
  }
  std::set<std::string> want;
  for (const auto& w : which) {
    for (const char* b : {" 1", " 4"}) {
      want.insert(w + b);
      if (w == "dicom") want.insert("dicom, isolate false" + std::string(b));
    }
  }
  EXPECT_EQ(seen, want);
  // The direct LibTorch baseline computes what the plugin computes.
  const auto checks = run.Of("check");
  ASSERT_EQ(checks.size(), which.size());
  for (const auto& c : checks) EXPECT_LT(c["max_abs_diff"].get<double>(), 1e-4) << c.dump();
  EXPECT_EQ(run.Of("startup").size(), 3 * which.size());  // fresh process, in process, direct
}

TEST(BenchSmokeTest, Events) {
  testing::TempDir dir;
  BenchRun run = Bench(dir, {"events", "--n", "3000", "--batch", "500", "--users", "50", "--items",
                             "400", "--rounds", "1"});
  ExpectMachine(run);
  const auto base = run.Of("baseline");
  ASSERT_EQ(base.size(), 1u);
  EXPECT_GT(base[0]["bytes"].get<double>(), 3000 * 58.0);  // event record + counter merge
  ASSERT_EQ(run.Of("reference").size(), 1u);
  const auto engine = run.Of("engine");
  ASSERT_EQ(engine.size(), 1u);
  EXPECT_GT(engine[0]["ratio"].get<double>(), 0);
  EXPECT_GT(engine[0]["baseline_events_per_s"].get<double>(), 0);
}

TEST(BenchSmokeTest, Recommend) {
  testing::TempDir dir;
  BenchRun run =
      Bench(dir, {"recommend", "--items", "3000", "--dim", "16", "--queries", "5", "--clusters",
                  "30", "--heavy-events", "100", "--rounds", "1", "--min-seconds", "0"});
  ExpectMachine(run);
  ASSERT_EQ(run.Of("baseline").size(), 1u);
  const auto rows = run.Of("recommend");
  ASSERT_EQ(rows.size(), 2u);  // 10-event and 100-event users
  for (const auto& r : rows) {
    EXPECT_GT(r["p50_ms"].get<double>(), 0) << r.dump();
    EXPECT_GT(r["ratio"].get<double>(), 0) << r.dump();
  }
  EXPECT_EQ(rows[0]["history_events"].get<int>(), 10);
  EXPECT_EQ(rows[1]["history_events"].get<int>(), 100);
  const auto check = run.Of("check");
  ASSERT_EQ(check.size(), 1u);
  EXPECT_EQ(check[0]["light_full"].get<int>(), 5);  // every user gets k results
  EXPECT_EQ(check[0]["heavy_full"].get<int>(), 5);
  EXPECT_EQ(check[0]["light_seen"].get<int>(), 0);  // none of them seen before
  EXPECT_EQ(check[0]["heavy_seen"].get<int>(), 0);
}

TEST(BenchSmokeTest, Train) {
  testing::TempDir dir;
  // A tiny u.data (user, item, rating, unix seconds; tab-separated): 40 users x 15 of 60 items.
  {
    std::ofstream out(dir.Sub("u.data"));
    std::mt19937 rng(3);
    for (int u = 1; u <= 40; ++u) {
      std::set<int> items;
      while (items.size() < 15) items.insert(1 + int(rng() % 60));
      int t = 0;
      for (int i : items)
        out << u << '\t' << i << '\t' << 1 + rng() % 5 << '\t' << 880000000 + t++ << '\n';
    }
  }
  BenchRun run = Bench(
      dir, {"train", "--movielens", dir.path(), "--epochs", "2", "--dim", "8", "--rounds", "1"});
  ExpectMachine(run);
  const auto base = run.Of("baseline");
  ASSERT_EQ(base.size(), 1u);
  EXPECT_EQ(base[0]["data"], "u.data");
  const auto engine = run.Of("engine");
  ASSERT_EQ(engine.size(), 1u);
  EXPECT_EQ(engine[0]["epochs"].get<int>(), 2);
  EXPECT_GT(engine[0]["ratio"].get<double>(), 0);
  EXPECT_EQ(run.Of("engine_1").size(), 1u);
  EXPECT_EQ(run.Of("reference").size(), 1u);  // EASE
}

}  // namespace
}  // namespace reco
