// CpuEngine: the compute side of the ring on the host (what CI runs): the CPU attention block,
// the LSE merge, and host buffers. The GPU engine (kernels/) offers the same members, so
// ring_attention.h is written once for both.
//
//   Elem: element type of Q, K, V (what the ring sends in pass-KV / pass-Q)
//   Acc:  type of partial outputs and LSEs (merged in it, sent in pass-Q's all-to-all)
#pragma once
#include <limits>
#include <vector>

#include "cpu_attention_block.h"
#include "lse_merge.h"
#include "sharding.h"

namespace llmi::cp {

template <typename T, typename AccT>
class CpuEngine {
 public:
  using Elem = T;
  using Acc = AccT;
  template <typename U>
  using Buffer = std::vector<U>;

  explicit CpuEngine(const AttnShape& shape) : shape_(shape) { shape_.validate(); }
  const AttnShape& shape() const { return shape_; }

  template <typename U>
  Buffer<U> alloc(size_t n) const {
    return Buffer<U>(n);
  }

  // Moving data in and out (tests, bench): values rounded to Elem; outputs read back as double.
  Buffer<T> from_host(const std::vector<double>& v) const { return Buffer<T>(v.begin(), v.end()); }
  std::vector<double> to_host(const Buffer<Acc>& b) const { return std::vector<double>(b.begin(), b.end()); }
  // An output buffer filled with NaN, so rows the ring never writes cannot pass a check.
  Buffer<Acc> poisoned(size_t n) const { return Buffer<Acc>(n, std::numeric_limits<Acc>::quiet_NaN()); }

  // Token lists in the engine's memory: on the host they are the plan's own.
  struct Tokens {
    const CpPlan* plan;
    const Token* q(int r) const { return plan->shard[r].q.data(); }
    const Token* kv(int r) const { return plan->shard[r].kv.data(); }
  };
  Tokens upload(const CpPlan& plan) const { return Tokens{&plan}; }

  // Partial attention of Lq queries against the KV block kv [2, Lkv, Hkv, D] (K, then V).
  void attend(const Token* q_tok, const T* q, int Lq, const Token* kv_tok, const T* kv, int Lkv,
              Acc* out, Acc* lse) const {
    const size_t half = size_t(Lkv) * shape_.kv_heads * shape_.head_dim;
    attend_block<T, Acc>(shape_, q_tok, q, Lq, kv_tok, kv, kv + half, Lkv, out, lse);
  }

  void merge(int S, size_t rows, const Acc* outs, const Acc* lses, size_t stride, Acc* out,
             Acc* lse) const {
    merge_partials<Acc>(S, rows, shape_.head_dim, outs, lses, stride, out, lse);
  }

  void synchronize() const {}

 private:
  AttnShape shape_;
};

}  // namespace llmi::cp
