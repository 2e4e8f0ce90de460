// Tests for server/client_text.cc: client text in status messages is cut and escaped.
#include "server/client_text.h"

#include <gtest/gtest.h>

#include <string>

namespace ternserve {
namespace {

TEST(ClientTextTest, ShortTextIsKeptAndBinaryEscaped) {
  EXPECT_EQ(ClientText("resnet50"), "resnet50");
  EXPECT_EQ(ClientText(""), "");
  EXPECT_EQ(ClientText(std::string("a\0b\n\xff", 5)), "a\\x00\\x62\\n\\xff");
  const std::string longest(kMaxClientTextBytes, 'x');
  EXPECT_EQ(ClientText(longest), longest);
}

TEST(ClientTextTest, LongTextIsCutAndItsSizeSaid) {
  EXPECT_EQ(ClientText(std::string(kMaxClientTextBytes + 1, 'x')),
            std::string(kMaxClientTextBytes, 'x') + "...(65 bytes)");
  EXPECT_EQ(ClientText(std::string(4 << 20, 'y')),
            std::string(kMaxClientTextBytes, 'y') + "...(4194304 bytes)");
}

}  // namespace
}  // namespace ternserve
