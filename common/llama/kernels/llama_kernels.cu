// The runtime's fused kernels (declared in include/llmi/llama/kernels.h). bf16 in memory, fp32 in registers.
#include <algorithm>
#include <cmath>

#include "llmi/llama/kernels.h"
#include "llmi/check.h"
#include "llmi/dtype.h"
#include "llmi/pdl.cuh"

namespace llmi::llama::kernels {

namespace {

__device__ __forceinline__ float ld(const bf16_t* p, size_t i) { return bf16_bits_to_f32(p[i]); }
__device__ __forceinline__ void st(bf16_t* p, size_t i, float v) { p[i] = f32_to_bf16_bits(v); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Programmatic dependent launch (llmi/pdl.cuh): every kernel of a step is launched with
// programmatic stream serialisation (launch() below). Each one lets its successor be
// scheduled once all of its own blocks are running (launch_dependents) and waits for its
// predecessor's completion and memory flush (wait) before reading what that wrote, so the next
// kernel's launch and block ramp-up hide behind this one's tail; a batch-1 decode step is ~290
// short kernels. Writes also come after the wait, so no kernel overwrites what its
// predecessor still reads.
__device__ __forceinline__ void pdl_enter() { pdl_launch_dependents(), pdl_wait(); }

// Sum over the block (blockDim.x a multiple of 32, at most 1024).
__device__ float block_sum(float v) {
  __shared__ float part[32];
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) part[warp] = v;
  __syncthreads();
  v = threadIdx.x < blockDim.x / 32 ? part[threadIdx.x] : 0.0f;
  if (warp == 0) v = warp_sum(v);
  if (threadIdx.x == 0) part[0] = v;
  __syncthreads();
  const float total = part[0];
  __syncthreads();  // part[] is reused by the next call
  return total;
}

// 8 bf16 packed in 16 bytes -> fp32.
__device__ __forceinline__ void unpack8(const uint4& v, float* f) {
  const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __uint_as_float(w[i] << 16);
    f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}

constexpr int kNormThreads = 512, kNormChunks = 2;  // 8 elements a chunk: H <= 8192

// 8 consecutive fp32 or bf16 values as fp32 (16-byte aligned).
__device__ __forceinline__ void load8(const float* p, float* f) {
  const float4 a = *reinterpret_cast<const float4*>(p), b = *reinterpret_cast<const float4*>(p + 4);
  f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
}
__device__ __forceinline__ void load8(const bf16_t* p, float* f) {
  unpack8(*reinterpret_cast<const uint4*>(p), f);
}
__device__ __forceinline__ void store8(float* p, const float* f) {
  *reinterpret_cast<float4*>(p) = make_float4(f[0], f[1], f[2], f[3]);
  *reinterpret_cast<float4*>(p + 4) = make_float4(f[4], f[5], f[6], f[7]);
}
__device__ __forceinline__ void store8(bf16_t* p, const float* f) {
  uint32_t w[4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
    w[i] = uint32_t(f32_to_bf16_bits(f[2 * i])) | (uint32_t(f32_to_bf16_bits(f[2 * i + 1])) << 16);
  *reinterpret_cast<uint4*>(p) = make_uint4(w[0], w[1], w[2], w[3]);
}

// One block per token, 16-byte loads (H % 8 == 0): the first kernel of every decode step.
__global__ void embed_kernel(const bf16_t* __restrict__ table, const int* __restrict__ tokens,
                             float* __restrict__ x, bf16_t* __restrict__ x_bf16, int H) {
  pdl_enter();
  const int t = blockIdx.x;
  const uint4* row = reinterpret_cast<const uint4*>(table + size_t(tokens[t]) * H);
  for (int i = threadIdx.x; i < H / 8; i += blockDim.x) {
    const uint4 v = row[i];
    float f[8];
    unpack8(v, f);
    store8(x + size_t(t) * H + size_t(i) * 8, f);
    if (x_bf16) reinterpret_cast<uint4*>(x_bf16 + size_t(t) * H)[i] = v;
  }
}

// One block per row, 16-byte loads: a decode step has one row, so this kernel's latency (one
// SM) is on the critical path 2 * layers times per step; every load is issued before the sum.
__global__ void __launch_bounds__(kNormThreads)
    add_rmsnorm_kernel(float* __restrict__ x, const bf16_t* __restrict__ delta,
                       const bf16_t* __restrict__ bias, const float* __restrict__ w,
                       bf16_t* __restrict__ out, float* __restrict__ out_f32,
                       const int* __restrict__ rows, int H, float eps) {
  pdl_enter();
  const int r = blockIdx.x;
  const size_t src = size_t(rows ? rows[r] : r) * H;
  float v[kNormChunks][8], wv[kNormChunks][8];
  float ss = 0.0f;
#pragma unroll
  for (int k = 0; k < kNormChunks; ++k) {
    const int i = (threadIdx.x + k * kNormThreads) * 8;
    if (i >= H) continue;
    float d[8];
    load8(x + src + i, v[k]);
    if (w) load8(w + i, wv[k]);
    else for (int e = 0; e < 8; ++e) wv[k][e] = 1.0f;
    if (delta) {
      load8(delta + src + i, d);
      for (int e = 0; e < 8; ++e) v[k][e] += d[e];
    }
    if (bias) {
      load8(bias + i, d);
      for (int e = 0; e < 8; ++e) v[k][e] += d[e];
    }
    // The residual stream keeps the sum, except when gathering selected rows (a row listed
    // twice must not be added twice; nothing reads x after the final norm).
    if (delta && !rows) store8(x + src + i, v[k]);
    for (int e = 0; e < 8; ++e) ss += v[k][e] * v[k][e];
  }
  const float inv = rsqrtf(block_sum(ss) / float(H) + eps);
#pragma unroll
  for (int k = 0; k < kNormChunks; ++k) {
    const int i = (threadIdx.x + k * kNormThreads) * 8;
    if (i >= H) continue;
    float y[8];
    for (int e = 0; e < 8; ++e) y[e] = v[k][e] * inv * wv[k][e];
    store8(out + size_t(r) * H + i, y);
    if (out_f32) store8(out_f32 + size_t(r) * H + i, y);
  }
}

__global__ void rope_append_kernel(const bf16_t* __restrict__ qkv, const float* __restrict__ bias,
                                   StepMeta m, bf16_t* __restrict__ q, bf16_t* __restrict__ kc,
                                   bf16_t* __restrict__ vc, KvLayout kv, int Hq, float log2_theta) {
  pdl_launch_dependents();
  const int t = blockIdx.x, D = kv.head_dim, half = D / 2, Hkv = kv.kv_heads;
  const int Q = Hq * D, KV = Hkv * D, W = Q + 2 * KV;
  const int c = m.tok_chunk[t];
  const size_t slot = size_t(m.seq[c]) * kv.seq_stride() +
                      size_t(m.old_len[c] + m.tok_row[t]) * KV;
  const float pos = float(m.positions[t]);
  const bf16_t* in = qkv + size_t(t) * W;
  auto val = [&](int col) { return ld(in, size_t(col)) + (bias ? bias[col] : 0.0f); };
  const int pairs = (Hq + Hkv) * half;
  const int e = blockIdx.y * blockDim.x + threadIdx.x;  // one q/k pair or one v element
  // The angle depends only on the position (uploaded before the step), so it is computed
  // before the wait, while the QKV GEMV finishes.
  const int i = e % half;
  // inv_freq = theta^(-2i/D) as HF computes it in fp32; sincosf reduces large angles exactly.
  const float inv_freq = exp2f(-log2_theta * float(2 * i) / float(D));
  float sn, cs;
  sincosf(pos * inv_freq, &sn, &cs);
  pdl_wait();
  if (e < pairs + KV) {
    if (e < pairs) {  // a (i, i + D/2) pair of a q or k head
      const int head = e / half;
      const int col = head * D + i;  // q heads first, then k heads (contiguous in qkv)
      const float a = val(col), b = val(col + half);
      const float ra = a * cs - b * sn, rb = b * cs + a * sn;
      if (head < Hq) {
        st(q, size_t(t) * Q + col, ra);
        st(q, size_t(t) * Q + col + half, rb);
      } else {
        const int kcol = col - Q;
        st(kc, slot + kcol, ra);
        st(kc, slot + kcol + half, rb);
      }
    } else {
      const int j = e - pairs;
      st(vc, slot + j, val(Q + KV + j));
    }
  }
}

// Online-softmax state (m, l, acc) of one lane's 8 output dims; m = -inf while nothing is seen.
struct SoftmaxState {
  float m = -INFINITY, l = 0.0f, acc[8] = {};
  // Folds in another state over a disjoint key set (exact: both rescaled to the larger max).
  __device__ void merge(float om, float ol, const float* oacc) {
    const float nm = fmaxf(m, om);
    if (nm == -INFINITY) return;  // both empty
    const float a = __expf(m - nm), b = __expf(om - nm);
    l = l * a + ol * b;
#pragma unroll
    for (int e = 0; e < 8; ++e) acc[e] = acc[e] * a + oacc[e] * b;
    m = nm;
  }
};

constexpr int kAttnWarps = 4;
constexpr int kAttnUnroll = 4;  // keys per lane group loaded before any is used

__global__ void __launch_bounds__(kAttnWarps * 32)
    attention_kernel(const bf16_t* __restrict__ q, const bf16_t* __restrict__ kc,
                     const bf16_t* __restrict__ vc, StepMeta m, KvLayout kv,
                     bf16_t* __restrict__ out, float* __restrict__ partial,
                     int* __restrict__ counters, int Hq, float scale) {
  pdl_launch_dependents();
  const int t = blockIdx.x, h = blockIdx.y, split = blockIdx.z, S = gridDim.z, D = kv.head_dim;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  // g lanes (a power of two >= D / 8) share a key, 8 dims each; a warp holds 32 / g keys.
  int g = 1;
  while (g * 8 < D) g <<= 1;
  const int sub = lane & (g - 1), grp = lane / g, kpw = 32 / g, kpb = kAttnWarps * kpw;
  const bool active = sub * 8 < D;
  // The step's metadata was uploaded before the step began: readable before the wait.
  const int c = m.tok_chunk[t], i = m.tok_row[t];
  const int old = m.old_len[c], n = m.n_new[c], moff = m.mask_off[c];
  const int kvh = h / (Hq / kv.kv_heads);
  // Causal rows see keys up to their own; masked rows may see any new row.
  const int total = moff < 0 ? old + i + 1 : old + n;
  const int per_split = (total + S - 1) / S;
  const int begin = min(total, split * per_split), end = min(total, begin + per_split);
  const size_t row_stride = size_t(kv.kv_heads) * D;
  const uint4* kp = reinterpret_cast<const uint4*>(kc + size_t(m.seq[c]) * kv.seq_stride() + size_t(kvh) * D) + sub;
  const uint4* vp = reinterpret_cast<const uint4*>(vc + size_t(m.seq[c]) * kv.seq_stride() + size_t(kvh) * D) + sub;
  const size_t row16 = row_stride / 8;  // a cache row in 16-byte units
  // Keys j = jb + grp + u * kpb of one round, rows lo <= j < hi (zeros elsewhere).
  auto load_round = [&](int jb, int lo, int hi, uint4* kr, uint4* vr) {
#pragma unroll
    for (int u = 0; u < kAttnUnroll; ++u) {
      const int j = jb + grp + u * kpb;
      if (active && j >= lo && j < hi) kr[u] = __ldg(kp + size_t(j) * row16), vr[u] = __ldg(vp + size_t(j) * row16);
    }
  };
  uint4 kr[kAttnUnroll], vr[kAttnUnroll];
  auto clear = [&] {  // keys past the range stay 0 (their weight is 0; garbage could be NaN)
#pragma unroll
    for (int u = 0; u < kAttnUnroll; ++u) kr[u] = vr[u] = make_uint4(0, 0, 0, 0);
  };
  clear();
  // Rows below old_len were appended by earlier steps, so the first round's cached rows are
  // requested before the wait: they arrive while RoPE (and the QKV GEMV before it) finishes.
  // Rows this step appends are read after the wait.
  const int first = begin + warp * kpw;  // warp-uniform so every lane reaches the shuffles
  load_round(first, begin, min(end, old), kr, vr);
  pdl_wait();
  load_round(first, max(begin, old), end, kr, vr);

  float qf[8] = {};
  if (active) {
    unpack8(*reinterpret_cast<const uint4*>(q + (size_t(t) * Hq + h) * D + size_t(sub) * 8), qf);
#pragma unroll
    for (int e = 0; e < 8; ++e) qf[e] *= scale;
  }
  SoftmaxState state;
  for (int jb = first; jb < end; jb += kpb * kAttnUnroll) {
    if (jb != first) clear(), load_round(jb, begin, end, kr, vr);  // every load before any use
    float s[kAttnUnroll];
    float nm = state.m;
#pragma unroll
    for (int u = 0; u < kAttnUnroll; ++u) {
      float kf[8];
      unpack8(kr[u], kf);
      s[u] = 0.0f;
#pragma unroll
      for (int e = 0; e < 8; ++e) s[u] += qf[e] * kf[e];
      for (int o = g / 2; o > 0; o >>= 1) s[u] += __shfl_xor_sync(0xffffffffu, s[u], o);
      const int j = jb + grp + u * kpb;
      const bool visible = j < end && (moff < 0 || j < old ||
                                       m.mask[size_t(moff) + size_t(i) * n + (j - old)]);
      if (!visible) s[u] = -INFINITY;
      nm = fmaxf(nm, s[u]);
    }
    const float ref = nm == -INFINITY ? 0.0f : nm;  // nothing visible yet: every p is 0
    const float corr = __expf(state.m - ref);
    state.l *= corr;
#pragma unroll
    for (int e = 0; e < 8; ++e) state.acc[e] *= corr;
#pragma unroll
    for (int u = 0; u < kAttnUnroll; ++u) {
      const float p = __expf(s[u] - ref);
      float vf[8];
      unpack8(vr[u], vf);
      state.l += p;
#pragma unroll
      for (int e = 0; e < 8; ++e) state.acc[e] += p * vf[e];
    }
    state.m = nm;
  }
  // Merge the lane groups of the warp (lanes sub, sub + g, ... hold the same dims).
  for (int o = g; o < 32; o <<= 1) {
    float oacc[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) oacc[e] = __shfl_xor_sync(0xffffffffu, state.acc[e], o);
    const float om = __shfl_xor_sync(0xffffffffu, state.m, o), ol = __shfl_xor_sync(0xffffffffu, state.l, o);
    state.merge(om, ol, oacc);
  }
  // Merge the warps.
  __shared__ float s_m[kAttnWarps], s_l[kAttnWarps], s_acc[kAttnWarps][256];
  if (lane == 0) s_m[warp] = state.m, s_l[warp] = state.l;
  if (grp == 0 && active)
    for (int e = 0; e < 8; ++e) s_acc[warp][sub * 8 + e] = state.acc[e];
  __syncthreads();
  float gm = -INFINITY;
  for (int w = 0; w < kAttnWarps; ++w) gm = fmaxf(gm, s_m[w]);
  float gl = 0.0f;
  if (gm != -INFINITY)
    for (int w = 0; w < kAttnWarps; ++w) gl += s_l[w] * __expf(s_m[w] - gm);
  auto block_out = [&](int d) {  // unnormalised, relative to gm
    float o = 0.0f;
    if (gm != -INFINITY)
      for (int w = 0; w < kAttnWarps; ++w) o += s_acc[w][d] * __expf(s_m[w] - gm);
    return o;
  };
  const size_t out_at = (size_t(t) * Hq + h) * D;
  if (S == 1) {
    for (int d = threadIdx.x; d < D; d += blockDim.x)
      st(out, out_at + d, gl > 0.0f ? block_out(d) / gl : 0.0f);  // nothing visible: 0
    return;
  }
  // Split-K: publish this split's state; the last split of (t, h) to arrive merges all of them.
  const size_t th = size_t(t) * Hq + h;
  float* mine = partial + (th * S + split) * size_t(D + 2);
  for (int d = threadIdx.x; d < D; d += blockDim.x) mine[2 + d] = block_out(d);
  if (threadIdx.x == 0) mine[0] = gm, mine[1] = gl;
  __threadfence();
  __syncthreads();
  __shared__ bool s_last;
  if (threadIdx.x == 0) s_last = atomicAdd(&counters[th], 1) == S - 1;
  __syncthreads();
  if (!s_last) return;
  __threadfence();
  const float* all = partial + th * S * size_t(D + 2);
  float M = -INFINITY;
  for (int k = 0; k < S; ++k) M = fmaxf(M, __ldcg(all + size_t(k) * (D + 2)));
  float L = 0.0f;
  if (M != -INFINITY)
    for (int k = 0; k < S; ++k)
      L += __ldcg(all + size_t(k) * (D + 2) + 1) * __expf(__ldcg(all + size_t(k) * (D + 2)) - M);
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float o = 0.0f;
    if (M != -INFINITY)
      for (int k = 0; k < S; ++k)
        o += __ldcg(all + size_t(k) * (D + 2) + 2 + d) * __expf(__ldcg(all + size_t(k) * (D + 2)) - M);
    st(out, out_at + d, L > 0.0f ? o / L : 0.0f);
  }
  if (threadIdx.x == 0) counters[th] = 0;  // ready for the next launch (graph replays)
}

// Column of gate value i in a fused gate|up row (kernels.h: groups of kSwigluGroup); its up
// value sits kSwigluGroup columns later.
__device__ __forceinline__ size_t gate_col(size_t i) {
  return (i / kSwigluGroup) * 2 * kSwigluGroup + i % kSwigluGroup;
}

__device__ __forceinline__ float silu_times(float gate, float up) {
  return gate / (1.0f + __expf(-gate)) * up;
}

__global__ void silu_mul_kernel(const bf16_t* __restrict__ gu, bf16_t* __restrict__ out, int T,
                                int I) {
  pdl_enter();
  const size_t total = size_t(T) * I;
  for (size_t e = blockIdx.x * size_t(blockDim.x) + threadIdx.x; e < total;
       e += size_t(gridDim.x) * blockDim.x) {
    const size_t t = e / I, at = t * 2 * I + gate_col(e % I);
    st(out, e, silu_times(ld(gu, at), ld(gu, at + kSwigluGroup)));
  }
}

constexpr int kGemvWarps = 8;  // split-K: warp w takes slices w, w + 8, ... of every row
constexpr int kGemvOctets = 4;  // 16-byte octets of k per thread per slice: a slice is 128 k

__device__ __forceinline__ void mma_bf16_16x8x16(float* d, uint32_t a0, uint32_t a1, uint32_t a2,
                                                 uint32_t a3, uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "the decode GEMV needs bf16 mma.sync (sm_80 or newer)"
#endif
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// The decode-step GEMV on tensor cores: a block computes 16 rows of W against the (at most 8)
// tokens of X with mma m16n8k16, so X is read once per 16 rows and not once per row, and a
// batch of 8 costs about what a batch of 1 does (both are bound by streaming W). The k order of
// a dot product is free: thread (g = lane / 4, c = lane % 4) loads one 16-byte octet of k from
// W row g, from row g + 8 and from X token g, and the two MMAs read the octet's halves as their
// k pairs (2c, 2c + 1) and (2c + 8, 2c + 9); A and B see the same permutation, so each thread's
// loads are 64 contiguous bytes with no shuffles. The 8 warps split K and add their partial
// tiles in shared memory (a fixed order: deterministic).
//
// kNorm: RMSNorm of the input, fused without a pass before the first MMA. The norm weight is
// folded into W's columns on upload, so RMSNorm(x) W^T = (x W'^T) / rms(x): the MMAs run on the
// raw residual x, each thread also sums the squares of the x octets it loads, and the epilogue
// divides by rms(x) = sqrt(mean(x^2) + eps). (Normalising X as it is loaded was measured at
// 4.05 -> 6.95 ms per 7B step: the block must finish a pass over x before its first MMA.)
template <bool kNorm>
__global__ void __launch_bounds__(kGemvWarps * 32, 2)
    gemv_kernel(const bf16_t* __restrict__ X, const bf16_t* __restrict__ W, void* __restrict__ Y,
                GemvOut y_kind, GemvFusion f, int T, int N, int K) {
  __shared__ float tile[kGemvWarps][16][8];
  __shared__ float sum_sq[kGemvWarps][8];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, c = lane & 3;
  const int row0 = blockIdx.x * 16;
  // Rows past N read row N - 1 (valid memory); their results are not stored.
  const uint4* wa = reinterpret_cast<const uint4*>(W + size_t(min(row0 + g, N - 1)) * K);
  const uint4* wb = reinterpret_cast<const uint4*>(W + size_t(min(row0 + g + 8, N - 1)) * K);
  const uint4* xg = reinterpret_cast<const uint4*>(X + size_t(min(g, T - 1)) * K);
  const bool has_token = g < T;
  const int octets = K / 8, slices = (octets + 15) / 16;
  const uint4 zero = make_uint4(0, 0, 0, 0);
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f}, ss = 0.0f;
  auto load_w = [&](int s, uint4* a, uint4* b) {
#pragma unroll
    for (int j = 0; j < kGemvOctets; ++j) {
      const int o = s * 16 + c * kGemvOctets + j;
      a[j] = o < octets ? __ldcs(wa + o) : zero;
      b[j] = o < octets ? __ldcs(wb + o) : zero;
    }
  };
  auto load_x = [&](int s, uint4* x) {
#pragma unroll
    for (int j = 0; j < kGemvOctets; ++j) {
      const int o = s * 16 + c * kGemvOctets + j;
      x[j] = has_token && o < octets ? __ldg(xg + o) : zero;
    }
  };
  // Two slices per warp in flight: this one (a, b, x) and the next (an, bn, xn). The weights do
  // not depend on the previous kernel, so both slices' weights are requested before the wait:
  // DRAM streams while the previous kernel (RoPE, attention, another GEMV) finishes.
  uint4 a[kGemvOctets], b[kGemvOctets], x[kGemvOctets], an[kGemvOctets], bn[kGemvOctets],
      xn[kGemvOctets];
  pdl_launch_dependents();
  const int first = warp, second = warp + kGemvWarps;
  if (first < slices) load_w(first, a, b);
  if (second < slices) load_w(second, an, bn);
  pdl_wait();
  if (first < slices) load_x(first, x);
  if (second < slices) load_x(second, xn);
  // kResidual: the epilogue's thread (r, t) reads its residual element now, not after the sums.
  const int er = threadIdx.x >> 3, et = threadIdx.x & 7, en = row0 + er;
  const bool e_valid = threadIdx.x < 16 * 8 && et < T && en < N;
  const float residual = y_kind == GemvOut::kResidual && e_valid
                             ? static_cast<const float*>(Y)[size_t(et) * N + en]
                             : 0.0f;
  for (int s = first; s < slices; s += kGemvWarps) {
#pragma unroll
    for (int j = 0; j < kGemvOctets; ++j) {
      mma_bf16_16x8x16(acc, a[j].x, b[j].x, a[j].y, b[j].y, x[j].x, x[j].y);
      mma_bf16_16x8x16(acc, a[j].z, b[j].z, a[j].w, b[j].w, x[j].z, x[j].w);
      if (kNorm) {
        float xf[8];
        unpack8(x[j], xf);
#pragma unroll
        for (int e = 0; e < 8; ++e) ss += xf[e] * xf[e];
      }
    }
#pragma unroll
    for (int j = 0; j < kGemvOctets; ++j) a[j] = an[j], b[j] = bn[j], x[j] = xn[j];
    if (s + 2 * kGemvWarps < slices) load_w(s + 2 * kGemvWarps, an, bn), load_x(s + 2 * kGemvWarps, xn);
  }
  // Accumulator layout of m16n8: (row g, tokens 2c, 2c + 1) and (row g + 8, the same tokens).
  tile[warp][g][2 * c] = acc[0], tile[warp][g][2 * c + 1] = acc[1];
  tile[warp][g + 8][2 * c] = acc[2], tile[warp][g + 8][2 * c + 1] = acc[3];
  if (kNorm) {  // lanes 4g .. 4g + 3 of every warp hold token g's sum of squares
    ss += __shfl_xor_sync(0xffffffffu, ss, 1);
    ss += __shfl_xor_sync(0xffffffffu, ss, 2);
    if (c == 0) sum_sq[warp][g] = ss;
  }
  __syncthreads();
  auto inv_rms = [&](int t) {  // 1 for plain GEMVs
    if (!kNorm) return 1.0f;
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < kGemvWarps; ++w) total += sum_sq[w][t];
    return rsqrtf(total / float(K) + f.eps);
  };
  if (y_kind == GemvOut::kSwiglu) {
    // Rows g and g + 8 of the tile are gate and up of output row0 / 2 + g (kernels.h), so the
    // block finishes SwiGLU itself in fp32: no gate|up round trip through memory, no extra kernel.
    static_assert(kSwigluGroup == 8, "a 16-row tile holds 8 gate and 8 up rows");
    if (threadIdx.x < 8 * 8) {
      const int r = threadIdx.x >> 3, t = threadIdx.x & 7, n = row0 / 2 + r;
      float gate = 0.0f, up = 0.0f;
#pragma unroll
      for (int w = 0; w < kGemvWarps; ++w) gate += tile[w][r][t], up += tile[w][r + 8][t];
      const float scale = inv_rms(t);
      if (t < T && 2 * n < N)
        st(static_cast<bf16_t*>(Y), size_t(t) * (N / 2) + n, silu_times(gate * scale, up * scale));
    }
    return;
  }
  if (threadIdx.x < 16 * 8) {
    float v = 0.0f;
#pragma unroll
    for (int w = 0; w < kGemvWarps; ++w) v += tile[w][er][et];
    v *= inv_rms(et);
    if (e_valid) {
      const size_t at = size_t(et) * N + en;
      if (y_kind == GemvOut::kF32) {
        static_cast<float*>(Y)[at] = v;
      } else if (y_kind == GemvOut::kBf16) {
        st(static_cast<bf16_t*>(Y), at, v);
      } else {  // kResidual
        const float sum = residual + v + (f.bias ? ld(f.bias, en) : 0.0f);
        static_cast<float*>(Y)[at] = sum;
        st(f.residual_bf16, at, sum);
      }
    }
  }
}

// One block per (layer, K or V): rows move one after another (a later source row may be an
// earlier destination), the threads of the block copy one row's elements together.
__global__ void keep_rows_kernel(bf16_t* kc, bf16_t* vc, KvLayout kv, int seq, int first,
                                 const int* rows, int count) {
  bf16_t* cache = (blockIdx.y == 0 ? kc : vc) + size_t(blockIdx.x) * kv.layer_stride() +
                  size_t(seq) * kv.seq_stride();
  const size_t row = size_t(kv.kv_heads) * kv.head_dim;
  for (int k = 0; k < count; ++k) {
    const size_t from = size_t(first + rows[k]) * row, to = size_t(first + k) * row;
    for (size_t e = threadIdx.x; e < row; e += blockDim.x) cache[to + e] = cache[from + e];
    __syncthreads();
  }
}

// Launches with programmatic stream serialisation (see pdl_enter); no dynamic shared memory.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t s, Args... args) {
  launch_pdl(kernel, grid, block, 0, s, true, args...);
}

}  // namespace

