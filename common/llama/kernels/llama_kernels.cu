// The runtime's fused kernels (see llama_kernels.h). bf16 in memory, fp32 in registers.
#include <cfloat>

#include "llama_kernels.h"
#include "llmi/check.h"
#include "llmi/dtype.h"

namespace llmi::llama::kernels {

namespace {

__device__ __forceinline__ float ld(const bf16_t* p, size_t i) { return bf16_bits_to_f32(p[i]); }
__device__ __forceinline__ void st(bf16_t* p, size_t i, float v) { p[i] = f32_to_bf16_bits(v); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

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

__global__ void embed_kernel(const bf16_t* __restrict__ table, const int* __restrict__ tokens,
                             float* __restrict__ x, int H) {
  const int t = blockIdx.x;
  const size_t row = size_t(tokens[t]) * H;
  for (int i = threadIdx.x; i < H; i += blockDim.x) x[size_t(t) * H + i] = ld(table, row + i);
}

constexpr int kNormThreads = 256, kNormPerThread = 32;  // hidden sizes up to 8192

__global__ void __launch_bounds__(kNormThreads)
    add_rmsnorm_kernel(float* __restrict__ x, const bf16_t* __restrict__ delta,
                       const bf16_t* __restrict__ bias, const float* __restrict__ w,
                       bf16_t* __restrict__ out, float* __restrict__ out_f32,
                       const int* __restrict__ rows, int H, float eps) {
  const int r = blockIdx.x;
  const size_t src = size_t(rows ? rows[r] : r) * H;
  float v[kNormPerThread];  // this thread's elements i = threadIdx.x + k * blockDim.x
  float ss = 0.0f;
  for (int k = 0, i = threadIdx.x; i < H; ++k, i += blockDim.x) {
    v[k] = x[src + i];
    if (delta) v[k] += ld(delta, src + i);
    if (bias) v[k] += ld(bias, size_t(i));
    // The residual stream keeps the sum, except when gathering selected rows (a row listed
    // twice must not be added twice; nothing reads x after the final norm).
    if (delta && !rows) x[src + i] = v[k];
    ss += v[k] * v[k];
  }
  const float inv = rsqrtf(block_sum(ss) / float(H) + eps);
  for (int k = 0, i = threadIdx.x; i < H; ++k, i += blockDim.x) {
    const float y = v[k] * inv * w[i];
    st(out, size_t(r) * H + i, y);
    if (out_f32) out_f32[size_t(r) * H + i] = y;
  }
}

__global__ void rope_append_kernel(const bf16_t* __restrict__ qkv, const float* __restrict__ bias,
                                   StepMeta m, bf16_t* __restrict__ q, bf16_t* __restrict__ kc,
                                   bf16_t* __restrict__ vc, KvLayout kv, int Hq, float log2_theta) {
  const int t = blockIdx.x, D = kv.head_dim, half = D / 2, Hkv = kv.kv_heads;
  const int Q = Hq * D, KV = Hkv * D, W = Q + 2 * KV;
  const int c = m.tok_chunk[t];
  const size_t slot = size_t(m.seq[c]) * kv.seq_stride() +
                      size_t(m.old_len[c] + m.tok_row[t]) * KV;
  const float pos = float(m.positions[t]);
  const bf16_t* in = qkv + size_t(t) * W;
  auto val = [&](int col) { return ld(in, size_t(col)) + (bias ? bias[col] : 0.0f); };
  const int pairs = (Hq + Hkv) * half;
  for (int e = threadIdx.x; e < pairs + KV; e += blockDim.x) {
    if (e < pairs) {  // a (i, i + D/2) pair of a q or k head
      const int head = e / half, i = e % half;
      const int col = head * D + i;  // q heads first, then k heads (contiguous in qkv)
      // inv_freq = theta^(-2i/D) as HF computes it in fp32; sincosf reduces large angles exactly.
      const float inv_freq = exp2f(-log2_theta * float(2 * i) / float(D));
      float sn, cs;
      sincosf(pos * inv_freq, &sn, &cs);
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

constexpr int kAttnWarps = 8;
constexpr int kMaxPerLane = 8;  // head_dim <= 256

__global__ void __launch_bounds__(kAttnWarps * 32)
    attention_kernel(const bf16_t* __restrict__ q, const bf16_t* __restrict__ kc,
                     const bf16_t* __restrict__ vc, StepMeta m, KvLayout kv,
                     bf16_t* __restrict__ out, int Hq, float scale) {
  const int t = blockIdx.x, h = blockIdx.y, D = kv.head_dim, per = D / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int c = m.tok_chunk[t], i = m.tok_row[t];
  const int old = m.old_len[c], n = m.n_new[c], moff = m.mask_off[c];
  const int kvh = h / (Hq / kv.kv_heads);
  // Causal rows see keys up to their own; masked rows may see any new row.
  const int total = moff < 0 ? old + i + 1 : old + n;
  const size_t base = size_t(m.seq[c]) * kv.seq_stride() + size_t(kvh) * D + size_t(lane) * per;
  const size_t row_stride = size_t(kv.kv_heads) * D;

  float qr[kMaxPerLane], acc[kMaxPerLane];
  for (int e = 0; e < per; ++e) {
    qr[e] = ld(q, (size_t(t) * Hq + h) * D + size_t(lane) * per + e) * scale;
    acc[e] = 0.0f;
  }
  float mx = -FLT_MAX, l = 0.0f;
  for (int j = warp; j < total; j += kAttnWarps) {
    if (moff >= 0 && j >= old && !m.mask[size_t(moff) + size_t(i) * n + (j - old)]) continue;
    const size_t at = base + size_t(j) * row_stride;
    float s = 0.0f;
    for (int e = 0; e < per; ++e) s += qr[e] * ld(kc, at + e);
    s = warp_sum(s);
    const float nm = fmaxf(mx, s), corr = __expf(mx - nm), p = __expf(s - nm);
    l = l * corr + p;
    for (int e = 0; e < per; ++e) acc[e] = acc[e] * corr + p * ld(vc, at + e);
    mx = nm;
  }
  // Merge the warps' partial softmaxes.
  __shared__ float s_m[kAttnWarps], s_l[kAttnWarps], s_acc[kAttnWarps][256];
  if (lane == 0) s_m[warp] = mx, s_l[warp] = l;
  for (int e = 0; e < per; ++e) s_acc[warp][lane * per + e] = acc[e];
  __syncthreads();
  float gm = -FLT_MAX;
  for (int w = 0; w < kAttnWarps; ++w) gm = fmaxf(gm, s_l[w] > 0.0f ? s_m[w] : -FLT_MAX);
  float gl = 0.0f;
  for (int w = 0; w < kAttnWarps; ++w)
    if (s_l[w] > 0.0f) gl += s_l[w] * __expf(s_m[w] - gm);
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float o = 0.0f;
    for (int w = 0; w < kAttnWarps; ++w)
      if (s_l[w] > 0.0f) o += s_acc[w][d] * __expf(s_m[w] - gm);
    st(out, (size_t(t) * Hq + h) * D + d, gl > 0.0f ? o / gl : 0.0f);  // nothing visible: 0
  }
}

__global__ void silu_mul_kernel(const bf16_t* __restrict__ gu, bf16_t* __restrict__ out, int T,
                                int I) {
  const size_t total = size_t(T) * I;
  for (size_t e = blockIdx.x * size_t(blockDim.x) + threadIdx.x; e < total;
       e += size_t(gridDim.x) * blockDim.x) {
    const size_t t = e / I, i = e % I;
    const float g = ld(gu, t * 2 * I + i), u = ld(gu, t * 2 * I + I + i);
    st(out, e, g / (1.0f + __expf(-g)) * u);
  }
}

constexpr int kGemvWarps = 8;

// 8 bf16 packed in 16 bytes -> fp32.
__device__ __forceinline__ void unpack8(const uint4& v, float* f) {
  const uint32_t w[4] = {v.x, v.y, v.z, v.w};
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __uint_as_float(w[i] << 16);
    f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}

// Each warp streams one weight row with 16-byte loads, four in flight per lane, and keeps one
// fp32 partial sum per input row; X rows are small and stay in L1/L2.
__global__ void __launch_bounds__(kGemvWarps * 32)
    gemv_kernel(const bf16_t* __restrict__ X, const bf16_t* __restrict__ W, void* __restrict__ Y,
                bool y_f32, int T, int N, int K) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int n = blockIdx.x * kGemvWarps + warp;
  if (n >= N) return;
  const int chunks = K / 8;
  const uint4* w = reinterpret_cast<const uint4*>(W + size_t(n) * K);
  const uint4* x = reinterpret_cast<const uint4*>(X);
  float acc[kGemvMaxRows];
#pragma unroll
  for (int t = 0; t < kGemvMaxRows; ++t) acc[t] = 0.0f;
  auto consume = [&](const uint4& wv, int c) {
    float wf[8], xf[8];
    unpack8(wv, wf);
#pragma unroll
    for (int t = 0; t < kGemvMaxRows; ++t) {
      if (t >= T) break;
      unpack8(__ldg(x + size_t(t) * chunks + c), xf);
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[t] += wf[e] * xf[e];
    }
  };
  int c = lane;
  for (; c + 96 < chunks; c += 128) {
    const uint4 w0 = __ldcs(w + c), w1 = __ldcs(w + c + 32), w2 = __ldcs(w + c + 64),
                w3 = __ldcs(w + c + 96);
    consume(w0, c), consume(w1, c + 32), consume(w2, c + 64), consume(w3, c + 96);
  }
  for (; c < chunks; c += 32) consume(__ldcs(w + c), c);
#pragma unroll
  for (int t = 0; t < kGemvMaxRows; ++t) {
    if (t >= T) break;
    const float v = warp_sum(acc[t]);
    if (lane == 0) {
      if (y_f32) static_cast<float*>(Y)[size_t(t) * N + n] = v;
      else st(static_cast<bf16_t*>(Y), size_t(t) * N + n, v);
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

}  // namespace

void embed(const bf16_t* table, const StepMeta& m, float* x, int T, int H, cudaStream_t s) {
  embed_kernel<<<T, 256, 0, s>>>(table, m.tokens, x, H);  // grid: one block per token
  LLMI_LAUNCH_CHECK();
}

void add_rmsnorm(float* x, const bf16_t* delta, const bf16_t* bias, const float* w, bf16_t* out,
                 float* out_f32, const int* rows, int R, int H, float eps, cudaStream_t s) {
  if (R == 0) return;
  LLMI_REQUIRE(H <= kNormThreads * kNormPerThread,
               "rmsnorm: hidden size " << H << " above " << kNormThreads * kNormPerThread);
  add_rmsnorm_kernel<<<R, kNormThreads, 0, s>>>(x, delta, bias, w, out, out_f32, rows, H, eps);  // grid: rows
  LLMI_LAUNCH_CHECK();
}

void rope_append(const bf16_t* qkv, const float* bias, const StepMeta& m, bf16_t* q,
                 bf16_t* k_cache, bf16_t* v_cache, const KvLayout& kv, int T, int Hq,
                 float theta, cudaStream_t s) {
  LLMI_REQUIRE(kv.head_dim % 2 == 0, "RoPE needs an even head dim, got " << kv.head_dim);
  rope_append_kernel<<<T, 256, 0, s>>>(qkv, bias, m, q, k_cache, v_cache, kv, Hq,  // grid: tokens
                                       std::log2(theta));
  LLMI_LAUNCH_CHECK();
}

void attention(const bf16_t* q, const bf16_t* k_cache, const bf16_t* v_cache, const StepMeta& m,
               const KvLayout& kv, bf16_t* out, int T, int Hq, cudaStream_t s) {
  LLMI_REQUIRE(kv.head_dim % 32 == 0 && kv.head_dim <= 32 * kMaxPerLane,
               "attention: head dim " << kv.head_dim << " unsupported (need a multiple of 32, <= 256)");
  dim3 grid(T, Hq);  // grid: (new tokens, query heads), 4 warps per block
  attention_kernel<<<grid, kAttnWarps * 32, 0, s>>>(q, k_cache, v_cache, m, kv, out, Hq,
                                                    1.0f / std::sqrt(float(kv.head_dim)));
  LLMI_LAUNCH_CHECK();
}

void silu_mul(const bf16_t* gu, bf16_t* out, int T, int I, cudaStream_t s) {
  const size_t total = size_t(T) * I;
  const int blocks = int(std::min<size_t>((total + 255) / 256, 4096));
  silu_mul_kernel<<<blocks, 256, 0, s>>>(gu, out, T, I);  // grid-stride over T*I
  LLMI_LAUNCH_CHECK();
}

bool gemv_supported(const void* X, const void* W, int T, int K) {
  return T >= 1 && T <= kGemvMaxRows && K % 8 == 0 && reinterpret_cast<uintptr_t>(X) % 16 == 0 &&
         reinterpret_cast<uintptr_t>(W) % 16 == 0;
}

void gemv(const bf16_t* X, const bf16_t* W, void* Y, bool y_f32, int T, int N, int K,
          cudaStream_t s) {
  LLMI_REQUIRE(gemv_supported(X, W, T, K),
               "gemv: needs 1 <= T <= " << kGemvMaxRows << ", K % 8 == 0 and 16-byte aligned "
                                        "operands (T " << T << ", K " << K << ")");
  const int blocks = (N + kGemvWarps - 1) / kGemvWarps;
  gemv_kernel<<<blocks, kGemvWarps * 32, 0, s>>>(X, W, Y, y_f32, T, N, K);  // grid: N / 8 warps
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
