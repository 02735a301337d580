// Paged decode attention, v1 and v2 (vLLM paper §4.1 eq. 4, §4.3; vLLM's
// paged_attention_v1/v2 kernels), written for bandwidth on H100:
//
// - One CTA per (sequence, kv head[, partition]) computes all G = q_heads / kv_heads query heads
//   of the group, so each K/V byte is read from memory once (GQA).
// - A warp takes a chunk of 8 tokens (never straddling a block: block sizes are multiples of 8):
//   each half-warp covers one token row (16 lanes x 8 dims = head dim 128), so one warp load
//   instruction reads 2 tokens; a chunk is 4 K and 4 V loads per lane. The 4 warps stride over
//   the chunks, each software-pipelined: the next chunk's loads and the block-table entry of
//   the one after are issued before the current chunk's math.
// - Online softmax (running max and sum, base 2) per warp; warps combine through shared memory.
// - v1: one partition covers the whole context and writes the output. v2: each partition writes
//   its normalised partial output and log2-sum-exp; paged_decode_reduce weights them by
//   exp2(lse_p - max lse) (vLLM's paged_attention_v2_reduce_kernel).
// - The block table is read once per chunk (one 4-byte load per warp, two chunks ahead).
#include <algorithm>
#include <cfloat>
#include <string>
#include <type_traits>

#include "kv_vec.cuh"
#include "llmi/check.h"
#include "paged_attention.h"

namespace paged {
namespace {

using namespace detail;

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kVec = 8;                              // dims per lane
constexpr int kLanesPerToken = kHeadDim / kVec;      // 16
constexpr int kTokensPerLoad = 32 / kLanesPerToken;  // 2
constexpr int kChunk = 8;                            // tokens per warp step
constexpr int kLoads = kChunk / kTokensPerLoad;      // 4 K + 4 V loads in flight per lane
constexpr float kLog2e = 1.4426950408889634f;

struct KernelArgs {
  const void* q;            // [num_seqs, q_heads, 128]
  void* out;                // [num_seqs, q_heads, 128]
  const void* k_cache;      // [num_blocks, kv_heads, block_size, 128]
  const void* v_cache;      // [num_blocks, kv_heads, block_size, 128]
  const int32_t* tables;    // [num_seqs, max_blocks]
  const int32_t* lens;      // [num_seqs]
  float* partial_out;       // [num_seqs, q_heads, num_parts, 128]   (v2)
  float* partial_lse;       // [num_seqs, q_heads, num_parts]        (v2, log2 domain)
  int q_heads, kv_heads, block_size, max_blocks, partition_tokens, num_parts;
  float q_mult;             // softmax scale * log2(e) * k_scale, folded into q
  float v_scale;
};

template <typename QT, typename CT, int G, bool kContiguous>
__global__ void __launch_bounds__(kThreads)
paged_decode_kernel(const KernelArgs a) {
  using QE = typename Elem<QT>::type;
  using CE = typename Elem<CT>::type;
  const int kvh = blockIdx.x, seq = blockIdx.y, part = blockIdx.z;
  const int ctx = a.lens[seq];
  const int tok_begin = part * a.partition_tokens;
  if (tok_begin >= ctx) return;  // v2: this sequence is shorter; the reduce skips the partition
  const int tok_end = min(ctx, tok_begin + a.partition_tokens);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int half = lane / kLanesPerToken, dim0 = (lane % kLanesPerToken) * kVec;

  float q[G][kVec];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    const QE* qp = static_cast<const QE*>(a.q) + (size_t(seq) * a.q_heads + kvh * G + g) * kHeadDim + dim0;
    load_float8<QT>(qp, q[g]);
#pragma unroll
    for (int d = 0; d < kVec; ++d) q[g][d] *= a.q_mult;
  }
  float m[G], l[G], acc[G][kVec];
#pragma unroll
  for (int g = 0; g < G; ++g) {
    m[g] = -FLT_MAX;  // finite, so exp2(m_old - m_new) is never NaN
    l[g] = 0;
#pragma unroll
    for (int d = 0; d < kVec; ++d) acc[g][d] = 0;
  }

