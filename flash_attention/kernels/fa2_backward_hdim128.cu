// FA2 tensor-core backward instantiations for head dim 128 (see fa2_backward.cuh).
#include "fa2_backward.cuh"

namespace flash {
template int fa2_backward_slots<128>(llmi::DType);
template void run_fa2_backward_mma<128>(Fa2BwdParams, llmi::DType, cudaStream_t);
}  // namespace flash
