// reco_bench: the benchmark suite of "Index and storage at scale". See docs/benchmarks.md and
// tools/bench/run (which prepares the GloVe data and runs every subcommand).
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "tools/bench/bench.h"

namespace {

const char kUsage[] =
    "usage: reco_bench COMMAND [options] [--json]\n"
    "\n"
    "Every figure is printed next to a baseline measured in the same run, as a ratio.\n"
    "With --json, each result is also printed as one JSON object per line (lines start with '{').\n"
    "\n"
    "commands:\n"
    "  ann       --vectors FILE.fvecs [--queries 1000] [--m 16] [--ef-construction 200]\n"
    "            [--ef 10,20,40,80,160,320] [--nlist 1024] [--nprobe 1,2,4,8,16,32,64]\n"
    "            [--limit N] [--systems engine,hnswlib,faiss] [--indexes hnsw,ivf]\n"
    "            [--build-threads 2] [--seed 42]\n"
    "            engine HNSW/IVF spaces vs raw FAISS vs hnswlib, recall@10 and q/s on one thread\n"
    "  exact     [--n 1000000] [--dim 128] [--queries 50] [--batch 32]\n"
    "            Flat scans (VectorIndex, engine, FAISS) vs the memory-bandwidth bound\n"
    "  ingest    [--n 200000] [--dim 128] [--batch 1000] [--specs 'Flat;HNSW16']\n"
    "            Engine::Upsert vectors/s vs a raw RocksDB WriteBatch loop of the same bytes\n"
    "  restart   [--n 300000] [--dim 128] [--spec HNSW16]\n"
    "            Engine::Open with index files vs a full rebuild from RocksDB\n"
    "  filtered  [--n 200000] [--dim 64] [--queries 200] [--nlist 256]\n"
    "            filtered queries (1%, 10%, 50%) on Flat, HNSW16, IVF vs an exact scan of the "
    "matches\n"
    "  memory    [--n 200000] [--dim 128] [--specs 'Flat;HNSW16;IVF256,Flat;IVF256,PQ16;SQ8']\n"
    "            index memory per vector vs the raw float size\n"
    "  plugins   [--plugins text,image,dicom] [--batches 1,32] [--image-model RESNET.pt]\n"
    "            [--plugin-dir DIR] [--min-seconds 1] [--rounds 3] [--pass-items N]\n"
    "            [--no-engine] [--catalogue F] [--photos DIR] [--dicom-dir DIR]\n"
    "            [--dicom-files a.dcm,b.dcm]\n"
    "            plugin items/s (and through Engine::Upsert) vs LibTorch forward() on the same\n"
    "            model and inputs; start-up of each plugin\n"
    "  events    [--n 1000000] [--batch 1000] [--users 10000] [--items 100000] [--rounds 3]\n"
    "            Engine::AddEvents events/s vs a raw RocksDB WriteBatch loop of the same records\n"
    "  recommend [--items 1000000] [--dim 64] [--spec Flat] [--queries 200] [--clusters 1000]\n"
    "            [--light-events 10] [--heavy-events 1000] [--k 10] [--rounds 3]\n"
    "            Engine::Recommend p50/p99 latency vs one Engine::Search with the same k\n"
    "  train     --movielens DIR[,DIR...] [--epochs 5] [--dim 64] [--rounds 3]\n"
    "            Engine::Train (BPR-MF) seconds per epoch on MovieLens u.data / ratings.csv vs\n"
    "            recommend/'s BprMf trained directly; EASE's closed-form fit for reference\n"
    "\n"
    "common options: --dir DIR (scratch directories; default $TMPDIR or /tmp), --json\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace reco::bench;
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  try {
    Args args(argc, argv, 2);
    Report report(command, args.Flag("json"));
    int (*run)(Args&, Report&) = nullptr;
    if (command == "ann") run = RunAnn;
    if (command == "exact") run = RunExact;
    if (command == "ingest") run = RunIngest;
    if (command == "restart") run = RunRestart;
    if (command == "filtered") run = RunFiltered;
    if (command == "memory") run = RunMemory;
    if (command == "plugins") run = RunPlugins;
    if (command == "events") run = RunEvents;
    if (command == "recommend") run = RunRecommend;
    if (command == "train") run = RunTrain;
    if (run == nullptr) {
      std::fprintf(stderr, "reco_bench: unknown command '%s'\n\n%s", command.c_str(), kUsage);
      return 2;
    }
    // The memory command runs each index in a child process, which prints only its JSON line.
    if (!args.Flag("child")) PrintMachine(&report);
    const int rc = run(args, report);
    report.End();
    return rc;
  } catch (const BenchError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "reco_bench %s: %s\n", command.c_str(), e.message.c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "reco_bench %s: unexpected exception: %s\n", command.c_str(), e.what());
    return 1;
  }
}
