// Runs a program through the shell and captures what it printed, for the tests that drive the
// real tools (recoctl, recod, reco_bench, cmake) as separate processes.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace reco {
namespace testing {

// s in single quotes for /bin/sh.
inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout (and stderr, when not sent to a file)
  std::string err;  // stderr, when sent to a file

  // stdout as one JSON value per non-empty line.
  std::vector<nlohmann::json> JsonLines() const {
    std::vector<nlohmann::json> lines;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
    }
    return lines;
  }
};

// Runs argv (quoted); stderr goes to err_path and is read back into err, or is merged into
// out when err_path is empty.
inline CommandResult RunCommand(const std::vector<std::string>& argv,
                                const std::string& err_path = "") {
  std::string command;
  for (const auto& arg : argv) command += (command.empty() ? "" : " ") + ShellQuote(arg);
  command += err_path.empty() ? " 2>&1" : " 2>" + ShellQuote(err_path);
  CommandResult run;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) run.out.append(buf, n);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (!err_path.empty()) {
    std::ifstream err(err_path);
    std::stringstream text;
    text << err.rdbuf();
    run.err = text.str();
  }
  return run;
}

}  // namespace testing
}  // namespace reco
