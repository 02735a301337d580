#include "paged/workload.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

#include "llmi/check.h"

namespace paged {

namespace {
// Log-normal with the given mean: mu = ln(mean) - sigma^2 / 2.
std::lognormal_distribution<double> lognormal_with_mean(double mean, double sigma) {
  return std::lognormal_distribution<double>(std::log(mean) - sigma * sigma / 2, sigma);
}
}  // namespace

std::vector<Request> make_workload(const WorkloadConfig& c) {
  LLMI_REQUIRE(c.num_requests > 0, "workload needs at least one request");
  LLMI_REQUIRE(c.prompt_mean >= 1 && c.output_mean >= 1, "mean lengths must be at least 1 token");
  LLMI_REQUIRE(c.max_seq_len >= 2, "max_seq_len must be at least 2, got " << c.max_seq_len);
  std::mt19937_64 rng(c.seed);
  auto prompt = lognormal_with_mean(c.prompt_mean, c.prompt_sigma);
  auto output = lognormal_with_mean(c.output_mean, c.output_sigma);
  std::exponential_distribution<double> gap(c.rate_per_s > 0 ? c.rate_per_s : 1.0);
  std::vector<Request> reqs(size_t(c.num_requests));
  double t = 0;
  for (int i = 0; i < c.num_requests; ++i) {
    Request& r = reqs[size_t(i)];
    r.id = i;
    if (c.rate_per_s > 0) t += gap(rng);
    r.arrival_s = t;
    r.prompt_len = std::clamp(int(std::lround(prompt(rng))), 1, c.max_seq_len - 1);
    r.output_len = std::clamp(int(std::lround(output(rng))), 1, c.max_seq_len - r.prompt_len);
  }
  return reqs;
}

std::string describe(const WorkloadConfig& c) {
  std::ostringstream os;
  os << c.num_requests << " requests, Poisson " << c.rate_per_s << " req/s, prompt lognormal(mean "
     << c.prompt_mean << ", sigma " << c.prompt_sigma << "), output lognormal(mean " << c.output_mean
     << ", sigma " << c.output_sigma << "), prompt+output <= " << c.max_seq_len << ", seed " << c.seed;
  return os.str();
}

}  // namespace paged
