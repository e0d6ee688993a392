// recod: opens the engine on a data directory and serves it over TCP until SIGINT/SIGTERM.
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "api/server/server.h"
#include "engine/engine.h"

namespace {

constexpr const char* kUsage =
    "usage: recod --data DIR --port N [--listen ADDR] [--plugins DIR] [--sync]\n"
    "             [--workers N] [--io-threads N] [--max-frame BYTES]\n"
    "             [--content-root DIR] [--max-content BYTES] [--embed-batch N]\n"
    "  --data DIR         data directory (created when missing)\n"
    "  --port N           TCP port; 0 picks a free one (printed on the 'listening on' line)\n"
    "  --listen ADDR      address to bind (default 127.0.0.1)\n"
    "  --plugins DIR      plugin directory (default <recod's dir>/../lib/reco/plugins)\n"
    "  --sync             fsync the write-ahead log on every write\n"
    "  --workers N        threads that run engine calls (default 2)\n"
    "  --io-threads N     threads that run sockets (default 1)\n"
    "  --max-frame BYTES  largest request frame (default 67108864)\n"
    "  --content-root DIR requests may name content files (images, DICOM) under DIR\n"
    "                     (default: none; content bytes must travel in the request)\n"
    "  --max-content BYTES largest image or DICOM content (default 67108864)\n"
    "  --embed-batch N    inputs per plugin embed call (default 32)\n";

int UsageError(const std::string& message) {
  std::cerr << "recod: " << message << "\n" << kUsage;
  return 2;
}

bool ParseUnsigned(const std::string& text, unsigned long long max, unsigned long long* out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || value > max) return false;
  *out = value;
  return true;
}

// <directory of this executable>/../lib/reco/plugins: right both in the build tree
// (build/bin, build/lib/reco/plugins) and after install.
std::string DefaultPluginDir(const char* argv0) {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) exe = std::filesystem::absolute(argv0, ec);
  return (exe.parent_path() / ".." / "lib" / "reco" / "plugins").lexically_normal().string();
}

struct Flags {
  std::string data_dir;
  bool has_port = false;
  unsigned long long port = 0;
  std::string listen = "127.0.0.1";
  std::string plugin_dir;
  bool sync = false;
  unsigned long long workers = 2;
  unsigned long long io_threads = 1;
  unsigned long long max_frame = 64ull << 20;
  std::string content_root;
  unsigned long long max_content = 64ull << 20;
  unsigned long long embed_batch = 32;
};

// Returns 0, or the exit code for a usage error.
int ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (arg == "--sync") {
      flags->sync = true;
      continue;
    }
    if (i + 1 >= argc) return UsageError("unknown flag or missing value: " + arg);
    const std::string value = argv[++i];
    if (arg == "--data") {
      flags->data_dir = value;
    } else if (arg == "--listen") {
      flags->listen = value;
    } else if (arg == "--plugins") {
      flags->plugin_dir = value;
    } else if (arg == "--port") {
      if (!ParseUnsigned(value, 65535, &flags->port)) {
        return UsageError("--port wants 0..65535, got '" + value + "'");
      }
      flags->has_port = true;
    } else if (arg == "--workers") {
      if (!ParseUnsigned(value, 1024, &flags->workers) || flags->workers == 0) {
        return UsageError("--workers wants 1..1024, got '" + value + "'");
      }
    } else if (arg == "--io-threads") {
      if (!ParseUnsigned(value, 1024, &flags->io_threads) || flags->io_threads == 0) {
        return UsageError("--io-threads wants 1..1024, got '" + value + "'");
      }
    } else if (arg == "--max-frame") {
      if (!ParseUnsigned(value, UINT32_MAX, &flags->max_frame) || flags->max_frame == 0) {
        return UsageError("--max-frame wants 1.." + std::to_string(UINT32_MAX) + " bytes, got '" +
                          value + "'");
      }
    } else if (arg == "--content-root") {
      flags->content_root = value;
    } else if (arg == "--max-content") {
      if (!ParseUnsigned(value, 1ull << 34, &flags->max_content) || flags->max_content == 0) {
        return UsageError("--max-content wants 1.." + std::to_string(1ull << 34) + " bytes, got '" +
                          value + "'");
      }
    } else if (arg == "--embed-batch") {
      if (!ParseUnsigned(value, 4096, &flags->embed_batch) || flags->embed_batch == 0) {
        return UsageError("--embed-batch wants 1..4096, got '" + value + "'");
      }
    } else {
      return UsageError("unknown flag: " + arg);
    }
  }
  if (flags->data_dir.empty()) return UsageError("--data DIR is required");
  if (!flags->has_port) return UsageError("--port N is required");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (int rc = ParseFlags(argc, argv, &flags); rc != 0) return rc;

  reco::engine::EngineOptions engine_options;
  engine_options.data_dir = flags.data_dir;
  engine_options.plugin_dir =
      flags.plugin_dir.empty() ? DefaultPluginDir(argv[0]) : flags.plugin_dir;
  engine_options.sync_writes = flags.sync;
  engine_options.content_root = flags.content_root;
  engine_options.max_content_bytes = flags.max_content;
  engine_options.embed_batch_size = static_cast<uint32_t>(flags.embed_batch);

  std::unique_ptr<reco::engine::Engine> engine;
  reco::Status status = reco::engine::Engine::Open(engine_options, &engine);
  if (!status.ok()) {
    std::cerr << "recod: cannot open the engine on " << flags.data_dir << ": " << status.ToString()
              << "\n";
    return 1;
  }
  for (const auto& plugin : engine->Plugins()) {
    std::cerr << "recod: plugin " << plugin.name << " " << plugin.version << " (abi " << plugin.abi
              << ", " << plugin.modality << ", dim " << plugin.default_dim << ") from "
              << plugin.path << "\n";
  }
  for (const auto& [path, reason] : engine->RefusedPlugins()) {
    std::cerr << "recod: refused plugin " << path << ": " << reason << "\n";
  }
  if (engine->Plugins().empty()) {
    std::cerr << "recod: no plugins loaded from " << engine_options.plugin_dir
              << " (only spaces with plugin \"none\" will work)\n";
  }

  // Installed before the server starts, so a signal during start-up still stops it cleanly.
  boost::asio::io_context signal_context;
  boost::asio::signal_set signals(signal_context, SIGINT, SIGTERM);
  int received = 0;
  signals.async_wait([&](const boost::system::error_code& ec, int signal_number) {
    if (!ec) received = signal_number;
  });

  reco::api::ServerOptions server_options;
  server_options.listen_address = flags.listen;
  server_options.port = static_cast<uint16_t>(flags.port);
  server_options.worker_threads = static_cast<uint32_t>(flags.workers);
  server_options.io_threads = static_cast<uint32_t>(flags.io_threads);
  server_options.max_frame_bytes = static_cast<uint32_t>(flags.max_frame);
  reco::api::Server server(engine.get(), server_options);
  status = server.Start();
  if (!status.ok()) {
    std::cerr << "recod: " << status.ToString() << "\n";
    return 1;
  }
  const std::string host =
      server.host().find(':') != std::string::npos ? "[" + server.host() + "]" : server.host();
  std::cout << "listening on " << host << ":" << server.port() << std::endl;

  signal_context.run();  // returns once SIGINT or SIGTERM arrived
  std::cerr << "recod: " << strsignal(received) << ", stopping\n";
  server.Stop();
  engine.reset();
  std::cerr << "recod: stopped\n";
  return 0;
}
