// Fills the fields every forward kernel's parameter block shares (ForwardKernelParams) from a
// validated Problem and its ForwardArgs.
#pragma once
#include "../kernels/forward_kernel_params.h"
#include "flash_attention/attention.h"
#include "llmi/check.h"

namespace flash {

constexpr float kLog2e = 1.4426950408889634f;

inline void fill_forward_params(ForwardKernelParams& p, const Problem& pr, const ForwardArgs& a,
                                const char* who) {
  LLMI_REQUIRE(a.q && a.k && a.v && a.out && a.cu_seqlens_q && a.cu_seqlens_k,
               who << ": q, k, v, out and both cu_seqlens must be non-null");
  p.q = a.q;
  p.k = a.k;
  p.v = a.v;
  p.cu_seqlens_q = a.cu_seqlens_q;
  p.cu_seqlens_k = a.cu_seqlens_k;
  p.out = a.out;
  p.lse = a.lse;
  p.total_q = pr.total_q();
  p.heads_q = pr.heads_q;
  p.heads_kv = pr.heads_kv;
  p.group = pr.group();
  p.scale_log2 = pr.scale() * kLog2e;
  p.causal = pr.causal;
}

}  // namespace flash
