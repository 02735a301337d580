// The host side of every launcher's dtype dispatch: problem.cpp's validate() admits bf16 and
// fp16 only, and each kernel is a template over its 16-bit element type.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "llmi/dtype.h"

namespace flash {

// Calls f with a value of the element type `dtype` names: __nv_bfloat16 for bf16, __half
// otherwise.
template <typename F>
void with_element_type(llmi::DType dtype, F&& f) {
  if (dtype == llmi::DType::BF16)
    f(__nv_bfloat16{});
  else
    f(__half{});
}

}  // namespace flash
