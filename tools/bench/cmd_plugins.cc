// reco_bench plugins: items/s of each built-in embedding plugin at batch 1 and 32 against
// LibTorch called directly on the same model in the same process (the plugin's and the
// engine's overhead as a ratio), and each plugin's start-up time.
//
// Plugins and inputs (the plugin tests' corpora): text (reco_text.so, its default model
// text-glove100.pt) on the texts of examples/catalogue.jsonl; image (reco_image.so, its
// built-in descriptor model, or a user TorchScript model with --image-model) on the skimage
// photos of Debian's python3-skimage; dicom (reco_dicom.so, its built-in descriptor model) on
// DICOM files of Debian's python3-pydicom. A pass embeds the inputs in order, repeated up to a
// multiple of the largest batch. For each plugin and batch size:
//  - LibTorch forward: the plugin's model (the same .pt file, or the same built-in
//    TorchScript source) loaded with torch::jit, forward() on model inputs made once
//    beforehand by the plugin's own input code, compiled into this tool (the word tokenizer's
//    EmbeddingBag ids/offsets/weights; decoded, resized and normalised NCHW images; GDCM-decoded,
//    windowed and resized DICOM frames). The baseline.
//  - prep + forward: the same, but the model inputs are made from the raw bytes inside the
//    timed loop (tokenising, decoding, resizing): a plugin's work without ABI and engine.
//  - plugin: engine::Embedder::Embed (PluginHost, the plugin C ABI) on the raw bytes with
//    batch_size = the batch; for dicom also with "isolate": false (decoding in process instead
//    of in the plugin's decoder process).
//  - engine: Engine::Upsert of items that carry the raw text or content into a Flat space of
//    the plugin, `batch` items per call (embedding, describe, RocksDB write, index add).
// All run on the calling thread with InferenceMode and at::set_num_threads(1), the plugins'
// setting (the dicom plugin decodes in its decoder process by default). Within a round the
// systems take turns of about one pass of the slowest, so that load changes on a shared
// machine hit them alike; items/s is the median of the rounds.
//
// Start-up: in a fresh process that has no LibTorch loaded (reco_bench_plugin_start, as recod
// pays it), in this process (LibTorch already loaded), and for the direct model load.
#include <ATen/Parallel.h>
#include <sys/wait.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include "engine/plugin_host.h"
#include "plugins/dicom/default_model.h"
#include "plugins/dicom/dicom_decode.h"
#include "plugins/image/default_model.h"
#include "plugins/image/image_decode.h"
#include "plugins/image/preprocess.h"
#include "plugins/text/tokenizer.h"
#include "plugins/text/word_model.h"
#include "tools/bench/bench.h"

#ifndef RECO_SOURCE_DIR
#define RECO_SOURCE_DIR "."
#endif

