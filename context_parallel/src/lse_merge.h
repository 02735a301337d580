// Merging partial attention outputs with their log-sum-exps (paper App. B, Eq. 4):
//
//   O = sum_s O_s * exp(LSE_s - LSE_max) / sum_s exp(LSE_s - LSE_max),  LSE_max = max_s LSE_s
//   LSE = LSE_max + log sum_s exp(LSE_s - LSE_max)
//
// Subtracting the max keeps exp() in range; a partial with LSE = -inf (its shard held no
// visible key) gets weight 0, and a row with no visible key anywhere stays 0 with LSE = -inf.
// Done in fp32 or fp64 (Acc), never in the inputs' bf16: error must not grow with N
// (ring-flash-attention #42).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace llmi::cp {

// S partials of the same rows (rows = tokens * heads): partial s has its output [rows, D] at
// outs + s * stride and its lse [rows] at lses + s * stride (stride in elements, so partials
// may sit in one buffer per source: [S][out | lse], the all-to-all layout of ring_attention.h).
// Writes out [rows, D] and, when lse is not null, the merged lse [rows].
template <typename Acc>
void merge_partials(int S, size_t rows, int D, const Acc* outs, const Acc* lses, size_t stride,
                    Acc* out, Acc* lse = nullptr) {
  const Acc neg_inf = -std::numeric_limits<Acc>::infinity();
  for (size_t r = 0; r < rows; ++r) {
    Acc mx = neg_inf;
    for (int s = 0; s < S; ++s) mx = std::max(mx, lses[s * stride + r]);
    Acc* o = out + r * D;
    std::fill(o, o + D, Acc(0));
    if (mx == neg_inf) {
      if (lse) lse[r] = neg_inf;
      continue;
    }
    Acc denom = 0;
    for (int s = 0; s < S; ++s) {
      const Acc w = std::exp(lses[s * stride + r] - mx);
      if (w == Acc(0)) continue;
      denom += w;
      const Acc* os = outs + s * stride + r * D;
      for (int d = 0; d < D; ++d) o[d] += w * os[d];
    }
    for (int d = 0; d < D; ++d) o[d] /= denom;
    if (lse) lse[r] = mx + std::log(denom);
  }
}

}  // namespace llmi::cp
