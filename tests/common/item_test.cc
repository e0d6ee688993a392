#include <gtest/gtest.h>

#include "common/item.h"
#include "common/status.h"

namespace reco {
namespace {

TEST(ItemCodec, RoundTripsEveryAttributeType) {
  Item in;
  in.id = "sku-1";
  in.internal_id = 123456789;
  in.text = "Trail running shoe";
  in.created_ms = 1700000000000;
  in.updated_ms = 1700000001000;
  in.attributes["category"] = std::string("shoes");
  in.attributes["price"] = 79.5;
  in.attributes["in_stock"] = true;
  in.attributes["tags"] = std::vector<std::string>{"trail", "running"};
  std::string bytes;
  EncodeItem(in, &bytes);
  Item out;
  ASSERT_TRUE(DecodeItem(bytes.data(), bytes.size(), &out));
  EXPECT_EQ(out.id, in.id);
  EXPECT_EQ(out.internal_id, in.internal_id);
  EXPECT_EQ(out.text, in.text);
  EXPECT_EQ(out.created_ms, in.created_ms);
  EXPECT_EQ(out.updated_ms, in.updated_ms);
  EXPECT_EQ(out.attributes, in.attributes);
}

TEST(ItemCodec, RejectsTruncatedAndTrailingBytes) {
  Item in;
  in.id = "x";
  in.attributes["tags"] = std::vector<std::string>{"a", "b"};
  std::string bytes;
  EncodeItem(in, &bytes);
  Item out;
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeItem(bytes.data(), n, &out)) << "prefix of " << n << " bytes decoded";
  }
  bytes.push_back('x');
  EXPECT_FALSE(DecodeItem(bytes.data(), bytes.size(), &out));
}

TEST(Status, CarriesCodeMessageAndContext) {
  Status st = Status::NotFound("collection 'shop' does not exist").WithContext("search");
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(st.IsNotFound());
  EXPECT_EQ(st.ToString(), "NotFound: search: collection 'shop' does not exist");
  EXPECT_TRUE(Status::OK().WithContext("x").ok());
}

}  // namespace
}  // namespace reco
