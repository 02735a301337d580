// Host-side view of the Flash-Decoding kernel (flash_decode.cu): its parameters, and what the
// split heuristic needs to know about the instantiation a problem runs on.
#pragma once
#include <cuda_runtime.h>

#include "forward_kernel_params.h"
#include "llmi/dtype.h"

namespace flash {

struct DecodeParams : ForwardKernelParams {
  float* out_partial;        // [num_splits, total_q, heads_q, D]  (num_splits > 1)
  float* lse_partial;        // [num_splits, heads_q, total_q]     (num_splits > 1)
  int* tile_counters;        // [batch, heads_kv, num_m_blocks], 0 between calls (num_splits > 1)
  int num_m_blocks;          // 16-row tiles of (token, query head) pairs per kv head
  int num_splits;            // key-range slices per tile, one thread block each
};

// Rows of a decode tile: one m16 mma tile of (token, query head) pairs of one kv head.
constexpr int kDecodeRows = 16;

struct DecodeShape {
  int block_n;        // keys per pipeline stage (one warp's tile)
  int warps;          // warps per block, each streaming its own key tiles
  int slots;          // blocks the GPU runs at once (occupancy.h)
};
// The shape of the instantiation that runs head_dim / dtype (configures it on first use).
DecodeShape flash_decode_shape(int head_dim, llmi::DType dtype);

// Grid (num_m_blocks * num_splits, heads_kv, batch). pdl: launched with programmatic stream
// serialisation (DecodeOptions::overlap_previous_kernel).
void run_flash_decode(const DecodeParams& p, int head_dim, llmi::DType dtype, int batch, bool pdl,
                      cudaStream_t stream);

}  // namespace flash