  const CE* kc = static_cast<const CE*>(a.k_cache);
  const CE* vc = static_cast<const CE*>(a.v_cache);
  const int32_t* table = a.tables + size_t(seq) * a.max_blocks;
  // Physical block holding token c: from the block table, or computed for the contiguous
  // baseline. Nothing is read past the context (the table may end there).
  auto physical = [&](int c) {
    if (c >= tok_end) return 0;
    return kContiguous ? seq * a.max_blocks + c / a.block_size : __ldg(table + c / a.block_size);
  };
  // Loads the kChunk tokens at c (this lane's 8 dims of each) into registers. Tokens past the
  // context are not loaded: their slots may hold anything (NaN included), and 0 * NaN would
  // poison the sum; they become zeros.
  using Raw = typename CT::Raw;
  auto load_chunk = [&](int c, int phys, Raw* kr, Raw* vr) {
    const size_t base = ((size_t(phys) * a.kv_heads + kvh) * a.block_size + c % a.block_size) * kHeadDim + dim0;
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      const int t = i * kTokensPerLoad + half;
      if (c + t < tok_end) {
        kr[i] = *reinterpret_cast<const Raw*>(kc + base + size_t(t) * kHeadDim);
        vr[i] = *reinterpret_cast<const Raw*>(vc + base + size_t(t) * kHeadDim);
      } else {
        kr[i] = Raw{};
        vr[i] = Raw{};
      }
    }
  };

  // Software pipeline, per warp: K/V of chunk n+1 and the block-table entry of chunk n+2 are in
  // flight while chunk n is computed, so neither the table lookup nor the K/V loads sit on the
  // critical path (16 x 16 B per lane outstanding).
  constexpr int kStride = kWarps * kChunk;
  int c = tok_begin + warp * kChunk;
  Raw kr[kLoads], vr[kLoads];
  load_chunk(c, physical(c), kr, vr);
  int phys_next = physical(c + kStride);
  for (; c < tok_end; c += kStride) {
    Raw kn[kLoads], vn[kLoads];
    load_chunk(c + kStride, phys_next, kn, vn);
    phys_next = physical(c + 2 * kStride);
    float s[kLoads][G];
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      float kf[kVec];
      to_float8(kr[i], CT{}, kf);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        float dot = 0;
#pragma unroll
        for (int d = 0; d < kVec; ++d) dot = fmaf(q[g][d], kf[d], dot);
#pragma unroll
        for (int off = kLanesPerToken / 2; off > 0; off /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, off);
        s[i][g] = (c + i * kTokensPerLoad + half < tok_end) ? dot : -INFINITY;
      }
    }
#pragma unroll
    for (int g = 0; g < G; ++g) {
      float cm = s[0][g];
#pragma unroll
      for (int i = 1; i < kLoads; ++i) cm = fmaxf(cm, s[i][g]);
      cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, 16));  // the other half-warp's tokens
      const float m_new = fmaxf(m[g], cm);
      const float alpha = exp2f(m[g] - m_new);
      m[g] = m_new;
      l[g] *= alpha;
#pragma unroll
      for (int d = 0; d < kVec; ++d) acc[g][d] *= alpha;
    }
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      float vf[kVec];
      to_float8(vr[i], CT{}, vf);
#pragma unroll
      for (int g = 0; g < G; ++g) {
        const float p = exp2f(s[i][g] - m[g]);  // 0 for tokens past the context
        l[g] += p;
#pragma unroll
        for (int d = 0; d < kVec; ++d) acc[g][d] = fmaf(p, vf[d], acc[g][d]);
      }
      kr[i] = kn[i];
      vr[i] = vn[i];
    }
  }

  // The two half-warps saw different tokens: add their sums (they share m).
#pragma unroll
  for (int g = 0; g < G; ++g) {
    l[g] += __shfl_xor_sync(0xffffffffu, l[g], 16);
#pragma unroll
    for (int d = 0; d < kVec; ++d) acc[g][d] += __shfl_xor_sync(0xffffffffu, acc[g][d], 16);
  }
  __shared__ float s_m[kWarps][G], s_l[kWarps][G];
  __shared__ float s_acc[kWarps][G][kHeadDim];
  if (lane < kLanesPerToken) {
#pragma unroll
    for (int g = 0; g < G; ++g) {
#pragma unroll
      for (int d = 0; d < kVec; ++d) s_acc[warp][g][dim0 + d] = acc[g][d];
      if (lane == 0) {
        s_m[warp][g] = m[g];
        s_l[warp][g] = l[g];
      }
    }
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < G * kHeadDim; idx += kThreads) {
    const int g = idx / kHeadDim, d = idx % kHeadDim;
    float mx = s_m[0][g];
#pragma unroll
    for (int w = 1; w < kWarps; ++w) mx = fmaxf(mx, s_m[w][g]);
    float sum = 0, o = 0;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float f = exp2f(s_m[w][g] - mx);  // a warp without tokens has l = 0, acc = 0
      sum += s_l[w][g] * f;
      o += s_acc[w][g][d] * f;
    }
    const int qh = kvh * G + g;
    const float val = o / sum * a.v_scale;
    if (a.num_parts == 1) {
      static_cast<QE*>(a.out)[(size_t(seq) * a.q_heads + qh) * kHeadDim + d] = from_float(val, QT{});
    } else {
      const size_t row = (size_t(seq) * a.q_heads + qh) * a.num_parts + part;
      a.partial_out[row * kHeadDim + d] = val;
      if (d == 0) a.partial_lse[row] = mx + log2f(sum);
    }
  }
}

