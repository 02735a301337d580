// Serving simulation: the contiguous allocator, the workload generator, the cost model, and the
// memory result of vLLM §6.2 on a ShareGPT-like workload at equal KV memory.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "llmi/catch.h"
#include "paged/serving_sim.h"

using namespace paged;

TEST_CASE("first-fit ranges coalesce and show external fragmentation", "[sim]") {
  FirstFitRanges r(100);
  const int64_t a = r.allocate(30), b = r.allocate(30), c = r.allocate(30);
  REQUIRE(a == 0);
  REQUIRE(b == 30);
  REQUIRE(c == 60);
  r.free(b, 30);
  REQUIRE(r.free_total() == 40);
  REQUIRE(r.allocate(35) == -1);  // 40 slots free, but no hole of 35: external fragmentation
  REQUIRE(r.largest_hole() == 30);
  r.free(a, 30);                  // merges with b's hole
  REQUIRE(r.largest_hole() == 60);
  r.free(c, 30);                  // everything merges back
  REQUIRE(r.largest_hole() == 100);
  REQUIRE(r.allocate(100) == 0);
}

TEST_CASE("workload is deterministic, bounded and has the configured means", "[sim]") {
  WorkloadConfig c;
  c.num_requests = 20000;
  c.rate_per_s = 5;
  auto w = make_workload(c);
  auto w2 = make_workload(c);
  REQUIRE(w.back().arrival_s == w2.back().arrival_s);
  double p = 0, o = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    REQUIRE(w[i].prompt_len >= 1);
    REQUIRE(w[i].output_len >= 1);
    REQUIRE(w[i].prompt_len + w[i].output_len <= c.max_seq_len);
    if (i) REQUIRE(w[i].arrival_s >= w[i - 1].arrival_s);
    p += w[i].prompt_len;
    o += w[i].output_len;
  }
  // Clipping at 2048 trims the tails a little; the means stay within 10%.
  REQUIRE(p / w.size() == llmi::test::Approx(c.prompt_mean).epsilon(0.10));
  REQUIRE(o / w.size() == llmi::test::Approx(c.output_mean).epsilon(0.10));
  // Poisson: mean gap 1/rate.
  REQUIRE(w.back().arrival_s / w.size() == llmi::test::Approx(1.0 / c.rate_per_s).epsilon(0.05));
}

TEST_CASE("cost model: decode is weight-bound at small batch, KV reads add up", "[sim]") {
  ModelCost m;
  IterationShape one;
  one.decode_context = {100};
  const double t1 = iteration_seconds(m, one);
  REQUIRE(t1 == llmi::test::Approx(m.overhead_s + m.weight_bytes / m.mem_bw + 100 * m.kv_bytes_per_token() / m.mem_bw));
  IterationShape many;
  many.decode_context.assign(64, 1000);
  REQUIRE(iteration_seconds(m, many) > t1);
  IterationShape prefill;
  prefill.prefill_tokens = 2048;
  prefill.prefill_lens = {2048};
  REQUIRE(iteration_seconds(m, prefill) > 2.0 * m.params * 2048 / m.peak_flops);
}

namespace {
SimResult run(KvPolicy p, int64_t capacity, const std::vector<Request>& w, int64_t swap_tokens = -1) {
  SimConfig c;
  c.policy = p;
  c.kv_capacity_tokens = capacity;
  c.swap_preemption = swap_tokens >= 0;
  c.cpu_swap_tokens = std::max<int64_t>(swap_tokens, 0);
  ModelCost m;
  return simulate(c, w, [&](const IterationShape& s) { return iteration_seconds(m, s); });
}
int64_t total_output(const std::vector<Request>& w) {
  return std::accumulate(w.begin(), w.end(), int64_t(0),
                         [](int64_t a, const Request& r) { return a + r.output_len; });
}
}  // namespace

