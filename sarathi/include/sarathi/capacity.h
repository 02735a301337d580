// Capacity (Sarathi-Serve §5): the largest request rate a replica serves within the latency SLO,
// found by bisection on QPS as microsoft/sarathi-serve's capacity_search does. A trial is any
// function from QPS to a serving result, so the same search runs on the cost model (a simulation
// per trial) and on a real runtime (a GPU serving run per trial).
#pragma once
#include <functional>

#include "sarathi/serving_loop.h"

namespace sarathi {

// One trial: a fresh scheduler serving a fresh workload at the given Poisson rate.
using Trial = std::function<ServingResult(double qps)>;

// The SLO of capacity_search: P99 TBT within tbt_slo_s and median scheduling delay within
// max_sched_delay_s (the second keeps an overloaded replica, whose queue grows without bound,
// from passing on TBT alone; sarathi-serve's default is 2 s).
struct Slo {
  double tbt_p99_s = 0;
  double sched_delay_p50_s = 2.0;
  bool met_by(const ServingResult& r) const {
    return r.tbt_p99_s <= tbt_p99_s && r.sched_delay_p50_s <= sched_delay_p50_s;
  }
};

struct CapacityResult {
  double qps = 0;  // the largest QPS found meeting the SLO; 0 if no trial did, qps_lo included
  ServingResult at_capacity;
  int trials = 0;  // trials run (each one a full serving run)
};

// `steps` bisection trials in (qps_lo, qps_hi), each at the midpoint of the interval left, or at
// its geometric mean when `geometric` (the same relative resolution at every load, for searches
// whose capacities span several-fold). qps_lo itself is tried only when every bisection trial
// failed (on a real runtime the lowest load is the most expensive trial to run: its decodes are
// barely batched), so the search costs `steps` trials, or steps + 1 when nothing passes.
CapacityResult capacity_search(const Trial& trial, const Slo& slo, double qps_lo, double qps_hi,
                               int steps, bool geometric = false);

}  // namespace sarathi
