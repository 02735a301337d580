// Choosing pass-KV or pass-Q (paper §3.4, App. C): the closed-form rule of Algorithm 5, the
// per-step cost model it comes from, and a refit of its two rates on measured timings.
//
// Algorithm 5: pass-KV if  T >= N*C*NKV*e / (2*NH*BW)                       (Eq. 2)
//                     or  T/(T+P) >= 2*NKV/NH - 4*T*BW / (N*C*e)             (Eq. 5)
//              else pass-Q.
// C is the attention rate and BW the ring link bandwidth, both measured at startup
// (rate_probe.h), not datasheet peaks (footnote 2). The App. D log-linear fit is deliberately
// not used: it does not reproduce the paper's own Table 4 crossover (research notes §2.7).
#pragma once
#include <string>
#include <vector>

#include "attn_shape.h"
#include "ring_attention.h"
#include "sharding.h"

namespace llmi::cp {

// One attention call as the heuristic sees it (per CP group: heads of one rank).
struct RingWorkload {
  double T = 0;          // new tokens (sum over the batch)
  double P = 0;          // cached tokens (sum over the batch)
  int ranks = 1;         // N
  int q_heads = 0;       // NH
  int kv_heads = 0;      // NKV
  int head_dim = 0;      // D / NH
  double elem_bytes = 2; // e: bytes per Q/K/V element on the wire
  void validate() const;
};

// The heuristic's view of a batch: T and P summed over its sequences (a fused varlen batch moves
// and computes as one), heads of one rank, e bytes per element on the wire.
RingWorkload workload_of(const std::vector<SeqSpec>& seqs, int ranks, const AttnShape& shape,
                         double elem_bytes);

struct MeasuredRates {
  double flops_per_s = 0;  // C: attention FLOP/s of one rank
  double bytes_per_s = 0;  // BW: one ring link, one direction
  void validate() const;
};

struct Choice {
  Variant variant = Variant::PassKV;
  double kv_hidden_min_T = 0;  // Eq. 2's bound on T
  double miss_rate = 0;        // T / (T + P)
  double miss_threshold = 0;   // Eq. 5's bound on the miss rate
  std::string why() const;     // "pass-KV: T=... >= ..." for logs and the bench table
};

// Algorithm 5.
Choice choose_variant(const RingWorkload& w, const MeasuredRates& r);

// The model behind Eqs. 2, 3 and 5, in seconds. Per ring step a rank computes attention of its
// T/N queries against (T+P)/N keys (4*T*(T+P)*NH*D / N^2 FLOPs, unmasked count as in the
// paper) while one shard moves; N steps, N-1 transfers, a transfer longer than the attention
// is exposed. pass-Q adds its all-to-all of N-1 blocks of outputs plus LSEs, in fp32.
struct RingTimes {
  double attn_step = 0, kv_step = 0, q_step = 0, all_to_all = 0;
  double pass_kv = 0, pass_q = 0;
};
RingTimes model_ring(const RingWorkload& w, const MeasuredRates& r);

// A workload timed with both variants on the target machine.
struct MeasuredPoint {
  RingWorkload w;
  double pass_kv_s = 0, pass_q_s = 0;
};

// Seconds lost by following Algorithm 5 with rates r on these points (0: every point right).
double choice_regret(const std::vector<MeasuredPoint>& pts, const MeasuredRates& r);

// When Algorithm 5 with the measured rates picks the slower variant on measured points, the
// effective rates differ from the probed ones (overlap losses, contention). This rescales C and
// BW over a log grid (x1/16..x16 in steps of 2^(1/4)) to minimise the regret, preferring the
// smallest change; it returns the rates to use from then on.
MeasuredRates refit_rates(const std::vector<MeasuredPoint>& pts, const MeasuredRates& start);

}  // namespace llmi::cp
