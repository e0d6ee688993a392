// reco_eval_movielens: measures reco's recommenders on MovieLens under RecBole's protocol —
// every rating is a positive interaction, each user's interactions are split at random
// 80/10/10 (seeded), test items are ranked against every item outside the user's
// train + valid history, K = 10. Hyper-parameters are tuned on the valid split (NDCG@K), then
// the chosen models are fitted on train and measured once on test.
//
//   reco_eval_movielens PATH [--seed N] [--k K] [--json] [--no-tune] [--models LIST] ...
//
// PATH is `u.data` (ML-100K: user, item, rating, time, tab-separated) or `ratings.csv`
// (ml-latest: header, then userId,movieId,rating,timestamp). The data is read from where the
// user keeps it; MovieLens may not be redistributed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "recommend/bpr_mf.h"
#include "recommend/ease.h"
#include "recommend/evaluation.h"
#include "recommend/item_knn.h"
#include "recommend/most_popular.h"
#include "recommend/split.h"

namespace reco {
namespace recommend {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

struct Args {
  std::string path;
  uint64_t seed = 2020;
  uint32_t k = 10;
  bool json = false;
  bool tune = true;
  std::vector<std::string> models = {"MostPopular", "ItemKNN", "EASE", "BPR-MF"};
  // Fixed values (used with --no-tune, or to skip tuning one model by giving its value).
  float ease_lambda = -1;
  int knn_k = -1;
  float knn_shrink = -1;
  int bpr_dim = 64;
  int bpr_epochs = -1;
  float bpr_lr = -1;
  float bpr_reg = -1;
  std::string bpr_optimizer = "sgd";
  int bpr_threads = 2;
};

const char* kUsage =
    "usage: reco_eval_movielens PATH [options]\n"
    "  PATH                 MovieLens u.data (tab-separated) or ratings.csv (with header)\n"
    "  --seed N             split and training seed (2020)\n"
    "  --k K                cut-off (10)\n"
    "  --json               one JSON object per model on stdout instead of the table\n"
    "  --no-tune            skip the valid-split search; use the values below or defaults\n"
    "  --models LIST        comma-separated subset of MostPopular,ItemKNN,EASE,BPR-MF\n"
    "  --ease-lambda X      EASE regularisation (tuned: 50..1500)\n"
    "  --knn-k N --knn-shrink X   ItemKNN neighbours and shrinkage (tuned)\n"
    "  --bpr-dim N          BPR factors (64)\n"
    "  --bpr-epochs N --bpr-lr X --bpr-reg X   BPR training (tuned; epochs by early stopping)\n"
    "  --bpr-optimizer sgd|adam   (sgd)\n"
    "  --bpr-threads N      Hogwild threads (2)\n";

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto next = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (s == "--seed") {
      a->seed = std::strtoull(next("--seed"), nullptr, 10);
    } else if (s == "--k") {
      a->k = uint32_t(std::atoi(next("--k")));
    } else if (s == "--json") {
      a->json = true;
    } else if (s == "--no-tune") {
      a->tune = false;
    } else if (s == "--models") {
      a->models.clear();
      std::stringstream in(next("--models"));
      for (std::string m; std::getline(in, m, ',');) a->models.push_back(m == "BPR" ? "BPR-MF" : m);
    } else if (s == "--ease-lambda") {
      a->ease_lambda = std::strtof(next("--ease-lambda"), nullptr);
    } else if (s == "--knn-k") {
      a->knn_k = std::atoi(next("--knn-k"));
    } else if (s == "--knn-shrink") {
      a->knn_shrink = std::strtof(next("--knn-shrink"), nullptr);
    } else if (s == "--bpr-dim") {
      a->bpr_dim = std::atoi(next("--bpr-dim"));
    } else if (s == "--bpr-epochs") {
      a->bpr_epochs = std::atoi(next("--bpr-epochs"));
    } else if (s == "--bpr-lr") {
      a->bpr_lr = std::strtof(next("--bpr-lr"), nullptr);
    } else if (s == "--bpr-reg") {
      a->bpr_reg = std::strtof(next("--bpr-reg"), nullptr);
    } else if (s == "--bpr-optimizer") {
      a->bpr_optimizer = next("--bpr-optimizer");
    } else if (s == "--bpr-threads") {
      a->bpr_threads = std::atoi(next("--bpr-threads"));
    } else if (s == "-h" || s == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (!s.empty() && s[0] == '-') {
      std::fprintf(stderr, "unknown option %s\n%s", s.c_str(), kUsage);
      return false;
    } else if (a->path.empty()) {
      a->path = s;
    } else {
      std::fprintf(stderr, "one PATH only\n%s", kUsage);
      return false;
    }
  }
  if (a->path.empty()) {
    std::fputs(kUsage, stderr);
    return false;
  }
  if (a->k == 0) {
    std::fprintf(stderr, "--k: must be >= 1\n");
    return false;
  }
  if (a->bpr_optimizer != "sgd" && a->bpr_optimizer != "adam") {
    std::fprintf(stderr, "--bpr-optimizer: sgd or adam, got %s\n", a->bpr_optimizer.c_str());
    return false;
  }
  return true;
}

struct Dataset {
  uint32_t num_users = 0, num_items = 0;
  std::vector<Interaction> interactions;
};

// Reads u.data (whitespace-separated) or ratings.csv (comma-separated with a header). Raw ids
// are mapped to dense ids in ascending raw order.
Status LoadMovieLens(const std::string& path, Dataset* out) {
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot open " + path);
  struct Row {
    int64_t user, item, time;
  };
  std::vector<Row> rows;
  std::string line;
  size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const bool csv = line.find(',') != std::string::npos;
    if (csv) std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream fields(line);
    Row r{};
    double rating = 0;
    if (!(fields >> r.user >> r.item >> rating >> r.time)) {
      if (line_no == 1 && csv) continue;  // the header of ratings.csv
      return Status::Corruption(path + ":" + std::to_string(line_no) +
                                ": expected user, item, rating, timestamp");
    }
    rows.push_back(r);
  }
  if (rows.empty()) return Status::InvalidArgument(path + ": no ratings");
  std::map<int64_t, uint32_t> users, items;
  for (const Row& r : rows) {
    users.emplace(r.user, 0);
    items.emplace(r.item, 0);
  }
  uint32_t next = 0;
  for (auto& [raw, id] : users) id = next++;
  next = 0;
  for (auto& [raw, id] : items) id = next++;
  out->num_users = uint32_t(users.size());
  out->num_items = uint32_t(items.size());
  out->interactions.clear();
  for (const Row& r : rows) {
    out->interactions.push_back({users[r.user], items[r.item], 1.0f, r.time});
  }
  return Status::OK();
}

