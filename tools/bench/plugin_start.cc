// reco_bench_plugin_start: the start-up of one embedding plugin in a fresh process, as recod
// pays it. `reco_bench plugins` runs it once per plugin. It links the engine's PluginHost and
// nothing of LibTorch, so loading a plugin library also loads LibTorch, as it does in recod
// (reco_bench itself links LibTorch for its direct baselines).
//
//   reco_bench_plugin_start LIBRARY CONFIG_JSON CONTENT_TYPE INPUT_FILE REPS
//
// Prints one JSON object: load_s (PluginHost::LoadLibrary), create_s (CreateEmbedder: the
// model is loaded and probed), first_embed_s (the first Embed of INPUT_FILE's bytes, batch 1),
// steady_embed_s (median of REPS more after 3 untimed ones: TorchScript's profiling executor
// optimises a graph in its first calls), dim. Exit code 1 with a message on stderr on failure.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/plugin_host.h"

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "reco_bench_plugin_start: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    return Fail("usage: reco_bench_plugin_start LIBRARY CONFIG_JSON CONTENT_TYPE INPUT_FILE REPS");
  }
  const std::string library = argv[1], config = argv[2], content_type = argv[3];
  const int reps = std::max(1, std::atoi(argv[5]));
  std::ifstream in(argv[4], std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return Fail(std::string("cannot read ") + argv[4]);

  reco::engine::PluginHost host;
  auto start = Clock::now();
  reco::Status st = host.LoadLibrary(library);
  const double load_s = SecondsSince(start);
  if (!st.ok()) return Fail("loading " + library + ": " + st.ToString());
  const std::vector<reco::engine::PluginInfo> plugins = host.plugins();
  if (plugins.empty()) return Fail(library + " registered no plugin");
  const std::string name = plugins.back().name;

  std::unique_ptr<reco::engine::Embedder> embedder;
  start = Clock::now();
  st = host.CreateEmbedder(name, config, &embedder);
  const double create_s = SecondsSince(start);
  if (!st.ok()) return Fail("creating " + name + " with " + config + ": " + st.ToString());

  const std::vector<reco_input> inputs = {
      {content_type.c_str(), reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}};
  std::vector<float> out;
  start = Clock::now();
  st = embedder->Embed(inputs, 1, &out);
  const double first_s = SecondsSince(start);
  if (!st.ok()) return Fail("embedding " + std::string(argv[4]) + ": " + st.ToString());
  std::vector<double> steady;
  for (int r = 0; r < 3 + reps; ++r) {
    start = Clock::now();
    st = embedder->Embed(inputs, 1, &out);
    if (r >= 3) steady.push_back(SecondsSince(start));
    if (!st.ok()) return Fail("embedding " + std::string(argv[4]) + ": " + st.ToString());
  }
  std::sort(steady.begin(), steady.end());
  const nlohmann::json result = {{"plugin", name},
                                 {"load_s", load_s},
                                 {"create_s", create_s},
                                 {"first_embed_s", first_s},
                                 {"steady_embed_s", steady[steady.size() / 2]},
                                 {"dim", embedder->dim()}};
  std::printf("%s\n", result.dump().c_str());
  return 0;
}
