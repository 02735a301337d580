// Instantiates the FA2 forward kernel for one head dim (bf16 and fp16); included by
// fa2_forward_hdim{64,128,256}.cu.
#pragma once
#include "element_type.h"
#include "fa2_forward.cuh"
#include "fa2_forward_launch.h"
#include "llmi/check.h"

namespace flash {

template <int kD>
void run_fa2_forward_hdim(const Fa2FwdParams& p, llmi::DType dtype, cudaStream_t stream) {
  constexpr TileShape t = fa2_prefill_tile(kD);
  with_element_type(dtype, [&](auto type) {
    launch_fa2_forward<Fa2FwdTraits<decltype(type), kD, t.block_m, t.block_n, t.warps>>(p, stream);
  });
}

}  // namespace flash
