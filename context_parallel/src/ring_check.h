// Checking a ring against single-rank fp64 attention (llmi::ref::attention), for tests and the
// benchmark: deterministic inputs, loading one rank's shard into an engine, and gathering and
// unsharding every rank's output to compare it on every rank.
//
// Inputs are pure functions of (seed, tensor, seq, pos, head, dim), so every rank builds the
// same batch without communication. Output buffers start poisoned (NaN) and all ranks' outputs
// are scattered into a NaN-filled batch array, so a row never written, or written to the wrong
// place, fails the comparison.
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "communicator.h"
#include "llmi/compare.h"
#include "llmi/cpu_ref.h"
#include "llmi/random.h"
#include "ring_attention.h"
#include "sharding.h"

namespace llmi::cp {

struct Verdict {
  Comparison out, lse;
  bool ok(double bound) const { return out.ok(bound) && lse.ok(bound); }
  std::string str() const { return "out " + out.str() + " | lse " + lse.str(); }
};

// Value of element (head, dim) of token (seq, pos) of tensor `which` (0 = Q, 1 = K, 2 = V).
inline double input_value(uint64_t seed, int which, Token t, int heads, int D, int h, int d) {
  const uint64_t row = (uint64_t(t.seq) << 32) | uint32_t(t.pos);
  return 2.0 * uniform01(seed * 3 + which, (row * heads + h) * D + d) - 1.0;
}

// Whole-batch array [rows.size(), heads, D] of tensor `which`, row r holding token rows[r].
inline std::vector<double> batch_array(uint64_t seed, int which, const std::vector<Token>& rows,
                                       int heads, int D) {
  std::vector<double> a(rows.size() * heads * D);
  for (size_t r = 0; r < rows.size(); ++r)
    for (int h = 0; h < heads; ++h)
      for (int d = 0; d < D; ++d) a[(r * heads + h) * D + d] = input_value(seed, which, rows[r], heads, D, h, d);
  return a;
}

inline std::vector<Token> q_tokens(const std::vector<SeqSpec>& seqs) {
  std::vector<Token> t;
  for (size_t s = 0; s < seqs.size(); ++s)
    for (int i = 0; i < seqs[s].fresh; ++i) t.push_back(Token{int32_t(s), seqs[s].cached + i});
  return t;
}
inline std::vector<Token> kv_tokens(const std::vector<SeqSpec>& seqs) {
  std::vector<Token> t;
  for (size_t s = 0; s < seqs.size(); ++s)
    for (int i = 0; i < seqs[s].cached + seqs[s].fresh; ++i) t.push_back(Token{int32_t(s), i});
  return t;
}

// One rank's buffers: q [Lq, Hq, D], kv [2, Lkv, Hkv, D] (its shard, rounded to Elem), and
// out [Lq, Hq, D] / lse [Lq, Hq] poisoned.
template <class Engine>
struct RankData {
  typename Engine::template Buffer<typename Engine::Elem> q, kv;
  typename Engine::template Buffer<typename Engine::Acc> out, lse;
};

template <class Engine>
RankData<Engine> load_rank(const Engine& eng, const CpPlan& plan, int rank, uint64_t seed) {
  const AttnShape& sh = eng.shape();
  const int Hq = sh.q_heads, Hkv = sh.kv_heads, D = sh.head_dim;
  const RankShard& mine = plan.shard[rank];
  // Only this rank's rows are generated (values depend on the token, not on the array).
  std::vector<double> q64(mine.q.size() * Hq * D, 0.0), kv64(2 * mine.kv.size() * Hkv * D, 0.0);
  for (size_t i = 0; i < mine.q.size(); ++i)
    if (!mine.q[i].is_pad())
      for (int h = 0; h < Hq; ++h)
        for (int d = 0; d < D; ++d) q64[(i * Hq + h) * D + d] = input_value(seed, 0, mine.q[i], Hq, D, h, d);
  const size_t half = mine.kv.size() * Hkv * D;
  for (size_t j = 0; j < mine.kv.size(); ++j)
    if (!mine.kv[j].is_pad())
      for (int h = 0; h < Hkv; ++h)
        for (int d = 0; d < D; ++d) {
          kv64[(j * Hkv + h) * D + d] = input_value(seed, 1, mine.kv[j], Hkv, D, h, d);
          kv64[half + (j * Hkv + h) * D + d] = input_value(seed, 2, mine.kv[j], Hkv, D, h, d);
        }
  return RankData<Engine>{eng.from_host(q64), eng.from_host(kv64),
                          eng.poisoned(mine.q.size() * Hq * D), eng.poisoned(mine.q.size() * Hq)};
}

// Gathers every rank's out/lse, unshards them and compares with fp64 attention of each sequence
// alone (bottom-right causal mask: the queries are its last T positions). Same verdict on all ranks.
template <class Engine>
Verdict check_fp64(Communicator& comm, const Engine& eng, const CpPlan& plan,
                   const RankData<Engine>& data, uint64_t seed) {
  const AttnShape& sh = eng.shape();
  const int Hq = sh.q_heads, Hkv = sh.kv_heads, D = sh.head_dim, N = comm.size();
  const BatchRows rows(plan.seqs);
  const RowOf q_row = [&](Token t) { return rows.q_row(t); };
  const std::vector<Token> qt = q_tokens(plan.seqs), kt = kv_tokens(plan.seqs);
  const auto Q = batch_array(seed, 0, qt, Hq, D);
  const auto K = batch_array(seed, 1, kt, Hkv, D);
  const auto V = batch_array(seed, 2, kt, Hkv, D);

  const std::vector<double> out64 = eng.to_host(data.out), lse64 = eng.to_host(data.lse);
  std::vector<double> all_out(out64.size() * N), all_lse(lse64.size() * N);
  comm.host_all_gather(out64.data(), all_out.data(), out64.size() * sizeof(double));
  comm.host_all_gather(lse64.data(), all_lse.data(), lse64.size() * sizeof(double));
  std::vector<double> got_out(qt.size() * Hq * D, std::nan("")), got_lse(qt.size() * Hq, std::nan(""));
  for (int r = 0; r < N; ++r) {
    scatter_rows(plan.shard[r].q, q_row, all_out.data() + r * out64.size(), got_out.data(), size_t(Hq) * D);
    scatter_rows(plan.shard[r].q, q_row, all_lse.data() + r * lse64.size(), got_lse.data(), size_t(Hq));
  }

  std::vector<double> ref_out(got_out.size()), ref_lse(got_lse.size());
  size_t q0 = 0, kv0 = 0;
  for (const SeqSpec& s : plan.seqs) {
    const int Sq = s.fresh, Sk = s.cached + s.fresh;
    std::vector<double> lse_hs(size_t(Hq) * Sq);  // ref's layout: [Hq, Sq]
    ref::attention(Q.data() + q0 * Hq * D, K.data() + kv0 * Hkv * D, V.data() + kv0 * Hkv * D,
                   ref_out.data() + q0 * Hq * D, Sq, Sk, Hq, Hkv, D, sh.scale,
                   sh.causal ? ref::causal_mask(Sq, Sk) : ref::full_mask(), lse_hs.data());
    for (int i = 0; i < Sq; ++i)
      for (int h = 0; h < Hq; ++h) ref_lse[(q0 + i) * Hq + h] = lse_hs[size_t(h) * Sq + i];
    q0 += Sq;
    kv0 += Sk;
  }
  return Verdict{compare(got_out, ref_out), compare(got_lse, ref_lse)};
}

}  // namespace llmi::cp
