// CPU reference attention, forward and backward, for any Problem (varlen, GQA, causal).
//
// Two uses, one code path:
//   * Precision::exact(): every value kept in fp64 -- the "truth" kernels are measured against.
//   * Precision::naive(dtype): the same math with each stored intermediate (S, P, O, dP, dS, dQ,
//     dK, dV) rounded to bf16/fp16, as a plain PyTorch implementation in that dtype would. Its
//     error against the exact result is the yardstick of FlashAttention's test criterion
//     (tests/test_flash_attn.py): a kernel's error may be at most 2x (forward) or 3x (gradients)
//     the naive implementation's.
// Tensors are host fp64 arrays in the layouts of problem.h.
#pragma once
#include <vector>

#include "flash_attention/problem.h"

namespace flash::ref {

struct Precision {
  bool exact = true;
  llmi::DType dtype = llmi::DType::BF16;
  static Precision fp64() { return {true, llmi::DType::BF16}; }
  static Precision naive(llmi::DType t) { return {false, t}; }
  double operator()(double x) const;  // x, or x rounded to dtype
};

// out [total_q, Hq, D]; lse [Hq, total_q] (-inf for a row that sees no key; its output is 0).
void forward(const Problem& p, const double* q, const double* k, const double* v, double* out,
             double* lse, Precision r = Precision::fp64());

// Gradients of the loss sum(out * dout). out is the forward output (used for D_i = rowsum(dO o O)
// as FlashAttention's backward does). dq [total_q, Hq, D]; dk, dv [total_k, Hkv, D].
void backward(const Problem& p, const double* q, const double* k, const double* v,
              const double* out, const double* dout, double* dq, double* dk, double* dv,
              Precision r = Precision::fp64());

// max |a - b|, +inf if either holds a NaN or Inf.
double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b);

// FlashAttention-3's absolute slack (hopper/test_flash_attn.py): twice the rounding error of one
// addition at the scale of the reference, max |((ref + 0.3) - 0.3) - ref| in dtype.
double rounding_slack(const std::vector<double>& ref, llmi::DType dtype);

}  // namespace flash::ref
