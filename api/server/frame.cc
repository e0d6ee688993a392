#include "api/server/frame.h"

#include <limits>

#include <google/protobuf/message_lite.h>

namespace reco {
namespace api {

void EncodeFrameHeader(uint32_t payload_bytes, unsigned char* out) {
  out[0] = static_cast<unsigned char>(payload_bytes >> 24);
  out[1] = static_cast<unsigned char>(payload_bytes >> 16);
  out[2] = static_cast<unsigned char>(payload_bytes >> 8);
  out[3] = static_cast<unsigned char>(payload_bytes);
}

uint32_t DecodeFrameHeader(const unsigned char* in) {
  return (uint32_t{in[0]} << 24) | (uint32_t{in[1]} << 16) | (uint32_t{in[2]} << 8) |
         uint32_t{in[3]};
}

bool AppendFrame(const google::protobuf::MessageLite& message, std::string* out) {
  const size_t payload_bytes = message.ByteSizeLong();
  if (payload_bytes > static_cast<size_t>(std::numeric_limits<int>::max())) return false;
  const size_t start = out->size();
  out->resize(start + kFrameHeaderBytes + payload_bytes);
  auto* header = reinterpret_cast<unsigned char*>(&(*out)[start]);
  EncodeFrameHeader(static_cast<uint32_t>(payload_bytes), header);
  if (!message.SerializeToArray(header + kFrameHeaderBytes, static_cast<int>(payload_bytes))) {
    out->resize(start);
    return false;
  }
  return true;
}

}  // namespace api
}  // namespace reco
