// Random inputs for one attention Problem on the device, and the checks every kernel's output
// goes through (shared by the GPU tests and the benchmark's verify-before-timing step).
//
// The criterion is FlashAttention's (tests/test_flash_attn.py, hopper/test_flash_attn.py):
//   max|kernel - fp64 reference| <= factor * max|naive - fp64 reference| + slack
// where "naive" is the same attention computed the plain way with every stored intermediate
// rounded to the kernel's dtype (reference.h), factor = 2 for the output, 3 for gradients, and
// slack = FA3's rounding noise of one add. NaN/Inf or an unwritten (poisoned) element fail.
#pragma once
#include <string>
#include <vector>

#include "flash_attention/attention.h"
#include "flash_attention/reference.h"
#include "llmi/compare.h"
#include "llmi/device_buffer.h"
#include "llmi/tensor.h"

namespace flash::test {

struct DeviceCase {
  Problem p;
  llmi::Tensor q, k, v, dout;              // device, in p.dtype
  llmi::DeviceBuffer<int> cu_q, cu_k;      // device copies of the offsets
  DeviceCase(const Problem& problem, uint64_t seed);
  ForwardArgs args(llmi::Tensor& out, llmi::DeviceBuffer<float>* lse) const;
  // The backward's arguments: its forward's out and lse, this case's dout, gradients into dq/dk/dv.
  BackwardArgs backward_args(llmi::Tensor& out, llmi::DeviceBuffer<float>* lse, llmi::Tensor& dq,
                             llmi::Tensor& dk, llmi::Tensor& dv) const;
};

struct Check {
  std::string what;
  double err = 0, naive_err = 0, slack = 0, factor = 2;
  llmi::Comparison cmp;   // relative L2 etc. against fp64
  size_t poisoned = 0;
  bool ok() const;
  std::string str() const;
};

// Reference forward (fp64 and naive) of a case, computed once and reused.
struct ForwardRef {
  std::vector<double> out, lse, naive_out, naive_lse;
};
ForwardRef reference_forward(const DeviceCase& c);
Check check_output(const DeviceCase& c, const ForwardRef& ref, const llmi::Tensor& out);
// Compares the kernel's lse with the reference by max |diff| / (1 + |ref|) (-inf must match
// -inf): at most 1e-3 for kernels whose scores stay in fp32 (FA1, FA2, decode). A kernel that
// stores S in its dtype (the standard baseline) carries that rounding into its lse: for it the
// bound is FlashAttention's 2x the naive implementation's lse error, + 1e-3.
Check check_lse(const ForwardRef& ref, const llmi::DeviceBuffer<float>& lse,
                bool scores_in_dtype = false);

struct BackwardRef {
  std::vector<double> dq, dk, dv, naive_dq, naive_dk, naive_dv;
};
// Gradients of sum(out * dout) at the fp64 output (exact) and at the naive output (naive).
BackwardRef reference_backward(const DeviceCase& c, const ForwardRef& fwd);
std::vector<Check> check_gradients(const DeviceCase& c, const BackwardRef& ref,
                                   const llmi::Tensor& dq, const llmi::Tensor& dk,
                                   const llmi::Tensor& dv);

}  // namespace flash::test
