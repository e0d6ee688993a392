// reco_bench train: collaborative training time per epoch on MovieLens ratings. The ratings
// are ingested into a collection (Engine::AddEvents, type "rating") and Engine::Train fits
// BPR-MF into a plugin "collaborative" space; the baseline, in the same run, is the recommend/
// layer's BprMf trained directly on the same interactions with the same options, so the ratio
// is what the engine adds (scanning the events, mapping ids, writing the vectors and the new
// index). EASE's closed-form fit on the same matrix is printed for reference.
//
// MovieLens is never part of the repository: --movielens names a directory holding u.data
// (ML-100K, tab-separated) or ratings.csv (ml-latest-small, with a header), or the file.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "recommend/bpr_mf.h"
#include "recommend/ease.h"
#include "recommend/interactions.h"
#include "tools/bench/bench.h"

namespace reco {
namespace bench {
namespace {

struct Rating {
  std::string user, item;
  double value = 0;
  int64_t seconds = 0;
};

// The ratings file of a MovieLens directory (or the path itself when it is a file).
std::string RatingsFile(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return path;
  for (const char* name : {"u.data", "ratings.csv"}) {
    const std::string file = path + "/" + name;
    if (fs::is_regular_file(file, ec)) return file;
  }
  Fail(path + " holds neither u.data (MovieLens 100K) nor ratings.csv (ml-latest-small)");
}

// u.data: user item rating unix-seconds, tab-separated; ratings.csv: the same, comma-separated
// after a header line.
std::vector<Rating> ReadRatings(const std::string& file) {
  std::ifstream in(file);
  if (!in) Fail("cannot open " + file);
  std::vector<Rating> out;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const bool csv = line.find(',') != std::string::npos;
    if (csv) std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream fields(line);
    Rating r;
    if (!(fields >> r.user >> r.item >> r.value >> r.seconds)) {
      if (line_no == 1 && csv) continue;  // the header of ratings.csv
      Fail(file + ":" + std::to_string(line_no) + ": expected user, item, rating, timestamp");
    }
    out.push_back(std::move(r));
  }
  if (out.empty()) Fail(file + ": no ratings");
  return out;
}

// Median of the rounds' values.
double Mid(const std::vector<double>& v) { return Median(v); }

// One data set: ingest, then rounds of baseline and engine training.
void RunOne(const std::string& path, size_t epochs, uint32_t dim, size_t batch, int rounds,
            uint64_t seed, size_t ease_max_items, const std::string& dir_base, Report& report) {
  auto log = [](const std::string& s) {
    std::fprintf(stderr, "[train] %s\n", s.c_str());
    std::fflush(stderr);
  };
  const std::string file = RatingsFile(path);
  log("reading " + file);
  const std::vector<Rating> ratings = ReadRatings(file);

  // Dense ids in ascending raw order for the baseline (the engine numbers them by first
  // appearance in its event scan; the shape of the matrix is the same).
  std::map<std::string, uint32_t> users, items;
  for (const Rating& r : ratings) {
    users.emplace(r.user, 0);
    items.emplace(r.item, 0);
  }
  uint32_t next = 0;
  for (auto& [raw, id] : users) id = next++;
  next = 0;
  for (auto& [raw, id] : items) id = next++;
  std::vector<recommend::Interaction> interactions;
  interactions.reserve(ratings.size());
  for (const Rating& r : ratings) {
    interactions.push_back({users[r.user], items[r.item], static_cast<float>(r.value), r.seconds});
  }
  recommend::InteractionMatrix matrix;
  Check(recommend::InteractionMatrix::FromInteractions(
            static_cast<uint32_t>(users.size()), static_cast<uint32_t>(items.size()), interactions,
            recommend::MatrixOptions(), &matrix),
        "building the interaction matrix");

  // The engine: items, then the ratings as events.
  TempDir dir(dir_base);
  auto engine = OpenEngine(dir.Sub("data"));
  engine::CollectionConfig cc;
  cc.name = "movielens";
  engine::SpaceConfig space;
  space.name = "cf";
  space.plugin = "collaborative";
  space.dim = dim + 1;  // the item bias is the last component
  space.metric = "ip";
  space.index = "Flat";
  cc.spaces.push_back(space);
  // A collaborative space takes no vectors: the items are made by their first event.
  cc.unknown_items = "create";
  Check(engine->CreateCollection(cc), "creating the collection");
  log("ingesting " + Count(ratings.size()) + " ratings");
  const auto ingest_start = Clock::now();
  {
    std::vector<engine::EventInput> events;
    for (size_t lo = 0; lo < ratings.size(); lo += batch) {
      events.clear();
      for (size_t i = lo; i < std::min(ratings.size(), lo + batch); ++i) {
        engine::EventInput e;
        e.user = ratings[i].user;
        e.item = ratings[i].item;
        e.type = "rating";
        e.value = ratings[i].value;
        e.time_ms = ratings[i].seconds * 1000;
        events.push_back(std::move(e));
      }
      engine::EventsResult result;
      Check(engine->AddEvents("movielens", events, &result), "adding the ratings");
    }
  }
  const double ingest_s = SecondsSince(ingest_start);

  SetOmpThreads(2);
  std::vector<double> epoch_s;  // the baseline's epochs, as BprMf times them (on_epoch)
  auto baseline = [&](size_t e, double* loss) {
    recommend::BprOptions o;  // as Engine::Train sets them (TrainRequest defaults)
    engine::TrainRequest defaults;
    o.dim = dim;
    o.epochs = static_cast<int>(e);
    o.learning_rate = static_cast<float>(defaults.learning_rate);
    o.reg = static_cast<float>(defaults.reg);
    o.seed = seed;
    o.on_epoch = [&](const recommend::BprEpoch& ep) {
      *loss = ep.loss;
      epoch_s.push_back(ep.seconds);
      return true;
    };
    recommend::BprMf model(o);
    const auto start = Clock::now();
    Check(model.Fit(matrix), "BprMf::Fit");
    return SecondsSince(start);
  };
  auto train = [&](size_t e, engine::TrainResult* result) {
    engine::TrainRequest r;
    r.collection = "movielens";
    r.epochs = static_cast<uint32_t>(e);
    r.seed = seed;
    const auto start = Clock::now();
    Check(engine->Train(r, result), "Engine::Train");
    return SecondsSince(start);
  };
  std::vector<double> base_n, base_1, engine_n, engine_1, engine_inside;
  double base_loss = 0;
  engine::TrainResult trained;
  for (int round = 0; round < rounds; ++round) {
    log("round " + std::to_string(round + 1) + " of " + std::to_string(rounds));
    double loss1;
    engine::TrainResult one;
    base_n.push_back(baseline(epochs, &base_loss));
    engine_n.push_back(train(epochs, &trained));
    engine_inside.push_back(trained.seconds);
    base_1.push_back(baseline(1, &loss1));
    engine_1.push_back(train(1, &one));
  }
  double ease_s = -1;
  std::string ease_note;
  if (items.size() <= ease_max_items) {
    log("EASE");
    recommend::Ease ease;
    const auto start = Clock::now();
    const Status st = ease.Fit(matrix);
    if (st.ok()) {
      ease_s = SecondsSince(start);
    } else {
      ease_note = "EASE: " + st.ToString();
    }
  } else {
    ease_note = "EASE skipped: " + Count(items.size()) + " items > --ease-max-items " +
                Count(ease_max_items) + ".";
  }

  const double bn = Mid(base_n), b1 = Mid(base_1), en = Mid(engine_n), e1 = Mid(engine_1);
  const std::string name = std::filesystem::path(file).filename().string();
  report.Table(
      "Training, " + name + ": " + Count(ratings.size()) + " ratings, " + Count(users.size()) +
          " users, " + Count(items.size()) + " items, BPR-MF dim " + std::to_string(dim),
      {"what", "epochs", "seconds", "s/epoch", "baseline", "baseline s", "ratio", "last loss"});
  auto row = [&](const std::string& kind, const std::string& what, size_t e, double seconds,
                 const std::string& base_what, double base_seconds, const std::string& loss) {
    report.Row(
        {what, e ? std::to_string(e) : "-", Fixed(seconds, 3), e ? Fixed(seconds / e, 4) : "-",
         base_what, Fixed(base_seconds, 3), Ratio(base_seconds / seconds), loss},
        {{"result", kind},
         {"data", name},
         {"what", what},
         {"epochs", e},
         {"seconds", seconds},
         {"seconds_per_epoch", e ? seconds / e : 0.0},
         {"baseline", base_what},
         {"baseline_seconds", base_seconds},
         {"ratio", base_seconds / seconds}});
  };
  const std::string fit_n = "BprMf::Fit " + std::to_string(epochs);
  row("baseline", "BprMf::Fit, recommend/ directly (baseline)", epochs, bn, fit_n, bn,
      Fixed(base_loss, 4));
  row("engine", "Engine::Train", epochs, en, fit_n, bn, Fixed(trained.loss, 4));
  row("engine_1", "Engine::Train", 1, e1, "BprMf::Fit 1", b1, "-");
  if (epochs > 1) {
    const double em = (en - e1) / (epochs - 1), bm = (bn - b1) / (epochs - 1);
    row("engine_marginal", "Engine::Train, one more epoch", 1, em, "BprMf::Fit, one more epoch", bm,
        "-");
    report.Note("one more epoch = (" + std::to_string(epochs) + "-epoch time - 1-epoch time) / " +
                std::to_string(epochs - 1) + " from the medians: engine " + Fixed(em * 1e3, 1) +
                " ms, BprMf " + Fixed(bm * 1e3, 1) +
                " ms (differences of short runs: noisy on a loaded machine).");
  }
  const double epoch = Median(epoch_s);
  report.Note("BprMf's own epoch time (BprEpoch.seconds, median of all " +
              std::to_string(epoch_s.size()) + " baseline epochs): " + Fixed(epoch * 1e3, 1) +
              " ms; the engine's fixed cost, its 1-epoch time minus that epoch: " +
              Fixed((e1 - epoch) * 1e3, 1) + " ms (scanning the events, ids, matrix, writing " +
              "the vectors and the index).");
  if (ease_s >= 0) {
    row("reference", "Ease::Fit, closed form (lambda 300)", 0, ease_s, fit_n, bn, "-");
  }
  report.Note(
      "ratio = baseline seconds / seconds (< 1: slower than training the model directly). "
      "Medians of " +
      std::to_string(rounds) +
      " rounds; each round trains the baseline and the engine back to back.");
  report.Note("both: BPR-MF, SGD, learning rate 0.05, reg 0.005, seed " + std::to_string(seed) +
              ", 2 Hogwild threads, binary interactions (every rating is a positive). "
              "Engine::Train's own TrainResult.seconds (after its event scan): " +
              Fixed(Mid(engine_inside), 3) + " s for " + std::to_string(epochs) + " epochs.");
  report.Note("ingest (not compared): " + Count(ratings.size()) +
              " ratings through "
              "Engine::AddEvents in batches of " +
              Count(batch) + " in " + Fixed(ingest_s, 2) + " s (" +
              Count(ratings.size() / ingest_s) +
              " events/s, creating the items as placeholders on their first event).");
  if (!ease_note.empty()) report.Note(ease_note);
  report.End();
}

}  // namespace

int RunTrain(Args& args, Report& report) {
  const auto paths = args.StrList("movielens", "", ',');
  const size_t epochs = args.Int("epochs", 5);
  const size_t dim = args.Int("dim", 64);
  const size_t batch = args.Int("batch", 10000);
  const int rounds = static_cast<int>(args.Int("rounds", 3));
  const uint64_t seed = args.Int("seed", 2020);
  const size_t ease_max_items = args.Int("ease-max-items", 20000);
  const std::string dir_base = args.Str("dir", "");
  args.Finish();
  if (paths.empty()) {
    Fail(
        "--movielens DIR[,DIR...] is required: a directory holding u.data (MovieLens 100K) or "
        "ratings.csv (ml-latest-small)");
  }
  if (epochs == 0 || dim == 0 || batch == 0 || rounds < 1) {
    Fail("--epochs, --dim, --batch and --rounds must be positive");
  }
  for (const auto& path : paths) {
    RunOne(path, epochs, static_cast<uint32_t>(dim), batch, rounds, seed, ease_max_items, dir_base,
           report);
  }
  return 0;
}

}  // namespace bench
}  // namespace reco
