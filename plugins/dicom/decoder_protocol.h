// The wire format between the plugin and its decoder process (decoder_process.h), over one
// AF_UNIX stream socket. Both ends run on the same machine, so integers are host-order.
//
// Requests (plugin -> decoder):
//   'E' u64 max_pixels, u8 window (WindowMode), u8 keep_identifying, u32 n,
//       n x (u64 size, bytes)                      decode n inputs (all are read first)
//   'D' u8 keep_identifying, u64 size, bytes       describe one input
// Replies (decoder -> plugin), for 'E' one per input in order, stopping after an error:
//   'I' u32 channels, u32 rows, u32 cols, float[channels * rows * cols],
//       u32 length, bytes                           a decoded frame and its describe() JSON
//   'E' u32 length, bytes                           an error message
// and for 'D':
//   'T' u32 length, bytes                           describe() JSON
//   'E' u32 length, bytes                           an error message
// The decoder sends 'R' once when it starts, and exits when the socket is closed.
#pragma once

#include <cstdint>

namespace reco {
namespace dicom {

constexpr char kRequestDecode = 'E';
constexpr char kRequestDescribe = 'D';
constexpr char kReplyImage = 'I';
constexpr char kReplyText = 'T';
constexpr char kReplyError = 'E';
constexpr char kReplyReady = 'R';

constexpr uint32_t kMaxSide = 65535;
constexpr uint32_t kMaxText = 1u << 24;
constexpr uint64_t kMaxInputBytes = 1ull << 36;

}  // namespace dicom
}  // namespace reco
