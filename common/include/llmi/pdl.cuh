// Programmatic dependent launch (Hopper; PTX griddepcontrol, CUDA Programming Guide "Programmatic
// Dependent Launch and Synchronization").
//
// A kernel launched with launch_pdl() may start while the previous kernel in its stream is still
// running: once every block of that predecessor has called pdl_launch_dependents() (or exited),
// this kernel's blocks are scheduled as SMs have room. Until it calls pdl_wait(), which returns
// when the predecessor has completed and its writes are visible, the kernel may only read data
// the predecessor does not write and must write nothing the predecessor reads. The gain is the
// launch and the first loads of a kernel hidden behind its predecessor's tail, which is what a
// chain of short, memory-bound kernels (a decode step) loses most time to.
//
// Without the launch attribute, or on an architecture before sm_90, both calls are no-ops and the
// kernel runs after its predecessor as usual.
#pragma once
#include <cuda_runtime.h>

#include "llmi/check.h"

namespace llmi {

__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Launches kernel<<<grid, block, smem_bytes, stream>>>(args...), with programmatic stream
// serialisation when `pdl` is set, and checks the launch.
template <typename... Params, typename... Args>
void launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem_bytes,
                cudaStream_t stream, bool pdl, Args... args) {
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid, cfg.blockDim = block, cfg.dynamicSmemBytes = smem_bytes, cfg.stream = stream;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = &attr, cfg.numAttrs = pdl ? 1 : 0;
  LLMI_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, Params(args)...));
}

}  // namespace llmi
