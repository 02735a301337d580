#include "sarathi/serving_sim.h"

namespace sarathi {

ServingResult simulate(Scheduler& sched, const CostModel& cost,
                       const std::vector<RequestSpec>& reqs) {
  return serve(sched, reqs, [&](const Batch& b) { return cost.batch_ms(b) / 1e3; });
}

Trial simulation_trial(SchedulerFactory make, CostModel cost, WorkloadConfig w) {
  return [make = std::move(make), cost = std::move(cost), w](double qps) mutable {
    w.qps = qps;
    auto s = make();
    return simulate(*s, cost, make_workload(w));
  };
}

}  // namespace sarathi
