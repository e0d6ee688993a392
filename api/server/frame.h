// Frames on the wire: a 4-byte big-endian payload length, then the payload (one serialized
// reco.api.v1.Request or Response).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace google {
namespace protobuf {
class MessageLite;
}  // namespace protobuf
}  // namespace google

namespace reco {
namespace api {

constexpr size_t kFrameHeaderBytes = 4;

// out: kFrameHeaderBytes bytes.
void EncodeFrameHeader(uint32_t payload_bytes, unsigned char* out);
// in: kFrameHeaderBytes bytes.
uint32_t DecodeFrameHeader(const unsigned char* in);

// Appends header + serialized message to *out. False when the message does not serialize
// (over 2 GiB, or a proto2 message with missing required fields).
bool AppendFrame(const google::protobuf::MessageLite& message, std::string* out);

}  // namespace api
}  // namespace reco
