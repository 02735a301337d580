// Instantiates the FA2 forward kernel for one head dim (bf16 and fp16, prefill and decode
// tiles); included by fa2_forward_hdim{64,128,256}.cu.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "fa2_forward.cuh"
#include "fa2_forward_launch.h"
#include "llmi/check.h"

namespace flash {

template <typename T, int kD>
void run_fa2_forward_typed(const Fa2FwdParams& p, bool decode_tile, int grid_y, int batch,
                           cudaStream_t stream) {
  constexpr TileShape pre = fa2_prefill_tile(kD), dec = fa2_decode_tile(kD);
  if (decode_tile)
    launch_fa2_forward<Fa2FwdTraits<T, kD, dec.block_m, dec.block_n, dec.warps>>(p, grid_y, batch,
                                                                               stream);
  else
    launch_fa2_forward<Fa2FwdTraits<T, kD, pre.block_m, pre.block_n, pre.warps>>(p, grid_y, batch,
                                                                               stream);
}

template <int kD>
void run_fa2_forward_hdim(const Fa2FwdParams& p, llmi::DType dtype, bool decode_tile, int grid_y,
                          int batch, cudaStream_t stream) {
  if (dtype == llmi::DType::BF16)
    run_fa2_forward_typed<__nv_bfloat16, kD>(p, decode_tile, grid_y, batch, stream);
  else
    run_fa2_forward_typed<__half, kD>(p, decode_tile, grid_y, batch, stream);
}

}  // namespace flash
