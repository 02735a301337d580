// Pipeline-parallel bubbles (SARATHI §3.3/§4.4, Sarathi-Serve §3.3): S stages each run
// layers / S of the model, S micro-batch groups (each with its own scheduler and requests) are in
// flight at once, and a group's next batch starts only after its previous one left the last
// stage (autoregressive dependency). Batches of unequal time (a prefill behind decodes) leave the
// faster stages idle; uniform hybrid batches shrink those bubbles.
#pragma once
#include <vector>

#include "sarathi/cost_model.h"
#include "sarathi/scheduler.h"

namespace sarathi {

struct PipelineResult {
  int stages = 0, batches = 0;
  double makespan_ms = 0;
  double busy_ms = 0;    // summed over stages
  double bubble_ms = 0;  // stages * makespan - busy: idle stage time, fill and drain included
  double bubble_fraction() const { return makespan_ms > 0 ? bubble_ms / (stages * makespan_ms) : 0; }
};

// Requests are dealt round-robin to the groups and all arrive at t = 0 (offline, as in SARATHI's
// pipeline experiment). Each stage takes batch_ms / stages (communication ignored).
PipelineResult simulate_pipeline(const SchedulerFactory& make, const CostModel& cost,
                                 const std::vector<RequestSpec>& reqs, int stages);

}  // namespace sarathi
