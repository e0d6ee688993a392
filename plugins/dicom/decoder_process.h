// The decoder process: DICOM parsing and decoding run in a separate process.
//
// Debian's GDCM is built with assertions enabled, and its parser and codecs abort() on many
// malformed inputs (a truncated meta header, a bad item delimiter, a corrupt basic offset
// table, ...); a plugin must never take its host down. So by default (option isolate) each
// plugin instance runs a small decoder executable (decoder_main.cc, GDCM only, no LibTorch)
// and sends it the input bytes over a socket; it sends back the decoded frames and their
// describe() JSON. A decoder that aborts, crashes or runs past the timeout costs only the call,
// which fails with "input N: ..." naming the input it was working on; the next call starts a
// new decoder.
//
// The executable is embedded in reco_dicom.so (decoder_blob.cc) and run from a sealed memfd,
// so the plugin stays one file. Unlike forking the host for every call, this costs one exec per
// instance and never marks the host's memory copy-on-write. The decoder gets the socket as its
// stdin, /dev/null as stdout/stderr (GDCM and libjpeg print there), no other descriptors,
// default signal dispositions and no core dumps; it exits when the socket closes.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "dicom_decode.h"
#include "reco/plugin_abi.h"

namespace reco {
namespace dicom {

class DecoderProcess {
 public:
  // Starts the decoder; throws std::runtime_error when it cannot. `timeout_ms` bounds the wait
  // for each input's reply.
  explicit DecoderProcess(int timeout_ms);
  ~DecoderProcess();
  DecoderProcess(const DecoderProcess&) = delete;
  DecoderProcess& operator=(const DecoderProcess&) = delete;

  // Decodes inputs [0, n) and hands each image, with its describe() JSON, to
  // `sink(index, image, description)` in order. At the first failure (a decoding error, a crash
  // or a timeout) throws std::runtime_error("input I: ...").
  void Decode(const reco_input* inputs, size_t n, const DecodeOptions& options,
              bool keep_identifying,
              const std::function<void(size_t, DecodedImage&&, std::string&&)>& sink);

  // Describe() in the decoder. Throws std::runtime_error with the reason on failure.
  std::string Describe(const reco_input& input, bool keep_identifying);

 private:
  void Start();
  void Stop();
  void EnsureRunning();
  // Sends a request; restarts a decoder that has gone away since the last call and retries.
  void Send(const std::string& header, const reco_input* inputs, size_t n);
  bool SendAll(const void* data, size_t size);
  bool Read(void* data, size_t size);
  bool ReadU32(uint32_t* v) { return Read(v, sizeof(*v)); }
  // Why the replies ended early; stops the decoder.
  std::string Failure();

  int timeout_ms_;
  pid_t pid_ = -1;
  int socket_ = -1;
  bool timed_out_ = false;
};

}  // namespace dicom
}  // namespace reco
