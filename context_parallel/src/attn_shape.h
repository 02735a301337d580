// The attention problem one rank solves, shared by the CPU block, the GPU block and the ring.
#pragma once
#include "llmi/check.h"

namespace llmi::cp {

struct AttnShape {
  int q_heads = 0;      // Hq
  int kv_heads = 0;     // Hkv (Hq % Hkv == 0)
  int head_dim = 0;     // D
  double scale = 0;     // softmax scale, usually 1/sqrt(D)
  bool causal = true;

  void validate() const {
    LLMI_REQUIRE(q_heads > 0 && kv_heads > 0 && head_dim > 0,
                 "attention shape needs positive heads and head dim (Hq=" << q_heads << ", Hkv="
                     << kv_heads << ", D=" << head_dim << ")");
    LLMI_REQUIRE(q_heads % kv_heads == 0,
                 "query heads (" << q_heads << ") must be a multiple of kv heads (" << kv_heads << ")");
  }
};

}  // namespace llmi::cp
