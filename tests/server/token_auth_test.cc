// Tests for server/token_auth.cc: the token file's format, the header check, and a reload that
// rotates tokens or, when the file goes bad, keeps the ones in use.
#include "server/token_auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "util/token_file.h"

namespace ternserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::trunc) << contents;
  return path;
}

TEST(TokenAuthTest, ParsesOneTokenPerLineSkippingCommentsBlanksAndCr) {
  absl::StatusOr<std::vector<std::string>> tokens =
      ParseTokenFile("# rotation: old, then new\r\n\r\n  old-token \r\nnew-token\n");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_THAT(*tokens, ElementsAre("old-token", "new-token"));
  EXPECT_EQ(ParseTokenFile("# only a comment\n\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTokenFile("two words\n").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenAuthTest, ChecksTheBearerHeaderWithoutEchoingTheToken) {
  auto auth = TokenAuthenticator::Load(WriteFile("tokens_check", "s3cret\nother\n"));
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE((*auth)->CheckHeader("Bearer s3cret", true).ok());
  EXPECT_TRUE((*auth)->CheckHeader("Bearer other", true).ok());
  for (const absl::Status& refused :
       {(*auth)->CheckHeader("", false), (*auth)->CheckHeader("Basic s3cret", true),
        (*auth)->CheckHeader("Bearer s3cre", true), (*auth)->CheckHeader("Bearer wrong", true)}) {
    EXPECT_EQ(refused.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(refused.message(), Not(HasSubstr("s3cret")));
    EXPECT_THAT(refused.message(), Not(HasSubstr("wrong")));
  }
}

TEST(TokenAuthTest, ReloadRotatesAndABadFileKeepsTheTokensInUse) {
  const std::string path = WriteFile("tokens_reload", "first\n");
  auto auth = TokenAuthenticator::Load(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  WriteFile("tokens_reload", "second\nthird\n");
  absl::StatusOr<int> reloaded = (*auth)->Reload();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(*reloaded, 2);
  EXPECT_EQ((*auth)->CheckHeader("Bearer first", true).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE((*auth)->CheckHeader("Bearer third", true).ok());

  WriteFile("tokens_reload", "\n# emptied by mistake\n");
  EXPECT_EQ((*auth)->Reload().status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*auth)->CheckHeader("Bearer second", true).ok());
  std::remove(path.c_str());
  EXPECT_EQ((*auth)->Reload().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*auth)->CheckHeader("Bearer second", true).ok());
}

TEST(TokenAuthTest, AMissingFileFailsLoadNamingIt) {
  auto auth = TokenAuthenticator::Load("/nonexistent/tokens");
  EXPECT_EQ(auth.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(auth.status().message(), HasSubstr("/nonexistent/tokens"));
}

}  // namespace
}  // namespace ternserve
