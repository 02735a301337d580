// The two halves of paged_attention_bench: the decode-kernel grid (GPU) and the serving
// simulation (memory waste, batch size, throughput at equal memory; CPU cost model, or the
// real decode kernel's time when a GPU is present).
#pragma once
#include <string>
#include <vector>

#include "llmi/bench.h"
#include "paged/serving_sim.h"

namespace paged::bench {

struct DecodeGridOptions {
  std::vector<int> batches{1, 4, 16, 64, 256};
  std::vector<int> contexts{128, 512, 2048, 8192, 32768};
  long max_tokens = 1L << 23;  // skip batch x context above this (8M tokens = 32 GiB of bf16 K/V)
  int q_heads = 32, kv_heads = 8, block_size = 16;
};

struct DecodeSummary {
  double min_bw_frac_large = 0;     // lowest fraction of copy bandwidth at batch x ctx >= 256k
  double max_gbps = 0;
  double max_overhead_large = 0;    // highest paged-vs-contiguous time overhead at >= 256k
  int large_cases = 0;
};

DecodeSummary run_decode_grid(llmi::bench::Report& report, const llmi::bench::Options& opt,
                              const DecodeGridOptions& g);

// Block sizes 8/16/32 and the fp8 cache at one shape (the §7.2 block-size ablation, on H100).
void run_decode_variants(llmi::bench::Report& report, const llmi::bench::Options& opt);

// Decode time against the v2 partition size at a few shapes (to tune plan_decode's rule).
void run_partition_sweep(llmi::bench::Report& report, const llmi::bench::Options& opt);

struct SimOptions {
  WorkloadConfig workload;
  double kv_gib = 0;           // KV memory for every policy; 0 = what an 80 GB H100 leaves
  bool gpu_attention = false;  // time decode attention with the real kernel
};

struct SimSummary {
  SimResult paged, oracle, pow2, max;
};

SimSummary run_serving_sim(llmi::bench::Report& report, const llmi::bench::Options& opt,
                           const SimOptions& s);

// Cost function whose decode-attention term is the measured time of paged_decode on the
// iteration's batch (one layer of the model, times its layer count).
CostFn make_gpu_cost(const ModelCost& m, int64_t capacity_tokens, int block_size);

}  // namespace paged::bench
