// A valid bundle with random weights, built without LibTorch or training, for tests that need a
// bundle's bytes (format round trips, rejection cases, serving plumbing).
#ifndef TERNSERVE_TESTS_TESTING_SYNTHETIC_BUNDLE_H_
#define TERNSERVE_TESTS_TESTING_SYNTHETIC_BUNDLE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/bundle.h"

namespace ternserve::testing {

struct SyntheticBundleOptions {
  // The SuperNet's architecture (default: the shipped one's); the sections follow it.
  ArchConfig arch;
  bool ternary = true;
  uint32_t seed = 7;
  // Sub-nets to include; empty = largest and smallest.
  std::vector<SubnetConfig> subnets;
};

// The metadata the synthetic bundle carries.
BundleMetadata SyntheticMetadata(const SyntheticBundleOptions& options);
// A writer loaded with every section the metadata needs (callers may add more or replace the
// metadata).
BundleWriter SyntheticWriter(const SyntheticBundleOptions& options);
std::string SyntheticBundleBytes(const SyntheticBundleOptions& options = {});

// The default synthetic bundle with activation scales (0.05) on every sub-net, opened: what the
// ternary engine needs.
std::unique_ptr<Bundle> CalibratedSyntheticBundle();

// Recomputes the trailer checksum after a test edits bytes, so the edit reaches the later checks.
void FixChecksum(std::string* bundle_bytes);

}  // namespace ternserve::testing

#endif  // TERNSERVE_TESTS_TESTING_SYNTHETIC_BUNDLE_H_
