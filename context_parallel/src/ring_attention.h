// Ring attention across N ranks, written once against Communicator (NCCL, MPI or threads) and
// an Engine (CpuEngine here; the GPU engine offers the same members):
//
//   ring_pass_kv (paper Alg. 2): KV shards travel, each rank keeps its queries.
//   ring_pass_q  (paper Alg. 3): Q shards travel, KV stays; partial outputs return to their
//                owners with an all-to-all and are merged there.
//   ring_decode  (paper Alg. 4): pass-Q over a decode plan; the batch ids travel with the
//                queries (they are the plan's token lists), each rank attends them against the
//                KV it holds of those sequences.
//
// Every step posts the send/recv of the *next* shard before computing on the shard in hand
// (double buffering: in hand, arriving), so communication hides behind attention when
// attention is the longer of the two (Eq. 2 / Eq. 3).
//
// Buffers, per rank (Lq = plan.q_len(), Lkv = plan.kv_len(), rows = Lq * Hq):
//   q   [Lq, Hq, D]        Elem   this rank's queries, in plan.shard[rank].q order
//   kv  [2, Lkv, Hkv, D]   Elem   this rank's K then V, in plan.shard[rank].kv order
//   out [Lq, Hq, D]        Acc    merged attention output of this rank's queries
//   lse [Lq, Hq]           Acc    its log-sum-exp (may be null)
//   ws                            RingWorkspace reused across calls (no allocation once warm)
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "attn_shape.h"
#include "communicator.h"
#include "llmi/check.h"
#include "sharding.h"

namespace llmi::cp {

enum class Variant { PassKV, PassQ };
inline const char* variant_name(Variant v) { return v == Variant::PassKV ? "pass-KV" : "pass-Q"; }

// Every rank must hold the same plan, sized for this communicator: checked with one small
// all-gather so that a mismatch is a clear error on every rank instead of a hang.
inline void check_plan(Communicator& comm, const CpPlan& plan) {
  LLMI_REQUIRE(plan.ranks == comm.size(),
               "the sharding plan is for " << plan.ranks << " ranks but the communicator has "
                                           << comm.size() << " (one rank per GPU)");
  const uint64_t mine = plan.fingerprint();
  std::vector<uint64_t> all(comm.size());
  comm.host_all_gather(&mine, all.data(), sizeof mine);
  for (int r = 0; r < comm.size(); ++r)
    LLMI_REQUIRE(all[r] == mine, "rank " << comm.rank() << " and rank " << r
                                         << " hold different sharding plans");
}

// Buffers a rank's ring calls reuse: allocated on first use and grown when too small, so that
// repeated calls (decode steps, timed runs) neither allocate nor, on a GPU, synchronise in
// cudaFree. The plan's token lists are uploaded once per plan (fingerprint).
template <class Engine>
struct RingWorkspace {
  using Elem = typename Engine::Elem;
  using Acc = typename Engine::Acc;
  typename Engine::template Buffer<Elem> recv[2];  // arriving shards (double buffering)
  typename Engine::template Buffer<Acc> partials;  // [N][out | lse] this rank computed
  typename Engine::template Buffer<Acc> returned;  // pass-Q: [N][out | lse] sent back to it
  std::optional<decltype(std::declval<const Engine&>().upload(std::declval<const CpPlan&>()))> tokens;
  uint64_t tokens_of = 0;

