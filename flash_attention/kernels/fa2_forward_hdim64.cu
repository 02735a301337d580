// FA2 forward instantiations for head dim 64 (see fa2_forward_hdim.cuh).
#include "fa2_forward_hdim.cuh"

namespace flash {
template void run_fa2_forward_hdim<64>(const Fa2FwdParams&, llmi::DType, cudaStream_t);
}  // namespace flash