namespace reco {
namespace bench {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSkimageDir = "/usr/lib/python3/dist-packages/skimage/data";
constexpr const char* kPydicomDir = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

// The photos of tests/plugins/image_plugin_test.cc.
const char* const kPhotos[] = {"astronaut.png",
                               "brick.png",
                               "camera.png",
                               "cell.png",
                               "chelsea.png",
                               "clock_motion.png",
                               "coffee.png",
                               "coins.png",
                               "color.png",
                               "grass.png",
                               "gravel.png",
                               "horse.png",
                               "hubble_deep_field.jpg",
                               "ihc.png",
                               "logo.png",
                               "microaneurysms.png",
                               "moon.png",
                               "motorcycle_left.png",
                               "motorcycle_right.png",
                               "page.png",
                               "phantom.png",
                               "retina.jpg",
                               "rocket.jpg",
                               "text.png"};

// Image-bearing pydicom files (all embed in tests/plugins/dicom_plugin_test.cc): CT, MR, NM,
// US, SEG and secondary captures, in most transfer syntaxes (raw little/big endian, deflate,
// RLE, JPEG baseline/extended, JPEG-LS, JPEG 2000). Not SC_rgb_jpeg.dcm: decoded in process,
// GDCM zero-fills a huge buffer for it (about 1 s) unless the address space is limited, as the
// plugin's decoder process limits it (then about 1 ms); one such file would make every in-process
// figure about it (--dicom-files SC_rgb_jpeg.dcm shows it).
const char* const kDicomFiles[] = {"CT_small.dcm",
                                   "693_J2KI.dcm",
                                   "J2K_pixelrep_mismatch.dcm",
                                   "MR_small.dcm",
                                   "MR_small_RLE.dcm",
                                   "MR_small_jp2klossless.dcm",
                                   "MR_small_jpeg_ls_lossless.dcm",
                                   "MR_small_bigendian.dcm",
                                   "JPGExtended.dcm",
                                   "JPEG2000.dcm",
                                   "ExplVR_BigEnd.dcm",
                                   "SC_rgb_jpeg_dcmtk.dcm",
                                   "SC_rgb_jpeg_dcmd.dcm",
                                   "SC_rgb_rle.dcm",
                                   "liver_1frame.dcm",
                                   "image_dfl.dcm"};

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::string();
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

using ForwardArgs = std::vector<c10::IValue>;

// Model inputs that own their memory (prepare() may return views of scratch memory).
ForwardArgs Owned(ForwardArgs args) {
  for (c10::IValue& a : args) {
    if (a.isTensor()) a = a.toTensor().clone();
  }
  return args;
}

// The rows of a model output as a float [B, D] tensor ([B, D, 1, 1] is flattened).
at::Tensor Rows(const c10::IValue& out) {
  if (!out.isTensor()) Fail("model returned a " + out.tagKind() + ", not a tensor");
  at::Tensor t = out.toTensor();
  if (t.dim() == 4 && t.size(2) == 1 && t.size(3) == 1) t = t.flatten(1);
  if (t.dim() != 2) Fail("model output is not [batch, dim]");
  return t.to(at::kFloat).contiguous();
}

// One plugin to measure: where it is, what it runs, its inputs, and how to run its model
// directly.
struct Case {
  std::string name;              // row label
  std::string library;           // path of the plugin library
  std::string model;             // what the model is, for the tables
  json config = json::object();  // plugin options
  // Extra plugin-only rows: (label, options); e.g. dicom without its decoder process.
  std::vector<std::pair<std::string, json>> variants;
  std::string content_type;                  // "text/plain" or the inputs' type
  std::vector<std::string> inputs;           // raw bytes
  std::function<torch::jit::Module()> load;  // the plugin's model, as the plugin makes it
  // Model inputs of a batch of raw inputs, made by the plugin's own input code. They may view
  // scratch memory that the next call reuses (as the plugin's do): Owned() keeps them.
  std::function<ForwardArgs(const std::vector<const std::string*>&)> prepare;
};

// ---- text: the word-vector model and its tokenizer ----

// The vocabulary of a word-vector model as the plugin reads it (text_plugin.cc MakeWordModel).
std::shared_ptr<const text::WordVocabulary> WordVocabularyOf(const torch::jit::Module& m) {
  for (const char* name : {"vocab", "word_weights", "ngram_vectors"}) {
    if (!m.hasattr(name) || !m.attr(name).isTensor()) {
      Fail(std::string("the text model has no tensor '") + name + "' (not a word-vector model)");
    }
  }
  const at::Tensor vocab = m.attr("vocab").toTensor().contiguous();
  const at::Tensor weights = m.attr("word_weights").toTensor().to(at::kFloat).contiguous();
  const int64_t ngrams = m.attr("ngram_vectors").toTensor().size(0);
  std::vector<std::string> words;
  const auto* p = reinterpret_cast<const char*>(vocab.data_ptr<uint8_t>());
  const char* end = p + vocab.numel();
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', end - p));
    if (nl == nullptr) nl = end;
    words.emplace_back(p, nl);
    p = nl + 1;
  }
  const float* w = weights.data_ptr<float>();
  return std::make_shared<const text::WordVocabulary>(
      std::move(words), std::vector<float>(w, w + weights.numel()), static_cast<uint32_t>(ngrams));
}

Case TextCase(const std::string& plugin_dir, const std::string& catalogue) {
  Case c;
  c.name = "text";
  c.library = plugin_dir + "/reco_text.so";
  const std::string model = plugin_dir + "/text-glove100.pt";
  if (!fs::is_regular_file(model)) {
    Fail("no " + model +
         ": the text plugin's default model (run tools/setup, then build "
         "reco_text)");
  }
  c.model = "text-glove100.pt (GloVe 6B, 100-d)";
  c.content_type = "text/plain";
  std::ifstream in(catalogue);
  if (!in) Fail("cannot open " + catalogue + " (--catalogue)");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("text") && j["text"].is_string()) {
      c.inputs.push_back(j["text"].get<std::string>());
    }
  }
  if (c.inputs.empty()) Fail(catalogue + " has no texts");
  // The featurizer is the plugin's (word_model.h) over the vocabulary of the loaded model.
  auto featurizer = std::make_shared<std::unique_ptr<text::WordFeaturizer>>();
  c.load = [model, featurizer] {
    torch::jit::Module m = torch::jit::load(model, torch::kCPU);
    m.eval();
    m.run_method("unpack");  // the float table, which the plugin also makes at load
    *featurizer = std::make_unique<text::WordFeaturizer>(WordVocabularyOf(m));
    return m;
  };
  // As the plugin: one scratch bag, and tensors that view it.
  auto bag = std::make_shared<text::Bag>();
  c.prepare = [featurizer, bag](const std::vector<const std::string*>& texts) {
    bag->clear();
    for (const std::string* t : texts) {
      if (!(*featurizer)->AppendBag(*t, bag.get())) Fail("a catalogue text has no word");
    }
    const auto nnz = static_cast<int64_t>(bag->ids.size());
    const auto b = static_cast<int64_t>(bag->offsets.size());
    return ForwardArgs{at::from_blob(bag->ids.data(), {nnz}, at::kLong),
                       at::from_blob(bag->offsets.data(), {b}, at::kLong),
                       at::from_blob(bag->weights.data(), {nnz}, at::kFloat)};
  };
  return c;
}

