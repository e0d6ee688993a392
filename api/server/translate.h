// The one place that maps reco.api.v1 protobuf messages to engine structs and back.
#pragma once

#include "api/proto/reco.pb.h"
#include "common/status.h"

namespace reco {
namespace engine {
class Engine;
}  // namespace engine

namespace api {

// Runs one request against the engine and builds its response (request_id echoed; on
// failure `error` is set and `body` left empty). Blocks: call it on a worker thread.
v1::Response HandleRequest(engine::Engine* engine, const v1::Request& request);

// A response that carries only an error.
v1::Response ErrorResponse(uint64_t request_id, const Status& status);

}  // namespace api
}  // namespace reco