// One row of the final table.
struct Row {
  std::string model, params;
  Metrics valid, test;
  double fit_seconds = 0;
  double tune_seconds = 0;
  int tried = 0;  // configurations evaluated on valid
};

void Check(const Status& st, const std::string& what) {
  if (!st.ok()) {
    std::fprintf(stderr, "%s: %s\n", what.c_str(), st.ToString().c_str());
    std::exit(1);
  }
}

// Fits `model` on train (timed) and measures it on `part`.
Metrics FitEval(Recommender* model, const SplitMatrices& data, EvalPart part, const EvalOptions& eo,
                double* fit_seconds = nullptr) {
  const auto t0 = Clock::now();
  Check(model->Fit(data.train), model->Name() + " fit");
  if (fit_seconds) *fit_seconds = Seconds(t0);
  Metrics m;
  Check(Evaluate(*model, data, part, eo, &m), model->Name() + " evaluate");
  return m;
}

void Progress(const std::string& model, const std::string& params, const Metrics& m,
              double fit_seconds) {
  std::fprintf(stderr, "  tune %-8s %-36s valid ndcg@%u %.4f recall@%u %.4f  (fit %.2f s)\n",
               model.c_str(), params.c_str(), m.k, m.ndcg, m.k, m.recall, fit_seconds);
}

