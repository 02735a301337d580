// GpuEngine: the compute side of the ring on one GPU (bf16 Q/K/V, fp32 partials and merge), with
// the same members as CpuEngine so ring_attention.h drives both. All work goes to one compute
// stream; the NCCL communicator orders its own stream against it with events.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <vector>

#include "../src/attn_shape.h"
#include "../src/sharding.h"
#include "attention_block.cuh"
#include "llmi/device_buffer.h"

namespace llmi::cp {

class GpuEngine {
 public:
  using Elem = __nv_bfloat16;
  using Acc = float;
  template <typename U>
  using Buffer = DeviceBuffer<U>;

  GpuEngine(const AttnShape& shape, cudaStream_t stream) : shape_(shape), stream_(stream) {
    shape_.validate();
    LLMI_REQUIRE(shape_.head_dim <= gpu::kMaxHeadDim,
                 "GPU attention block supports head dim up to " << gpu::kMaxHeadDim << ", got " << shape_.head_dim);
  }
  const AttnShape& shape() const { return shape_; }
  cudaStream_t stream() const { return stream_; }

  template <typename U>
  Buffer<U> alloc(size_t n) const {
    Buffer<U> b(n);
    if (n) LLMI_CUDA_CHECK(cudaMemsetAsync(b.data(), 0, b.bytes(), stream_));
    return b;
  }
  Buffer<Elem> from_host(const std::vector<double>& v) const {
    std::vector<Elem> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = __float2bfloat16(float(v[i]));
    Buffer<Elem> b(h.size());
    b.copy_from_host(h.data(), h.size(), stream_);
    return b;
  }
  std::vector<double> to_host(const Buffer<Acc>& b) const {
    const std::vector<float> h = b.to_host(stream_);
    return std::vector<double>(h.begin(), h.end());
  }
  Buffer<Acc> poisoned(size_t n) const {
    Buffer<Acc> b(n);
    b.poison(0xFF, stream_);  // all-ones bytes are NaN in fp32
    return b;
  }

  // Every rank's token lists in device memory, uploaded once per plan.
  struct Tokens {
    DeviceBuffer<Token> q_all, kv_all;  // [ranks, Lq], [ranks, Lkv]
    size_t Lq = 0, Lkv = 0;
    const Token* q(int r) const { return q_all.data() + r * Lq; }
    const Token* kv(int r) const { return kv_all.data() + r * Lkv; }
  };
  Tokens upload(const CpPlan& plan) const {
    Tokens t;
    t.Lq = size_t(plan.q_len());
    t.Lkv = size_t(plan.kv_len());
    std::vector<Token> q, kv;
    for (const RankShard& s : plan.shard) {
      q.insert(q.end(), s.q.begin(), s.q.end());
      kv.insert(kv.end(), s.kv.begin(), s.kv.end());
    }
    t.q_all = DeviceBuffer<Token>(q.size());
    t.kv_all = DeviceBuffer<Token>(kv.size());
    if (!q.empty()) t.q_all.copy_from_host(q.data(), q.size(), stream_);
    if (!kv.empty()) t.kv_all.copy_from_host(kv.data(), kv.size(), stream_);
    return t;
  }

  // kv [2, Lkv, Hkv, D]: K then V.
  void attend(const Token* q_tok, const Elem* q, int Lq, const Token* kv_tok, const Elem* kv, int Lkv,
              Acc* out, Acc* lse) const {
    const size_t half = size_t(Lkv) * shape_.kv_heads * shape_.head_dim;
    gpu::attention_block(q_tok, q, Lq, kv_tok, kv, kv + half, Lkv, shape_.q_heads, shape_.kv_heads,
                         shape_.head_dim, float(shape_.scale), shape_.causal, out, lse, stream_);
  }

  void merge(int S, size_t rows, const Acc* outs, const Acc* lses, size_t stride, Acc* out, Acc* lse) const {
    gpu::merge_partials(S, rows, shape_.head_dim, outs, lses, stride, out, lse, stream_);
  }

  void synchronize() const { LLMI_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  AttnShape shape_;
  cudaStream_t stream_;
};

}  // namespace llmi::cp