void embed(const bf16_t* table, const StepMeta& m, float* x, bf16_t* x_bf16, int T, int H,
           cudaStream_t s) {
  LLMI_REQUIRE(H % 8 == 0, "embed: hidden size " << H << " is not a multiple of 8");
  launch(embed_kernel, T, 256, s, table, m.tokens, x, x_bf16, H);  // grid: one block per token
  LLMI_LAUNCH_CHECK();
}

void add_rmsnorm(float* x, const bf16_t* delta, const bf16_t* bias, const float* w, bf16_t* out,
                 float* out_f32, const int* rows, int R, int H, float eps, cudaStream_t s) {
  if (R == 0) return;
  LLMI_REQUIRE(H % 8 == 0 && H <= kNormThreads * kNormChunks * 8,
               "rmsnorm: hidden size " << H << " must be a multiple of 8 and at most "
                                       << kNormThreads * kNormChunks * 8);
  launch(add_rmsnorm_kernel, R, kNormThreads, s, x, delta, bias, w, out, out_f32, rows, H, eps);  // grid: rows
  LLMI_LAUNCH_CHECK();
}

void rope_append(const bf16_t* qkv, const float* bias, const StepMeta& m, bf16_t* q,
                 bf16_t* k_cache, bf16_t* v_cache, const KvLayout& kv, int T, int Hq,
                 float theta, cudaStream_t s) {
  LLMI_REQUIRE(kv.head_dim % 2 == 0, "RoPE needs an even head dim, got " << kv.head_dim);
  const int work = (Hq + kv.kv_heads) * kv.head_dim / 2 + kv.kv_heads * kv.head_dim;
  const dim3 grid(T, (work + 255) / 256);  // grid: (tokens, 256 pairs / v elements per block)
  launch(rope_append_kernel, grid, 256, s, qkv, bias, m, q, k_cache, v_cache, kv, Hq,
         std::log2(theta));
  LLMI_LAUNCH_CHECK();
}