std::string Fmt(const char* fmt, double a, double b = 0, double c = 0) {
  char buf[128];
  std::snprintf(buf, sizeof(buf), fmt, a, b, c);
  return buf;
}

// One configuration to try: how to describe it and how to build its model.
struct Config {
  std::string params;
  std::function<std::unique_ptr<Recommender>()> make;
};

// Fits every configuration on train and keeps the one with the best valid NDCG, then measures
// that fitted model once on test.
Row TuneAndTest(const std::string& name, const std::vector<Config>& configs,
                const SplitMatrices& data, const EvalOptions& eo) {
  Row row;
  row.model = name;
  const auto t0 = Clock::now();
  std::unique_ptr<Recommender> best;
  for (const Config& c : configs) {
    std::unique_ptr<Recommender> model = c.make();
    double fit_seconds = 0;
    const Metrics m = FitEval(model.get(), data, EvalPart::kValid, eo, &fit_seconds);
    ++row.tried;
    if (configs.size() > 1) Progress(name, c.params, m, fit_seconds);
    if (!best || m.ndcg > row.valid.ndcg) {
      best = std::move(model);  // the previous best is freed here
      row.valid = m;
      row.params = c.params;
      row.fit_seconds = fit_seconds;
    }
  }
  row.tune_seconds = configs.size() > 1 ? Seconds(t0) : 0.0;
  Check(Evaluate(*best, data, EvalPart::kTest, eo, &row.test), name + " evaluate");
  return row;
}

Row RunMostPopular(const SplitMatrices& data, const EvalOptions& eo) {
  return TuneAndTest("MostPopular", {{"", [] { return std::make_unique<MostPopular>(); }}}, data,
                     eo);
}

Row RunItemKnn(const Args& a, const SplitMatrices& data, const EvalOptions& eo) {
  std::vector<int> ks = {100};
  std::vector<float> shrinks = {0};
  if (a.tune) {
    ks = {20, 50, 100, 200, 400, 800};
    shrinks = {0, 10, 50};
  }
  if (a.knn_k > 0) ks = {a.knn_k};
  if (a.knn_shrink >= 0) shrinks = {a.knn_shrink};
  std::vector<Config> configs;
  for (int k : ks) {
    for (float shrink : shrinks) {
      ItemKnnOptions o;
      o.k = uint32_t(k);
      o.shrink = shrink;
      configs.push_back(
          {Fmt("k=%.0f shrink=%g", k, shrink), [o] { return std::make_unique<ItemKnn>(o); }});
    }
  }
  return TuneAndTest("ItemKNN", configs, data, eo);
}

Row RunEase(const Args& a, const SplitMatrices& data, const EvalOptions& eo) {
  std::vector<float> lambdas = {EaseOptions().lambda};
  if (a.tune) lambdas = {50, 100, 200, 300, 500, 800, 1500};
  if (a.ease_lambda > 0) lambdas = {a.ease_lambda};
  std::vector<Config> configs;
  for (float lambda : lambdas) {
    EaseOptions o;
    o.lambda = lambda;
    configs.push_back({Fmt("lambda=%g", lambda), [o] { return std::make_unique<Ease>(o); }});
  }
  return TuneAndTest("EASE", configs, data, eo);
}

