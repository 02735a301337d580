#include "sarathi/pipeline_sim.h"

#include <algorithm>

#include "llmi/check.h"

namespace sarathi {

PipelineResult simulate_pipeline(const SchedulerFactory& make, const CostModel& cost,
                                 const std::vector<RequestSpec>& reqs, int stages) {
  LLMI_REQUIRE(stages > 0, "pipeline: stages must be positive, got " << stages);
  std::vector<std::unique_ptr<Scheduler>> groups;
  for (int g = 0; g < stages; ++g) groups.push_back(make());
  for (size_t i = 0; i < reqs.size(); ++i) groups[i % size_t(stages)]->add(reqs[i]);

  std::vector<double> ready(size_t(stages), 0.0), stage_free(size_t(stages), 0.0);
  PipelineResult r;
  r.stages = stages;
  while (true) {
    // Next micro-batch: the group whose previous batch left the pipeline first. Stages are FIFO
    // and every batch visits them in order, so issuing in stage-0 start order is exact.
    int g = -1;
    for (int i = 0; i < stages; ++i)
      if (groups[size_t(i)]->has_work() && (g < 0 || ready[size_t(i)] < ready[size_t(g)])) g = i;
    if (g < 0) break;
    const Batch b = groups[size_t(g)]->schedule();
    LLMI_REQUIRE(!b.empty(), "pipeline: group " << g << " is stuck");
    const double per_stage = cost.batch_ms(b) / stages;
    double t = ready[size_t(g)];
    for (int s = 0; s < stages; ++s) {
      t = std::max(t, stage_free[size_t(s)]) + per_stage;
      stage_free[size_t(s)] = t;
      r.busy_ms += per_stage;
    }
    ready[size_t(g)] = t;
    groups[size_t(g)]->complete(b);
    r.batches++;
  }
  r.makespan_ms = *std::max_element(stage_free.begin(), stage_free.end());
  r.bubble_ms = stages * r.makespan_ms - r.busy_ms;
  return r;
}

}  // namespace sarathi
