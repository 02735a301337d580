// DeviceCase and the FlashAttention error criterion (see gpu_case.h).
#include "gpu_case.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "llmi/check.h"
#include "llmi/random.h"

namespace flash::test {

DeviceCase::DeviceCase(const Problem& problem, uint64_t seed)
    : p(problem),
      q({p.total_q(), p.heads_q, p.head_dim}, p.dtype, llmi::Device::Cuda),
      k({p.total_k(), p.heads_kv, p.head_dim}, p.dtype, llmi::Device::Cuda),
      v({p.total_k(), p.heads_kv, p.head_dim}, p.dtype, llmi::Device::Cuda),
      dout({p.total_q(), p.heads_q, p.head_dim}, p.dtype, llmi::Device::Cuda),
      cu_q(p.cu_seqlens_q),
      cu_k(p.cu_seqlens_k) {
  validate(p);
  // Unit-variance-like inputs (uniform on +-1.7 has std ~1), as FA's tests use randn.
  llmi::fill_uniform(q, seed, -1.7f, 1.7f);
  llmi::fill_uniform(k, seed + 1, -1.7f, 1.7f);
  llmi::fill_uniform(v, seed + 2, -1.7f, 1.7f);
  llmi::fill_uniform(dout, seed + 3, -1.f, 1.f);
}

ForwardArgs DeviceCase::args(llmi::Tensor& out, llmi::DeviceBuffer<float>* lse) const {
  ForwardArgs a;
  a.q = q.raw();
  a.k = k.raw();
  a.v = v.raw();
  a.cu_seqlens_q = cu_q.data();
  a.cu_seqlens_k = cu_k.data();
  a.out = out.raw();
  a.lse = lse ? lse->data() : nullptr;
  return a;
}

BackwardArgs DeviceCase::backward_args(llmi::Tensor& out, llmi::DeviceBuffer<float>* lse,
                                       llmi::Tensor& dq, llmi::Tensor& dk, llmi::Tensor& dv) const {
  BackwardArgs a;
  a.fwd = args(out, lse);
  a.dout = dout.raw();
  a.dq = dq.raw();
  a.dk = dk.raw();
  a.dv = dv.raw();
  return a;
}

bool Check::ok() const {
  return poisoned == 0 && cmp.nonfinite == 0 && std::isfinite(err) &&
         err <= factor * naive_err + slack;
}

std::string Check::str() const {
  std::ostringstream os;
  os.precision(3);
  os << what << ": err=" << err << " <= " << factor << "*naive(" << naive_err << ")+" << slack
     << " rel_l2=" << cmp.rel_l2 << " poisoned=" << poisoned << (ok() ? " ok" : " FAIL");
  return os.str();
}

ForwardRef reference_forward(const DeviceCase& c) {
  const auto q = c.q.to_double(), k = c.k.to_double(), v = c.v.to_double();
  ForwardRef r;
  r.out.resize(q.size());
  r.naive_out.resize(q.size());
  r.lse.resize(size_t(c.p.total_q()) * c.p.heads_q);
  r.naive_lse.resize(r.lse.size());
  ref::forward(c.p, q.data(), k.data(), v.data(), r.out.data(), r.lse.data());
  ref::forward(c.p, q.data(), k.data(), v.data(), r.naive_out.data(), r.naive_lse.data(),
               ref::Precision::naive(c.p.dtype));
  return r;
}

namespace {
Check make_check(std::string what, const std::vector<double>& got, const std::vector<double>& ref,
                 const std::vector<double>& naive, llmi::DType dtype, double factor,
                 size_t poisoned) {
  Check ch;
  ch.what = std::move(what);
  ch.err = ref::max_abs_diff(got, ref);
  ch.naive_err = ref::max_abs_diff(naive, ref);
  ch.slack = ref::rounding_slack(ref, dtype);
  ch.factor = factor;
  ch.cmp = llmi::compare(got, ref);
  ch.poisoned = poisoned;
  return ch;
}
}  // namespace

Check check_output(const DeviceCase& c, const ForwardRef& ref, const llmi::Tensor& out) {
  return make_check("out", out.to_double(), ref.out, ref.naive_out, c.p.dtype, 2,
                    llmi::count_poisoned(out));
}

namespace {
// max |got - ref| / (1 + |ref|) over finite entries; +inf where -inf does not match -inf.
double lse_error(const std::vector<double>& got, const std::vector<double>& ref) {
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double r = ref[i], g = got[i];
    if (std::isinf(r) || std::isinf(g) || std::isnan(g)) {
      if (!(std::isinf(r) && std::isinf(g) && r < 0 && g < 0))
        worst = std::numeric_limits<double>::infinity();
      continue;
    }
    worst = std::max(worst, std::fabs(g - r) / (1 + std::fabs(r)));
  }
  return worst;
}
}  // namespace

Check check_lse(const ForwardRef& ref, const llmi::DeviceBuffer<float>& lse, bool scores_in_dtype) {
  const std::vector<float> host = lse.to_host();
  Check ch;
  ch.what = "lse";
  ch.err = lse_error(std::vector<double>(host.begin(), host.end()), ref.lse);
  ch.naive_err = lse_error(ref.naive_lse, ref.lse);
  ch.factor = scores_in_dtype ? 2 : 0;
  ch.slack = 1e-3;  // fp32 row statistics
  return ch;
}

BackwardRef reference_backward(const DeviceCase& c, const ForwardRef& fwd) {
  const auto q = c.q.to_double(), k = c.k.to_double(), v = c.v.to_double(),
             dout = c.dout.to_double();
  BackwardRef r;
  r.dq.resize(q.size());
  r.naive_dq.resize(q.size());
  r.dk.resize(k.size());
  r.dv.resize(k.size());
  r.naive_dk.resize(k.size());
  r.naive_dv.resize(k.size());
  ref::backward(c.p, q.data(), k.data(), v.data(), fwd.out.data(), dout.data(), r.dq.data(),
                r.dk.data(), r.dv.data());
  ref::backward(c.p, q.data(), k.data(), v.data(), fwd.naive_out.data(), dout.data(),
                r.naive_dq.data(), r.naive_dk.data(), r.naive_dv.data(),
                ref::Precision::naive(c.p.dtype));
  return r;
}

std::vector<Check> check_gradients(const DeviceCase& c, const BackwardRef& ref,
                                   const llmi::Tensor& dq, const llmi::Tensor& dk,
                                   const llmi::Tensor& dv) {
  return {make_check("dq", dq.to_double(), ref.dq, ref.naive_dq, c.p.dtype, 3,
                     llmi::count_poisoned(dq)),
          make_check("dk", dk.to_double(), ref.dk, ref.naive_dk, c.p.dtype, 3,
                     llmi::count_poisoned(dk)),
          make_check("dv", dv.to_double(), ref.dv, ref.naive_dv, c.p.dtype, 3,
                     llmi::count_poisoned(dv))};
}

}  // namespace flash::test