// Trains one BPR configuration, scoring valid every `every` epochs; stops after `patience`
// checks without improvement. Returns the best valid metrics and the epoch they came at.
Metrics BprEarlyStop(const BprOptions& base, const SplitMatrices& data, const EvalOptions& eo,
                     int max_epochs, int* best_epoch) {
  const int every = 5, patience = 3;
  BprOptions o = base;
  o.epochs = max_epochs;
  Metrics best;
  best.ndcg = -1;
  *best_epoch = 0;
  int stale = 0;
  BprMf* self = nullptr;
  o.on_epoch = [&](const BprEpoch& e) {
    if (e.epoch % every != 0) return true;
    Metrics m;
    Check(Evaluate(*self, data, EvalPart::kValid, eo, &m), "BPR-MF evaluate");
    if (m.ndcg > best.ndcg) {
      best = m;
      *best_epoch = e.epoch;
      stale = 0;
    } else if (++stale >= patience) {
      return false;
    }
    return true;
  };
  BprMf model(o);
  self = &model;
  Check(model.Fit(data.train), "BPR-MF fit");
  if (*best_epoch == 0) {  // fewer epochs than one check interval
    Check(Evaluate(model, data, EvalPart::kValid, eo, &best), "BPR-MF evaluate");
    *best_epoch = model.epochs_trained();
  }
  return best;
}

