// The fields every forward kernel's parameter block starts with (Fa1FwdParams, Fa2FwdParams,
// DecodeParams): the tensors of ForwardArgs, the Problem's shape, and the softmax scale for
// base-2 exponentials.
// Filled on the host by fill_forward_params (src/forward_params.h).
#pragma once

namespace flash {

struct ForwardKernelParams {
  const void* q;             // [total_q, heads_q, D]
  const void* k;             // [total_k, heads_kv, D]
  const void* v;             // [total_k, heads_kv, D]
  const int* cu_seqlens_q;   // [batch + 1]
  const int* cu_seqlens_k;   // [batch + 1]
  void* out;                 // [total_q, heads_q, D]
  float* lse;                // [heads_q, total_q]; may be null
  int total_q;
  int heads_q, heads_kv, group;  // group = heads_q / heads_kv
  float scale_log2;          // softmax scale * log2(e): exponentials are taken base 2
  bool causal;
};

}  // namespace flash
