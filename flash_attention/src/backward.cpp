// Host entry points of the backward passes: prologue (D_i, dQ accumulator), the main kernel,
// epilogue (dtype conversion, GQA group sums). See kernels/backward_launch.h.
#include <algorithm>

#include "../kernels/backward_launch.h"
#include "flash_attention/attention.h"
#include "llmi/check.h"

namespace flash {

namespace {
void check_args(const BackwardArgs& a) {
  LLMI_REQUIRE(a.fwd.q && a.fwd.k && a.fwd.v && a.fwd.out && a.fwd.lse && a.dout && a.dq &&
                   a.dk && a.dv && a.fwd.cu_seqlens_q && a.fwd.cu_seqlens_k,
               "backward: q, k, v, out, lse, dout, dq, dk, dv and cu_seqlens must be non-null");
}
}  // namespace

void fa1_backward(const Problem& p, const BackwardArgs& a, Workspace& ws, cudaStream_t stream) {
  validate(p);
  check_args(a);
  const BwdScratch s = backward_prologue(p, a, /*dkv_per_head=*/true, 0, ws, stream);
  run_backward_tiles(p, a, s, /*parallel_over_keys=*/false, stream);
  backward_epilogue(p, a, s, stream);
}

namespace {
// Stream-K (kernels/stream_k.h) when every key block is equally long: no causal mask and one
// length for all sequences, queries and keys each.
StreamKSchedule fa2_stream_k(const Problem& p, int key_blocks, int min_rows) {
  for (int b = 1; b < p.batch(); ++b)
    if (p.seqlen_q(b) != p.seqlen_q(0) || p.seqlen_k(b) != p.seqlen_k(0)) return {};
  if (p.causal || p.batch() == 0 || p.seqlen_k(0) == 0 || p.seqlen_q(0) < min_rows) return {};
  const int block_m = fa2_bwd_block_m(p.head_dim);
  const int slots =
      p.head_dim == 64 ? fa2_backward_slots<64>(p.dtype) : fa2_backward_slots<128>(p.dtype);
  return stream_k_schedule(key_blocks * p.heads_q * p.batch(),
                           (p.seqlen_q(0) + block_m - 1) / block_m, slots);
}
}  // namespace

void fa2_backward(const Problem& p, const BackwardArgs& a, Workspace& ws, cudaStream_t stream) {
  // A split block runs one more piece than a whole-tile block, each with its own K, V load and
  // pipeline start, which short tiles do not earn back (H200, 2026-12-02, with 2b9562d's split
  // part of one to two waves: at 512 query rows d = 128 lost 1.7% and d = 64 gained nothing;
  // at 1024 d = 64 gained 1.8% and d = 128 broke even; from 2048 both gain. With eb38964's
  // smaller split part d = 128 gained 1.2% at 1024; 512 was not measured again).
  fa2_backward_stream_k_from(p, a, ws, /*min_rows=*/1024, stream);
}

void fa2_backward_stream_k_from(const Problem& p, const BackwardArgs& a, Workspace& ws,
                                int min_rows, cudaStream_t stream) {
  validate(p);
  check_args(a);
  // The fp32 tile kernel (d = 256) always writes per query head; the tensor-core kernel only
  // under GQA.
  const bool tiles = p.head_dim == 256;
  const int key_blocks = std::max(1, (p.max_seqlen_k() + kFa2BwdBlockN - 1) / kFa2BwdBlockN);
  const StreamKSchedule stream_k =
      tiles ? StreamKSchedule{} : fa2_stream_k(p, key_blocks, min_rows);
  const BwdScratch s =
      backward_prologue(p, a, tiles || p.group() > 1,
                        size_t(stream_k.blocks) * fa2_bwd_partial_floats(p.head_dim), ws, stream);
  if (tiles) {
    // Two 16 x 256 fp32 accumulators (dK, dV) per warp exceed the register file: d = 256 runs
    // FA2's parallelisation on the fp32 tile kernel instead.
    run_backward_tiles(p, a, s, /*parallel_over_keys=*/true, stream);
  } else {
    const Fa2BwdParams mp{a.fwd.q, a.fwd.k, a.fwd.v, a.dout, a.fwd.lse, s.delta,
                          a.fwd.cu_seqlens_q, a.fwd.cu_seqlens_k, s.dq_acc, s.dk_head, s.dv_head,
                          a.dk, a.dv, p.total_q(), p.heads_q, p.heads_kv, p.group(), key_blocks,
                          p.batch(), /*lpt_section, by the launcher=*/0, stream_k, s.dkv_partial,
                          stream_k.blocks > 0 ? ws.counters(size_t(stream_k.blocks)) : nullptr,
                          p.scale(), p.scale() * 1.4426950408889634f, p.causal};
    if (p.head_dim == 64)
      run_fa2_backward_mma<64>(mp, p.dtype, stream);
    else
      run_fa2_backward_mma<128>(mp, p.dtype, stream);
  }
  backward_epilogue(p, a, s, stream);
}

}  // namespace flash
