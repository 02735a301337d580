// Host-side view of the FA1 forward kernel (fa1_forward.cu): its parameters and launcher.
#pragma once
#include <cuda_runtime.h>

#include "forward_kernel_params.h"
#include "llmi/dtype.h"

namespace flash {

// The forward kernels' common fields, plus Algorithm 1's running state, which lives in HBM.
struct Fa1FwdParams : ForwardKernelParams {
  float* o_acc;  // [total_q, Hq, D] fp32: O of Alg. 1, kept in HBM between steps
  float* l;      // [Hq, total_q]: running row sums l
  float* m;      // [Hq, total_q]: running row maxima m
  int d;
  float scale;   // the softmax scale itself: Alg. 1 exponentiates base e (scale_log2 is unused)
};

// Grid (heads_q, batch): FA1 parallelises over batch and heads only.
void run_fa1_forward(const Fa1FwdParams& p, llmi::DType dtype, int batch, cudaStream_t stream);

}  // namespace flash
