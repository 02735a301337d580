// CPU tests of the fp64 reference that every kernel is checked against: the forward against
// common's ref::attention, the backward against finite differences, and the naive-precision
// variant (the yardstick of the error criterion) against both.
#include <cmath>
#include <random>

#include "flash_attention/reference.h"
#include "llmi/catch.h"
#include "llmi/cpu_ref.h"

using namespace flash;
using llmi::DType;

namespace {
std::vector<double> random_vector(size_t n, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-scale, scale);
  std::vector<double> x(n);
  for (double& v : x) v = u(gen);
  return x;
}

struct Inputs {
  std::vector<double> q, k, v, dout;
  Inputs(const Problem& p, uint64_t seed)
      : q(random_vector(size_t(p.total_q()) * p.heads_q * p.head_dim, seed, 1.7)),
        k(random_vector(size_t(p.total_k()) * p.heads_kv * p.head_dim, seed + 1, 1.7)),
        v(random_vector(k.size(), seed + 2, 1.7)),
        dout(random_vector(q.size(), seed + 3)) {}
};

Problem varlen_gqa(bool causal) {
  Problem p;
  p.dtype = DType::BF16;
  p.heads_q = 4;
  p.heads_kv = 2;
  p.head_dim = 64;
  p.causal = causal;
  p.cu_seqlens_q = cumulative_offsets({1, 5, 7});
  p.cu_seqlens_k = cumulative_offsets({3, 5, 4});  // sequence 2 has more queries than keys
  return p;
}
}  // namespace

TEST_CASE("reference forward equals common's ref::attention per sequence, with lse") {
  for (bool causal : {false, true}) {
    const Problem p = varlen_gqa(causal);
    const Inputs in(p, 7);
    std::vector<double> out(in.q.size()), lse(size_t(p.total_q()) * p.heads_q);
    ref::forward(p, in.q.data(), in.k.data(), in.v.data(), out.data(), lse.data());
    const int D = p.head_dim;
    for (int b = 0; b < p.batch(); ++b) {
      const int sq = p.seqlen_q(b), sk = p.seqlen_k(b);
      const size_t qo = size_t(p.cu_seqlens_q[b]) * p.heads_q * D;
      const size_t ko = size_t(p.cu_seqlens_k[b]) * p.heads_kv * D;
      std::vector<double> o2(size_t(sq) * p.heads_q * D), l2(size_t(sq) * p.heads_q);
      llmi::ref::attention(in.q.data() + qo, in.k.data() + ko, in.v.data() + ko, o2.data(), sq,
                           sk, p.heads_q, p.heads_kv, D, p.scale(),
                           causal ? llmi::ref::causal_mask(sq, sk) : llmi::ref::full_mask(),
                           l2.data());
      for (size_t i = 0; i < o2.size(); ++i) REQUIRE(out[qo + i] == llmi::test::Approx(o2[i]).margin(1e-12));
      for (int h = 0; h < p.heads_q; ++h)
        for (int i = 0; i < sq; ++i) {
          const double a = lse[size_t(h) * p.total_q() + p.cu_seqlens_q[b] + i];
          const double e = l2[size_t(h) * sq + i];
          if (std::isinf(e)) REQUIRE((std::isinf(a) && a < 0));
          else REQUIRE(a == llmi::test::Approx(e).margin(1e-12));
        }
    }
  }
}

TEST_CASE("bottom-right causal: a query with no visible key gets 0 and lse -inf") {
  Problem p = fixed_length_problem(DType::BF16, 1, 1, 1, 64, 4, 2, true);  // Sq > Sk
  const Inputs in(p, 3);
  std::vector<double> out(in.q.size()), lse(4);
  ref::forward(p, in.q.data(), in.k.data(), in.v.data(), out.data(), lse.data());
  // Query i sees keys j <= i - 2: queries 0, 1 see nothing, query 3 sees both keys.
  CHECK(std::isinf(lse[0]));
  CHECK(std::isinf(lse[1]));
  CHECK(std::isfinite(lse[2]));
  for (int d = 0; d < 64; ++d) REQUIRE(out[d] == 0.0);
}

