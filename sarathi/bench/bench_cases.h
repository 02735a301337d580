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
  int e2e_requests = 64;            // GPU end-to-end run (--e2e)
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

// GPU end-to-end: the engine on common/llama's CUDA runtime with random weights, every scheduler.
void run_e2e(const std::string& preset, const BenchConfig& bc, const llmi::bench::Options& opt,
             llmi::bench::Report& report, std::string& headline);

}  // namespace sarathi::bench
