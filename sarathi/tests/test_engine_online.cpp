// The engine with online arrivals on the real runtime (CPU fp32, pycode-19m): the virtual clock
// advances by the measured wall time of each Runtime::step, so the clock readings vary from run
// to run; what is asserted holds for any step times. Also the plumbing of the GPU benchmark on
// the same runtime: the engine trial under the capacity search, and the step profiler that
// derives the TBT SLO and the token budget.
#include <algorithm>
#include <map>
#include <numeric>

#include "llmi/bench.h"
#include "llmi/catch.h"
#include "llmi/llama/cpu_runtime.h"
#include "pycode_engine.h"
#include "sarathi/engine.h"
#include "sarathi/step_profile.h"

using namespace sarathi;
using namespace sarathi::test;
using namespace llmi::llama;
using llmi::test::Approx;

namespace {

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return llmi::bench::percentile(v, p);
}

}  // namespace

TEST_CASE("online engine: gated by arrival, TTFT from arrival, idle gaps skipped, greedy tokens",
          "[engine][online]") {
  const auto ps = prompts();
  const std::vector<int> outputs = output_lengths();
  // Two requests at t = 0, two while they run (the first batch, at t = 0, cannot hold them),
  // and one 1000 s later, long after the rest have finished (a CPU run takes well under 100 s).
  const std::vector<double> arrivals = {0.0, 0.0, 0.01, 0.02, 1000.0};
  auto rt = engine_runtime();
  std::vector<EngineRequest> reqs;
  std::map<int, std::vector<int>> expected;
  for (size_t i = 0; i < ps.size(); ++i) {
    reqs.push_back({int(i), ps[i], outputs[i], arrivals[i]});
    expected[int(i)] = greedy(*rt, ps[i], outputs[i]);
  }

  for (const std::string& name : scheduler_names()) {
    INFO("scheduler " << name);
    auto s = make_scheduler(name, tight_config());
    std::map<int, double> first_start, first_token;
    std::vector<double> starts, busy;
    auto observe = [&](const Batch& b, double start, double secs) {
      starts.push_back(start);
      busy.push_back(secs);
      for (const ScheduledChunk& c : b.chunks) {
        // Never scheduled before its arrival.
        CHECK(start >= reqs[size_t(c.req)].arrival_s);
        first_start.emplace(c.req, start);
        if (c.emits) first_token.emplace(c.req, start + secs);
      }
    };
    const EngineResult got = run_engine(*rt, *s, reqs, observe);
    for (const auto& [id, toks] : expected) {
      INFO("request " << id);
      CHECK(got.tokens.at(id) == toks);  // arrivals change the batches, never the tokens
    }
    const ServingResult& r = got.serving;
    CHECK(first_start.at(0) == 0.0);
    CHECK(first_start.at(2) >= 0.01);
    // Idle gap: the clock jumps from the end of the last busy step exactly to the next arrival.
    CHECK(first_start.at(4) == 1000.0);
    for (double t : starts) CHECK((t < 100.0 || t >= 1000.0));
    CHECK(r.busy_s == Approx(std::accumulate(busy.begin(), busy.end(), 0.0)));
    CHECK(r.busy_s < 100.0);
    CHECK(r.makespan_s >= 1000.0);
    // TTFT counts from each request's arrival (from t = 0 the last one's would exceed 1000 s).
    std::vector<double> ttft;
    for (const auto& [id, t] : first_token) ttft.push_back(t - reqs[size_t(id)].arrival_s);
    REQUIRE(ttft.size() == reqs.size());
    for (double t : ttft) CHECK(t > 0.0);
    CHECK(first_token.at(4) - 1000.0 < 100.0);
    CHECK(r.ttft_p50_s == Approx(percentile(ttft, 50)));
    CHECK(r.ttft_p99_s == Approx(percentile(ttft, 99)));
    CHECK(r.tbt_p50_s > 0.0);
    CHECK(r.tbt_p99_s >= r.tbt_p50_s);
  }
}

TEST_CASE("engine trial: a capacity search runs real serving trials on the runtime",
          "[engine][capacity]") {
  RuntimeOptions o;
  o.max_seqs = 4, o.max_context = 64;
  auto rt = make_cpu_runtime(pycode(), o);
  SchedulerConfig c;
  c.max_batch_seqs = 4, c.token_budget = 32, c.chunk_size = 32, c.block_size = 4;
  c.kv_blocks = 4 * 64 / 4;
  WorkloadConfig w;
  w.num_requests = 6, w.seed = 3, w.max_total = 48;
  w.prompt_median = 12, w.prompt_p90 = 24, w.output_median = 4, w.output_p90 = 8;
  int made = 0;
  const Trial trial =
      engine_trial(*rt, [&] { return ++made, make_scheduler("sarathi-serve", c); }, w);

  w.qps = 20;
  long out_tokens = 0;
  for (const RequestSpec& r : make_workload(w)) out_tokens += r.output_len;
  const ServingResult r = trial(20);
  CHECK(made == 1);
  CHECK(r.requests == 6);
  CHECK(r.throughput_tok_s * r.makespan_s == Approx(double(out_tokens)));  // every token served
  CHECK(r.ttft_p50_s > 0.0);
  CHECK(r.sched_delay_p50_s >= 0.0);
  CHECK(r.max_batch_tokens <= c.token_budget);

  // An SLO nothing meets: every bisection trial and then qps_lo fail, each with a fresh
  // scheduler (a reused one would reject the repeated request ids).
  const CapacityResult none = capacity_search(trial, Slo{1e-9}, 1.0, 100.0, 2);
  CHECK(none.qps == 0.0);
  CHECK(none.trials == 3);
  CHECK(made == 4);
  // An SLO everything meets: the search climbs to its last bisection point.
  const CapacityResult all = capacity_search(trial, Slo{1e3, 1e3}, 1.0, 100.0, 2);
  CHECK(all.qps == Approx(75.25));
  CHECK(all.trials == 2);
  CHECK(all.at_capacity.requests == 6);
}

TEST_CASE("step profiler: timed steps leave the caches as they found them", "[engine][profile]") {
  RuntimeOptions o;
  o.max_seqs = 3, o.max_context = 96;
  auto rt = make_cpu_runtime(pycode(), o);
  {
    StepProfiler prof(*rt, 3, 32);
    for (int s = 0; s < 3; ++s) CHECK(rt->length(s) == 32);
    const double decode = prof.decode_s(2);
    const double hybrid = prof.hybrid_s(60, 2);
    for (int s = 0; s < 3; ++s) CHECK(rt->length(s) == 32);  // each timed step truncated again
    CHECK(decode > 0.0);
    // 60 prefill tokens + 2 decodes against 3 decodes: on the CPU the linear layers cost per
    // token, so the hybrid step is far slower.
    CHECK(hybrid > 3 * decode);
    // Budgets: the largest that fits (a hybrid step of 64 - 2 prefill tokens + 2 decodes).
    CHECK(prof.largest_budget_within({16, 64, 32}, 1e3, 1) == 64);
    CHECK(prof.largest_budget_within({16, 64, 32}, 0.0, 1) == 0);
    LLMI_REQUIRE_THROWS_WITH(prof.largest_budget_within({2}, 1e3, 1), "does not exceed");
    LLMI_REQUIRE_THROWS_WITH(prof.hybrid_s(65, 1), "exceeds the runtime's context");
  }
  for (int s = 0; s < 3; ++s) CHECK(rt->length(s) == 0);
  LLMI_REQUIRE_THROWS_WITH(StepProfiler(*rt, 4, 32), "do not fit");
}
