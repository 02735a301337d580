#include "sarathi/serving_sim.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "llmi/bench.h"
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

SimResult simulate(Scheduler& sched, const CostModel& cost, const std::vector<RequestSpec>& reqs) {
  std::vector<RequestSpec> order = reqs;
  std::stable_sort(order.begin(), order.end(),
                   [](const RequestSpec& a, const RequestSpec& b) { return a.arrival_s < b.arrival_s; });
  std::map<int, double> arrival, last_token;
  std::map<int, bool> scheduled;
  std::vector<double> ttft, tbt, delay;
  SimResult r;
  r.requests = int(order.size());
  double now = 0, tokens_out = 0, batch_tokens = 0;
  size_t next = 0;
  while (next < order.size() || sched.has_work()) {
    while (next < order.size() && order[next].arrival_s <= now) {
      sched.add(order[next]);
      arrival[order[next].id] = order[next].arrival_s;
      ++next;
    }
    const Batch b = sched.schedule();
    if (b.empty()) {
      // Nothing runnable: jump to the next arrival (an idle replica).
      LLMI_REQUIRE(next < order.size(), sched.name() << ": stuck with work left and no arrivals");
      now = std::max(now, order[next].arrival_s);
      continue;
    }
    for (const ScheduledChunk& c : b.chunks)
      if (!scheduled[c.req]) scheduled[c.req] = true, delay.push_back(now - arrival[c.req]);
    now += cost.batch_ms(b) / 1e3;
    r.batch_ms.push_back(cost.batch_ms(b));
    r.preemptions += int(b.preempted.size());
    batch_tokens += b.num_tokens();
    for (int id : sched.complete(b)) {
      auto it = last_token.find(id);
      if (it == last_token.end())
        ttft.push_back(now - arrival[id]);
      else
        tbt.push_back(now - it->second);
      last_token[id] = now;
      tokens_out += 1;
    }
  }
  r.iterations = int(r.batch_ms.size());
  r.makespan_s = now - (order.empty() ? 0 : order.front().arrival_s);
  r.throughput_tok_s = r.makespan_s > 0 ? tokens_out / r.makespan_s : 0;
  r.mean_batch_tokens = r.iterations ? batch_tokens / r.iterations : 0;
  auto pct = [](std::vector<double> v, double p) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return llmi::bench::percentile(v, p);
  };
  r.ttft_p50_s = pct(ttft, 50), r.ttft_p99_s = pct(ttft, 99);
  r.tbt_p50_s = pct(tbt, 50), r.tbt_p99_s = pct(tbt, 99);
  r.sched_delay_p50_s = pct(delay, 50);
  return r;
}

CapacityResult capacity_search(const SchedulerFactory& make, const CostModel& cost,
                               WorkloadConfig w, double tbt_slo_s, double qps_lo, double qps_hi,
                               int steps, double max_sched_delay_s) {
  LLMI_REQUIRE(qps_lo > 0 && qps_hi > qps_lo && steps > 0, "capacity search: bad QPS range");
  auto trial = [&](double qps, SimResult& out) {
    w.qps = qps;
    auto s = make();
    out = simulate(*s, cost, make_workload(w));
    return out.tbt_p99_s <= tbt_slo_s && out.sched_delay_p50_s <= max_sched_delay_s;
  };
  CapacityResult c;
  SimResult res;
  if (!trial(qps_lo, res)) return c;  // even the lowest load misses the SLO
  c.qps = qps_lo, c.at_capacity = res;
  double lo = qps_lo, hi = qps_hi;
  for (int i = 0; i < steps; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (trial(mid, res))
      lo = mid, c.qps = mid, c.at_capacity = res;
    else
      hi = mid;
  }
  return c;
}

}  // namespace sarathi
