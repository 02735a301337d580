// The references are checked against hand-computed cases and mathematical identities, since
// every kernel in the repo is judged by them.
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "llmi/catch.h"
#include "llmi/check.h"
#include "llmi/cpu_ref.h"
#include "llmi/random.h"

using namespace llmi;
using test::Approx;

namespace {
std::vector<double> rnd(size_t n, uint64_t seed) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = 2.0 * uniform01(seed, i) - 1.0;
  return v;
}
}  // namespace

TEST_CASE("gemm: a hand-computed product, and B transposed gives the same") {
  std::vector<double> A{1, 2, 3, 4, 5, 6};        // 2x3
  std::vector<double> B{7, 8, 9, 10, 11, 12};     // 3x2
  std::vector<double> Bt{7, 9, 11, 8, 10, 12};    // 2x3 (B transposed)
  std::vector<double> C(4), Ct(4);
  ref::gemm(A.data(), B.data(), C.data(), 2, 2, 3);
  ref::gemm(A.data(), Bt.data(), Ct.data(), 2, 2, 3, true);
  CHECK(C == std::vector<double>{58, 64, 139, 154});
  CHECK(Ct == C);
}

TEST_CASE("softmax: rows sum to one, shift invariance, masked rows become zero") {
  auto x = rnd(3 * 17, 1);
  auto y = x;
  for (auto& v : y) v += 1000.0;  // would overflow exp without max subtraction
  ref::softmax_rows(x.data(), 3, 17);
  ref::softmax_rows(y.data(), 3, 17);
  for (int r = 0; r < 3; ++r)
    CHECK(std::accumulate(x.begin() + r * 17, x.begin() + (r + 1) * 17, 0.0) == Approx(1.0));
  for (size_t i = 0; i < x.size(); ++i) REQUIRE(x[i] == Approx(y[i]).epsilon(1e-12));
  std::vector<double> m(4, -std::numeric_limits<double>::infinity());
  ref::softmax_rows(m.data(), 1, 4);
  CHECK(m == std::vector<double>(4, 0.0));
}

TEST_CASE("rmsnorm: hand case") {
  // x = (3, 4): mean square 12.5, 1/sqrt(12.5) = 0.2828...
  std::vector<double> x{3, 4}, w{1, 2}, y(2);
  ref::rmsnorm(x.data(), w.data(), y.data(), 1, 2, 0.0);
  CHECK(y[0] == Approx(3 / std::sqrt(12.5)));
  CHECK(y[1] == Approx(8 / std::sqrt(12.5)));
}

TEST_CASE("rope: identity at position 0, norm-preserving, scores depend on distance only") {
  const int D = 16;
  auto q = rnd(D, 2), k = rnd(D, 3);
  auto q0 = q;
  int p0 = 0;
  ref::rope(q0.data(), &p0, 1, 1, D, 10000.0);
  CHECK(q0 == q);
  auto dot_at = [&](int m, int n) {
    auto a = q, b = k;
    ref::rope(a.data(), &m, 1, 1, D, 10000.0);
    ref::rope(b.data(), &n, 1, 1, D, 10000.0);
    double na = 0, nq = 0;
    for (int i = 0; i < D; ++i) na += a[i] * a[i], nq += q[i] * q[i];
    REQUIRE(na == Approx(nq));
    return std::inner_product(a.begin(), a.end(), b.begin(), 0.0);
  };
  CHECK(dot_at(7, 3) == Approx(dot_at(104, 100)));
  CHECK(dot_at(7, 3) != Approx(dot_at(7, 4)));
  // rotate_half pairing: with only x[0] = 1, position 1 gives (cos 1, ..., sin 1 at i = D/2).
  std::vector<double> e(D, 0.0);
  e[0] = 1;
  int p1 = 1;
  ref::rope(e.data(), &p1, 1, 1, D, 10000.0);
  CHECK(e[0] == Approx(std::cos(1.0)));
  CHECK(e[D / 2] == Approx(std::sin(1.0)));
  LLMI_REQUIRE_THROWS_WITH(ref::rope(e.data(), &p1, 1, 1, 7, 1e4), "even head dim");
}

