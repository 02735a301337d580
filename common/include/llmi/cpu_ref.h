// CPU reference operators, in the precision of T (float or double; tests use double).
//
// Written for clarity, not speed: each is the textbook definition that kernels are checked
// against. Layouts are row-major; attention tensors are [tokens, heads, head_dim].
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <vector>

#include "llmi/check.h"

namespace llmi::ref {

// C[M,N] = A[M,K] * op(B), op(B) = B[K,N], or B[N,K]^T when b_transposed (nn.Linear weights).
template <typename T>
void gemm(const T* A, const T* B, T* C, int M, int N, int K, bool b_transposed = false) {
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      T acc = 0;
      for (int k = 0; k < K; ++k)
        acc += A[size_t(m) * K + k] * (b_transposed ? B[size_t(n) * K + k] : B[size_t(k) * N + n]);
      C[size_t(m) * N + n] = acc;
    }
}

// Row-wise softmax in place, max-subtracted so large logits do not overflow.
// A row that is all -inf (fully masked) becomes all zeros rather than NaN.
template <typename T>
void softmax_rows(T* x, int rows, int cols) {
  for (int r = 0; r < rows; ++r) {
    T* row = x + size_t(r) * cols;
    T mx = *std::max_element(row, row + cols);
    if (mx == -std::numeric_limits<T>::infinity()) {
      std::fill(row, row + cols, T(0));
      continue;
    }
    T sum = 0;
    for (int c = 0; c < cols; ++c) sum += (row[c] = std::exp(row[c] - mx));
    for (int c = 0; c < cols; ++c) row[c] /= sum;
  }
}

// y = x / sqrt(mean(x^2) + eps) * w, per row (Llama's RMSNorm; the weight multiplies last).
template <typename T>
void rmsnorm(const T* x, const T* w, T* y, int rows, int cols, double eps) {
  for (int r = 0; r < rows; ++r) {
    const T* xr = x + size_t(r) * cols;
    T ss = 0;
    for (int c = 0; c < cols; ++c) ss += xr[c] * xr[c];
    T inv = T(1) / std::sqrt(ss / T(cols) + T(eps));
    for (int c = 0; c < cols; ++c) y[size_t(r) * cols + c] = xr[c] * inv * w[c];
  }
}

// Rotary embedding in place, Hugging Face "rotate_half" layout: dimension i pairs with
// i + d/2, rotated by angle pos * theta^(-2i/d). x is [tokens, heads, head_dim].
template <typename T>
void rope(T* x, const int* positions, int tokens, int heads, int head_dim, double theta) {
  LLMI_REQUIRE(head_dim % 2 == 0, "RoPE needs an even head dim, got " << head_dim);
  const int half = head_dim / 2;
  for (int t = 0; t < tokens; ++t)
    for (int h = 0; h < heads; ++h) {
      T* v = x + (size_t(t) * heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        double inv_freq = std::pow(theta, -2.0 * i / head_dim);
        double ang = double(positions[t]) * inv_freq;
        T c = T(std::cos(ang)), s = T(std::sin(ang));
        T a = v[i], b = v[i + half];
        v[i] = a * c - b * s;
        v[i + half] = b * c + a * s;
      }
    }
}

template <typename T>
T silu(T x) {
  return x / (T(1) + std::exp(-x));
}

// Llama's MLP activation: out = silu(gate) * up, elementwise.
template <typename T>
void silu_mul(const T* gate, const T* up, T* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = silu(gate[i]) * up[i];
}

// Which keys a query sees. visible(i, j): query row i may attend to key row j.
using Mask = std::function<bool(int, int)>;

// Causal mask aligned to the bottom-right corner: with Sq queries being the last Sq of Sk
// positions (a prefill chunk after a cached prefix), query i sees keys j <= i + (Sk - Sq).
inline Mask causal_mask(int Sq, int Sk) {
  return [off = Sk - Sq](int i, int j) { return j <= i + off; };
}
inline Mask full_mask() {
  return [](int, int) { return true; };
}

// out[Sq, Hq, D] = softmax(scale * Q K^T, masked) V, with grouped-query attention: query head
// h reads kv head h / (Hq / Hkv). q [Sq, Hq, D], k and v [Sk, Hkv, D].
// lse, when given, receives the natural-log sum-exp of the scaled, masked scores, [Hq, Sq]
// (-inf for a fully masked row, whose output is 0): what FlashAttention saves for its backward.
template <typename T>
void attention(const T* q, const T* k, const T* v, T* out, int Sq, int Sk, int Hq, int Hkv,
               int D, double scale, const Mask& visible, T* lse = nullptr) {
  LLMI_REQUIRE(Hkv > 0 && Hq % Hkv == 0,
               "query heads (" << Hq << ") must be a multiple of kv heads (" << Hkv << ")");
  const int group = Hq / Hkv;
  std::vector<T> p(Sk);
  for (int h = 0; h < Hq; ++h) {
    const int kh = h / group;
    for (int i = 0; i < Sq; ++i) {
      const T* qi = q + (size_t(i) * Hq + h) * D;
      T mx = -std::numeric_limits<T>::infinity();
      for (int j = 0; j < Sk; ++j) {
        if (!visible(i, j)) {
          p[j] = -std::numeric_limits<T>::infinity();
          continue;
        }
        const T* kj = k + (size_t(j) * Hkv + kh) * D;
        T s = 0;
        for (int d = 0; d < D; ++d) s += qi[d] * kj[d];
        p[j] = s * T(scale);
        mx = std::max(mx, p[j]);
      }
      T* oi = out + (size_t(i) * Hq + h) * D;
      std::fill(oi, oi + D, T(0));
      if (mx == -std::numeric_limits<T>::infinity()) {
        if (lse) lse[size_t(h) * Sq + i] = mx;
        continue;
      }
      T sum = 0;
      for (int j = 0; j < Sk; ++j) sum += (p[j] = std::exp(p[j] - mx));
      for (int j = 0; j < Sk; ++j) {
        if (p[j] == T(0)) continue;
        const T* vj = v + (size_t(j) * Hkv + kh) * D;
        for (int d = 0; d < D; ++d) oi[d] += p[j] / sum * vj[d];
      }
      if (lse) lse[size_t(h) * Sq + i] = mx + std::log(sum);
    }
  }
}

}  // namespace llmi::ref
