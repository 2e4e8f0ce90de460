// The status page's files (web/status/), embedded into the binary at build time by
// server/embed_web_assets.cmake, so the page works offline and needs no files beside the binary.
// The chart library (uPlot, from npm at build time) is among them only when npm could install it;
// without it the page says so and shows its numbers as text.
#ifndef TERNSERVE_SERVER_WEB_ASSETS_H_
#define TERNSERVE_SERVER_WEB_ASSETS_H_

#include <cstddef>
#include <vector>

#include "absl/strings/string_view.h"

namespace ternserve {

struct WebAsset {
  const char* path;          // as requested: "/" for the page, "/status.js", ...
  const char* content_type;  // e.g. "text/javascript; charset=utf-8"
  absl::string_view body;    // static storage
};

// Every embedded file.
const std::vector<WebAsset>& StatusPageAssets();

// The path the page loads the chart library from; an asset only if the build embedded it.
inline constexpr char kChartLibraryPath[] = "/uplot.iife.min.js";

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_WEB_ASSETS_H_
