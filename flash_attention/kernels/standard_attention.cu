// The baseline every FlashAttention paper compares against ("standard attention", FA1 Sec. 2.2,
// Algorithm 0): S = Q K^T and O = P V as cuBLAS batched GEMMs, a softmax kernel between, and
// the full S and P matrices (batch x heads x Sq x Sk, in the input dtype) written to and read
// back from HBM -- the Theta(N^2) memory and traffic that tiling removes.
//
// The backward is autograd's for this graph: P is kept from the forward (as PyTorch saves the
// softmax output), dV = P^T dO, dP = dO V^T, dS = P o (dP - rowsum(P o dP)), dQ = scale dS K,
// dK = scale dS^T Q -- four more GEMMs and a row-wise kernel over N^2 elements.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "element_type.h"
#include "fa1_tiles.cuh"
#include "flash_attention/attention.h"
#include "llmi/check.h"

namespace flash {
namespace {

// Sum (or max) over a 256-thread block; every thread gets the result.
__device__ float block_reduce(float x, bool is_max, float* red /*[32] shared*/) {
  for (int o = 16; o; o /= 2) {
    const float y = __shfl_xor_sync(0xffffffffu, x, o);
    x = is_max ? fmaxf(x, y) : x + y;
  }
  __syncthreads();
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = x;
  __syncthreads();
  x = is_max ? -INFINITY : 0.f;
  for (int w = 0; w < blockDim.x / 32; ++w) x = is_max ? fmaxf(x, red[w]) : x + red[w];
  return x;
}

// One row of S per block: P = softmax(scale * S) under the (bottom-right) causal mask; also the
// row's logsumexp when lse is given. Grid: (Sq, heads_q, batch); block: 256 threads.
template <typename T>
__global__ void softmax_kernel(const T* __restrict__ S,  // [batch, Hq, Sq, Sk]
                               T* __restrict__ P,        // [batch, Hq, Sq, Sk]
                               float* __restrict__ lse,  // [Hq, batch * Sq] or null
                               int sq, int sk, float scale, bool causal) {
  __shared__ float red[32];
  const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
  const size_t row = ((size_t(b) * gridDim.y + h) * sq + i) * sk;
  const int visible = causal ? min(sk, max(0, i + (sk - sq) + 1)) : sk;
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < visible; j += blockDim.x)
    mx = fmaxf(mx, fa1::to_float(S[row + j]) * scale);
  mx = block_reduce(mx, true, red);
  float sum = 0;
  for (int j = threadIdx.x; j < visible; j += blockDim.x)
    sum += __expf(fa1::to_float(S[row + j]) * scale - mx);
  sum = block_reduce(sum, false, red);
  for (int j = threadIdx.x; j < sk; j += blockDim.x)
    P[row + j] = fa1::from_float<T>(
        j < visible ? __expf(fa1::to_float(S[row + j]) * scale - mx) / sum : 0.f);
  if (lse && threadIdx.x == 0)
    lse[size_t(h) * sq * gridDim.z + size_t(b) * sq + i] = visible ? mx + logf(sum) : -INFINITY;
}

// Softmax backward in place: dS = P o (dP - rowsum(P o dP)). Grid: (Sq, heads_q, batch).
template <typename T>
__global__ void softmax_backward_kernel(const T* __restrict__ P,  // [batch, Hq, Sq, Sk]
                                        T* __restrict__ dPS,      // dP in, dS out
                                        int sq, int sk) {
  __shared__ float red[32];
  const size_t row = ((size_t(blockIdx.z) * gridDim.y + blockIdx.y) * sq + blockIdx.x) * sk;
  float dot = 0;
  for (int j = threadIdx.x; j < sk; j += blockDim.x)
    dot += fa1::to_float(P[row + j]) * fa1::to_float(dPS[row + j]);
  dot = block_reduce(dot, false, red);
  for (int j = threadIdx.x; j < sk; j += blockDim.x)
    dPS[row + j] =
        fa1::from_float<T>(fa1::to_float(P[row + j]) * (fa1::to_float(dPS[row + j]) - dot));
}

cublasHandle_t handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t x;
    LLMI_CUBLAS_CHECK(cublasCreate(&x));
    return x;
  }();
  return h;
}