// v2 reduce: out = sum_p w_p * partial_p / sum_p w_p, w_p = exp2(lse_p - max lse).
// Grid: (q_heads, num_seqs); Block: 128 threads, one per output dim.
template <typename QT>
__global__ void __launch_bounds__(kHeadDim)
paged_decode_reduce(const float* partial_out, const float* partial_lse, const int32_t* lens,
                    void* out, int q_heads, int num_parts, int partition_tokens) {
  using QE = typename Elem<QT>::type;
  const int qh = blockIdx.x, seq = blockIdx.y, d = threadIdx.x;
  const int parts = (lens[seq] + partition_tokens - 1) / partition_tokens;
  const size_t row0 = (size_t(seq) * q_heads + qh) * num_parts;
  float mx = -FLT_MAX;
  for (int p = 0; p < parts; ++p) mx = fmaxf(mx, partial_lse[row0 + p]);
  float wsum = 0, o = 0;
  for (int p = 0; p < parts; ++p) {
    const float w = exp2f(partial_lse[row0 + p] - mx);
    wsum += w;
    o += w * partial_out[(row0 + p) * kHeadDim + d];
  }
  static_cast<QE*>(out)[(size_t(seq) * q_heads + qh) * kHeadDim + d] = from_float(o / wsum, QT{});
}

template <typename QT, typename CT, int G, bool kContiguous>
void launch(const KernelArgs& k, int num_seqs, cudaStream_t stream) {
  // Grid: (kv_heads, num_seqs, num_partitions); Block: 4 warps.
  dim3 grid(k.kv_heads, num_seqs, k.num_parts);
  paged_decode_kernel<QT, CT, G, kContiguous><<<grid, kThreads, 0, stream>>>(k);
  LLMI_LAUNCH_CHECK();
  if (k.num_parts > 1) {
    // Grid: (q_heads, num_seqs); Block: 128 threads.
    paged_decode_reduce<QT><<<dim3(k.q_heads, num_seqs), kHeadDim, 0, stream>>>(
        k.partial_out, k.partial_lse, k.lens, k.out, k.q_heads, k.num_parts, k.partition_tokens);
    LLMI_LAUNCH_CHECK();
  }
}

template <typename QT, typename CT>
void dispatch_group(const KernelArgs& k, int group, bool contiguous, int num_seqs, cudaStream_t s) {
  if (contiguous) {
    LLMI_REQUIRE((std::is_same_v<QT, Bf16> && std::is_same_v<CT, Bf16> && group == 4),
                 "the contiguous-layout decode is built only for bf16 with 4 q heads per kv head");
    return launch<Bf16, Bf16, 4, true>(k, num_seqs, s);
  }
  switch (group) {
    case 1: return launch<QT, CT, 1, false>(k, num_seqs, s);
    case 2: return launch<QT, CT, 2, false>(k, num_seqs, s);
    case 4: return launch<QT, CT, 4, false>(k, num_seqs, s);
    case 8: return launch<QT, CT, 8, false>(k, num_seqs, s);
  }
  throw llmi::Error("q heads per kv head = " + std::to_string(group) + " is not supported (1, 2, 4, 8)");
}

int sm_count() {  // cached per device: plan_decode runs on every launch
  static int cached[64] = {};
  int dev = 0;
  LLMI_CUDA_CHECK(cudaGetDevice(&dev));
  if (dev < 64 && cached[dev]) return cached[dev];
  int n = 0;
  LLMI_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev));
  if (dev < 64) cached[dev] = n;
  return n;
}

}  // namespace

