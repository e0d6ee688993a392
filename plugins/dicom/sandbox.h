// Runs the DICOM decoder in a short-lived child process.
//
// Debian's GDCM is built with assertions enabled, and its parser and codecs abort() on many
// malformed inputs (a truncated meta header, a bad item delimiter, a corrupt basic offset
// table, ...). A plugin must never take its host down, so by default every embed_batch() and
// describe() call forks one child that parses and decodes the inputs and streams the decoded
// frames back over a pipe. A child that aborts, crashes or runs past the timeout costs only the
// call, which fails with "input N: ..." naming the input it was working on.
//
// The child only runs GDCM and this plugin's own code (no LibTorch, no host code): it resets
// the fatal signals to their defaults, disables core dumps, sends its stdout/stderr to
// /dev/null (GDCM and libjpeg print to them), dies with the calling thread
// (PR_SET_PDEATHSIG) and leaves with _exit().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "dicom_decode.h"
#include "reco/plugin_abi.h"

namespace reco {
namespace dicom {

// Decodes inputs [0, n) with DecodeImage() in a child process and hands each image, with its
// describe() JSON, to `sink(index, image, description)` in order. At the first failure (a
// decoding error, a crash or a timeout of the child) throws std::runtime_error("input I: ...").
// `timeout_ms` bounds the wait for each input.
void DecodeIsolated(const reco_input* inputs, size_t n, const DecodeOptions& options,
                    bool keep_identifying, int timeout_ms,
                    const std::function<void(size_t, DecodedImage&&, std::string&&)>& sink);

// Describe() in a child process. Throws std::runtime_error with the reason on failure.
std::string DescribeIsolated(const reco_input& input, bool keep_identifying, int timeout_ms);

}  // namespace dicom
}  // namespace reco
