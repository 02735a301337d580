// Sampling: greedy, seeded determinism, top-k / top-p support sets, empirical frequencies.
#include <cmath>
#include <map>
#include <set>

#include "llmi/catch.h"
#include "llmi/llama/sampling.h"

using namespace llmi::llama;

namespace {
// Logits with a known order: token i has logit -0.5 * rank(i), ranks scrambled.
std::vector<float> test_logits(int n) {
  std::vector<float> l(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) l[size_t(i)] = -0.5f * float((i * 7) % n);
  return l;
}
}  // namespace

TEST_CASE("greedy picks the argmax, lowest id on ties", "[sampling]") {
  std::vector<float> l = {0.1f, 3.0f, -1.0f, 3.0f};
  CHECK(argmax(l.data(), 4) == 1);
  Sampler s({});
  CHECK(s.sample(l.data(), 4) == 1);
}

TEST_CASE("top-k and top-p keep exactly the expected support", "[sampling]") {
  const int n = 50;
  auto l = test_logits(n);
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_k = 5;
  auto d = sampling_distribution(l.data(), n, p);
  REQUIRE(d.size() == 5);
  std::set<int> ids;
  for (auto& e : d) ids.insert(e.first);
  for (int i = 0; i < n; ++i) CHECK(ids.count(i) == ((i * 7) % n < 5 ? 1u : 0u));
  double sum = 0;
  for (auto& e : d) sum += e.second;
  CHECK(sum == llmi::test::Approx(1.0).epsilon(1e-12));

  // top-p: probabilities of ranks r are geometric with ratio e^-0.5; the smallest prefix with
  // mass >= 0.7 is computed independently here.
  p.top_k = 0;
  p.top_p = 0.7f;
  d = sampling_distribution(l.data(), n, p);
  double z = 0;
  for (int r = 0; r < n; ++r) z += std::exp(-0.5 * r);
  double mass = 0;
  size_t want = 0;
  while (mass < 0.7) mass += std::exp(-0.5 * double(want++)) / z;
  CHECK(d.size() == want);
  CHECK(d.front().second > d.back().second);
}

TEST_CASE("seeded sampling is deterministic and follows the distribution", "[sampling]") {
  const int n = 8;
  auto l = test_logits(n);
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 42;
  Sampler a(p), b(p);
  std::vector<int> ra, rb;
  for (int i = 0; i < 200; ++i) ra.push_back(a.sample(l.data(), n)), rb.push_back(b.sample(l.data(), n));
  CHECK(ra == rb);
  p.seed = 43;
  Sampler c(p);
  std::vector<int> rc;
  for (int i = 0; i < 200; ++i) rc.push_back(c.sample(l.data(), n));
  CHECK(rc != ra);
  // Empirical frequency of the most likely token vs its probability (20000 draws: sd ~0.0035).
  Sampler d(p);
  const auto dist = sampling_distribution(l.data(), n, p);
  int hits = 0;
  for (int i = 0; i < 20000; ++i) hits += d.sample(l.data(), n) == dist[0].first;
  CHECK(std::fabs(hits / 20000.0 - dist[0].second) < 0.02);
  // Low temperature concentrates on the argmax.
  p.temperature = 0.01f;
  Sampler e(p);
  for (int i = 0; i < 50; ++i) CHECK(e.sample(l.data(), n) == argmax(l.data(), n));
}

TEST_CASE("sampling bad parameters", "[sampling][errors]") {
  auto l = test_logits(4);
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 0.0f;
  LLMI_REQUIRE_THROWS_WITH(sampling_distribution(l.data(), 4, p), "top_p");
  p.top_p = 1.0f;
  p.top_k = -1;
  LLMI_REQUIRE_THROWS_WITH(sampling_distribution(l.data(), 4, p), "top_k");
  p.temperature = -1.0f;
  LLMI_REQUIRE_THROWS_WITH(Sampler{p}, "temperature");
}
