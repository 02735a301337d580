// Instantiates the FA2 forward kernel for one head dim (bf16 and fp16); included by
// fa2_forward_hdim{64,128,256}.cu.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "fa2_forward.cuh"
#include "fa2_forward_launch.h"
#include "llmi/check.h"

namespace flash {

template <int kD>
void run_fa2_forward_hdim(const Fa2FwdParams& p, llmi::DType dtype, cudaStream_t stream) {
  constexpr TileShape t = fa2_prefill_tile(kD);
  if (dtype == llmi::DType::BF16)
    launch_fa2_forward<Fa2FwdTraits<__nv_bfloat16, kD, t.block_m, t.block_n, t.warps>>(p, stream);
  else
    launch_fa2_forward<Fa2FwdTraits<__half, kD, t.block_m, t.block_n, t.warps>>(p, stream);
}

}  // namespace flash