Row RunBpr(const Args& a, const SplitMatrices& data, const EvalOptions& eo) {
  Row row;
  row.model = "BPR-MF";
  const auto t0 = Clock::now();
  BprOptions best;
  best.dim = uint32_t(a.bpr_dim);
  best.num_threads = a.bpr_threads;
  best.seed = a.seed;
  best.optimizer = a.bpr_optimizer == "adam" ? BprOptimizer::kAdam : BprOptimizer::kSgd;
  if (best.optimizer == BprOptimizer::kAdam) best.learning_rate = 0.002f;
  if (a.bpr_lr > 0) best.learning_rate = a.bpr_lr;
  if (a.bpr_reg >= 0) best.reg = a.bpr_reg;
  if (a.bpr_epochs > 0) best.epochs = a.bpr_epochs;
  const bool tune = a.tune && !(a.bpr_lr > 0 && a.bpr_reg >= 0 && a.bpr_epochs > 0);
  if (tune) {
    const bool adam = best.optimizer == BprOptimizer::kAdam;
    const std::vector<float> lrs = a.bpr_lr > 0 ? std::vector<float>{a.bpr_lr}
                                   : adam       ? std::vector<float>{0.001f, 0.003f}
                                                : std::vector<float>{0.02f, 0.05f};
    const std::vector<float> regs = a.bpr_reg >= 0
                                        ? std::vector<float>{a.bpr_reg}
                                        : std::vector<float>{0.002f, 0.005f, 0.01f, 0.02f};
    const int max_epochs = a.bpr_epochs > 0 ? a.bpr_epochs : 300;
    double best_ndcg = -1;
    for (float lr : lrs) {
      for (float reg : regs) {
        BprOptions o = best;
        o.learning_rate = lr;
        o.reg = reg;
        int epoch = 0;
        const auto t1 = Clock::now();
        const Metrics m = BprEarlyStop(o, data, eo, max_epochs, &epoch);
        ++row.tried;
        Progress(row.model, Fmt("lr=%g reg=%g epochs=%.0f", lr, reg, epoch), m, Seconds(t1));
        if (m.ndcg > best_ndcg) {
          best_ndcg = m.ndcg;
          best = o;
          best.epochs = epoch;
        }
      }
    }
  }
  row.tune_seconds = tune ? Seconds(t0) : 0.0;
  // The tuning runs went past their best epoch; refit with the chosen epoch count.
  if (!tune) row.tried = 1;
  BprMf model(best);
  row.valid = FitEval(&model, data, EvalPart::kValid, eo, &row.fit_seconds);
  Check(Evaluate(model, data, EvalPart::kTest, eo, &row.test), "BPR-MF evaluate");
  row.params = Fmt("dim=%.0f lr=%g reg=%g", best.dim, best.learning_rate, best.reg) +
               Fmt(" epochs=%.0f", best.epochs) +
               (best.optimizer == BprOptimizer::kAdam ? " adam" : " sgd");
  return row;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

int Main(int argc, char** argv) {
  Args a;
  if (!ParseArgs(argc, argv, &a)) return 2;
  Dataset ds;
  Check(LoadMovieLens(a.path, &ds), "load");
  RandomSplitOptions so;
  so.seed = a.seed;
  Split split;
  Check(RandomSplit(ds.num_users, ds.num_items, ds.interactions, so, &split), "split");
  SplitMatrices data;
  Check(BuildSplitMatrices(split, MatrixOptions(), &data), "matrices");
  EvalOptions eo;
  eo.k = a.k;

  std::fprintf(stderr,
               "%s: %u users, %u items, %zu interactions (train %zu, valid %zu, test %zu), "
               "seed %llu, K = %u\n",
               a.path.c_str(), ds.num_users, ds.num_items, ds.interactions.size(),
               split.train.size(), split.valid.size(), split.test.size(),
               static_cast<unsigned long long>(a.seed), a.k);
  std::vector<Row> rows;
  for (const std::string& m : a.models) {
    if (m == "MostPopular") {
      rows.push_back(RunMostPopular(data, eo));
    } else if (m == "ItemKNN") {
      rows.push_back(RunItemKnn(a, data, eo));
    } else if (m == "EASE") {
      rows.push_back(RunEase(a, data, eo));
    } else if (m == "BPR-MF") {
      rows.push_back(RunBpr(a, data, eo));
    } else {
      std::fprintf(stderr, "unknown model %s (MostPopular, ItemKNN, EASE, BPR-MF)\n", m.c_str());
      return 2;
    }
  }

  const unsigned k = a.k;
  if (a.json) {
    for (const Row& r : rows) {
      std::printf(
          "{\"dataset\": \"%s\", \"strategy\": \"%s\", \"params\": \"%s\", \"seed\": %llu, "
          "\"users\": %u, \"recall@%u\": %.4f, \"ndcg@%u\": %.4f, \"hr@%u\": %.4f, "
          "\"precision@%u\": %.4f, \"mrr@%u\": %.4f, \"coverage@%u\": %.4f, "
          "\"valid_ndcg@%u\": %.4f, \"fit_seconds\": %.3f, \"tune_seconds\": %.1f, "
          "\"configs_tried\": %d}\n",
          JsonEscape(a.path).c_str(), r.model.c_str(), r.params.c_str(),
          static_cast<unsigned long long>(a.seed), r.test.users, k, r.test.recall, k, r.test.ndcg,
          k, r.test.hr, k, r.test.precision, k, r.test.mrr, k, r.test.coverage, k, r.valid.ndcg,
          r.fit_seconds, r.tune_seconds, r.tried);
    }
    return 0;
  }
  std::printf("%-12s %9s %9s %9s %9s %9s %9s %10s %8s %8s  %s\n", "model",
              ("recall@" + std::to_string(k)).c_str(), ("ndcg@" + std::to_string(k)).c_str(),
              ("hr@" + std::to_string(k)).c_str(), ("prec@" + std::to_string(k)).c_str(),
              ("mrr@" + std::to_string(k)).c_str(), "coverage", "valid ndcg", "fit s", "tune s",
              "params (chosen on valid)");
  for (const Row& r : rows) {
    std::printf("%-12s %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f %10.4f %8.2f %8.1f  %s\n",
                r.model.c_str(), r.test.recall, r.test.ndcg, r.test.hr, r.test.precision,
                r.test.mrr, r.test.coverage, r.valid.ndcg, r.fit_seconds, r.tune_seconds,
                r.params.c_str());
  }
  std::printf("(test split, %u users with a test item; fit s = one fit on train)\n",
              rows.empty() ? 0u : rows[0].test.users);
  return 0;
}

}  // namespace
}  // namespace recommend
}  // namespace reco

int main(int argc, char** argv) { return reco::recommend::Main(argc, argv); }
