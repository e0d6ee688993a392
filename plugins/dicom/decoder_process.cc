// The decoder process (see decoder_process.h and decoder_protocol.h).
#include "decoder_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "decoder_protocol.h"

// The embedded decoder executable (decoder_blob.cc).
extern "C" const char reco_dicom_decoder_begin[] __attribute__((visibility("hidden")));
extern "C" const char reco_dicom_decoder_end[] __attribute__((visibility("hidden")));

extern char** environ;

namespace reco {
namespace dicom {
namespace {

// A request carries at most this many input bytes (the decoder holds a request in memory).
constexpr uint64_t kMaxRequestBytes = 64ull << 20;

std::runtime_error StartError(const std::string& what) {
  return std::runtime_error("dicom plugin: cannot start the decoder process: " + what +
                            " (option \"isolate\": false decodes in process instead)");
}

// The decoder executable in a sealed memfd, made once per process. Returns its descriptor.
int DecoderExecutable() {
  static std::once_flag once;
  static int fd = -1;
  static std::string error;
  std::call_once(once, [] {
    const size_t size = static_cast<size_t>(reco_dicom_decoder_end - reco_dicom_decoder_begin);
    int m = memfd_create("reco_dicom_decoder", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (m < 0) {
      error = std::string("memfd_create: ") + std::strerror(errno);
      return;
    }
    for (size_t done = 0; done < size;) {
      const ssize_t k = write(m, reco_dicom_decoder_begin + done, size - done);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) {
        error = std::string("writing the decoder: ") + std::strerror(errno);
        close(m);
        return;
      }
      done += static_cast<size_t>(k);
    }
    fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    fd = m;
  });
  if (fd < 0) throw StartError(error);
  return fd;
}

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

std::string Prefix(size_t i) { return "input " + std::to_string(i) + ": "; }

template <class T>
void Append(std::string* s, T v) {
  s->append(reinterpret_cast<const char*>(&v), sizeof(v));
}

}  // namespace

DecoderProcess::DecoderProcess(int timeout_ms) : timeout_ms_(timeout_ms) { Start(); }

DecoderProcess::~DecoderProcess() { Stop(); }

void DecoderProcess::Start() {
  const int exe = DecoderExecutable();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    throw StartError(std::string("socketpair: ") + std::strerror(errno));
  }
  // Descriptors the child moves to 0 and 3: keep them clear of 0..3 so dup2 cannot clobber.
  const int child_socket = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
  const int child_exe = fcntl(exe, F_DUPFD_CLOEXEC, 10);
  close(sv[1]);
  const int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (child_socket < 0 || child_exe < 0 || devnull < 0) {
    const int err = errno;
    for (int fd : {sv[0], child_socket, child_exe, devnull}) {
      if (fd >= 0) close(fd);
    }
    throw StartError(std::string("fcntl/open: ") + std::strerror(err));
  }
  char arg0[] = "reco_dicom_decoder";
  char* argv[] = {arg0, nullptr};
  const pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    const struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    if (dup2(child_socket, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0 ||
        dup2(child_exe, 3) < 0 || fcntl(3, F_SETFD, FD_CLOEXEC) < 0) {
      _exit(126);
    }
    syscall(SYS_close_range, 4u, ~0u, 0u);
    syscall(SYS_execveat, 3, "", argv, environ, AT_EMPTY_PATH);
    execve("/proc/self/fd/3", argv, environ);  // kernels without execveat
    _exit(127);
  }
  const int err = errno;
  close(child_socket);
  close(child_exe);
  close(devnull);
  if (pid < 0) {
    close(sv[0]);
    throw StartError(std::string("fork: ") + std::strerror(err));
  }
  pid_ = pid;
  socket_ = sv[0];
  timed_out_ = false;
  // The decoder says it is ready once it runs: an exec that failed shows here, not later.
  char ready = 0;
  if (!Read(&ready, 1) || ready != kReplyReady) throw StartError(Failure());
}

void DecoderProcess::Stop() {
  if (socket_ >= 0) {
    close(socket_);
    socket_ = -1;
  }
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
}

void DecoderProcess::EnsureRunning() {
  if (pid_ < 0 || socket_ < 0) {
    Stop();
    Start();
  }
}

bool DecoderProcess::SendAll(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    struct pollfd pfd = {socket_, POLLOUT, 0};
    const int r = poll(&pfd, 1, timeout_ms_);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) timed_out_ = true;
    if (r <= 0) return false;
    const ssize_t k = send(socket_, p, size, MSG_NOSIGNAL);  // never SIGPIPE the host
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (k <= 0) return false;
    p += k;
    size -= static_cast<size_t>(k);
  }
  return true;
}

void DecoderProcess::Send(const std::string& header, const reco_input* inputs, size_t n) {
  for (int attempt = 0;; ++attempt) {
    EnsureRunning();
    bool ok = SendAll(header.data(), header.size());
    for (size_t i = 0; ok && i < n; ++i) {
      const uint64_t size = inputs[i].data ? inputs[i].size : 0;
      ok = SendAll(&size, sizeof(size)) && SendAll(inputs[i].data, size);
    }
    if (ok) return;
    // The decoder went away before reading the request (it is killed after a timeout or a
    // crash, or died since): start a new one once.
    const std::string why = Failure();
    if (attempt > 0) throw std::runtime_error("dicom plugin: the decoder process failed: " + why);
  }
}

