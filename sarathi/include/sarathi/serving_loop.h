// The online serving loop that the cost-model simulation and the engine on a real runtime share
// (Sarathi-Serve §5 methodology). A virtual clock starts at the first arrival; a request becomes
// visible to the scheduler only once the clock has passed its arrival time; each batch advances
// the clock by its duration (the cost model's estimate, or the measured wall time of a real
// Runtime::step); when nothing is runnable the clock jumps to the next arrival, so an idle replica
// costs no real time. Metrics follow Sarathi-Serve §2.4: TTFT from arrival to the first output
// token, TBT between consecutive output tokens of a request, and the scheduling delay from arrival
// to the first batch that serves the request.
#pragma once
#include <functional>
#include <vector>

#include "sarathi/scheduler.h"

namespace sarathi {

struct ServingResult {
  int requests = 0, iterations = 0, preemptions = 0;
  double makespan_s = 0;        // first arrival -> last token
  double busy_s = 0;            // summed batch durations (the time a real backend was used)
  double throughput_tok_s = 0;  // output tokens / makespan
  double ttft_p50_s = 0, ttft_p99_s = 0;
  double tbt_p50_s = 0, tbt_p99_s = 0;
  double sched_delay_p50_s = 0;  // arrival -> first scheduled
  double mean_batch_tokens = 0;
  int max_batch_tokens = 0, max_batch_seqs = 0;
  std::vector<double> batch_ms;  // every iteration's duration, in order
};

// Executes a batch on a backend before the scheduler applies it; returns its duration in seconds.
using BatchRunner = std::function<double(const Batch&)>;
// Called once the scheduler has applied a batch: the clock when the batch started, its duration.
using StepObserver = std::function<void(const Batch&, double start_s, double seconds)>;

// Serves `reqs` (any order; ties in arrival keep their order) to completion. Throws llmi::Error if
// the scheduler has work but schedules nothing and no arrival is left to wait for.
ServingResult serve(Scheduler& sched, const std::vector<RequestSpec>& reqs, const BatchRunner& run,
                    const StepObserver& observe = nullptr);

}  // namespace sarathi
