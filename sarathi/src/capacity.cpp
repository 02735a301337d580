#include "sarathi/capacity.h"

#include <cmath>

#include "llmi/check.h"

namespace sarathi {

CapacityResult capacity_search(const Trial& trial, const Slo& slo, double qps_lo, double qps_hi,
                               int steps, bool geometric) {
  LLMI_REQUIRE(qps_lo > 0 && qps_hi > qps_lo && steps > 0, "capacity search: bad QPS range");
  CapacityResult c;
  auto passes = [&](double qps) {
    ServingResult r = trial(qps);
    c.trials++;
    if (!slo.met_by(r)) return false;
    c.qps = qps, c.at_capacity = std::move(r);
    return true;
  };
  double lo = qps_lo, hi = qps_hi;
  for (int i = 0; i < steps; ++i) {
    const double mid = geometric ? std::sqrt(lo * hi) : 0.5 * (lo + hi);
    (passes(mid) ? lo : hi) = mid;
  }
  if (c.qps == 0) passes(qps_lo);
  return c;
}

}  // namespace sarathi
