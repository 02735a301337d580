// The serving loop and the capacity search with deterministic backends: a fixed time per batch
// instead of a runtime, a formula instead of a serving run. Arrival gating, the idle-gap jump,
// TTFT from arrival, and the bisection's trials are then exact.
#include <map>
#include <string>
#include <vector>

#include "llmi/catch.h"
#include "sarathi/capacity.h"
#include "sarathi/serving_loop.h"

using namespace sarathi;
using llmi::test::Approx;

namespace {

SchedulerConfig roomy() {
  SchedulerConfig c;
  c.max_batch_seqs = 4, c.token_budget = 64, c.chunk_size = 64, c.block_size = 4, c.kv_blocks = 64;
  return c;
}

// Every batch takes a quarter second of the virtual clock.
double quarter_second(const Batch&) { return 0.25; }

}  // namespace

TEST_CASE("serving loop: a request is invisible before its arrival; idle gaps are skipped",
          "[serve]") {
  // 0 arrives at t = 0 and decodes for 3 batches (until 0.75 s); 1 arrives mid-run at 0.3 s; 2
  // arrives long after both finished.
  const std::vector<RequestSpec> reqs = {{0, 0.0, 4, 3}, {1, 0.3, 5, 2}, {2, 100.0, 6, 2}};
  for (const std::string& name : scheduler_names()) {
    INFO(name);
    auto s = make_scheduler(name, roomy());
    std::map<int, double> first_start;
    std::vector<double> starts;
    auto observe = [&](const Batch& b, double start, double) {
      starts.push_back(start);
      for (const ScheduledChunk& c : b.chunks) first_start.emplace(c.req, start);
    };
    const ServingResult r = serve(*s, reqs, quarter_second, observe);
    // Never before its arrival: 1 waits for the first batch boundary past 0.3 s.
    CHECK(first_start.at(0) == 0.0);
    CHECK(first_start.at(1) == 0.5);
    // The clock jumped from the end of the last busy batch (t = 1 s) straight to the next arrival.
    CHECK(first_start.at(2) == 100.0);
    for (double t : starts) CHECK((t < 1.0 || t >= 100.0));
    CHECK(r.busy_s == Approx(0.25 * r.iterations));
    CHECK(r.makespan_s == Approx(100.0 + 0.25 * 2));  // 2's prefill and its one decode
    // TTFT from arrival: 2's first token comes 0.25 s after it arrived, not 100.25 s after t = 0.
    CHECK(r.ttft_p99_s <= 0.25 + 0.25 + 1e-12);  // 1 may wait one batch boundary (0.2 s)
    CHECK(r.ttft_p50_s == Approx(0.25));
    CHECK(r.sched_delay_p50_s == Approx(0.0).margin(1e-12));  // 0 and 2 start on arrival
  }
}

TEST_CASE("serving loop: TBT is the gap between a request's tokens; a stalled decode shows it",
          "[serve]") {
  // vLLM runs 1's whole prompt in a prefill-only batch while 0 is decoding: 0's next token waits
  // one extra batch. Sarathi-Serve piggybacks 0's decode on 1's prefill: no gap grows.
  const std::vector<RequestSpec> reqs = {{0, 0.0, 4, 4}, {1, 0.3, 8, 2}};
  auto vllm = make_scheduler("vllm", roomy());
  auto ss = make_scheduler("sarathi-serve", roomy());
  const ServingResult v = serve(*vllm, reqs, quarter_second);
  const ServingResult s = serve(*ss, reqs, quarter_second);
  CHECK(v.tbt_p99_s > 0.25 + 0.2);  // 0.5 s: two batches between two of 0's tokens
  CHECK(s.tbt_p99_s == Approx(0.25));
  CHECK(v.tbt_p50_s == Approx(0.25));
}

namespace {
// A policy that never schedules anything: the loop must not wait for it forever.
class Idle : public Scheduler {
 public:
  explicit Idle(SchedulerConfig c) : Scheduler("idle", c) {}
 protected:
  void form(Batch&) override {}
};
}  // namespace

TEST_CASE("serving loop: a scheduler that stops making progress is reported", "[serve][errors]") {
  Idle idle(roomy());
  int runs = 0;
  const std::vector<RequestSpec> reqs = {{0, 0.0, 4, 2}, {1, 5.0, 4, 2}};
  LLMI_REQUIRE_THROWS_WITH(serve(idle, reqs, [&](const Batch&) { return ++runs, 0.1; }),
                           "idle: stuck with work left and no arrivals");
  CHECK(runs == 0);
}

TEST_CASE("capacity search bisects any trial function", "[capacity]") {
  // A replica whose P99 TBT grows by 10 ms per QPS: capacity under a 50 ms SLO is 5 QPS.
  std::vector<double> tried;
  const Trial linear_tbt = [&](double qps) {
    tried.push_back(qps);
    ServingResult r;
    r.tbt_p99_s = qps / 100;  // divisions: 5 / 100 is exactly the double nearest 0.05
    r.sched_delay_p50_s = qps / 10;
    return r;
  };
  const CapacityResult c = capacity_search(linear_tbt, Slo{0.05, 10.0}, 1.0, 9.0, 6);
  CHECK(c.trials == 6);                 // qps_lo is not tried when a bisection trial passes
  CHECK(tried == std::vector<double>{5.0, 7.0, 6.0, 5.5, 5.25, 5.125});
  CHECK(c.qps == 5.0);
  CHECK(c.at_capacity.tbt_p99_s == Approx(0.05));
  // The scheduling-delay bound binds as well: 0.1 s per QPS within 0.3 s gives 3 QPS.
  tried.clear();
  const CapacityResult d = capacity_search(linear_tbt, Slo{1.0, 0.3}, 1.0, 9.0, 5);
  CHECK(d.qps == 3.0);
  CHECK(d.at_capacity.sched_delay_p50_s == Approx(0.3));
  // Only qps_lo passes: it is tried last, after every bisection trial failed.
  tried.clear();
  const CapacityResult e = capacity_search(linear_tbt, Slo{0.0101, 10.0}, 1.0, 9.0, 3);
  CHECK(e.trials == 4);
  CHECK(tried.back() == 1.0);
  CHECK(e.qps == 1.0);
  // Nothing passes: capacity 0.
  const CapacityResult f = capacity_search(linear_tbt, Slo{0.001, 10.0}, 1.0, 9.0, 3);
  CHECK(f.qps == 0.0);
  CHECK(f.trials == 4);
  LLMI_REQUIRE_THROWS_WITH(capacity_search(linear_tbt, Slo{0.05}, 2.0, 1.0, 3), "bad QPS range");
}
