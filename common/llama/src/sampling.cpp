// Greedy / temperature / top-k / top-p sampling.
#include "llmi/llama/sampling.h"

#include <algorithm>
#include <cmath>

#include "llmi/check.h"
#include "llmi/random.h"

namespace llmi::llama {

int argmax(const float* logits, int vocab) {
  int best = 0;
  for (int i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

std::vector<std::pair<int, double>> sampling_distribution(const float* logits, int vocab,
                                                          const SamplingParams& p) {
  LLMI_REQUIRE(p.temperature > 0, "sampling_distribution needs temperature > 0");
  LLMI_REQUIRE(p.top_k >= 0, "top_k must be >= 0, got " << p.top_k);
  LLMI_REQUIRE(p.top_p > 0 && p.top_p <= 1, "top_p must be in (0, 1], got " << p.top_p);
  std::vector<std::pair<int, double>> d(static_cast<size_t>(vocab));
  for (int i = 0; i < vocab; ++i) d[size_t(i)] = {i, double(logits[i]) / p.temperature};
  // Most likely first; equal logits keep id order so the result is deterministic.
  std::stable_sort(d.begin(), d.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  if (p.top_k > 0 && size_t(p.top_k) < d.size()) d.resize(size_t(p.top_k));
  const double mx = d.front().second;
  double sum = 0;
  for (auto& e : d) sum += (e.second = std::exp(e.second - mx));
  for (auto& e : d) e.second /= sum;
  if (p.top_p < 1.0f) {
    double mass = 0;
    size_t keep = 0;
    while (keep < d.size() && mass < double(p.top_p)) mass += d[keep++].second;
    d.resize(keep);
    for (auto& e : d) e.second /= mass;
  }
  return d;
}

Sampler::Sampler(SamplingParams p) : p_(p) {
  LLMI_REQUIRE(p_.temperature >= 0, "temperature must be >= 0, got " << p_.temperature);
}

int Sampler::sample(const float* logits, int vocab) {
  if (p_.temperature == 0.0f) return argmax(logits, vocab);
  const auto d = sampling_distribution(logits, vocab, p_);
  const double u = double(uniform01(p_.seed, draws_++));
  double acc = 0;
  for (const auto& e : d)
    if ((acc += e.second) > u) return e.first;
  return d.back().first;  // u just below 1 with rounding in the sum
}

}  // namespace llmi::llama
