// Starts the real recod binary as a child process on port 0 and reads its
// "listening on HOST:PORT" line; stops it with SIGTERM or kills it with SIGKILL.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

namespace reco {
namespace testing {

class RecodProcess {
 public:
  RecodProcess() = default;
  ~RecodProcess() { Kill(); }
  RecodProcess(const RecodProcess&) = delete;
  RecodProcess& operator=(const RecodProcess&) = delete;

  // Starts `recod --data data_dir --port 0 extra...`; returns false (and fills error) when it
  // does not print its address within the timeout.
  bool Start(const std::string& data_dir, const std::vector<std::string>& extra = {},
             std::string* error = nullptr) {
    int out[2];
    if (pipe(out) != 0) return Fail(error, "pipe failed");
    pid_ = fork();
    if (pid_ < 0) return Fail(error, "fork failed");
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      std::string bin = std::string(RECO_BIN_DIR) + "/recod";
      std::vector<std::string> args = {bin, "--data", data_dir, "--port", "0"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    stdout_fd_ = out[0];
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{stdout_fd_, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char c;
      ssize_t n = read(stdout_fd_, &c, 1);
      if (n <= 0) return Fail(error, "recod exited before listening");
      if (c != '\n') {
        line.push_back(c);
        continue;
      }
      const std::string prefix = "listening on ";
      if (line.rfind(prefix, 0) == 0) {
        address_ = line.substr(prefix.size());
        return true;
      }
      line.clear();
    }
    return Fail(error, "recod did not print its address within 60 s");
  }

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }

  // SIGKILL: no chance to flush anything.
  void Kill() { Signal(SIGKILL); }
  // SIGTERM and wait; returns the exit status (or -1).
  int Stop() { return Signal(SIGTERM); }

 private:
  int Signal(int sig) {
    if (pid_ <= 0) return -1;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    if (stdout_fd_ >= 0) close(stdout_fd_);
    stdout_fd_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  bool Fail(std::string* error, const char* what) {
    if (error) *error = what;
    Kill();
    return false;
  }

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string address_;
};

}  // namespace testing
}  // namespace reco
