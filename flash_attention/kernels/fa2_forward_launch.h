// Host-side view of the FA2 forward kernel's instantiations: their tile shapes and the entry
// point each fa2_forward_hdim*.cu file defines (one file per head dim so they build in parallel).
#pragma once
#include <cuda_runtime.h>

#include "forward_kernel_params.h"
#include "llmi/dtype.h"

namespace flash {

struct Fa2FwdParams : ForwardKernelParams {
  int num_m_blocks;  // query-row blocks of the longest sequence
  int batch;         // sequences
  int lpt_section;   // (sequence, head) pairs per section of the dispatch order (block_order.h)
};

struct TileShape {
  int block_m, block_n, warps;
};
// Prefill tiles as FA2 picks them on sm80/sm90 (flash_fwd_launch_template.h): 128 x 64 with 4
// warps (32 query rows per warp) for d = 64 and 128; 64 x 64 for d = 256, whose O accumulator
// alone takes 128 registers per thread.
constexpr TileShape fa2_prefill_tile(int head_dim) {
  return head_dim == 256 ? TileShape{64, 64, 4} : TileShape{128, 64, 4};
}

// Launches num_m_blocks * heads_q * batch blocks in the order of block_order.h.
template <int kD>
void run_fa2_forward_hdim(const Fa2FwdParams& p, llmi::DType dtype, cudaStream_t stream);

}  // namespace flash