DecodePlan plan_decode(const DecodeArgs& a, const KvCache& c) {
  DecodePlan p;
  const int ctas_v1 = a.num_seqs * c.kv_heads;
  int pt = a.partition_tokens;
  if (a.version == DecodeVersion::V1) {
    pt = (a.max_context_len + kChunk - 1) / kChunk * kChunk;
  } else if (pt <= 0) {
    // Partitions of kPreferredPartition tokens keep CTAs short enough to balance across SMs
    // (a long-context v1 CTA leaves a ragged last wave); shrink them (down to kMinPartition)
    // until the grid holds kCtasPerSm CTAs per SM, so a small batch still fills the GPU.
    constexpr int kPreferredPartition = 1024, kMinPartition = 256, kCtasPerSm = 8;
    const int target = kCtasPerSm * sm_count();
    pt = kPreferredPartition;
    const int parts_needed = (target + ctas_v1 - 1) / ctas_v1;
    if ((a.max_context_len + pt - 1) / pt < parts_needed)
      pt = std::max(kMinPartition, (a.max_context_len + parts_needed - 1) / parts_needed);
    pt = (pt + 63) / 64 * 64;
  }
  LLMI_REQUIRE(pt % kChunk == 0, "v2 partition size " << pt << " must be a multiple of " << kChunk);
  p.partition_tokens = pt;
  p.num_partitions = (a.max_context_len + pt - 1) / pt;
  // One partition is v1: the kernel writes the output directly, no reduce.
  if (a.version == DecodeVersion::V2 && p.num_partitions == 1) {
    p.partition_tokens = pt = std::max(kChunk, (a.max_context_len / 2 + kChunk - 1) / kChunk * kChunk);
    p.num_partitions = (a.max_context_len + pt - 1) / pt;
  }
  p.v2 = p.num_partitions > 1;
  return p;
}

void paged_decode(const DecodeArgs& a, const KvCache& c, llmi::DeviceBuffer<float>& workspace,
                  cudaStream_t stream) {
  validate_cache(c);
  LLMI_REQUIRE(a.q && a.out && a.block_tables && a.context_lens, "decode pointers are null");
  LLMI_REQUIRE(a.num_seqs > 0 && a.max_context_len > 0 && a.max_blocks_per_seq > 0,
               "decode needs sequences, got num_seqs " << a.num_seqs << ", max context "
                                                       << a.max_context_len);
  LLMI_REQUIRE(int64_t(a.max_context_len) <= int64_t(a.max_blocks_per_seq) * c.block_size,
               "max context length " << a.max_context_len << " is larger than the block tables cover ("
                                     << a.max_blocks_per_seq << " blocks x " << c.block_size << ")");
  LLMI_REQUIRE(a.q_heads % c.kv_heads == 0, "q heads (" << a.q_heads << ") must be a multiple of kv heads ("
                                                        << c.kv_heads << ")");
  LLMI_REQUIRE(a.num_seqs <= 65535, "at most 65535 sequences per launch, got " << a.num_seqs);
  LLMI_REQUIRE(!a.contiguous || int64_t(a.num_seqs) * a.max_blocks_per_seq <= c.num_blocks,
               "contiguous layout needs num_seqs x max_blocks_per_seq <= " << c.num_blocks << " blocks");
  const DecodePlan plan = plan_decode(a, c);
  KernelArgs k{};
  k.q = a.q;
  k.out = a.out;
  k.k_cache = c.k;
  k.v_cache = c.v;
  k.tables = a.block_tables;
  k.lens = a.context_lens;
  k.q_heads = a.q_heads;
  k.kv_heads = c.kv_heads;
  k.block_size = c.block_size;
  k.max_blocks = a.max_blocks_per_seq;
  k.partition_tokens = plan.partition_tokens;
  k.num_parts = plan.num_partitions;
  k.q_mult = a.scale * kLog2e * (c.dtype == llmi::DType::FP8E4M3 ? c.k_scale : 1.0f);
  k.v_scale = c.dtype == llmi::DType::FP8E4M3 ? c.v_scale : 1.0f;
  if (plan.v2) {
    const size_t rows = size_t(a.num_seqs) * a.q_heads * plan.num_partitions;
    if (workspace.size() < rows * (kHeadDim + 1)) workspace = llmi::DeviceBuffer<float>(rows * (kHeadDim + 1));
    k.partial_out = workspace.data();
    k.partial_lse = workspace.data() + rows * kHeadDim;
  }
  const int group = a.q_heads / c.kv_heads;
  using llmi::DType;
  if (a.q_dtype == DType::BF16 && c.dtype == DType::BF16)
    return dispatch_group<Bf16, Bf16>(k, group, a.contiguous, a.num_seqs, stream);
  LLMI_REQUIRE(!a.contiguous, "the contiguous-layout decode is built only for a bf16 cache");
  if (a.q_dtype == DType::F16 && c.dtype == DType::F16)
    return dispatch_group<F16, F16>(k, group, false, a.num_seqs, stream);
  if (a.q_dtype == DType::BF16 && c.dtype == DType::FP8E4M3)
    return dispatch_group<Bf16, Fp8>(k, group, false, a.num_seqs, stream);
  throw llmi::Error(std::string("query dtype ") + llmi::dtype_name(a.q_dtype) + " with KV cache dtype " +
                    llmi::dtype_name(c.dtype) + " is not supported (bf16/bf16, fp16/fp16, bf16/fp8_e4m3)");
}

}  // namespace paged
