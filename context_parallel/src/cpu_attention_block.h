// The CPU attention block: exact attention of a block of queries against a block of keys and
// values, returning the output *and* its log-sum-exp, which is what lets the ring merge partial
// results from different KV shards (paper App. B). The GPU block in kernels/ computes the same.
//
// Masking comes from the token lists (token.h): same sequence, and causal by absolute position,
// so one routine serves full and partial prefill, fused variable-length batches and decode.
// GQA: query head h reads KV head h / (Hq / Hkv); KV is never expanded to Hq heads.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "attn_shape.h"
#include "token.h"

namespace llmi::cp {

// Maximal runs of KV rows of one sequence, so a query scans only its own sequence's rows.
struct KvSegment {
  int seq, begin, end;
};
inline std::vector<KvSegment> kv_segments(const Token* kv, int n) {
  std::vector<KvSegment> segs;
  for (int j = 0; j < n; ++j) {
    if (kv[j].is_pad()) continue;
    if (!segs.empty() && segs.back().seq == kv[j].seq && segs.back().end == j)
      ++segs.back().end;
    else
      segs.push_back({kv[j].seq, j, j + 1});
  }
  return segs;
}

// Number of (query, key) pairs the mask lets through: attention FLOPs = 4 * Hq * D * pairs.
inline double visible_pairs(const Token* q, int Lq, const Token* kv, int Lkv, bool causal) {
  double n = 0;
  for (int i = 0; i < Lq; ++i)
    for (int j = 0; j < Lkv; ++j) n += visible(q[i], kv[j], causal);
  return n;
}

// out [Lq, Hq, D], lse [Lq, Hq] (natural log; -inf, with a zero output row, where the query
// sees no key: padding, or a shard holding none of its sequence's visible keys).
// Accumulates in Acc (double or float) whatever the input precision T.
template <typename T, typename Acc>
void attend_block(const AttnShape& sh, const Token* q_tok, const T* q, int Lq,  // q [Lq, Hq, D]
                  const Token* kv_tok, const T* k, const T* v, int Lkv,         // k, v [Lkv, Hkv, D]
                  Acc* out, Acc* lse) {
  sh.validate();
  const int Hq = sh.q_heads, Hkv = sh.kv_heads, D = sh.head_dim, group = Hq / Hkv;
  const Acc neg_inf = -std::numeric_limits<Acc>::infinity();
  const std::vector<KvSegment> segs = kv_segments(kv_tok, Lkv);
  std::vector<int> keys;  // the visible key rows of the current query
  std::vector<Acc> p;
  for (int i = 0; i < Lq; ++i) {
    keys.clear();
    for (const KvSegment& s : segs)
      if (s.seq == q_tok[i].seq)
        for (int j = s.begin; j < s.end; ++j)
          if (visible(q_tok[i], kv_tok[j], sh.causal)) keys.push_back(j);
    p.resize(keys.size());
    for (int h = 0; h < Hq; ++h) {
      const int kh = h / group;
      const T* qi = q + (size_t(i) * Hq + h) * D;
      Acc* oi = out + (size_t(i) * Hq + h) * D;
      std::fill(oi, oi + D, Acc(0));
      if (keys.empty()) {
        lse[size_t(i) * Hq + h] = neg_inf;
        continue;
      }
      Acc mx = neg_inf;
      for (size_t n = 0; n < keys.size(); ++n) {
        const T* kj = k + (size_t(keys[n]) * Hkv + kh) * D;
        Acc s = 0;
        for (int d = 0; d < D; ++d) s += Acc(qi[d]) * Acc(kj[d]);
        p[n] = s * Acc(sh.scale);
        mx = std::max(mx, p[n]);
      }
      Acc sum = 0;
      for (Acc& x : p) sum += (x = std::exp(x - mx));
      for (size_t n = 0; n < keys.size(); ++n) {
        const T* vj = v + (size_t(keys[n]) * Hkv + kh) * D;
        const Acc w = p[n] / sum;
        for (int d = 0; d < D; ++d) oi[d] += w * Acc(vj[d]);
      }
      lse[size_t(i) * Hq + h] = mx + std::log(sum);
    }
  }
}

}  // namespace llmi::cp
