// The sections of sarathi_bench, one file each:
//   piggyback_cases.cu  GPU: per-layer decode / prefill / hybrid batch times (SARATHI §3, §5.1)
//   serving_cases.cpp   CPU: serving, capacity and pipeline-bubble simulations on a cost model
//   e2e_cases.cu        GPU: the engine on the CUDA runtime under each scheduler (--e2e)
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "llmi/bench.h"
#include "sarathi/cost_model.h"

namespace sarathi::bench {

struct BenchConfig {
  std::vector<std::string> models;  // llama2-7b, llama2-13b
  int decode_ctx = 1024;            // cached tokens of each decode in the piggyback sweep
  int requests = 512;               // per serving trial
  int capacity_steps = 8;           // QPS bisection steps
  int pp_stages = 4;
  // GPU end-to-end serving (--e2e); sized for about 3 minutes of H200 time for 7B (README).
  int e2e_requests = 48;               // per serving trial
  int e2e_steps = 5;                   // capacity bisection steps (each one a serving trial)
  double e2e_slo_factor = 5;           // P99 TBT SLO = factor x a decode step (Table 3 strict)
  double e2e_delay_factor = 2;         // median scheduling delay bound, in offline service times
  double e2e_load = 0.5;               // the fixed load, as a fraction of the offline request rate
  std::vector<std::string> e2e_schedulers = {"vllm", "orca", "sarathi", "sarathi-serve"};
};

// Runs the piggyback sweep for one model; returns the measured per-layer linear table
// (M tokens -> us) so the serving simulation can use measured costs.
std::vector<std::pair<int, double>> run_piggyback(const std::string& preset, const BenchConfig& bc,
                                                  const llmi::bench::Options& opt,
                                                  llmi::bench::Report& report,
                                                  std::string& headline);

// Serving (fixed QPS), capacity under strict and relaxed TBT SLOs, pipeline bubbles.
void run_serving(const CostModel& cost, const BenchConfig& bc, const llmi::bench::Options& opt,
                 llmi::bench::Report& report, std::string& headline);

// The "<preset>/linear M=..." rows of an earlier sarathi_bench --json, as a linear table.
std::vector<std::pair<int, double>> linear_table_from_json(const std::string& path,
                                                           const std::string& preset);

// GPU end-to-end serving: the engine on common/llama's CUDA runtime with random weights; offline,
// at one Poisson load, and the capacity under a TBT SLO, for each scheduler.
void run_e2e(const std::string& preset, const BenchConfig& bc, const llmi::bench::Options& opt,
             llmi::bench::Report& report, std::string& headline);

}  // namespace sarathi::bench