// ---- image: stb decoding, the plugin's preprocessing, the default or a user model ----

Case ImageCase(const std::string& plugin_dir, const std::string& photos_dir,
               const std::string& user_model) {
  Case c;
  c.name = user_model.empty() ? "image" : "image+" + fs::path(user_model).stem().string();
  c.library = plugin_dir + "/reco_image.so";
  c.model = user_model.empty() ? "built-in descriptors (944-d)"
                               : fs::path(user_model).filename().string();
  if (!user_model.empty()) c.config["model"] = user_model;
  for (const char* name : kPhotos) {
    std::string bytes = ReadBytes(photos_dir + "/" + name);
    if (!bytes.empty()) c.inputs.push_back(std::move(bytes));
  }
  if (c.inputs.size() < 20) {
    Fail("the skimage photos are missing from " + photos_dir +
         " (install python3-skimage: tools/setup; or --photos DIR)");
  }
  // Every photo is PNG or JPEG: the engine's content type is the sniffed one.
  c.content_type = "image/png";
  const image::PreprocessOptions pre;  // the plugin's defaults: 224, crop, ImageNet mean/std
  if (user_model.empty()) {
    c.load = [pre] {
      torch::jit::Module m("reco_image_default");
      m.register_buffer(
          "mean", at::from_blob(const_cast<float*>(pre.mean), {1, 3, 1, 1}, at::kFloat).clone());
      m.register_buffer(
          "std", at::from_blob(const_cast<float*>(pre.std), {1, 3, 1, 1}, at::kFloat).clone());
      m.define(image::kDefaultModelSource);
      m.eval();
      return m;
    };
  } else {
    c.load = [user_model] {
      torch::jit::Module m = torch::jit::load(user_model, torch::kCPU);
      m.eval();
      return m;
    };
  }
  c.prepare = [pre](const std::vector<const std::string*>& images) {
    const int s = pre.input_size;
    at::Tensor batch = at::empty({static_cast<int64_t>(images.size()), 3, s, s}, at::kFloat);
    float* dst = batch.data_ptr<float>();
    for (const std::string* bytes : images) {
      const image::RgbImage img =
          image::Decode(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size(), 40000000);
      image::Preprocess(img.pixels.data(), img.width, img.height, pre, dst);
      dst += size_t{3} * s * s;
    }
    return ForwardArgs{batch};
  };
  return c;
}

// ---- dicom: GDCM decoding, the plugin's resize, the default model ----

Case DicomCase(const std::string& plugin_dir, const std::string& dicom_dir,
               const std::vector<std::string>& files) {
  Case c;
  c.name = "dicom";
  c.library = plugin_dir + "/reco_dicom.so";
  c.model = "built-in descriptors (936-d)";
  c.variants.push_back({"dicom, isolate false", json{{"isolate", false}}});
  c.content_type = "application/dicom";
  for (const std::string& name : files) {
    std::string bytes = ReadBytes(dicom_dir + "/" + name);
    if (!bytes.empty()) c.inputs.push_back(std::move(bytes));
  }
  if (c.inputs.size() < std::min<size_t>(files.size(), 8)) {
    Fail("the pydicom test files are missing from " + dicom_dir +
         " (install python3-pydicom: tools/setup; or --dicom-dir DIR)");
  }
  dicom::QuietGdcm();
  c.load = [] {
    torch::jit::Module m = dicom::MakeDefaultModel();
    m.eval();
    return m;
  };
  c.prepare = [](const std::vector<const std::string*>& files) {
    const int64_t s = 256;  // the plugin's default input_size
    std::vector<at::Tensor> rows;
    torch::InferenceMode guard;
    for (const std::string* bytes : files) {
      dicom::DecodedImage img = dicom::DecodeImage(reinterpret_cast<const uint8_t*>(bytes->data()),
                                                   bytes->size(), dicom::DecodeOptions());
      // dicom_plugin.cc Prepare() for the default model (3 channels, no normalisation).
      const auto ch = static_cast<int64_t>(img.channels);
      const auto h = static_cast<int64_t>(img.rows);
      const auto w = static_cast<int64_t>(img.cols);
      at::Tensor t = at::from_blob(img.pixels.data(), {1, ch, h, w}, at::kFloat);
      t = (h != s || w != s) ? at::_upsample_bilinear2d_aa(t, {s, s}, false) : t.clone();
      t = t.clamp(0.0, 1.0);
      if (t.size(1) == 1) t = t.expand({1, 3, s, s});
      rows.push_back(t.contiguous());
    }
    return ForwardArgs{at::cat(rows, 0)};
  };
  return c;
}

