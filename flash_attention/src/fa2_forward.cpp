// Host entry points of the FA2 forward kernel: prefill (fa2_forward) and split-KV decode
// (flash_decode). They validate the Problem, fill Fa2FwdParams and pick the instantiation.
#include <algorithm>
#include <cmath>

#include <cuda_runtime.h>

#include "../kernels/fa2_forward_launch.h"
#include "flash_attention/attention.h"
#include "flash_attention/split_kv.h"
#include "llmi/check.h"

namespace flash {

namespace {
constexpr float kLog2e = 1.4426950408889634f;

void run_hdim(const Problem& pr, const Fa2FwdParams& p, bool decode_tile, int grid_y,
              cudaStream_t stream) {
  switch (pr.head_dim) {
    case 64: return run_fa2_forward_hdim<64>(p, pr.dtype, decode_tile, grid_y, pr.batch(), stream);
    case 128: return run_fa2_forward_hdim<128>(p, pr.dtype, decode_tile, grid_y, pr.batch(), stream);
    case 256: return run_fa2_forward_hdim<256>(p, pr.dtype, decode_tile, grid_y, pr.batch(), stream);
  }
  LLMI_REQUIRE(false, "head dim " << pr.head_dim << " is not supported (64, 128, 256)");
}

Fa2FwdParams make_params(const Problem& pr, const ForwardArgs& a) {
  LLMI_REQUIRE(a.q && a.k && a.v && a.out && a.cu_seqlens_q && a.cu_seqlens_k,
               "fa2: q, k, v, out and both cu_seqlens must be non-null");
  Fa2FwdParams p{};
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
  p.num_splits = 1;
  return p;
}
}  // namespace

void* Workspace::get(size_t bytes) {
  if (bytes > buf_.bytes()) buf_ = llmi::DeviceBuffer<unsigned char>(bytes);
  return buf_.data();
}

void fa2_forward(const Problem& pr, const ForwardArgs& a, cudaStream_t stream) {
  validate(pr);
  Fa2FwdParams p = make_params(pr, a);
  const TileShape tile = fa2_prefill_tile(pr.head_dim);
  p.pack_gqa = false;
  p.num_m_blocks = std::max(1, (pr.max_seqlen_q() + tile.block_m - 1) / tile.block_m);
  if (pr.total_q() == 0) return;
  run_hdim(pr, p, /*decode_tile=*/false, pr.heads_q, stream);
}

void flash_decode(const Problem& pr, const ForwardArgs& a, Workspace& ws, int num_splits,
                  cudaStream_t stream) {
  validate(pr);
  LLMI_REQUIRE(num_splits >= 0, "num_splits must be >= 0 (0 = heuristic), got " << num_splits);
  Fa2FwdParams p = make_params(pr, a);
  const TileShape tile = fa2_decode_tile(pr.head_dim);
  // PackGQA: the group's query heads become rows, so rows = tokens x group.
  p.pack_gqa = true;
  const int rows = pr.max_seqlen_q() * pr.group();
  p.num_m_blocks = std::max(1, (rows + tile.block_m - 1) / tile.block_m);
  if (pr.total_q() == 0) return;
  const int key_blocks = std::max(1, (pr.max_seqlen_k() + tile.block_n - 1) / tile.block_n);
  if (num_splits == 0) {
    const int smem = (tile.block_m + 4 * tile.block_n) * pr.head_dim * 2;
    const int per_sm = std::max(1, (227 * 1024) / smem);
    // cudaDeviceGetAttribute, not cudaGetDeviceProperties: the latter costs ~1 ms per call,
    // which showed up as a 1 ms floor on every decode step.
    int device = 0, sms = 0;
    LLMI_CUDA_CHECK(cudaGetDevice(&device));
    LLMI_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    num_splits = choose_num_splits(pr.batch() * pr.heads_kv * p.num_m_blocks, std::max(1, sms) * per_sm,
                                   key_blocks);
  }
  p.num_splits = std::min(num_splits, key_blocks);
  if (p.num_splits == 1) {
    run_hdim(pr, p, /*decode_tile=*/true, pr.heads_kv, stream);
    return;
  }
  const size_t rows_total = size_t(pr.total_q()) * pr.heads_q;
  float* partial = static_cast<float*>(
      ws.get(sizeof(float) * size_t(p.num_splits) * rows_total * (pr.head_dim + 1)));
  p.out_partial = partial;
  p.lse_partial = partial + size_t(p.num_splits) * rows_total * pr.head_dim;
  run_hdim(pr, p, /*decode_tile=*/true, pr.heads_kv, stream);
  split_kv_combine(p.out_partial, p.lse_partial, p.num_splits, pr.total_q(), pr.heads_q,
                   pr.head_dim, pr.dtype, a.out, a.lse, stream);
}

}  // namespace flash
