// Host entry point of the FA2 forward kernel: validates the Problem, fills Fa2FwdParams and picks
// the instantiation.
#include <algorithm>

#include <cuda_runtime.h>

#include "../kernels/fa2_forward_launch.h"
#include "flash_attention/attention.h"
#include "forward_params.h"
#include "llmi/check.h"

namespace flash {

namespace {

void run_hdim(const Problem& pr, const Fa2FwdParams& p, cudaStream_t stream) {
  switch (pr.head_dim) {
    case 64: return run_fa2_forward_hdim<64>(p, pr.dtype, stream);
    case 128: return run_fa2_forward_hdim<128>(p, pr.dtype, stream);
    case 256: return run_fa2_forward_hdim<256>(p, pr.dtype, stream);
  }
  LLMI_REQUIRE(false, "head dim " << pr.head_dim << " is not supported (64, 128, 256)");
}

Fa2FwdParams make_params(const Problem& pr, const ForwardArgs& a) {
  Fa2FwdParams p{};
  fill_forward_params(p, pr, a, "fa2");
  return p;
}
}  // namespace

void* Workspace::get(size_t bytes) {
  if (bytes > buf_.bytes()) buf_ = llmi::DeviceBuffer<unsigned char>(bytes);
  return buf_.data();
}

int* Workspace::counters(size_t n) {
  if (n > counters_.size()) {
    counters_ = llmi::DeviceBuffer<int>(n);
    LLMI_CUDA_CHECK(cudaMemset(counters_.data(), 0, counters_.bytes()));
    LLMI_CUDA_CHECK(cudaDeviceSynchronize());  // zero before a kernel on any stream counts
  }
  return counters_.data();
}

void fa2_forward(const Problem& pr, const ForwardArgs& a, cudaStream_t stream) {
  validate(pr);
  Fa2FwdParams p = make_params(pr, a);
  const TileShape tile = fa2_prefill_tile(pr.head_dim);
  p.num_m_blocks = std::max(1, (pr.max_seqlen_q() + tile.block_m - 1) / tile.block_m);
  p.batch = pr.batch();
  if (pr.total_q() == 0) return;
  run_hdim(pr, p, stream);
}

}  // namespace flash