bool DecoderProcess::Read(void* data, size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    struct pollfd pfd = {socket_, POLLIN, 0};
    const int r = poll(&pfd, 1, timeout_ms_);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) timed_out_ = true;
    if (r <= 0) return false;
    const ssize_t k = recv(socket_, p, size, 0);
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (k <= 0) return false;
    p += k;
    size -= static_cast<size_t>(k);
  }
  return true;
}

std::string DecoderProcess::Failure() {
  if (timed_out_) {
    Stop();
    return "decoding took longer than " + std::to_string(timeout_ms_) +
           " ms (decode_timeout_ms); the decoder process was stopped";
  }
  // The decoder closed the socket: it has ended (or is about to).
  if (socket_ >= 0) {
    close(socket_);
    socket_ = -1;
  }
  int status = 0;
  pid_t r = -1;
  if (pid_ > 0) {
    while ((r = waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  if (r > 0 && WIFSIGNALED(status)) {
    return "the DICOM decoder crashed on this input (signal " + std::to_string(WTERMSIG(status)) +
           ", " + SignalName(WTERMSIG(status)) +
           "): the file is corrupt or uses an encoding GDCM cannot handle";
  }
  if (r > 0 && WIFEXITED(status)) {
    return "the DICOM decoder process exited (status " + std::to_string(WEXITSTATUS(status)) + ")";
  }
  return "the DICOM decoder process ended";
}

void DecoderProcess::Decode(
    const reco_input* inputs, size_t n, const DecodeOptions& options, bool keep_identifying,
    const std::function<void(size_t, DecodedImage&&, std::string&&)>& sink) {
  for (size_t first = 0; first < n;) {
    // A request of up to kMaxRequestBytes of inputs (at least one).
    size_t count = 0;
    uint64_t bytes = 0;
    while (first + count < n &&
           (count == 0 || bytes + inputs[first + count].size <= kMaxRequestBytes)) {
      bytes += inputs[first + count].data ? inputs[first + count].size : 0;
      ++count;
    }
    std::string header;
    header += kRequestDecode;
    Append(&header, static_cast<uint64_t>(options.max_pixels));
    Append(&header, static_cast<uint8_t>(options.window));
    Append(&header, static_cast<uint8_t>(keep_identifying ? 1 : 0));
    Append(&header, static_cast<uint32_t>(count));
    Send(header, inputs + first, count);
    for (size_t i = first; i < first + count; ++i) {
      char kind = 0;
      uint32_t len = 0;
      if (!Read(&kind, 1)) throw std::runtime_error(Prefix(i) + Failure());
      if (kind == kReplyError) {
        if (!ReadU32(&len) || len > kMaxText) throw std::runtime_error(Prefix(i) + Failure());
        std::string message(len, '\0');
        if (!Read(message.data(), len)) throw std::runtime_error(Prefix(i) + Failure());
        throw std::runtime_error(Prefix(i) + message);
      }
      DecodedImage image;
      if (kind != kReplyImage || !ReadU32(&image.channels) || !ReadU32(&image.rows) ||
          !ReadU32(&image.cols)) {
        throw std::runtime_error(Prefix(i) + Failure());
      }
      const uint64_t values = uint64_t{image.channels} * image.rows * image.cols;
      if ((image.channels != 1 && image.channels != 3) || image.rows == 0 || image.cols == 0 ||
          image.rows > kMaxSide || image.cols > kMaxSide || values > 3 * options.max_pixels) {
        Stop();
        throw std::runtime_error(Prefix(i) + "the decoder process sent a malformed image");
      }
      image.pixels.resize(values);
      if (!Read(image.pixels.data(), values * sizeof(float)) || !ReadU32(&len) || len > kMaxText) {
        throw std::runtime_error(Prefix(i) + Failure());
      }
      std::string description(len, '\0');
      if (!Read(description.data(), len)) throw std::runtime_error(Prefix(i) + Failure());
      try {
        sink(i, std::move(image), std::move(description));
      } catch (...) {
        Stop();  // replies of this request are still coming: start afresh next time
        throw;
      }
    }
    first += count;
  }
}

std::string DecoderProcess::Describe(const reco_input& input, bool keep_identifying) {
  std::string header;
  header += kRequestDescribe;
  Append(&header, static_cast<uint8_t>(keep_identifying ? 1 : 0));
  Send(header, &input, 1);
  char kind = 0;
  uint32_t len = 0;
  if (!Read(&kind, 1) || (kind != kReplyText && kind != kReplyError) || !ReadU32(&len) ||
      len > kMaxText) {
    throw std::runtime_error(Failure());
  }
  std::string text(len, '\0');
  if (!Read(text.data(), len)) throw std::runtime_error(Failure());
  if (kind == kReplyError) throw std::runtime_error(text);
  return text;
}

}  // namespace dicom
}  // namespace reco