TEST_CASE("silu and silu_mul") {
  CHECK(ref::silu(0.0) == 0.0);
  CHECK(ref::silu(1.0) == Approx(1.0 / (1.0 + std::exp(-1.0))));
  std::vector<double> g{1, -2}, u{3, 4}, o(2);
  ref::silu_mul(g.data(), u.data(), o.data(), 2);
  CHECK(o[0] == Approx(3 * ref::silu(1.0)));
  CHECK(o[1] == Approx(4 * ref::silu(-2.0)));
}

TEST_CASE("attention: one visible key returns its value; equal scores average the values") {
  const int D = 4;
  auto q = rnd(D, 4);
  std::vector<double> k(2 * D, 0.0), v{1, 2, 3, 4, 5, 6, 7, 8}, o(D), lse(1);
  ref::attention(q.data(), k.data(), v.data(), o.data(), 1, 2, 1, 1, D, 1.0, ref::full_mask(),
                 lse.data());
  CHECK(o == std::vector<double>{3, 4, 5, 6});          // scores equal (k = 0): mean of rows
  CHECK(lse[0] == Approx(std::log(2.0)));
  ref::attention(q.data(), k.data(), v.data(), o.data(), 1, 2, 1, 1, D, 1.0,
                 [](int, int j) { return j == 1; });
  CHECK(o == std::vector<double>{5, 6, 7, 8});
  ref::attention(q.data(), k.data(), v.data(), o.data(), 1, 2, 1, 1, D, 1.0,
                 [](int, int) { return false; }, lse.data());
  CHECK(o == std::vector<double>(D, 0.0));
  CHECK(lse[0] == -std::numeric_limits<double>::infinity());
}

TEST_CASE("attention: GQA equals multi-head attention with repeated kv heads") {
  const int S = 5, Hq = 4, Hkv = 2, D = 8;
  auto q = rnd(S * Hq * D, 5), k = rnd(S * Hkv * D, 6), v = rnd(S * Hkv * D, 7);
  std::vector<double> kr(S * Hq * D), vr(S * Hq * D);
  for (int s = 0; s < S; ++s)
    for (int h = 0; h < Hq; ++h)
      for (int d = 0; d < D; ++d) {
        kr[(s * Hq + h) * D + d] = k[(s * Hkv + h / 2) * D + d];
        vr[(s * Hq + h) * D + d] = v[(s * Hkv + h / 2) * D + d];
      }
  std::vector<double> o1(S * Hq * D), o2(S * Hq * D);
  ref::attention(q.data(), k.data(), v.data(), o1.data(), S, S, Hq, Hkv, D, 0.35,
                 ref::causal_mask(S, S));
  ref::attention(q.data(), kr.data(), vr.data(), o2.data(), S, S, Hq, Hq, D, 0.35,
                 ref::causal_mask(S, S));
  for (size_t i = 0; i < o1.size(); ++i) REQUIRE(o1[i] == Approx(o2[i]).epsilon(1e-12));
  LLMI_REQUIRE_THROWS_WITH(ref::attention(q.data(), k.data(), v.data(), o1.data(), S, S, 3, 2, D,
                                          1.0, ref::full_mask()),
                           "multiple of kv heads");
}

TEST_CASE("attention: a chunk's bottom-right causal rows equal the same rows of the full prefill") {
  const int S = 9, C = 4, H = 2, D = 8;  // the last C queries of S, against all S keys
  auto q = rnd(S * H * D, 8), k = rnd(S * H * D, 9), v = rnd(S * H * D, 10);
  std::vector<double> full(S * H * D), chunk(C * H * D);
  ref::attention(q.data(), k.data(), v.data(), full.data(), S, S, H, H, D, 0.3,
                 ref::causal_mask(S, S));
  ref::attention(q.data() + (S - C) * H * D, k.data(), v.data(), chunk.data(), C, S, H, H, D, 0.3,
                 ref::causal_mask(C, S));
  for (int i = 0; i < C * H * D; ++i)
    REQUIRE(chunk[i] == Approx(full[(S - C) * H * D + i]).epsilon(1e-12));
}