// Shapes and buffers of one standard-attention call. Row-major X [rows, ld] is column-major
// X^T to cuBLAS, which is how every GEMM below is phrased.
struct Standard {
  const Problem& p;
  int B, sq, sk, Hq, Hkv, G, D;
  size_t esize, mat;  // element size; one head's S (Sq x Sk)
  cudaDataType_t ty;
  unsigned char* S;   // [B, Hq, Sq, Sk]: S, later dP/dS
  unsigned char* P;   // [B, Hq, Sq, Sk]

  Standard(const Problem& pr, Workspace& ws, const char* who) : p(pr) {
    validate(p);
    B = p.batch(), sq = p.seqlen_q(0), sk = p.seqlen_k(0);
    for (int b = 0; b < B; ++b)
      LLMI_REQUIRE(p.seqlen_q(b) == sq && p.seqlen_k(b) == sk,
                   who << " needs equal lengths across the batch (cuBLAS batched GEMM); "
                          "sequence " << b << " has " << p.seqlen_q(b) << "x" << p.seqlen_k(b)
                       << ", sequence 0 has " << sq << "x" << sk);
    Hq = p.heads_q, Hkv = p.heads_kv, G = p.group(), D = p.head_dim;
    esize = llmi::dtype_size(p.dtype);
    mat = size_t(sq) * sk;
    S = static_cast<unsigned char*>(ws.get(scratch_bytes()));
    P = S + esize * mat * B * Hq;
    ty = p.dtype == llmi::DType::BF16 ? CUDA_R_16BF : CUDA_R_16F;
  }
  size_t scratch_bytes() const { return 2 * esize * mat * B * Hq; }

  // For each sequence b and group of query heads: C = alpha op(A) op(B), batched over the heads
  // of the group. a_kv / b_kv say whether A / B is a K or V tensor (stride 0 across the group's
  // query heads, which share it) and "token" operands are [tokens, heads, D] (ld heads * D);
  // otherwise the operand is a per-head [Sq, Sk] matrix of S/P (ld Sk).
  enum Operand { kQ, kKV, kMat };
  void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
            const void* A, Operand a_kind, const void* Bp, Operand b_kind, void* C,
            Operand c_kind, cudaStream_t stream) const {
    LLMI_CUBLAS_CHECK(cublasSetStream(handle(), stream));
    const float zero = 0.f;
    const int calls = G == 1 ? 1 : Hkv, heads = G == 1 ? Hq : G;
    for (int b = 0; b < B; ++b)
      for (int c = 0; c < calls; ++c) {
        const int h0 = c * heads;
        auto addr = [&](const void* base, Operand kind, int tokens) {
          size_t off = kind == kQ    ? (size_t(b) * tokens * Hq + h0) * D
                       : kind == kKV ? (size_t(b) * tokens * Hkv + h0 / G) * D
                                     : (size_t(b) * Hq + h0) * mat;
          return static_cast<const unsigned char*>(base) + off * esize;
        };
        auto ld = [&](Operand kind) { return kind == kQ ? Hq * D : kind == kKV ? Hkv * D : sk; };
        auto stride = [&](Operand kind) -> long long {
          return kind == kQ ? D : kind == kKV ? (G == 1 ? D : 0) : (long long)mat;
        };
        auto tokens = [&](Operand kind) { return kind == kKV ? sk : sq; };
        LLMI_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
            handle(), ta, tb, m, n, k, &alpha, addr(A, a_kind, tokens(a_kind)), ty, ld(a_kind),
            stride(a_kind), addr(Bp, b_kind, tokens(b_kind)), ty, ld(b_kind), stride(b_kind),
            &zero, const_cast<unsigned char*>(addr(C, c_kind, tokens(c_kind))), ty, ld(c_kind),
            stride(c_kind), heads, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      }
  }
};

}  // namespace

