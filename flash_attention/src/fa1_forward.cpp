// Host entry point of the FA1 forward (kernels/fa1_forward.cu): validates the Problem and hands
// the kernel Algorithm 1's running O, l and m in the workspace.
#include "../kernels/fa1_forward_launch.h"
#include "flash_attention/attention.h"
#include "forward_params.h"
#include "llmi/check.h"

namespace flash {

void fa1_forward(const Problem& pr, const ForwardArgs& a, Workspace& ws, cudaStream_t stream) {
  validate(pr);
  Fa1FwdParams p{};
  fill_forward_params(p, pr, a, "fa1_forward");
  if (pr.total_q() == 0) return;
  const size_t rows = size_t(pr.total_q()) * pr.heads_q;
  float* scratch = static_cast<float*>(ws.get(sizeof(float) * rows * (pr.head_dim + 2)));
  p.o_acc = scratch;
  p.l = scratch + rows * pr.head_dim;
  p.m = scratch + rows * (pr.head_dim + 1);
  p.d = pr.head_dim;
  p.scale = pr.scale();
  run_fa1_forward(p, pr.dtype, pr.batch(), stream);
}

}  // namespace flash
