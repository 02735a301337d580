// Timing one ring-attention case on any engine and communicator: load the rank's shard, run once
// and check against fp64 (when small enough), then warm up and time with every rank lined up by
// a barrier before each run (the slowest rank sets the time, as in a real prefill).
#pragma once
#include <chrono>
#include <vector>

#include "llmi/bench.h"
#include "ring_attention.h"
#include "ring_check.h"

namespace llmi::cp::timing {

// Lines up all ranks (host memory, every backend).
inline void barrier(Communicator& comm) {
  char mine = 0;
  std::vector<char> all(comm.size());
  comm.host_all_gather(&mine, all.data(), 1);
}

// FLOPs of the batch's attention, counting only unmasked (query, key) pairs: 4 * Hq * D per pair
// (QK^T and PV, 2 each). Causal: new token i of a sequence sees P + i + 1 keys.
inline double attention_flops(const std::vector<SeqSpec>& seqs, const AttnShape& sh) {
  double pairs = 0;
  for (const SeqSpec& s : seqs) {
    const double T = s.fresh, P = s.cached;
    pairs += sh.causal ? T * P + T * (T + 1) / 2 : T * (P + T);
  }
  return 4.0 * sh.q_heads * sh.head_dim * pairs;
}

struct CaseTiming {
  llmi::bench::Stats ms;  // the ring call, all ranks lined up
  bool checked = false;
  Verdict verdict;
};

// Checks only when the fp64 reference stays cheap (max_check_tokens new tokens or fewer).
template <class Engine>
CaseTiming time_ring(Communicator& comm, Engine& eng, const CpPlan& plan, Variant v,
                     const llmi::bench::Options& opt, int max_check_tokens) {
  auto d = load_rank(eng, plan, comm.rank(), opt.seed);
  RingWorkspace<Engine> ws;  // warm after the first run: timed runs do not allocate
  auto run = [&] { ring_attention(v, comm, eng, plan, d.q.data(), d.kv.data(), d.out.data(), d.lse.data(), ws); };
  CaseTiming t;
  int new_tokens = 0;
  for (const SeqSpec& s : plan.seqs) new_tokens += s.fresh;
  run();
  eng.synchronize();
  if (opt.check && new_tokens <= max_check_tokens) {
    t.verdict = check_fp64(comm, eng, plan, d, opt.seed);
    t.checked = true;
  }
  for (int i = 0; i < opt.warmup; ++i) run();
  eng.synchronize();
  std::vector<double> samples;
  for (int i = 0; i < opt.iters; ++i) {
    barrier(comm);
    const auto t0 = std::chrono::steady_clock::now();
    run();
    eng.synchronize();
    barrier(comm);
    samples.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  t.ms = llmi::bench::summarize(samples);
  return t;
}

}  // namespace llmi::cp::timing
