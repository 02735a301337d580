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
  const BwdScratch s = backward_prologue(p, a, /*dkv_per_head=*/true, ws, stream);
  run_backward_tiles(p, a, s, /*parallel_over_keys=*/false, stream);
  backward_epilogue(p, a, s, stream);
}

void fa2_backward(const Problem& p, const BackwardArgs& a, Workspace& ws, cudaStream_t stream) {
  validate(p);
  check_args(a);
  // The fp32 tile kernel (d = 256) always writes per query head; the tensor-core kernel only
  // under GQA.
  const bool tiles = p.head_dim == 256;
  const BwdScratch s = backward_prologue(p, a, tiles || p.group() > 1, ws, stream);
  if (tiles) {
    // Two 16 x 256 fp32 accumulators (dK, dV) per warp exceed the register file: d = 256 runs
    // FA2's parallelisation on the fp32 tile kernel instead.
    run_backward_tiles(p, a, s, /*parallel_over_keys=*/true, stream);
  } else {
    const Fa2BwdParams mp{a.fwd.q, a.fwd.k, a.fwd.v, a.dout, a.fwd.lse, s.delta,
                          a.fwd.cu_seqlens_q, a.fwd.cu_seqlens_k, s.dq_acc, s.dk_head, s.dv_head,
                          a.dk, a.dv, p.total_q(), p.heads_q, p.heads_kv, p.group(),
                          std::max(1, (p.max_seqlen_k() + kFa2BwdBlockN - 1) / kFa2BwdBlockN),
                          p.batch(), /*lpt_section, by the launcher=*/0, p.scale(),
                          p.scale() * 1.4426950408889634f, p.causal};
    if (p.head_dim == 64)
      run_fa2_backward_mma<64>(mp, p.dtype, stream);
    else
      run_fa2_backward_mma<128>(mp, p.dtype, stream);
  }
  backward_epilogue(p, a, s, stream);
}

}  // namespace flash