void standard_attention_forward(const Problem& pr, const ForwardArgs& a, Workspace& ws,
                                cudaStream_t stream) {
  LLMI_REQUIRE(a.q && a.k && a.v && a.out, "standard attention: q, k, v, out must be non-null");
  const Standard st(pr, ws, "standard attention");
  if (st.sq == 0 || st.sk == 0) return;
  // S^T [Sk, Sq] = K [Sk, D] Q^T [D, Sq]
  st.gemm(CUBLAS_OP_T, CUBLAS_OP_N, st.sk, st.sq, st.D, 1.f, a.k, Standard::kKV, a.q,
          Standard::kQ, st.S, Standard::kMat, stream);
  // Grid: (Sq, heads_q, batch)
  const dim3 grid(st.sq, st.Hq, st.B);
  with_element_type(pr.dtype, [&](auto type) {
    using T = decltype(type);
    softmax_kernel<<<grid, 256, 0, stream>>>(reinterpret_cast<const T*>(st.S),
                                             reinterpret_cast<T*>(st.P), a.lse, st.sq, st.sk,
                                             pr.scale(), pr.causal);
  });
  LLMI_LAUNCH_CHECK();
  // O^T [D, Sq] = V^T [D, Sk] P^T [Sk, Sq]
  st.gemm(CUBLAS_OP_N, CUBLAS_OP_N, st.D, st.sq, st.sk, 1.f, a.v, Standard::kKV, st.P,
          Standard::kMat, a.out, Standard::kQ, stream);
}

void standard_attention_backward(const Problem& pr, const BackwardArgs& a, Workspace& ws,
                                 cudaStream_t stream) {
  LLMI_REQUIRE(a.fwd.q && a.fwd.k && a.fwd.v && a.dout && a.dq && a.dk && a.dv,
               "standard attention backward: q, k, v, dout, dq, dk, dv must be non-null");
  LLMI_REQUIRE(pr.heads_q == pr.heads_kv,
               "standard attention backward supports MHA only (heads_q == heads_kv), got "
                   << pr.heads_q << " query heads and " << pr.heads_kv << " kv heads");
  LLMI_REQUIRE(ws.bytes() >= 2 * llmi::dtype_size(pr.dtype) * double(pr.total_q()) *
                                 pr.max_seqlen_k() * pr.heads_q,
               "standard attention backward reads P saved by standard_attention_forward in the "
               "same workspace: run the forward first");
  const Standard st(pr, ws, "standard attention backward");
  if (st.sq == 0 || st.sk == 0) return;
  const float scale = pr.scale();
  // dV^T [D, Sk] = dO^T [D, Sq] P [Sq, Sk]
  st.gemm(CUBLAS_OP_N, CUBLAS_OP_T, st.D, st.sk, st.sq, 1.f, a.dout, Standard::kQ, st.P,
          Standard::kMat, a.dv, Standard::kKV, stream);
  // dP^T [Sk, Sq] = V [Sk, D] dO^T [D, Sq]   (into S's buffer)
  st.gemm(CUBLAS_OP_T, CUBLAS_OP_N, st.sk, st.sq, st.D, 1.f, a.fwd.v, Standard::kKV, a.dout,
          Standard::kQ, st.S, Standard::kMat, stream);
  // Grid: (Sq, heads_q, batch)
  const dim3 grid(st.sq, st.Hq, st.B);
  with_element_type(pr.dtype, [&](auto type) {
    using T = decltype(type);
    softmax_backward_kernel<<<grid, 256, 0, stream>>>(reinterpret_cast<const T*>(st.P),
                                                      reinterpret_cast<T*>(st.S), st.sq, st.sk);
  });
  LLMI_LAUNCH_CHECK();
  // dQ^T [D, Sq] = scale K^T [D, Sk] dS^T [Sk, Sq]
  st.gemm(CUBLAS_OP_N, CUBLAS_OP_N, st.D, st.sq, st.sk, scale, a.fwd.k, Standard::kKV, st.S,
          Standard::kMat, a.dq, Standard::kQ, stream);
  // dK^T [D, Sk] = scale Q^T [D, Sq] dS [Sq, Sk]
  st.gemm(CUBLAS_OP_N, CUBLAS_OP_T, st.D, st.sk, st.sq, scale, a.fwd.q, Standard::kQ, st.S,
          Standard::kMat, a.dk, Standard::kKV, stream);
}

}  // namespace flash
