#include "index/flat_index.h"

namespace reco {
namespace index {

Status CreateFlatIndex(const IndexOptions& options, std::unique_ptr<VectorIndex>* out) {
  *out = std::make_unique<internal::FlatIndex>(options);
  return Status::OK();
}

Status LoadFlatIndex(const IndexOptions& options, internal::InFile* in,
                     std::unique_ptr<VectorIndex>* out) {
  auto index = std::make_unique<internal::FlatIndex>(options);
  RECO_RETURN_IF_ERROR(index->ReadPayload(in));
  *out = std::move(index);
  return Status::OK();
}

}  // namespace index
}  // namespace reco
