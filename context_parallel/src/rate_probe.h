// Measures the heuristic's two inputs on the machine at startup (paper footnote 2: achieved
// rates, not peaks): C from timing the engine's attention block, BW from timing ring exchanges.
// Every rank probes, then all take the slowest rank's C and the slowest link's BW, so all ranks
// make the same pass-KV / pass-Q choice (different choices would deadlock the ring).
#pragma once
#include <algorithm>
#include <chrono>
#include <limits>
#include <vector>

#include "communicator.h"
#include "cpu_attention_block.h"
#include "heuristic.h"
#include "sharding.h"

namespace llmi::cp {

struct ProbeSize {
  int tokens = 256;           // attention probe: tokens x tokens, one sequence, engine's mask
  size_t link_bytes = 1 << 20;  // bandwidth probe message
  int reps = 3;               // best of reps (first-touch and lazy connection setup excluded)
};

template <class Engine>
MeasuredRates probe_rates(Communicator& comm, Engine& eng, const ProbeSize& size = {}) {
  using Clock = std::chrono::steady_clock;
  using Elem = typename Engine::Elem;
  using Acc = typename Engine::Acc;
  const AttnShape& sh = eng.shape();
  const int n = size.tokens;
  LLMI_REQUIRE(n > 0 && size.reps > 0 && size.link_bytes > 0, "empty rate probe");

  CpPlan probe;  // one sequence of n tokens, attended by itself
  probe.ranks = 1;
  probe.seqs = {SeqSpec{0, n}};
  probe.shard.resize(1);
  for (int i = 0; i < n; ++i) probe.shard[0].q.push_back(Token{0, i});
  probe.shard[0].kv = probe.shard[0].q;
  const auto tok = eng.upload(probe);
  auto q = eng.template alloc<Elem>(size_t(n) * sh.q_heads * sh.head_dim);
  auto kv = eng.template alloc<Elem>(2 * size_t(n) * sh.kv_heads * sh.head_dim);
  auto out = eng.template alloc<Acc>(size_t(n) * sh.q_heads * sh.head_dim);
  auto lse = eng.template alloc<Acc>(size_t(n) * sh.q_heads);
  const double flops = 4.0 * sh.q_heads * sh.head_dim *
                       visible_pairs(probe.shard[0].q.data(), n, probe.shard[0].kv.data(), n, sh.causal);
  double attn_s = std::numeric_limits<double>::max();
  for (int i = 0; i < size.reps; ++i) {
    eng.synchronize();
    const auto t0 = Clock::now();
    eng.attend(tok.q(0), q.data(), n, tok.kv(0), kv.data(), n, out.data(), lse.data());
    eng.synchronize();
    attn_s = std::min(attn_s, std::chrono::duration<double>(Clock::now() - t0).count());
  }

  // One rank has no link: any bandwidth makes communication free, and no ring runs.
  double link_s = 0;
  const int N = comm.size(), k = comm.rank();
  if (N > 1) {
    auto send = eng.template alloc<unsigned char>(size.link_bytes);
    auto recv = eng.template alloc<unsigned char>(size.link_bytes);
    link_s = std::numeric_limits<double>::max();
    for (int i = 0; i < size.reps; ++i) {
      eng.synchronize();
      const auto t0 = Clock::now();
      comm.start_exchange(send.data(), recv.data(), size.link_bytes, (k + 1) % N, (k - 1 + N) % N);
      comm.wait_exchange();
      eng.synchronize();
      link_s = std::min(link_s, std::chrono::duration<double>(Clock::now() - t0).count());
    }
  }
  const MeasuredRates mine{flops / std::max(attn_s, 1e-9),
                           N > 1 ? double(size.link_bytes) / std::max(link_s, 1e-9)
                                 : std::numeric_limits<double>::max()};
  std::vector<MeasuredRates> all(N);
  comm.host_all_gather(&mine, all.data(), sizeof mine);
  MeasuredRates agreed = mine;
  for (const MeasuredRates& r : all) {
    agreed.flops_per_s = std::min(agreed.flops_per_s, r.flops_per_s);
    agreed.bytes_per_s = std::min(agreed.bytes_per_s, r.bytes_per_s);
  }
  return agreed;
}

}  // namespace llmi::cp