int attention_splits(int T, int Hq) {
  const int blocks = T * Hq;
  return std::max(1, std::min(kAttnMaxSplits, (kAttnTargetBlocks + blocks - 1) / blocks));
}

// S > 1 only when T * Hq < kAttnTargetBlocks, so T * Hq * S < 2 * kAttnTargetBlocks.
size_t attention_scratch_floats(int head_dim) {
  return size_t(2) * kAttnTargetBlocks * size_t(head_dim + 2);
}

void attention(const bf16_t* q, const bf16_t* k_cache, const bf16_t* v_cache, const StepMeta& m,
               const KvLayout& kv, bf16_t* out, const AttentionScratch& scratch, int T, int Hq,
               cudaStream_t s) {
  LLMI_REQUIRE(kv.head_dim % 32 == 0 && kv.head_dim <= 256,
               "attention: head dim " << kv.head_dim << " unsupported (need a multiple of 32, <= 256)");
  const int S = scratch.partial && scratch.counters ? attention_splits(T, Hq) : 1;
  dim3 grid(T, Hq, S);  // grid: (new tokens, query heads, key splits), 4 warps per block
  launch(attention_kernel, grid, kAttnWarps * 32, s, q, k_cache, v_cache, m, kv, out,
         scratch.partial, scratch.counters, Hq, 1.0f / std::sqrt(float(kv.head_dim)));
  LLMI_LAUNCH_CHECK();
}

