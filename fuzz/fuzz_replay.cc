// The main() of a fuzz target in the normal build: feeds every file named on the command line, or
// found in a directory named there (not recursively), to LLVMFuzzerTestOneInput once, so that
// ctest replays the seed corpus and every input that once crashed. A crash fails the test the way
// it failed the fuzzer (the sanitizer build, make test-asan, reports it as libFuzzer would).
//
// Usage: <name>_fuzz PATH...      exit 0: every input ran; 2: a path cannot be read
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
    return 2;
  }
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    std::error_code error;
    if (fs::is_directory(argv[i], error)) {
      std::vector<fs::path> files;
      for (const fs::directory_entry& entry : fs::directory_iterator(argv[i], error)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
      inputs.insert(inputs.end(), files.begin(), files.end());
    } else if (fs::is_regular_file(argv[i], error)) {
      inputs.emplace_back(argv[i]);
    } else {
      std::fprintf(stderr, "%s: %s: no such file or directory\n", argv[0], argv[i]);
      return 2;
    }
  }
  for (const fs::path& input : inputs) {
    std::ifstream in(input, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    if (!in) {
      std::fprintf(stderr, "%s: %s: cannot read\n", argv[0], input.c_str());
      return 2;
    }
    const std::string data = bytes.str();
    std::printf("%s (%zu bytes)\n", input.c_str(), data.size());
    std::fflush(stdout);
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  }
  std::printf("%zu inputs, no crash\n", inputs.size());
  return 0;
}