// ---- timing ----

using Pass = std::function<void()>;  // one pass over the inputs of a pass

// Warms up every system (one untimed pass: the TorchScript executor profiles and optimises a
// graph in its first calls), times one more pass of each, and returns how many passes of each
// make one turn of about the slowest system's pass.
std::vector<size_t> PassesPerTurn(const std::vector<Pass>& systems) {
  std::vector<double> seconds;
  for (const Pass& pass : systems) {
    pass();
    const auto start = Clock::now();
    pass();
    seconds.push_back(std::max(1e-6, SecondsSince(start)));
  }
  const double slowest = *std::max_element(seconds.begin(), seconds.end());
  std::vector<size_t> passes;
  for (double s : seconds) passes.push_back(std::max<size_t>(1, std::lround(slowest / s)));
  return passes;
}

// Items/s of each system, measured turn by turn (each system runs its passes per turn, then the
// next), so that load changes on a shared machine hit every system alike, until each has run
// for min_seconds (at least one turn).
std::vector<double> InterleavedItemsPerSecond(size_t items, double min_seconds,
                                              const std::vector<Pass>& systems,
                                              const std::vector<size_t>& passes) {
  std::vector<double> seconds(systems.size(), 0);
  std::vector<size_t> done(systems.size(), 0);
  do {
    for (size_t s = 0; s < systems.size(); ++s) {
      const auto start = Clock::now();
      for (size_t p = 0; p < passes[s]; ++p) systems[s]();
      seconds[s] += SecondsSince(start);
      done[s] += passes[s] * items;
    }
  } while (*std::min_element(seconds.begin(), seconds.end()) < min_seconds);
  std::vector<double> ips;
  for (size_t s = 0; s < systems.size(); ++s) ips.push_back(done[s] / seconds[s]);
  return ips;
}

// Median milliseconds of `reps` calls after 3 untimed ones (TorchScript's profiling executor
// optimises a graph in its first calls; reco_bench_plugin_start does the same).
double MedianMs(int reps, const std::function<void()>& fn) {
  for (int r = 0; r < 3; ++r) fn();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto start = Clock::now();
    fn();
    t.push_back(SecondsSince(start) * 1e3);
  }
  return Median(t);
}

c10::IValue Forward(torch::jit::Module& m, const ForwardArgs& args) {
  torch::InferenceMode guard;
  return m.forward(args);
}

// Start-up figures of one way to run a model (ms; -1 = not applicable).
struct Startup {
  double load_ms = -1, create_ms = -1, first_ms = -1, steady_ms = -1;
};

// The start-up in a fresh process (reco_bench_plugin_start next to this binary).
Startup FreshProcessStartup(const Case& c, const json& config, const std::string& input_file,
                            int reps) {
  const std::string exe = fs::path(SelfExe()).parent_path().string() + "/reco_bench_plugin_start";
  if (!fs::exists(exe)) Fail("no " + exe + " (build the target reco_bench_plugin_start)");
  const std::string cmd = ShellQuote(exe) + " " + ShellQuote(c.library) + " " +
                          ShellQuote(config.dump()) + " " + ShellQuote(c.content_type) + " " +
                          ShellQuote(input_file) + " " + std::to_string(reps);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) Fail("cannot run " + cmd);
  std::string text;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof(buf), pipe)) > 0) text.append(buf, got);
  const int status = pclose(pipe);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Fail("start-up child failed: " + cmd);
  const json j = json::parse(text, nullptr, false);
  if (!j.is_object()) Fail("start-up child printed no result: " + cmd);
  Startup s;
  s.load_ms = j["load_s"].get<double>() * 1e3;
  s.create_ms = j["create_s"].get<double>() * 1e3;
  s.first_ms = j["first_embed_s"].get<double>() * 1e3;
  s.steady_ms = j["steady_embed_s"].get<double>() * 1e3;
  return s;
}

