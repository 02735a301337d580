#include "sarathi/workload.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "llmi/check.h"

namespace sarathi {

std::vector<RequestSpec> make_workload(const WorkloadConfig& w) {
  LLMI_REQUIRE(w.num_requests > 0 && w.max_total >= 2, "workload: bad request count or max_total");
  LLMI_REQUIRE(w.prompt_median >= 1 && w.prompt_p90 >= w.prompt_median && w.output_median >= 1 &&
                   w.output_p90 >= w.output_median,
               "workload: need 1 <= median <= p90 for prompt and output lengths");
  std::mt19937_64 rng(w.seed);
  auto lognormal = [&](double median, double p90) {
    std::lognormal_distribution<double> d(std::log(median), std::log(p90 / median) / 1.2815516);
    return std::clamp(int(std::lround(d(rng))), 1, w.max_total - 1);
  };
  std::exponential_distribution<double> gap(w.qps > 0 ? w.qps : 1.0);
  std::vector<RequestSpec> out;
  double t = 0;
  for (int i = 0; i < w.num_requests; ++i) {
    RequestSpec r;
    r.id = i;
    do {
      r.prompt_len = lognormal(w.prompt_median, w.prompt_p90);
      r.output_len = lognormal(w.output_median, w.output_p90);
    } while (r.prompt_len + r.output_len > w.max_total);
    if (w.qps > 0) t += gap(rng);
    r.arrival_s = t;
    out.push_back(r);
  }
  return out;
}

}  // namespace sarathi
