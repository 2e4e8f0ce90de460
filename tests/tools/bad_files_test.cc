// Every tool that reads a bundle, a latency profile or a trace file refuses each bad file of the
// corpus (tests/data/bad_files/, docs/reliability.md): exit 1 (not a signal, not the usage error's
// 2; ternserve-bench, which calls a bad --bundle a bad flag, exits 2), and a message that names the
// file and the fault. One test per (tool, file), each its own ctest process.
#include <cctype>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace ternserve {
namespace {

const std::string kData = std::string(TERNSERVE_SOURCE_DIR) + "/tests/data/bad_files/";
const std::string kBin = std::string(TERNSERVE_BINARY_DIR) + "/bin/";

// A bad file and a phrase of the fault the refusal must name.
struct BadFile {
  std::string name;  // under kData; it need not exist
  std::string fault;
};

// How a tool is run on a file: "{file}" in an argument is the bad file's path, "{scratch}" a
// per-test output path.
struct Tool {
  std::string name;  // test-name prefix
  std::vector<std::string> argv;
  // What it exits with on a bad file: 1, a bad input file, for every tool but ternserve-bench,
  // whose 1 means a failed agreement check and which reports a bad --bundle as a bad flag.
  int exit_code = 1;
};

struct Case {
  Tool tool;
  BadFile file;
};

const std::vector<BadFile> kBundles = {
    {"truncated.tsn", "bytes, the header says"},
    {"corrupted.tsn", "checksum mismatch"},
    {"version2.tsn", "format version 2 is not supported"},
    {"wrong_arch.tsn",
     "section \"s2.b0.conv1.codes\" is ternary2 [8,8,3,3], the architecture needs ternary2 "
     "[16,8,3,3]"},
    {"bad_metadata.tsn", "metadata field quantizer: \"int4\" is not one of"},
    {"not_a_bundle.tsn", "not a Ternserve bundle"},
    {"empty.tsn", "truncated: 0 bytes"},
    {"missing.tsn", "cannot open"},
};

const std::vector<BadFile> kProfiles = {
    {"profile_not_json.json", "not valid JSON"},
    {"profile_empty.json", "not valid JSON"},
    {"profile_not_object.json", "(top level): must be an object"},
    {"profile_version2.json", "version: 2 is not supported"},
    {"profile_wrong_type.json", "workers: must be an integer"},
    {"profile_no_batch_1.json", "subnets[1].batches[0].batch: must be 1"},
    {"profile_p99_below_p50.json", "subnets[0].batches[1].p99_us: must be >= p50_us"},
    {"missing.profile.json", "cannot open latency profile"},
};

const std::vector<BadFile> kTraces = {
    {"trace_backwards.txt", ":3: arrival time 500 is earlier than the previous line's 1000"},
    {"trace_not_a_number.txt", ":3: arrival time 'soon' is not a number"},
    {"trace_bad_slo.txt", ":2: SLO '0' is not a number of ms > 0"},
    {"trace_extra_fields.txt", ":2: expected '<arrival_us> [<slo_ms>]', got 3 fields"},
    {"trace_binary.txt", ":1: arrival time '\\x89PNG\\r' is not a number"},
    {"trace_negative_time.txt", ":1: arrival time '-5' is not a number"},
    {"trace_too_late.txt", ":2: arrival time '1e300' is not a number of µs in [0, 1e15]"},
    {"missing.trace.txt", "cannot open trace file"},
};

// What ctest shows of a case.
void PrintTo(const Case& c, std::ostream* os) { *os << c.tool.argv[0] << " on " << c.file.name; }

std::vector<Case> AllCases() {
  const std::string shipped = std::string(TERNSERVE_SOURCE_DIR) + "/models/ternserve.tsn";
  // Servers get port 0 and no metrics: one that got past its files would collide with no other.
  const std::vector<Tool> bundle_tools = {
      {"ternserve", {kBin + "ternserve", "--bundle={file}", "--port=0", "--metrics_port=-1"}},
      {"ternserve_torch",
       {kBin + "ternserve-torch", "--bundle={file}", "--port=0", "--metrics_port=-1"}},
      {"ternserve_profile", {kBin + "ternserve-profile", "--bundle={file}", "--out={scratch}"}},
      {"ternserve_train", {kBin + "ternserve-train", "--calibrate={file}", "--out={scratch}"}},
#ifdef TERNSERVE_HAVE_BENCH
      {"ternserve_bench",
       {kBin + "ternserve-bench", "--suite=e2e", "--quick", "--bundle={file}"},
       /*exit_code=*/2},
#endif
  };
  const std::vector<Tool> profile_tools = {
      {"ternserve",
       {kBin + "ternserve", "--bundle=" + shipped, "--profile={file}", "--port=0",
        "--metrics_port=-1"}},
      {"ternserve_torch",
       {kBin + "ternserve-torch", "--bundle=" + shipped, "--profile={file}", "--port=0",
        "--metrics_port=-1"}},
      {"ternserve_sim",
       {kBin + "ternserve-sim", "--profile={file}", "--trace=file:" + kData + "good.trace.txt"}},
  };
  const std::vector<Tool> trace_tools = {
      {"ternserve_sim",
       {kBin + "ternserve-sim", "--profile=" + kData + "good.profile.json", "--trace=file:{file}"}},
      {"ternserve_loadgen",
       {kBin + "ternserve-loadgen", "--server=127.0.0.1:1", "--trace=file:{file}"}},
  };
  std::vector<Case> cases;
  for (const auto& [tools, files] :
       {std::make_pair(bundle_tools, kBundles), std::make_pair(profile_tools, kProfiles),
        std::make_pair(trace_tools, kTraces)}) {
    for (const Tool& tool : tools) {
      for (const BadFile& file : files) cases.push_back({tool, file});
    }
  }
  return cases;
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  std::string file = info.param.file.name;
  for (char& c : file) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return absl::StrCat(info.param.tool.name, "_", file);
}

class BadFilesTest : public ::testing::TestWithParam<Case> {};

TEST_P(BadFilesTest, RefusesNamingTheFileAndTheFault) {
  const Case& c = GetParam();
  const std::string test_name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::string scratch_name = test_name;
  for (char& ch : scratch_name) {
    if (ch == '/') ch = '_';
  }
  const std::string scratch = absl::StrCat(::testing::TempDir(), "/bad_files.", scratch_name);
  const std::string path = kData + c.file.name;
  std::vector<std::string> argv;
  for (const std::string& arg : c.tool.argv) {
    argv.push_back(absl::StrReplaceAll(arg, {{"{file}", path}, {"{scratch}", scratch + ".tsn"}}));
  }
  absl::StatusOr<std::pair<int, std::string>> result = ::ternserve::testing::RunToCompletion(
      argv, scratch + ".out", absl::Seconds(120), /*merge_stderr=*/true);
  ASSERT_TRUE(result.ok()) << result.status();
  const auto& [code, output] = *result;
  // A negative code is a signal.
  EXPECT_EQ(code, c.tool.exit_code)
      << (code < 0 ? absl::StrCat("killed by signal ", -code) : absl::StrCat("exit ", code))
      << "; output:\n"
      << output;
  EXPECT_NE(output.find(path), std::string::npos)
      << "the message does not name " << path << "; output:\n"
      << output;
  EXPECT_NE(output.find(c.file.fault), std::string::npos)
      << "the message does not say \"" << c.file.fault << "\"; output:\n"
      << output;
}

INSTANTIATE_TEST_SUITE_P(Corpus, BadFilesTest, ::testing::ValuesIn(AllCases()), CaseName);

}  // namespace
}  // namespace ternserve
