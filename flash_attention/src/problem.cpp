// Problem: shape bookkeeping and validation shared by every kernel's launcher.
#include "flash_attention/problem.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "llmi/check.h"

namespace flash {

namespace {
int max_length(const std::vector<int>& cu) {
  int m = 0;
  for (size_t b = 0; b + 1 < cu.size(); ++b) m = std::max(m, cu[b + 1] - cu[b]);
  return m;
}

void validate_offsets(const std::vector<int>& cu, const char* name) {
  LLMI_REQUIRE(cu.size() >= 2, name << " needs batch + 1 >= 2 entries, got " << cu.size());
  LLMI_REQUIRE(cu[0] == 0, name << "[0] must be 0, got " << cu[0]);
  for (size_t b = 0; b + 1 < cu.size(); ++b)
    LLMI_REQUIRE(cu[b + 1] >= cu[b], name << " must be non-decreasing: entry " << b + 1 << " ("
                                          << cu[b + 1] << ") < entry " << b << " (" << cu[b]
                                          << ")");
}

std::string join(const std::vector<int>& cu) {
  std::ostringstream os;
  os << "[";
  for (size_t b = 0; b + 1 < cu.size(); ++b) os << (b ? "," : "") << cu[b + 1] - cu[b];
  os << "]";
  return os.str();
}
}  // namespace

int Problem::max_seqlen_q() const { return max_length(cu_seqlens_q); }
int Problem::max_seqlen_k() const { return max_length(cu_seqlens_k); }
float Problem::scale() const {
  return softmax_scale != 0 ? softmax_scale : 1.0f / std::sqrt(float(head_dim));
}

std::string Problem::str() const {
  std::ostringstream os;
  os << llmi::dtype_name(dtype) << " b=" << batch() << " hq=" << heads_q << " hkv=" << heads_kv
     << " d=" << head_dim << (causal ? " causal" : "") << " sq=" << join(cu_seqlens_q)
     << " sk=" << join(cu_seqlens_k);
  return os.str();
}

std::vector<int> cumulative_offsets(const std::vector<int>& lengths) {
  std::vector<int> cu{0};
  for (int len : lengths) {
    LLMI_REQUIRE(len >= 0, "sequence length must be >= 0, got " << len);
    cu.push_back(cu.back() + len);
  }
  return cu;
}

Problem fixed_length_problem(llmi::DType dtype, int batch, int heads_q, int heads_kv,
                             int head_dim, int seqlen_q, int seqlen_k, bool causal) {
  Problem p;
  p.dtype = dtype;
  p.heads_q = heads_q;
  p.heads_kv = heads_kv;
  p.head_dim = head_dim;
  p.causal = causal;
  p.cu_seqlens_q = cumulative_offsets(std::vector<int>(batch, seqlen_q));
  p.cu_seqlens_k = cumulative_offsets(std::vector<int>(batch, seqlen_k));
  return p;
}

void validate(const Problem& p, const std::vector<int>& supported_head_dims) {
  LLMI_REQUIRE(p.dtype == llmi::DType::BF16 || p.dtype == llmi::DType::F16,
               "dtype " << llmi::dtype_name(p.dtype) << " is not supported (bf16 or fp16)");
  if (std::find(supported_head_dims.begin(), supported_head_dims.end(), p.head_dim) ==
      supported_head_dims.end()) {
    std::ostringstream dims;
    for (size_t i = 0; i < supported_head_dims.size(); ++i)
      dims << (i ? ", " : "") << supported_head_dims[i];
    LLMI_REQUIRE(false, "head dim " << p.head_dim << " is not supported (" << dims.str() << ")");
  }
  LLMI_REQUIRE(p.heads_q > 0 && p.heads_kv > 0,
               "head counts must be positive, got heads_q=" << p.heads_q
                                                            << " heads_kv=" << p.heads_kv);
  LLMI_REQUIRE(p.heads_q % p.heads_kv == 0, "query heads (" << p.heads_q
                                                            << ") must be a multiple of kv heads ("
                                                            << p.heads_kv << ")");
  validate_offsets(p.cu_seqlens_q, "cu_seqlens_q");
  validate_offsets(p.cu_seqlens_k, "cu_seqlens_k");
  LLMI_REQUIRE(p.cu_seqlens_q.size() == p.cu_seqlens_k.size(),
               "cu_seqlens_q has " << p.cu_seqlens_q.size() << " entries but cu_seqlens_k has "
                                   << p.cu_seqlens_k.size() << " (both must be batch + 1)");
  LLMI_REQUIRE(std::isfinite(p.softmax_scale) && p.softmax_scale >= 0,
               "softmax scale must be finite and >= 0 (0 = 1/sqrt(d)), got " << p.softmax_scale);
}

double forward_flops(const Problem& p) {
  double f = 0;
  for (int b = 0; b < p.batch(); ++b) {
    const double sq = p.seqlen_q(b), sk = p.seqlen_k(b);
    const double avg_k = p.causal ? (std::max(0.0, sk - sq) + sk) / 2 : sk;
    f += 4.0 * sq * avg_k * p.head_dim * p.heads_q;
  }
  return f;
}

double standard_attention_scratch_bytes(const Problem& p) {
  double elems = 0;
  for (int b = 0; b < p.batch(); ++b) elems += double(p.seqlen_q(b)) * p.seqlen_k(b) * p.heads_q;
  return 2 * elems * double(llmi::dtype_size(p.dtype));  // S and P
}

}  // namespace flash