TEST_CASE("reference backward matches central finite differences of sum(out * dout)") {
  for (bool causal : {false, true}) {
    Problem p = varlen_gqa(causal);
    p.head_dim = 64;
    Inputs in(p, 11);
    auto loss = [&](const Inputs& x) {
      std::vector<double> out(x.q.size());
      ref::forward(p, x.q.data(), x.k.data(), x.v.data(), out.data(), nullptr);
      double s = 0;
      for (size_t i = 0; i < out.size(); ++i) s += out[i] * x.dout[i];
      return s;
    };
    std::vector<double> out(in.q.size()), dq(in.q.size()), dk(in.k.size()), dv(in.k.size());
    ref::forward(p, in.q.data(), in.k.data(), in.v.data(), out.data(), nullptr);
    ref::backward(p, in.q.data(), in.k.data(), in.v.data(), out.data(), in.dout.data(), dq.data(),
                  dk.data(), dv.data());
    const double h = 1e-6;
    auto probe = [&](std::vector<double>& x, const std::vector<double>& grad, size_t stride) {
      for (size_t i = 0; i < x.size(); i += stride) {
        const double x0 = x[i];
        x[i] = x0 + h;
        const double up = loss(in);
        x[i] = x0 - h;
        const double down = loss(in);
        x[i] = x0;
        REQUIRE(grad[i] == llmi::test::Approx((up - down) / (2 * h)).margin(1e-7));
      }
    };
    probe(in.q, dq, 37);
    probe(in.k, dk, 29);
    probe(in.v, dv, 31);
  }
}

TEST_CASE("naive low-precision attention is close to, but not equal to, the fp64 result") {
  Problem p = fixed_length_problem(DType::BF16, 2, 2, 1, 128, 33, 70, true);
  const Inputs in(p, 5);
  for (DType t : {DType::BF16, DType::F16}) {
    p.dtype = t;
    // Inputs as the kernel sees them: rounded to the dtype.
    const ref::Precision r = ref::Precision::naive(t);
    Inputs rin = in;
    for (auto* x : {&rin.q, &rin.k, &rin.v, &rin.dout})
      for (double& e : *x) e = r(e);
    std::vector<double> exact(rin.q.size()), naive(rin.q.size());
    ref::forward(p, rin.q.data(), rin.k.data(), rin.v.data(), exact.data(), nullptr);
    ref::forward(p, rin.q.data(), rin.k.data(), rin.v.data(), naive.data(), nullptr, r);
    const double err = ref::max_abs_diff(naive, exact);
    INFO(llmi::dtype_name(t) << " naive forward error " << err);
    CHECK(err > 0);
    CHECK(err < (t == DType::BF16 ? 3e-2 : 4e-3));
    std::vector<double> dq(rin.q.size()), dk(rin.k.size()), dv(rin.k.size());
    std::vector<double> ndq(dq.size()), ndk(dk.size()), ndv(dv.size());
    ref::backward(p, rin.q.data(), rin.k.data(), rin.v.data(), exact.data(), rin.dout.data(),
                  dq.data(), dk.data(), dv.data());
    ref::backward(p, rin.q.data(), rin.k.data(), rin.v.data(), naive.data(), rin.dout.data(),
                  ndq.data(), ndk.data(), ndv.data(), r);
    for (auto [a, b] : {std::pair{&ndq, &dq}, {&ndk, &dk}, {&ndv, &dv}}) {
      CHECK(ref::max_abs_diff(*a, *b) > 0);
      CHECK(ref::max_abs_diff(*a, *b) < (t == DType::BF16 ? 0.1 : 0.02));
    }
  }
}

TEST_CASE("rounding slack and max_abs_diff") {
  CHECK(ref::max_abs_diff({1, 2, 3}, {1, 2.5, 3}) == 0.5);
  CHECK(std::isinf(ref::max_abs_diff({1, NAN}, {1, 2})));
  // Near 1.0, bf16 has 7 fraction bits: adding 0.3 and removing it costs a few 2^-8 steps.
  const double s = ref::rounding_slack({1.0, -0.5}, DType::BF16);
  CHECK(s > 0);
  CHECK(s < 0.05);
  CHECK(ref::rounding_slack({1.0}, DType::F16) < s);
}
