// The forked decoder process (see sandbox.h).
//
// Wire format, child to parent, one record per input in order:
//   'I' u32 channels, u32 rows, u32 cols, float[channels * rows * cols],  a decoded frame and
//       u32 length, bytes                                                 its describe() JSON
//   'E' u32 length, bytes                                                 an error (last record)
//   'T' u32 length, bytes                                                 describe() JSON
#include "sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace reco {
namespace dicom {
namespace {

constexpr uint32_t kMaxSide = 65535;
constexpr uint32_t kMaxText = 1u << 24;

// ---------------------------------------------------------------------------------------------
// Child side. Nothing here may throw or return to the caller's stack frames.

bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t k = write(fd, p, size);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    size -= static_cast<size_t>(k);
  }
  return true;
}

bool WriteU32(int fd, uint32_t v) { return WriteAll(fd, &v, sizeof(v)); }

bool WriteText(int fd, char kind, const std::string& text) {
  return WriteAll(fd, &kind, 1) && WriteU32(fd, static_cast<uint32_t>(text.size())) &&
         WriteAll(fd, text.data(), text.size());
}

void PrepareChild(pid_t parent) {
  // A failed GDCM assertion or a fault ends this process only, quietly and without a core.
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGPIPE, SIGTERM, SIGINT}) {
    signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, nullptr);
  const struct rlimit no_core = {0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(2);  // the caller is already gone
  const int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, STDOUT_FILENO);
    dup2(devnull, STDERR_FILENO);
  }
}

// ---------------------------------------------------------------------------------------------
// Parent side.

const char* SignalName(int sig) {
  switch (sig) {
    case SIGABRT:
      return "SIGABRT: a GDCM assertion failed";
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGKILL:
      return "SIGKILL: killed, e.g. out of memory";
    default:
      return "a signal";
  }
}

// A forked child writing records to a pipe.
class Child {
 public:
  template <class Fn>
  Child(int timeout_ms, Fn&& body) : timeout_ms_(timeout_ms) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      throw std::runtime_error(std::string("dicom plugin: cannot start the decoder process: pipe: ") +
                               std::strerror(errno));
    }
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) {
      const int err = errno;
      close(fds[0]);
      close(fds[1]);
      throw std::runtime_error(std::string("dicom plugin: cannot start the decoder process: fork: ") +
                               std::strerror(err));
    }
    if (pid_ == 0) {
      close(fds[0]);
      PrepareChild(parent);
      try {
        body(fds[1]);
      } catch (...) {
        _exit(3);
      }
      _exit(0);
    }
    close(fds[1]);
    fd_ = fds[0];
  }

  ~Child() { Stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads exactly `size` bytes. False at EOF or timeout (see Failure()).
  bool Read(void* data, size_t size) {
    char* p = static_cast<char*>(data);
    while (size > 0) {
      struct pollfd pfd = {fd_, POLLIN, 0};
      const int r = poll(&pfd, 1, timeout_ms_);
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) {
        timed_out_ = true;
        return false;
      }
      if (r < 0) return false;
      const ssize_t k = read(fd_, p, size);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) return false;
      p += k;
      size -= static_cast<size_t>(k);
    }
    return true;
  }

  bool ReadU32(uint32_t* v) { return Read(v, sizeof(*v)); }

  // Why the stream ended early: stops the child and says how it ended.
  std::string Failure() {
    if (timed_out_) {
      Stop();
      return "decoding took longer than " + std::to_string(timeout_ms_) +
             " ms (decode_timeout_ms); the decoder process was stopped";
    }
    const int status = Wait();
    if (status >= 0 && WIFSIGNALED(status)) {
      return "the DICOM decoder crashed on this input (signal " + std::to_string(WTERMSIG(status)) +
             ", " + SignalName(WTERMSIG(status)) +
             "): the file is corrupt or uses an encoding GDCM cannot handle";
    }
    if (status >= 0 && WIFEXITED(status)) {
      return "the DICOM decoder process exited early (status " +
             std::to_string(WEXITSTATUS(status)) + ")";
    }
    return "the DICOM decoder process ended early";
  }

  // Kills (if still running) and reaps the child.
  void Stop() {
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      Wait();
    }
  }

 private:
  // Waits for the child to end; its wait status, or -1 when it cannot be known.
  int Wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    pid_t r;
    do {
      r = waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    pid_ = -1;
    return r < 0 ? -1 : status;
  }

  int timeout_ms_;
  pid_t pid_ = -1;
  int fd_ = -1;
  bool timed_out_ = false;
};

