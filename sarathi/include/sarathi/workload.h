// Synthetic serving workloads (Sarathi-Serve §5): Poisson arrivals and log-normal prompt and
// output lengths.
#pragma once
#include <cstdint>
#include <vector>

#include "sarathi/request.h"

namespace sarathi {

// Lengths are log-normal, given by median and P90 (sigma = ln(p90/median) / 1.2816), clipped to
// [1, max_total - 1] and resampled until prompt + output <= max_total. Defaults imitate
// openchat_sharegpt4 of Sarathi-Serve Table 2: prompt median 1730 and the 8192-token filter are
// from the paper notes (shared/research/paged_sarathi.md §8); prompt P90 5696 and output median
// 415 / P90 834 are our recollection of the same table, not checked against the paper here.
struct WorkloadConfig {
  int num_requests = 512;
  double qps = 1.0;  // Poisson rate; <= 0 = all requests at t = 0 (offline)
  double prompt_median = 1730, prompt_p90 = 5696;
  double output_median = 415, output_p90 = 834;
  int max_total = 8192;
  uint64_t seed = 1;
};
std::vector<RequestSpec> make_workload(const WorkloadConfig& w);

// Token i of request `id`'s synthetic prompt, in [0, vocab): for timing runs on random weights,
// where a step's time does not depend on which tokens it holds.
inline int synthetic_token(int id, int i, int vocab) { return (id * 131 + i * 7) % vocab; }

}  // namespace sarathi
