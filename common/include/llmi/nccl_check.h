// LLMI_NCCL_CHECK: like LLMI_CUDA_CHECK, for NCCL calls; names the rank where it is known.
#pragma once
#include <nccl.h>

#include "llmi/check.h"

#define LLMI_NCCL_CHECK(expr)                                                               \
  do {                                                                                      \
    ncclResult_t llmi_nr_ = (expr);                                                         \
    if (llmi_nr_ != ncclSuccess)                                                            \
      ::llmi::detail::fail(#expr,                                                           \
                           std::string(ncclGetErrorString(llmi_nr_)) + " / " +              \
                               ncclGetLastError(nullptr),                                   \
                           __FILE__, __LINE__);                                             \
  } while (0)