std::string Prefix(size_t i) { return "input " + std::to_string(i) + ": "; }

}  // namespace

void DecodeIsolated(const reco_input* inputs, size_t n, const DecodeOptions& options,
                    bool keep_identifying, int timeout_ms,
                    const std::function<void(size_t, DecodedImage&&, std::string&&)>& sink) {
  if (n == 0) return;
  Child child(timeout_ms, [&](int fd) {
    for (size_t i = 0; i < n; ++i) {
      DecodedImage image;
      std::string description;
      try {
        image = DecodeImage(inputs[i].data, inputs[i].data ? inputs[i].size : 0, options,
                            &description, keep_identifying);
      } catch (const std::exception& e) {
        WriteText(fd, 'E', e.what());
        return;
      } catch (...) {
        WriteText(fd, 'E', "unknown error");
        return;
      }
      const char kind = 'I';
      if (!WriteAll(fd, &kind, 1) || !WriteU32(fd, image.channels) || !WriteU32(fd, image.rows) ||
          !WriteU32(fd, image.cols) ||
          !WriteAll(fd, image.pixels.data(), image.pixels.size() * sizeof(float)) ||
          !WriteU32(fd, static_cast<uint32_t>(description.size())) ||
          !WriteAll(fd, description.data(), description.size())) {
        return;
      }
    }
  });
  for (size_t i = 0; i < n; ++i) {
    char kind = 0;
    if (!child.Read(&kind, 1)) throw std::runtime_error(Prefix(i) + child.Failure());
    if (kind == 'E') {
      uint32_t len = 0;
      if (!child.ReadU32(&len) || len > kMaxText) {
        throw std::runtime_error(Prefix(i) + child.Failure());
      }
      std::string message(len, '\0');
      if (!child.Read(message.data(), len)) throw std::runtime_error(Prefix(i) + child.Failure());
      throw std::runtime_error(Prefix(i) + message);
    }
    DecodedImage image;
    if (kind != 'I' || !child.ReadU32(&image.channels) || !child.ReadU32(&image.rows) ||
        !child.ReadU32(&image.cols)) {
      throw std::runtime_error(Prefix(i) + child.Failure());
    }
    const uint64_t values = uint64_t{image.channels} * image.rows * image.cols;
    if ((image.channels != 1 && image.channels != 3) || image.rows == 0 || image.cols == 0 ||
        image.rows > kMaxSide || image.cols > kMaxSide || values > 3 * options.max_pixels) {
      throw std::runtime_error(Prefix(i) + "the decoder process sent a malformed image");
    }
    image.pixels.resize(values);
    uint32_t len = 0;
    if (!child.Read(image.pixels.data(), values * sizeof(float)) || !child.ReadU32(&len) ||
        len > kMaxText) {
      throw std::runtime_error(Prefix(i) + child.Failure());
    }
    std::string description(len, '\0');
    if (!child.Read(description.data(), len)) throw std::runtime_error(Prefix(i) + child.Failure());
    sink(i, std::move(image), std::move(description));
  }
}

std::string DescribeIsolated(const reco_input& input, bool keep_identifying, int timeout_ms) {
  Child child(timeout_ms, [&](int fd) {
    try {
      WriteText(fd, 'T', Describe(input.data, input.data ? input.size : 0, keep_identifying));
    } catch (const std::exception& e) {
      WriteText(fd, 'E', e.what());
    } catch (...) {
      WriteText(fd, 'E', "unknown error");
    }
  });
  char kind = 0;
  uint32_t len = 0;
  if (!child.Read(&kind, 1) || (kind != 'T' && kind != 'E') || !child.ReadU32(&len) ||
      len > kMaxText) {
    throw std::runtime_error(child.Failure());
  }
  std::string text(len, '\0');
  if (!child.Read(text.data(), len)) throw std::runtime_error(child.Failure());
  if (kind == 'E') throw std::runtime_error(text);
  return text;
}

}  // namespace dicom
}  // namespace reco
