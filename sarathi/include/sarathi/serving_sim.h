// Online serving on a cost model (Sarathi-Serve §5 methodology): the shared serving loop with each
// batch's time taken from a CostModel, so the four schedulers' throughput, TTFT, TBT and capacity
// can be compared without a GPU.
#pragma once
#include <vector>

#include "sarathi/capacity.h"
#include "sarathi/cost_model.h"
#include "sarathi/serving_loop.h"
#include "sarathi/workload.h"

namespace sarathi {

ServingResult simulate(Scheduler& sched, const CostModel& cost,
                       const std::vector<RequestSpec>& reqs);

// A capacity-search trial on the cost model: a fresh scheduler from `make` simulated on
// make_workload(w) at the trial's QPS.
Trial simulation_trial(SchedulerFactory make, CostModel cost, WorkloadConfig w);

}  // namespace sarathi
