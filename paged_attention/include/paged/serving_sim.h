// Iteration-level (continuous-batching, Orca-style) serving simulation over a KV allocation
// policy (vLLM paper §4.5 scheduling, §6.2 evaluation): the memory-waste and batch-size result.
//
// Each iteration: swapped-out requests come back first (FCFS) if they fit; every running
// request decodes one token (its KV grows by one slot; if the paged allocator is out of blocks,
// the most recently admitted request is preempted, §4.5: by recompute, or by swapping it to
// the CPU pool); then, unless something was preempted or is still swapped out, waiting
// requests are admitted FCFS while the allocator, max_num_seqs and the prefill budget allow. The iteration's time
// comes from a cost function: by default the roofline cost model below (no GPU needed); the
// benchmark can substitute measured kernel times.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "paged/kv_allocators.h"
#include "paged/workload.h"

namespace paged {

// Llama-2-13B served in bf16 on one H100 (defaults). Figures: parameters and shape from the
// model config; peak_flops and mem_bw from this project's H100 anchors (cuBLAS bf16 GEMM
// 649-749 TFLOP/s, copy 2987 GB/s), rounded down to what a serving step attains.
struct ModelCost {
  std::string name = "llama-2-13b";
  double params = 13.0e9;
  double weight_bytes = 26.0e9;
  int layers = 40;
  int hidden = 5120;
  int kv_heads = 40;
  int head_dim = 128;
  int kv_elem_bytes = 2;
  double peak_flops = 600e12;
  double mem_bw = 2.9e12;
  double overhead_s = 1.0e-3;  // launches, sampling, scheduling per iteration
  double swap_bw = 25e9;       // host<->device bytes/s for swapping (PCIe 5 x16, block-sized copies)
  double kv_bytes_per_token() const { return 2.0 * layers * kv_heads * head_dim * kv_elem_bytes; }
};

struct IterationShape {
  int prefill_tokens = 0;
  std::vector<int> prefill_lens;      // prompt length of each request prefilled this iteration
  std::vector<int> decode_context;    // KV length each decoding request attends over
  int64_t swapped_tokens = 0;         // KV slots swapped out or in during this iteration
};

// Roofline: linear layers cost max(FLOPs / peak, weight bytes / bandwidth); decode attention
// reads every KV byte once; prefill attention is causal QK^T and PV FLOPs; swapping moves KV
// bytes over PCIe; plus overhead.
// decode_attention_s >= 0 replaces the modelled decode-attention time (all layers) with a
// measured one.
double iteration_seconds(const ModelCost& m, const IterationShape& it, double decode_attention_s = -1);

struct SimConfig {
  KvPolicy policy = KvPolicy::Paged;
  int64_t kv_capacity_tokens = 0;  // equal memory for every policy
  int block_size = 16;
  int max_seq_len = 2048;
  int max_num_seqs = 256;
  int max_prefill_tokens = 4096;   // prompt tokens admitted per iteration
  // §4.5 preemption: recompute (default), or swap the victim to a CPU pool of this many token
  // slots (paged only; falls back to recompute when the CPU pool is full).
  bool swap_preemption = false;
  int64_t cpu_swap_tokens = 0;
};

struct SimResult {
  std::string policy;
  int completed = 0, iterations = 0, preemptions = 0, swap_outs = 0;
  double makespan_s = 0, throughput_req_s = 0, output_tok_s = 0;
  double mean_batch = 0;              // running requests per iteration (incl. new prefills)
  double mean_norm_latency_s = 0;     // mean over requests of end-to-end latency / output tokens
  // Under memory pressure (iterations where a request waits, or was preempted, for lack of KV
  // memory; the waste that costs batch size), time-weighted shares of the KV
  // capacity: token states held, reserved-but-unused (internal fragmentation + reservations
  // for future tokens) and unreserved (external fragmentation, holes too small to admit).
  double pressure_time_frac = 0;
  double token_states = 0, reserved_unused = 0, unreserved = 0;
  double waste() const { return reserved_unused + unreserved; }
  // Over all iterations with live requests: (reserved - used) / reserved.
  double reserved_waste = 0;
};

using CostFn = std::function<double(const IterationShape&)>;

SimResult simulate(const SimConfig& cfg, const std::vector<Request>& reqs, const CostFn& cost);

}  // namespace paged
