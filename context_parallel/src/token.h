// Token: which sequence and position one row of a rank's Q or KV buffer holds.
//
// Every rank knows the whole sharding plan (it is a pure function of the batch, the cache
// placement and N), so a buffer that arrives from rank s in a ring step is described by the
// plan's token list for s: no metadata travels with the data (paper §3.5, Alg. 2/3).
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define CP_HD __host__ __device__ __forceinline__
#else
#define CP_HD inline
#endif

namespace llmi::cp {

struct Token {
  int32_t seq = -1;  // index in the batch; < 0 marks a padding slot (messages are equal-sized)
  int32_t pos = -1;  // absolute position in its sequence (cached tokens first, then new ones)

  CP_HD bool is_pad() const { return seq < 0; }
  friend CP_HD bool operator==(Token a, Token b) { return a.seq == b.seq && a.pos == b.pos; }
  friend CP_HD bool operator!=(Token a, Token b) { return !(a == b); }
};

constexpr Token kPad{-1, -1};

// The attention mask of every block: a query sees keys of its own sequence, and under causal
// masking only those at or before its own position. Padding sees nothing and is never seen.
CP_HD bool visible(Token q, Token k, bool causal) {
  return !q.is_pad() && q.seq == k.seq && (!causal || k.pos <= q.pos);
}

}  // namespace llmi::cp