void silu_mul(const bf16_t* gu, bf16_t* out, int T, int I, cudaStream_t s) {
  LLMI_REQUIRE(I % kSwigluGroup == 0, "silu_mul: intermediate size " << I << " is not a multiple of "
                                          << kSwigluGroup << " (gate|up rows come in groups of it)");
  const size_t total = size_t(T) * I;
  const int blocks = int(std::min<size_t>((total + 255) / 256, 4096));
  launch(silu_mul_kernel, blocks, 256, s, gu, out, T, I);  // grid-stride over T*I
  LLMI_LAUNCH_CHECK();
}

bool gemv_supported(const void* X, const void* W, int T, int K) {
  return T >= 1 && T <= kGemvMaxRows && K % 8 == 0 && reinterpret_cast<uintptr_t>(X) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(W) % 16 == 0;
}

void gemv(const bf16_t* X, const bf16_t* W, void* Y, GemvOut y_kind, int T, int N, int K,
          cudaStream_t s, const GemvFusion& f) {
  LLMI_REQUIRE(gemv_supported(X, W, T, K),
               "gemv: needs 1 <= T <= " << kGemvMaxRows << ", K % 8 == 0 and 16-byte aligned "
                                        "operands (T " << T << ", K " << K << ")");
  LLMI_REQUIRE(y_kind != GemvOut::kSwiglu || N % (2 * kSwigluGroup) == 0,
               "gemv: SwiGLU output needs fused gate|up rows in groups of " << kSwigluGroup
                                                                            << " (N " << N << ")");
  LLMI_REQUIRE(y_kind != GemvOut::kResidual || f.residual_bf16,
               "gemv: a residual output needs the bf16 copy of the residual (residual_bf16)");
  const int blocks = (N + 15) / 16;  // grid: 16 rows each
  if (f.rms_norm)
    launch(gemv_kernel<true>, blocks, kGemvWarps * 32, s, X, W, Y, y_kind, f, T, N, K);
  else
    launch(gemv_kernel<false>, blocks, kGemvWarps * 32, s, X, W, Y, y_kind, f, T, N, K);
  LLMI_LAUNCH_CHECK();
}

void keep_rows(bf16_t* k_cache, bf16_t* v_cache, const KvLayout& kv, int layers, int seq,
               int first, const int* rows, int count, cudaStream_t s) {
  if (count == 0) return;
  keep_rows_kernel<<<dim3(layers, 2), 256, 0, s>>>(k_cache, v_cache, kv, seq, first, rows,  // grid: (layers, K|V)
                                                   count);
  LLMI_LAUNCH_CHECK();
}

}  // namespace llmi::llama::kernels