TEST_CASE("paged allocation wastes < 4% of KV memory, reservation 4x-20x more", "[sim]") {
  WorkloadConfig wc;
  wc.num_requests = 600;
  wc.rate_per_s = 0;  // all at once: memory pressure throughout (the throughput regime)
  auto w = make_workload(wc);
  const int64_t cap = 24000;
  SimResult paged = run(KvPolicy::Paged, cap, w);
  SimResult oracle = run(KvPolicy::OrcaOracle, cap, w);
  SimResult pow2 = run(KvPolicy::OrcaPow2, cap, w);
  SimResult mx = run(KvPolicy::OrcaMax, cap, w);
  for (const SimResult* r : {&paged, &oracle, &pow2, &mx}) {
    INFO(r->policy);
    REQUIRE(r->completed == int(w.size()));
    // Every requested output token was produced exactly once (recompute preemption included).
    REQUIRE(std::llround(r->output_tok_s * r->makespan_s) == total_output(w));
    REQUIRE(r->pressure_time_frac > 0.5);
    REQUIRE(r->token_states + r->waste() == llmi::test::Approx(1.0));
  }
  REQUIRE(paged.waste() < 0.04);
  REQUIRE(mx.waste() > 0.6);
  REQUIRE(pow2.waste() > 0.2);
  REQUIRE(oracle.waste() > 0.15);
  // Less waste, more requests in flight, more throughput (§6.2: 2.2x Oracle, 4.3x Max batches).
  REQUIRE(paged.mean_batch > 1.3 * oracle.mean_batch);
  REQUIRE(oracle.mean_batch > pow2.mean_batch);
  REQUIRE(pow2.mean_batch > mx.mean_batch);
  REQUIRE(paged.throughput_req_s > oracle.throughput_req_s);
  REQUIRE(paged.throughput_req_s > 2.0 * mx.throughput_req_s);
  // Only the paged engine grows on demand and so may need to preempt; reservations never do.
  REQUIRE(oracle.preemptions == 0);
  REQUIRE(mx.preemptions == 0);
}

TEST_CASE("paged engine preempts by recompute when memory runs out and still finishes", "[sim]") {
  WorkloadConfig wc;
  wc.num_requests = 200;
  wc.rate_per_s = 0;
  auto w = make_workload(wc);
  SimResult r = run(KvPolicy::Paged, 4096, w);
  REQUIRE(r.preemptions > 0);
  REQUIRE(r.completed == 200);
  REQUIRE(std::llround(r.output_tok_s * r.makespan_s) == total_output(w));
}

TEST_CASE("paged engine preempts by swapping when the CPU pool has room", "[sim]") {
  WorkloadConfig wc;
  wc.num_requests = 200;
  wc.rate_per_s = 0;
  auto w = make_workload(wc);
  SimResult recompute = run(KvPolicy::Paged, 4096, w);
  SimResult swap = run(KvPolicy::Paged, 4096, w, 8192);
  REQUIRE(swap.completed == 200);
  REQUIRE(swap.swap_outs > 0);
  REQUIRE(std::llround(swap.output_tok_s * swap.makespan_s) == total_output(w));
  REQUIRE(recompute.swap_outs == 0);
  // No CPU pool: every preemption falls back to recompute.
  SimResult none = run(KvPolicy::Paged, 4096, w, 0);
  REQUIRE(none.swap_outs == 0);
  REQUIRE(none.preemptions == recompute.preemptions);
  LLMI_REQUIRE_THROWS_WITH(run(KvPolicy::OrcaMax, 4096, w, 100), "swap preemption needs the paged policy");
}

TEST_CASE("simulation rejects a capacity below one sequence", "[sim]") {
  auto w = make_workload(WorkloadConfig{});
  LLMI_REQUIRE_THROWS_WITH(run(KvPolicy::Paged, 1000, w), "cannot hold one");
  LLMI_REQUIRE_THROWS_WITH(parse_policy("orca-min"), "unknown KV policy");
}
