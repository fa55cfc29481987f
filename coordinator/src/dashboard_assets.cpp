#include "flotilla/coordinator/dashboard_assets.h"

namespace flotilla::coordinator {

const DashboardAsset* findDashboardAsset(std::string_view path) {
  if (path == "/") path = "/index.html";
  for (const auto& a : dashboardAssets())
    if (a.path == path) return &a;
  return nullptr;
}

}  // namespace flotilla::coordinator
