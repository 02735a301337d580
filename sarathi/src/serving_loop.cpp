#include "sarathi/serving_loop.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "llmi/bench.h"
#include "llmi/check.h"

namespace sarathi {

namespace {

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  return llmi::bench::percentile(v, p);
}

}  // namespace

ServingResult serve(Scheduler& sched, const std::vector<RequestSpec>& reqs, const BatchRunner& run,
                    const StepObserver& observe) {
  std::vector<RequestSpec> order = reqs;
  std::stable_sort(order.begin(), order.end(), [](const RequestSpec& a, const RequestSpec& b) {
    return a.arrival_s < b.arrival_s;
  });
  std::unordered_map<int, double> arrival, last_token;
  std::unordered_set<int> scheduled;
  std::vector<double> ttft, tbt, delay;
  ServingResult r;
  r.requests = int(order.size());
  const double t0 = order.empty() ? 0 : order.front().arrival_s;
  double now = t0, tokens_out = 0, batch_tokens = 0;
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
      if (scheduled.insert(c.req).second) delay.push_back(now - arrival.at(c.req));
    const double start = now, secs = run(b);
    now += secs;
    r.batch_ms.push_back(secs * 1e3);
    r.busy_s += secs;
    r.preemptions += int(b.preempted.size());
    batch_tokens += b.num_tokens();
    r.max_batch_tokens = std::max(r.max_batch_tokens, b.num_tokens());
    r.max_batch_seqs = std::max(r.max_batch_seqs, int(b.chunks.size()));
    for (int id : sched.complete(b)) {
      auto it = last_token.find(id);
      if (it == last_token.end())
        ttft.push_back(now - arrival.at(id));
      else
        tbt.push_back(now - it->second);
      last_token[id] = now;
      tokens_out += 1;
    }
    if (observe) observe(b, start, secs);
  }
  r.iterations = int(r.batch_ms.size());
  r.makespan_s = now - t0;
  r.throughput_tok_s = r.makespan_s > 0 ? tokens_out / r.makespan_s : 0;
  r.mean_batch_tokens = r.iterations ? batch_tokens / r.iterations : 0;
  r.ttft_p50_s = pct(ttft, 50), r.ttft_p99_s = pct(ttft, 99);
  r.tbt_p50_s = pct(tbt, 50), r.tbt_p99_s = pct(tbt, 99);
  r.sched_delay_p50_s = pct(delay, 50);
  return r;
}

}  // namespace sarathi
