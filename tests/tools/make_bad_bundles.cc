// Writes the bundles of the bad-files corpus (tests/data/bad_files/, docs/reliability.md): a tiny
// valid bundle and one file per fault a reader must refuse. The files are checked in; this program
// is how they were made, and bad_bundles_are_current checks they still are what it writes.
//
// Usage: make_bad_bundles DIR
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "models/bundle.h"
#include "tests/testing/synthetic_bundle.h"

namespace ternserve {
namespace {

// Three stages of one block, 2 or 4 / 4 or 8 / 4 or 8 channels: about 5 KB.
ArchConfig TinyArch() {
  ArchConfig arch;
  arch.max_widths = {4, 8, 8};
  arch.max_depths = {1, 1, 1};
  arch.width_mults = {0.5, 1.0};
  arch.depth_choices = {1};
  return arch;
}

// The tiny bundle's writer, its sub-nets calibrated (what the ternary engine needs).
BundleWriter TinyWriter(const ArchConfig& arch, std::vector<SubnetConfig> subnets) {
  testing::SyntheticBundleOptions options;
  options.arch = arch;
  options.subnets = std::move(subnets);
  BundleWriter writer = testing::SyntheticWriter(options);
  for (SubnetMeta& s : writer.metadata().subnets) {
    for (const std::string& name : ActivationNames(arch, s.config))
      s.activation_scales[name] = 0.05f;
  }
  return writer;
}

bool Write(const std::string& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.flush()) {
    std::fprintf(stderr, "make_bad_bundles: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

int Run(const std::string& dir) {
  const ArchConfig arch = TinyArch();
  const std::string tiny = TinyWriter(arch, {}).Serialize();

  // Cut in the middle of the sections: the header's length no longer matches.
  const std::string truncated = tiny.substr(0, tiny.size() / 2);

  // One bit flipped in the last section: only the checksum can tell.
  std::string corrupted = tiny;
  corrupted[corrupted.size() - kBundleTrailerBytes - 1] ^= 0x01;

  // A future format version, otherwise intact (checksum recomputed).
  std::string version2 = tiny;
  const uint32_t two = 2;
  std::memcpy(version2.data() + 4, &two, sizeof(two));
  testing::FixChecksum(&version2);

  // Sections of this architecture under the metadata of a wider one (stage 2 of 16 channels): a
  // well-formed file whose tensors are not the shapes its architecture needs. Only the largest
  // sub-net, which is valid in both.
  BundleWriter wrong_arch = TinyWriter(arch, {LargestSubnet(arch)});
  wrong_arch.metadata().arch.max_widths = {4, 8, 16};

  // Metadata that parses but breaks the schema.
  BundleWriter bad_metadata = TinyWriter(arch, {});
  bad_metadata.metadata().quantizer = "int4";

  const std::string not_a_bundle = "This is a text file, not a Ternserve bundle.\n";

  const bool ok = Write(dir, "tiny.tsn", tiny) && Write(dir, "truncated.tsn", truncated) &&
                  Write(dir, "corrupted.tsn", corrupted) && Write(dir, "version2.tsn", version2) &&
                  Write(dir, "wrong_arch.tsn", wrong_arch.Serialize()) &&
                  Write(dir, "bad_metadata.tsn", bad_metadata.Serialize()) &&
                  Write(dir, "not_a_bundle.tsn", not_a_bundle) && Write(dir, "empty.tsn", "");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace ternserve

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_bad_bundles DIR\n");
    return 2;
  }
  return ternserve::Run(argv[1]);
}