  template <typename U>
  static U* fit(const Engine& eng, typename Engine::template Buffer<U>& b, size_t n) {
    if (b.size() < n) b = eng.template alloc<U>(n);
    return b.data();
  }
  const auto& tokens_for(const Engine& eng, const CpPlan& plan) {
    if (!tokens || tokens_of != plan.fingerprint()) {
      tokens.emplace(eng.upload(plan));
      tokens_of = plan.fingerprint();
    }
    return *tokens;
  }
};

namespace detail {
// Partials in the pass-Q all-to-all layout: one block per source rank, [out (rows*D) | lse (rows)].
struct PartialBlocks {
  size_t rows, D;
  size_t stride() const { return rows * (D + 1); }
  size_t out(int s) const { return size_t(s) * stride(); }
  size_t lse(int s) const { return size_t(s) * stride() + rows * D; }
};

// The ring loop shared by both variants: at step j the rank holds the shard that started on
// rank s = (k - j) mod N, forwards it to k+1 while computing on it, and receives the next one
// from k-1 into the buffer not in use. compute(s, shard) runs between posting the exchange and
// waiting for it.
template <class Engine, class Compute>
void ring_loop(Communicator& comm, const Engine& eng, RingWorkspace<Engine>& ws,
               const typename Engine::Elem* mine, size_t count, Compute compute) {
  using Elem = typename Engine::Elem;
  const int N = comm.size(), k = comm.rank();
  Elem* buf[2] = {N > 1 ? ws.template fit<Elem>(eng, ws.recv[0], count) : nullptr,
                  N > 2 ? ws.template fit<Elem>(eng, ws.recv[1], count) : nullptr};
  const Elem* cur = mine;
  int next = 0;
  for (int j = 0; j < N; ++j) {
    const int s = ((k - j) % N + N) % N;
    const bool more = j + 1 < N;  // N-1 transfers, N partial attentions
    if (more) comm.start_exchange(cur, buf[next], count * sizeof(Elem), (k + 1) % N, (k - 1 + N) % N);
    compute(s, cur);
    if (more) {
      comm.wait_exchange();
      cur = buf[next];
      next ^= 1;
    }
  }
}
}  // namespace detail

// Alg. 2. O_k^s = Attn(Q_k, KV^s) for every source s, merged locally: no all-to-all.
template <class Engine>
void ring_pass_kv(Communicator& comm, Engine& eng, const CpPlan& plan,
                  const typename Engine::Elem* q, const typename Engine::Elem* kv,
                  typename Engine::Acc* out, typename Engine::Acc* lse, RingWorkspace<Engine>& ws) {
  using Acc = typename Engine::Acc;
  check_plan(comm, plan);
  const AttnShape& sh = eng.shape();
  const int N = comm.size(), k = comm.rank(), Lq = plan.q_len(), Lkv = plan.kv_len();
  const detail::PartialBlocks pb{size_t(Lq) * sh.q_heads, size_t(sh.head_dim)};
  Acc* partials = ws.template fit<Acc>(eng, ws.partials, N * pb.stride());
  const auto& tok = ws.tokens_for(eng, plan);
  const size_t kv_count = 2 * size_t(Lkv) * sh.kv_heads * sh.head_dim;
  detail::ring_loop(comm, eng, ws, kv, kv_count, [&](int s, const typename Engine::Elem* kv_s) {
    eng.attend(tok.q(k), q, Lq, tok.kv(s), kv_s, Lkv, partials + pb.out(s), partials + pb.lse(s));
  });
  eng.merge(N, pb.rows, partials, partials + pb.lse(0), pb.stride(), out, lse);
}

// Alg. 3. On rank k: O_s^k = Attn(Q^s, KV_k) for every source s; then the all-to-all sends
// O_s^k (and its LSE) back to rank s, and each rank merges what it receives.
template <class Engine>
void ring_pass_q(Communicator& comm, Engine& eng, const CpPlan& plan,
                 const typename Engine::Elem* q, const typename Engine::Elem* kv,
                 typename Engine::Acc* out, typename Engine::Acc* lse, RingWorkspace<Engine>& ws) {
  using Acc = typename Engine::Acc;
  check_plan(comm, plan);
  const AttnShape& sh = eng.shape();
  const int N = comm.size(), k = comm.rank(), Lq = plan.q_len(), Lkv = plan.kv_len();
  const detail::PartialBlocks pb{size_t(Lq) * sh.q_heads, size_t(sh.head_dim)};
  Acc* computed = ws.template fit<Acc>(eng, ws.partials, N * pb.stride());  // block s: O_s^k, for rank s
  const auto& tok = ws.tokens_for(eng, plan);
  const size_t q_count = size_t(Lq) * sh.q_heads * sh.head_dim;
  detail::ring_loop(comm, eng, ws, q, q_count, [&](int s, const typename Engine::Elem* q_s) {
    eng.attend(tok.q(s), q_s, Lq, tok.kv(k), kv, Lkv, computed + pb.out(s), computed + pb.lse(s));
  });
  // The all-to-all is on the critical path: nothing is left to overlap it with (§3.5.3).
  const Acc* mine = computed;  // one rank: its partial is already home
  if (N > 1) {
    Acc* returned = ws.template fit<Acc>(eng, ws.returned, N * pb.stride());  // block r: O_k^r
    comm.all_to_all(computed, returned, pb.stride() * sizeof(Acc));
    mine = returned;
  }
  eng.merge(N, pb.rows, mine, mine + pb.lse(0), pb.stride(), out, lse);
}

// Alg. 4: a decode step is pass-Q over plan_decode's plan (one query per sequence, padded to
// ceil(B/N) per rank; queries carry their batch ids as the plan's tokens).
template <class Engine>
void ring_decode(Communicator& comm, Engine& eng, const CpPlan& decode_plan,
                 const typename Engine::Elem* q, const typename Engine::Elem* kv,
                 typename Engine::Acc* out, typename Engine::Acc* lse, RingWorkspace<Engine>& ws) {
  for (const SeqSpec& s : decode_plan.seqs)
    LLMI_REQUIRE(s.fresh == 1, "ring_decode needs a decode plan (one new token per sequence), got T="
                                   << s.fresh);
  ring_pass_q(comm, eng, decode_plan, q, kv, out, lse, ws);
}

template <class Engine>
void ring_attention(Variant v, Communicator& comm, Engine& eng, const CpPlan& plan,
                    const typename Engine::Elem* q, const typename Engine::Elem* kv,
                    typename Engine::Acc* out, typename Engine::Acc* lse, RingWorkspace<Engine>& ws) {
  if (v == Variant::PassKV)
    ring_pass_kv(comm, eng, plan, q, kv, out, lse, ws);
  else
    ring_pass_q(comm, eng, plan, q, kv, out, lse, ws);
}

}  // namespace llmi::cp