std::string Ms(double ms) { return ms < 0 ? "-" : Fixed(ms, ms < 10 ? 2 : 1); }

json StartupJson(const std::string& plugin, const std::string& where, const Startup& s) {
  json j = {{"result", "startup"}, {"plugin", plugin}, {"where", where}};
  if (s.load_ms >= 0) j["load_ms"] = s.load_ms;
  j["create_ms"] = s.create_ms;
  j["first_ms"] = s.first_ms;
  j["steady_ms"] = s.steady_ms;
  return j;
}

// Figures of one case at one batch size (median of rounds).
struct Throughput {
  size_t batch = 0;
  double forward = 0, prep_forward = 0, engine = 0;
  std::vector<double> plugin;  // per variant (0 = the default config)
};

}  // namespace

int RunPlugins(Args& args, Report& report) {
  const std::string default_plugins =
      (fs::path(SelfExe()).parent_path() / ".." / "lib" / "reco" / "plugins").lexically_normal();
  const std::string plugin_dir = args.Str("plugin-dir", default_plugins);
  const auto which = args.StrList("plugins", "text,image,dicom", ',');
  const std::string image_model = args.Str("image-model", "");
  const auto batches = args.IntList("batches", "1,32");
  const double min_seconds = args.Double("min-seconds", 1.0);
  const int rounds = static_cast<int>(args.Int("rounds", 3));
  const size_t pass_items = args.Int("pass-items", 0);
  const int reps = static_cast<int>(args.Int("reps", 10));
  const bool with_engine = !args.Flag("no-engine");
  const std::string catalogue =
      args.Str("catalogue", std::string(RECO_SOURCE_DIR) + "/examples/catalogue.jsonl");
  const std::string photos = args.Str("photos", kSkimageDir);
  const std::string dicom_dir = args.Str("dicom-dir", kPydicomDir);
  std::string default_files;
  for (const char* f : kDicomFiles)
    default_files += std::string(default_files.empty() ? "" : ",") + f;
  const auto dicom_files = args.StrList("dicom-files", default_files, ',');
  const std::string dir_base = args.Str("dir", "");
  args.Finish();
  if (rounds < 1) Fail("--rounds must be >= 1");

  // The plugins run LibTorch with one intra-op thread (SetTorchThreadsOnce in each); so does
  // every direct call here.
  at::set_num_threads(1);
  std::vector<Case> cases;
  for (const auto& w : which) {
    if (w == "text") {
      cases.push_back(TextCase(plugin_dir, catalogue));
    } else if (w == "image") {
      cases.push_back(ImageCase(plugin_dir, photos, ""));
      if (!image_model.empty()) cases.push_back(ImageCase(plugin_dir, photos, image_model));
    } else if (w == "dicom") {
      cases.push_back(DicomCase(plugin_dir, dicom_dir, dicom_files));
    } else {
      Fail("unknown plugin '" + w + "' in --plugins (text, image, dicom)");
    }
  }
  for (const Case& c : cases) {
    if (!fs::is_regular_file(c.library)) {
      Fail("no " + c.library + " (build it, or name the folder with --plugin-dir)");
    }
  }
  const size_t max_batch = *std::max_element(batches.begin(), batches.end());
  TempDir dir(dir_base);

  std::vector<std::vector<Startup>> startups(cases.size());  // fresh, in process, direct
  std::vector<std::vector<Throughput>> results(cases.size());
  std::vector<double> max_diff(cases.size(), 0);
  std::vector<size_t> pass_sizes(cases.size(), 0);
  std::vector<engine::PluginHost> hosts(cases.size());
  std::vector<std::vector<std::unique_ptr<engine::Embedder>>> embedders(cases.size());
  std::vector<torch::jit::Module> modules(cases.size());

  // ---- start-up, and the instances the throughput passes use ----
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    Case& c = cases[ci];
    std::fprintf(stderr, "[plugins] %s: start-up\n", c.name.c_str());
    const std::string input_file = dir.Sub("input-" + std::to_string(ci));
    {
      std::ofstream out(input_file, std::ios::binary);
      out << c.inputs[0];
    }
    const std::vector<reco_input> first = {{c.content_type.c_str(),
                                            reinterpret_cast<const uint8_t*>(c.inputs[0].data()),
                                            c.inputs[0].size()}};
    std::vector<float> out;
    startups[ci].push_back(FreshProcessStartup(c, c.config, input_file, reps));

    Startup in;
    auto start = Clock::now();
    Check(hosts[ci].LoadLibrary(c.library), "loading " + c.library);
    in.load_ms = SecondsSince(start) * 1e3;
    const std::string plugin = hosts[ci].plugins().back().name;
    std::vector<json> configs = {c.config};
    for (const auto& [label, options] : c.variants) {
      json config = c.config;
      config.update(options);
      configs.push_back(config);
    }
    for (size_t v = 0; v < configs.size(); ++v) {
      std::unique_ptr<engine::Embedder> e;
      start = Clock::now();
      Check(hosts[ci].CreateEmbedder(plugin, configs[v].dump(), &e),
            "creating " + plugin + " with " + configs[v].dump());
      const double create_ms = SecondsSince(start) * 1e3;
      if (v == 0) {
        in.create_ms = create_ms;
        start = Clock::now();
        Check(e->Embed(first, 1, &out), c.name + ": first embed");
        in.first_ms = SecondsSince(start) * 1e3;
        in.steady_ms = MedianMs(reps, [&] { Check(e->Embed(first, 1, &out), c.name); });
      }
      embedders[ci].push_back(std::move(e));
    }
    startups[ci].push_back(in);

    Startup direct;
    start = Clock::now();
    modules[ci] = c.load();
    direct.create_ms = SecondsSince(start) * 1e3;
    // As the plugin's embed: the model input made from the raw bytes, then forward().
    const auto embed_one = [&] { Forward(modules[ci], c.prepare({&c.inputs[0]})); };
    start = Clock::now();
    embed_one();
    direct.first_ms = SecondsSince(start) * 1e3;
    direct.steady_ms = MedianMs(reps, embed_one);
    startups[ci].push_back(direct);
  }

  // ---- the engine: one Flat space per plugin ----
  std::unique_ptr<engine::Engine> eng;
  if (with_engine) {
    engine::EngineOptions o;
    o.data_dir = dir.Sub("engine");
    o.plugin_dir = plugin_dir;
    Check(engine::Engine::Open(o, &eng), "opening the engine with plugins from " + plugin_dir);
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      engine::CollectionConfig cc;
      cc.name = "c" + std::to_string(ci);
      engine::SpaceConfig s;
      s.name = "v";
      s.plugin = hosts[ci].plugins().back().name;
      s.index = "Flat";
      for (const auto& [k, v] : cases[ci].config.items()) s.options[k] = v.get<std::string>();
      cc.spaces.push_back(s);
      Check(eng->CreateCollection(cc), "creating a " + s.plugin + " space");
    }
  }

  // ---- throughput ----
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    Case& c = cases[ci];
    const size_t n_in = c.inputs.size();
    size_t pass = pass_items > 0 ? pass_items : n_in;
    pass = (pass + max_batch - 1) / max_batch * max_batch;
    pass_sizes[ci] = pass;
    std::vector<const std::string*> order(pass);
    std::vector<reco_input> raw(pass);
    for (size_t i = 0; i < pass; ++i) {
      order[i] = &c.inputs[i % n_in];
      raw[i] = {c.content_type.c_str(), reinterpret_cast<const uint8_t*>(order[i]->data()),
                order[i]->size()};
    }
    auto batch_of = [&](size_t first, size_t b) {
      return std::vector<const std::string*>(order.begin() + first, order.begin() + first + b);
    };

    // Check that the baseline computes what the plugin computes: the first largest batch,
    // rows L2-normalised as the plugin returns them.
    {
      std::vector<float> got;
      Check(embedders[ci][0]->Embed(std::vector<reco_input>(raw.begin(), raw.begin() + max_batch),
                                    max_batch, &got),
            c.name + ": embedding");
      at::Tensor want = Rows(Forward(modules[ci], c.prepare(batch_of(0, max_batch))));
      want = want / want.norm(2, 1, true).clamp_min(1e-12);
      const uint32_t d = embedders[ci][0]->dim();
      if (want.size(1) != d) Fail(c.name + ": the direct model's dim differs from the plugin's");
      const float* w = want.data_ptr<float>();
      for (size_t i = 0; i < max_batch * d; ++i) {
        max_diff[ci] = std::max(max_diff[ci], double(std::fabs(w[i] - got[i])));
      }
    }

    uint64_t next_id = 0;
    for (size_t b : batches) {
      std::fprintf(stderr, "[plugins] %s: batch %zu\n", c.name.c_str(), b);
      std::vector<ForwardArgs> prepared;
      for (size_t first = 0; first < pass; first += b)
        prepared.push_back(Owned(c.prepare(batch_of(first, b))));
      const auto forward_pass = [&] {
        for (const auto& a : prepared) Forward(modules[ci], a);
      };
      const auto prep_pass = [&] {
        for (size_t first = 0; first < pass; first += b) {
          Forward(modules[ci], c.prepare(batch_of(first, b)));
        }
      };
      std::vector<float> out;
      const auto plugin_pass = [&](size_t v) {
        Check(embedders[ci][v]->Embed(raw, b, &out), c.name + ": embedding");
      };
      const auto engine_pass = [&] {
        std::vector<engine::ItemInput> items;
        for (size_t first = 0; first < pass; first += b) {
          items.assign(b, engine::ItemInput());
          for (size_t i = 0; i < b; ++i) {
            engine::ItemInput& item = items[i];
            item.id = std::to_string(next_id++);
            if (c.content_type == "text/plain") {
              item.text = *order[first + i];
            } else {
              engine::ContentInput content;
              const auto* p = reinterpret_cast<const uint8_t*>(order[first + i]->data());
              content.content_type =
                  c.content_type == "image/png" &&
                          image::SniffFormat(p, order[first + i]->size()) == image::Format::kJpeg
                      ? "image/jpeg"
                      : c.content_type;
              content.data = *order[first + i];
              item.contents.push_back(std::move(content));
            }
          }
          Check(eng->Upsert("c" + std::to_string(ci), items), c.name + ": Engine::Upsert");
        }
      };
      // Systems: forward, prep + forward, the plugin (each variant), the engine.
      std::vector<Pass> systems = {forward_pass, prep_pass};
      for (size_t v = 0; v < embedders[ci].size(); ++v) {
        systems.push_back([&plugin_pass, v] { plugin_pass(v); });
      }
      if (eng) systems.push_back(engine_pass);
      const std::vector<size_t> passes = PassesPerTurn(systems);
      std::vector<std::vector<double>> ips(systems.size());
      for (int r = 0; r < rounds; ++r) {
        const std::vector<double> round =
            InterleavedItemsPerSecond(pass, min_seconds, systems, passes);
        for (size_t s = 0; s < systems.size(); ++s) ips[s].push_back(round[s]);
      }
      Throughput t;
      t.batch = b;
      t.forward = Median(ips[0]);
      t.prep_forward = Median(ips[1]);
      for (size_t v = 0; v < embedders[ci].size(); ++v) t.plugin.push_back(Median(ips[2 + v]));
      t.engine = eng ? Median(ips.back()) : 0;
      results[ci].push_back(t);
    }
  }

  // ---- tables ----
  report.Table("Plugin throughput, items/s, 1 LibTorch intra-op thread (as the plugins set)",
               {"plugin", "model", "batch", "LibTorch forward", "prep + forward", "plugin",
                "engine Upsert", "plugin/forward", "plugin/(prep+forward)", "engine/forward"});
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    for (const Throughput& t : results[ci]) {
      for (size_t v = 0; v < t.plugin.size(); ++v) {
        const std::string label = v == 0 ? c.name : c.variants[v - 1].first;
        const bool main_row = v == 0;
        json j = {{"result", "throughput"},
                  {"plugin", label},
                  {"model", c.model},
                  {"batch", t.batch},
                  {"pass_items", pass_sizes[ci]},
                  {"forward_ips", t.forward},
                  {"prep_forward_ips", t.prep_forward},
                  {"plugin_ips", t.plugin[v]},
                  {"baseline", "libtorch_forward"},
                  {"ratio", t.plugin[v] / t.forward},
                  {"ratio_prep", t.plugin[v] / t.prep_forward}};
        if (main_row && eng) {
          j["engine_ips"] = t.engine;
          j["engine_ratio"] = t.engine / t.forward;
        }
        report.Row(
            {label, c.model, std::to_string(t.batch), Count(t.forward), Count(t.prep_forward),
             Count(t.plugin[v]), main_row && eng ? Count(t.engine) : "-",
             Ratio(t.plugin[v] / t.forward), Ratio(t.plugin[v] / t.prep_forward),
             main_row && eng ? Ratio(t.engine / t.forward) : "-"},
            j);
      }
    }
  }
  report.Note(
      "LibTorch forward: the plugin's model loaded directly (torch::jit), forward() on model "
      "inputs made beforehand by the plugin's own input code. prep + forward: the same with the "
      "inputs made from the raw bytes in the loop (tokenising; decoding and resizing). plugin: "
      "engine::Embedder::Embed (plugin C ABI) on the raw bytes, batch_size = batch. engine: "
      "Engine::Upsert of `batch` items per call into a Flat space (embedding, describe, "
      "RocksDB, index). Median of " +
      std::to_string(rounds) + " rounds of >= " + Fixed(min_seconds, 1) +
      " s per system; within a round the systems take turns of about one pass of the slowest. "
      "All in one process: OpenBLAS (LibTorch's BLAS here) keeps its own thread pool for "
      "every row alike.");
  std::string inputs_note = "inputs per pass:";
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    inputs_note += " " + cases[ci].name + " " + std::to_string(pass_sizes[ci]) + " (" +
                   std::to_string(cases[ci].inputs.size()) + " distinct)" +
                   (ci + 1 < cases.size() ? ";" : ".");
  }
  report.Note(inputs_note);
  std::string check_note = "check, max |plugin - direct| over the first batch of " +
                           std::to_string(max_batch) + " (unit rows):";
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), " %s %.2g%s", cases[ci].name.c_str(), max_diff[ci],
                  ci + 1 < cases.size() ? ";" : ".");
    check_note += buf;
    report.Json({{"result", "check"}, {"plugin", cases[ci].name}, {"max_abs_diff", max_diff[ci]}});
  }
  report.Note(check_note);

  report.Table("Time per item, microseconds (from the table above)",
               {"plugin", "batch", "forward", "prep", "plugin", "plugin - prep - forward",
                "engine - plugin"});
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    for (const Throughput& t : results[ci]) {
      const double fwd = 1e6 / t.forward, prep = 1e6 / t.prep_forward - fwd;
      for (size_t v = 0; v < t.plugin.size(); ++v) {
        const std::string label = v == 0 ? c.name : c.variants[v - 1].first;
        const double plug = 1e6 / t.plugin[v];
        const bool engine_cell = v == 0 && eng;
        json j = {{"result", "per_item_us"},     {"plugin", label}, {"batch", t.batch},
                  {"forward_us", fwd},           {"prep_us", prep}, {"plugin_us", plug},
                  {"rest_us", plug - prep - fwd}};
        if (engine_cell) j["engine_minus_plugin_us"] = 1e6 / t.engine - plug;
        report.Row(
            {label, std::to_string(t.batch), Fixed(fwd, 0), Fixed(prep, 0), Fixed(plug, 0),
             Fixed(plug - prep - fwd, 0), engine_cell ? Fixed(1e6 / t.engine - plug, 0) : "-"},
            j);
      }
    }
  }
  report.Note(
      "prep = (prep + forward) - forward: tokenising (text), decoding + resizing + normalising "
      "(image, dicom). plugin - prep - forward: what the plugin adds around the same work (C "
      "ABI, per-batch tensor assembly, output checks and normalisation, copies; dicom: the "
      "decoder process round trip and describe()). engine - plugin: Engine::Upsert around the "
      "embedding (validation, describe, RocksDB write with the content, index add).");

  report.Table("Start-up, milliseconds",
               {"plugin", "where", "load library", "create", "first embed", "steady embed",
                "first vector", "x direct", "first / steady"});
  const char* const wheres[] = {"fresh process, as recod (loads LibTorch)",
                                "in reco_bench (LibTorch loaded)", "LibTorch direct"};
  const char* const where_keys[] = {"fresh_process", "in_process", "direct"};
  const auto first_vector = [](const Startup& s) {
    return std::max(0.0, s.load_ms) + s.create_ms + s.first_ms;
  };
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const double direct = first_vector(startups[ci][2]);
    for (size_t k = 0; k < 3; ++k) {
      const Startup& s = startups[ci][k];
      json j = StartupJson(cases[ci].name, where_keys[k], s);
      j["first_vector_ms"] = first_vector(s);
      j["baseline"] = "direct_first_vector_ms";
      j["baseline_ms"] = direct;
      j["ratio"] = first_vector(s) / direct;
      report.Row({cases[ci].name, wheres[k], Ms(s.load_ms), Ms(s.create_ms), Ms(s.first_ms),
                  Ms(s.steady_ms), Ms(first_vector(s)), Ratio(first_vector(s) / direct),
                  Ratio(s.first_ms / s.steady_ms)},
                 j);
    }
  }
  report.Note(
      "load library: PluginHost::LoadLibrary (dlopen and checks); in a fresh process it also "
      "loads LibTorch (reco_bench links it, so its own rows do not pay for it). create: "
      "CreateEmbedder (the plugin reads or builds its model and runs a probe input through "
      "it); direct: torch::jit::load (text: also unpack() and the tokenizer's vocabulary; the "
      "built-in models: define() of their source). first embed: the first Embed of one input, "
      "batch 1 (direct: its model input made from the bytes, and the first forward()); steady: "
      "median of " +
      std::to_string(reps) +
      " after 3 more. first vector = load library + create + first embed; x direct = that / "
      "the same for LibTorch direct. The page cache is warm.");
  report.End();
  return 0;
}

}  // namespace bench
}  // namespace reco
