// FA2 tensor-core backward instantiations for head dim 64 (see fa2_backward.cuh).
#include "fa2_backward.cuh"

namespace flash {
template int fa2_backward_slots<64>(llmi::DType);
template void run_fa2_backward_mma<64>(Fa2BwdParams, llmi::DType, cudaStream_t);
}  // namespace flash
