#pragma once
// The dashboard's files (coordinator/dashboard/), compiled into the binary by
// cmake/embed_files.cmake: the coordinator serves them from memory, works
// air-gapped and fetches nothing. Immutable; any thread.

#include <string_view>
#include <vector>

namespace flotilla::coordinator {

struct DashboardAsset {
  std::string_view path;          // "/index.html", "/app.js", "/app.css"
  std::string_view content_type;  // with charset
  std::string_view body;
};

// Every file, in the generated source.
const std::vector<DashboardAsset>& dashboardAssets();
// The file served at `path`, or null.
const DashboardAsset* findDashboardAsset(std::string_view path);

}  // namespace flotilla::coordinator
