// Every kernel against the fp64 CPU reference, with FlashAttention's criterion (gpu_case.h), on
// random inputs over a grid of head dims, head groupings (MHA, GQA, MQA), lengths (1, not a
// multiple of any tile, Sq != Sk in both directions, varlen) and causal or not.
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "../kernels/backward_launch.h"
#include "gpu_case.h"
#include "llmi/catch.h"
#include "llmi/check.h"

using namespace flash;
using namespace flash::test;
using llmi::DType;

namespace {
// A varlen batch: one sequence per pair of query and key lengths.
Problem varlen_problem(DType t, int heads_q, int heads_kv, int d, bool causal,
                       const std::vector<int>& q_lengths, const std::vector<int>& k_lengths) {
  Problem p = fixed_length_problem(t, int(q_lengths.size()), heads_q, heads_kv, d, 0, 0, causal);
  p.cu_seqlens_q = cumulative_offsets(q_lengths);
  p.cu_seqlens_k = cumulative_offsets(k_lengths);
  return p;
}

// The shape grid, for one head dim and dtype.
std::vector<Problem> shape_grid(DType t, int d) {
  std::vector<Problem> grid;
  for (bool causal : {false, true}) {
    grid.push_back(fixed_length_problem(t, 2, 4, 4, d, 97, 97, causal));    // MHA, odd length
    grid.push_back(fixed_length_problem(t, 1, 4, 1, d, 1, 1, causal));      // MQA, length 1
    grid.push_back(fixed_length_problem(t, 2, 6, 2, d, 130, 200, causal));  // GQA, chunked prefill
    grid.push_back(fixed_length_problem(t, 1, 2, 2, d, 150, 64, causal));   // more queries than keys
    grid.push_back(varlen_problem(t, 4, 2, d, causal, {1, 67, 129}, {33, 67, 300}));
  }
  return grid;
}

// Inputs depend only on the problem, so each problem's fp64/naive references are computed once
// and shared by every kernel's test (the CPU reference dominates the test's run time).
DeviceCase make_case(const Problem& p) { return DeviceCase(p, std::hash<std::string>{}(p.str())); }
const ForwardRef& forward_ref(const DeviceCase& c) {
  static std::map<std::string, ForwardRef> cache;
  auto [it, fresh] = cache.try_emplace(c.p.str());
  if (fresh) it->second = reference_forward(c);
  return it->second;
}
const BackwardRef& backward_ref(const DeviceCase& c) {
  static std::map<std::string, BackwardRef> cache;
  auto [it, fresh] = cache.try_emplace(c.p.str());
  if (fresh) it->second = reference_backward(c, forward_ref(c));
  return it->second;
}

using Forward = std::function<void(const Problem&, const ForwardArgs&)>;

void check_forward_kernel(const char* name, const Forward& run, std::vector<Problem> problems,
                          bool scores_in_dtype = false) {
  for (const Problem& p : problems) {
    const DeviceCase c = make_case(p);
    llmi::Tensor out({p.total_q(), p.heads_q, p.head_dim}, p.dtype, llmi::Device::Cuda);
    llmi::DeviceBuffer<float> lse(size_t(p.total_q()) * p.heads_q);
    out.poison();
    lse.poison();
    run(p, c.args(out, &lse));
    LLMI_CUDA_CHECK(cudaDeviceSynchronize());
    const ForwardRef& ref = forward_ref(c);
    const Check o = check_output(c, ref, out);
    INFO(name << " " << p.str() << "\n  " << o.str());
    CHECK(o.ok());
    const Check l = check_lse(ref, lse, scores_in_dtype);
    INFO("  " << l.str());
    CHECK(l.ok());
  }
}

std::vector<Problem> all_dims(DType t) {
  std::vector<Problem> all;
  for (int d : {64, 128, 256})
    for (const Problem& p : shape_grid(t, d)) all.push_back(p);
  return all;
}

flash::Workspace& workspace() {
  static flash::Workspace ws;
  return ws;
}
}  // namespace

TEST_CASE("FA2 forward (mma.sync) matches the reference: bf16, d = 64/128/256") {
  check_forward_kernel("fa2", [](auto& p, auto& a) { fa2_forward(p, a); }, all_dims(DType::BF16));
}

TEST_CASE("FA2 forward matches the reference: fp16") {
  check_forward_kernel("fa2", [](auto& p, auto& a) { fa2_forward(p, a); },
                       shape_grid(DType::F16, 128));
}

TEST_CASE("Flash-Decoding (split-KV, packed GQA) matches the reference") {
  std::vector<Problem> ps = all_dims(DType::BF16);
  // Decode proper: one query per sequence against a long cache, 8 query heads per kv head.
  ps.push_back(fixed_length_problem(DType::BF16, 2, 32, 4, 128, 1, 3000, true));
  ps.push_back(fixed_length_problem(DType::F16, 1, 8, 8, 128, 3, 1000, true));
  // The benchmark's head layout (4 query heads per kv head), long enough that every warp of
  // every split streams several key tiles; and a varlen batch whose middle sequence has a
  // single key tile and whose last has none (output 0, lse -inf).
  ps.push_back(fixed_length_problem(DType::BF16, 1, 32, 8, 128, 1, 20000, true));
  ps.push_back(varlen_problem(DType::BF16, 16, 2, 128, true, {1, 2, 1}, {5000, 17, 0}));
  for (int splits : {0, 1, 3, 16}) {
    INFO("num_splits=" << splits);
    check_forward_kernel("decode",
                         [&](auto& p, auto& a) { flash_decode(p, a, workspace(), {splits}); }, ps);
  }
}

// With overlap_previous_kernel, a call starts during the previous one's tail, reads its cached
// keys before waiting, and shares its workspace (partials, arrival counters): back-to-back calls
// must each give the bits the same call gives alone. Shapes where the new keys fall in a warp's
// first tiles (short caches, several new tokens) exercise the loads deferred past the wait.
TEST_CASE("Flash-Decoding calls overlapped back to back give each call's result alone") {
  std::vector<Problem> ps = {fixed_length_problem(DType::BF16, 1, 32, 8, 128, 1, 4100, true),
                             fixed_length_problem(DType::BF16, 1, 32, 8, 128, 1, 300, true),
                             fixed_length_problem(DType::BF16, 2, 16, 4, 128, 5, 700, true),
                             fixed_length_problem(DType::F16, 1, 8, 8, 64, 3, 2000, true),
                             fixed_length_problem(DType::BF16, 1, 32, 8, 128, 1, 9000, true)};
  std::vector<std::unique_ptr<DeviceCase>> cases;
  std::vector<llmi::Tensor> alone, overlapped;
  for (size_t i = 0; i < ps.size(); ++i) {
    cases.push_back(std::make_unique<DeviceCase>(ps[i], 100 + i));
    for (auto* outs : {&alone, &overlapped}) {
      outs->emplace_back(cases[i]->q.shape(), ps[i].dtype, llmi::Device::Cuda);
      outs->back().poison();
    }
    // Alone: synchronised, no overlap (this also sizes the workspace for the loop below).
    flash_decode(ps[i], cases[i]->args(alone[i], nullptr), workspace());
    LLMI_CUDA_CHECK(cudaDeviceSynchronize());
    const Check ch = check_output(*cases[i], reference_forward(*cases[i]), alone[i]);
    INFO(ch.str());
    REQUIRE(ch.ok());
  }
  for (int rep = 0; rep < 3; ++rep) {
    for (size_t i = 0; i < ps.size(); ++i)
      flash_decode(ps[i], cases[i]->args(overlapped[i], nullptr), workspace(),
                   {0, /*overlap_previous_kernel=*/true});
    LLMI_CUDA_CHECK(cudaDeviceSynchronize());
    for (size_t i = 0; i < ps.size(); ++i) {
      INFO("rep " << rep << ", problem " << i);
      const llmi::Tensor a = alone[i].to(llmi::Device::Host), o = overlapped[i].to(llmi::Device::Host);
      REQUIRE(a.nbytes() == o.nbytes());
      CHECK(std::memcmp(a.raw(), o.raw(), a.nbytes()) == 0);
      overlapped[i].poison();
    }
  }
}

TEST_CASE("FA1 forward matches the reference") {
  check_forward_kernel("fa1", [](auto& p, auto& a) { fa1_forward(p, a, workspace()); },
                       all_dims(DType::BF16));
  check_forward_kernel("fa1", [](auto& p, auto& a) { fa1_forward(p, a, workspace()); },
                       shape_grid(DType::F16, 64));
}

TEST_CASE("standard attention (cuBLAS + softmax) matches the reference") {
  std::vector<Problem> ps;
  for (const Problem& p : all_dims(DType::BF16))
    if (p.batch() == 1 || p.max_seqlen_q() * p.batch() == p.total_q()) ps.push_back(p);
  for (Problem& p : shape_grid(DType::F16, 128))
    if (p.cu_seqlens_q.size() == 2) ps.push_back(p);
  check_forward_kernel("standard",
                       [](auto& p, auto& a) { standard_attention_forward(p, a, workspace()); },
                       ps, /*scores_in_dtype=*/true);
}

// Runs one backward into fresh, poisoned gradients and checks dQ, dK, dV.
void check_backward(const char* name, const DeviceCase& c, const BackwardRef& ref,
                    const std::function<void(const BackwardArgs&)>& run, llmi::Tensor& out,
                    llmi::DeviceBuffer<float>& lse) {
  const Problem& p = c.p;
  llmi::Tensor dq(c.q.shape(), p.dtype, llmi::Device::Cuda),
      dk(c.k.shape(), p.dtype, llmi::Device::Cuda), dv(c.k.shape(), p.dtype, llmi::Device::Cuda);
  dq.poison();
  dk.poison();
  dv.poison();
  run(c.backward_args(out, &lse, dq, dk, dv));
  LLMI_CUDA_CHECK(cudaDeviceSynchronize());
  for (const Check& ch : check_gradients(c, ref, dq, dk, dv)) {
    INFO(name << " backward " << p.str() << "\n  " << ch.str());
    CHECK(ch.ok());
  }
}

// The backward grid: every head dim and layout in bf16, d = 64 in fp16, and several rounds of
// both pipeline stages of the tensor-core backward (64 queries per step at d = 128, 128 at
// d = 64) ending on a partial step. The fp64 reference of each problem is computed once
// (backward_ref) and shared by the test cases below.
std::vector<Problem> backward_problems() {
  std::vector<Problem> ps = all_dims(DType::BF16);
  for (const Problem& p : shape_grid(DType::F16, 64)) ps.push_back(p);
  for (int d : {64, 128})
    for (bool causal : {false, true})
      ps.push_back(fixed_length_problem(DType::BF16, 1, 2, 2, d, 600, 600, causal));
  // Enough equal key blocks for the tensor-core backward's stream-K schedule (stream_k.h). On
  // 132 SMs (H100, H200), MHA (dK and dV straight to the outputs):
  //   bf16, d = 128: 2 key blocks x 100 (head, sequence) pairs = 200 tiles run 132 whole, then
  //     68 split into shares of 2.6 of their 5 query steps, so tiles are cut among 3 blocks;
  //   fp16, d = 64: 3 key blocks x 96 pairs = 288 tiles run 132 whole, then 156 split (3.5
  //     of 3 steps per block);
  // and GQA (dK, dV per query head in fp32): 3 x 64 = 192 tiles, all split.
  ps.push_back(fixed_length_problem(DType::BF16, 2, 50, 50, 128, 300, 256, false));
  ps.push_back(fixed_length_problem(DType::F16, 2, 48, 48, 64, 300, 300, false));
  ps.push_back(fixed_length_problem(DType::BF16, 2, 32, 8, 64, 300, 300, false));
  // More tiles than SMs under the causal mask, a third of them past their sequence's end, so
  // the tensor-core backward's longest-first order (block_order.h) runs over several waves and
  // skips empty tiles (5 key blocks x 24 heads x 3 sequences = 360 tiles, 240 with keys).
  ps.push_back(varlen_problem(DType::BF16, 24, 24, 64, true, {100, 300, 520}, {140, 300, 520}));
  return ps;
}

// Checks `run`'s gradients for every problem that `applies` to, given the FA2 forward's O and
// logsumexp.
void check_backward_kernel(const char* name,
                           const std::function<void(const Problem&, const BackwardArgs&)>& run,
                           const std::function<bool(const Problem&)>& applies) {
  for (const Problem& p : backward_problems()) {
    if (!applies(p)) continue;
    const DeviceCase c = make_case(p);
    llmi::Tensor out({p.total_q(), p.heads_q, p.head_dim}, p.dtype, llmi::Device::Cuda);
    llmi::DeviceBuffer<float> lse(size_t(p.total_q()) * p.heads_q);
    fa2_forward(p, c.args(out, &lse));
    check_backward(name, c, backward_ref(c), [&](auto& a) { run(p, a); }, out, lse);
  }
}

bool any_problem(const Problem&) { return true; }

// One test case per kernel family, so that compute-sanitizer can check the FA kernels without
// cuBLAS's (racecheck fails on those with an internal error).
// Stream-K from any length (fa2_backward keeps it for >= 1024 query rows), so the split kernel
// runs on the grid's small problems that have enough tiles.
void fa2_backward_any_stream_k(const Problem& p, const BackwardArgs& a) {
  fa2_backward_stream_k_from(p, a, workspace(), /*min_rows=*/0, nullptr);
}

TEST_CASE("FA2 backward matches the reference gradients") {
  check_backward_kernel("fa2", fa2_backward_any_stream_k, any_problem);
  // and through the public entry point, which runs those problems one block per tile
  check_backward_kernel("fa2", [](auto& p, auto& a) { fa2_backward(p, a, workspace()); },
                        [](const Problem& p) { return p.heads_q * p.batch() >= 64; });
}

TEST_CASE("FA1 backward matches the reference gradients") {
  check_backward_kernel("fa1", [](auto& p, auto& a) { fa1_backward(p, a, workspace()); },
                        any_problem);
}

TEST_CASE("standard attention backward matches the reference gradients") {
  // Equal lengths and MHA only (attention.h); it reads the P its own forward saved in `ws`.
  check_backward_kernel(
      "standard",
      [](const Problem& p, const BackwardArgs& a) {
        Workspace ws;
        llmi::Tensor std_out({p.total_q(), p.heads_q, p.head_dim}, p.dtype, llmi::Device::Cuda);
        ForwardArgs fwd = a.fwd;
        fwd.out = std_out.raw(), fwd.lse = nullptr;
        standard_attention_forward(p, fwd, ws);
        standard_attention_backward(p, a, ws);
      },
      [](const Problem& p) {
        return p.max_seqlen_q() * p.batch() == p.total_q() &&
               p.max_seqlen_k() * p.batch() == p.total_k() && p.heads_q == p.heads_kv;
      });
}

std::vector<unsigned char> host_bytes(const llmi::Tensor& t) {
  const llmi::Tensor h = t.to(llmi::Device::Host);
  const auto* b = static_cast<const unsigned char*>(h.raw());
  return {b, b + h.nbytes()};
}

TEST_CASE("the forward kernels are deterministic: identical bits across runs") {
  const Problem p = fixed_length_problem(DType::BF16, 2, 8, 2, 128, 300, 700, true);
  DeviceCase c(p, 42);
  for (const char* which : {"fa2", "decode", "fa1"}) {
    std::vector<std::vector<unsigned char>> runs;
    for (int rep = 0; rep < 3; ++rep) {
      llmi::Tensor out({p.total_q(), p.heads_q, p.head_dim}, p.dtype, llmi::Device::Cuda);
      out.poison();
      const ForwardArgs a = c.args(out, nullptr);
      if (std::string(which) == "fa2") fa2_forward(p, a);
      else if (std::string(which) == "decode") flash_decode(p, a, workspace(), {7});
      else fa1_forward(p, a, workspace());
      LLMI_CUDA_CHECK(cudaDeviceSynchronize());
      runs.push_back(host_bytes(out));
    }
    INFO(which);
    CHECK(runs[0] == runs[1]);
    CHECK(runs[0] == runs[2]);
  }
}

// dQ is summed with atomics (FA2's default, not deterministic); each dK, dV element is written by
// one block, which under stream-K first adds the previous block's partial sums in a fixed order.
TEST_CASE("the FA2 backward's dK and dV are deterministic: identical bits across runs") {
  for (const Problem& p : {fixed_length_problem(DType::BF16, 2, 50, 50, 128, 300, 256, false),
                           fixed_length_problem(DType::BF16, 2, 32, 8, 64, 300, 300, false)}) {
    DeviceCase c(p, 43);
    llmi::Tensor out({p.total_q(), p.heads_q, p.head_dim}, p.dtype, llmi::Device::Cuda);
    llmi::DeviceBuffer<float> lse(size_t(p.total_q()) * p.heads_q);
    fa2_forward(p, c.args(out, &lse));
    std::vector<std::vector<unsigned char>> runs;
    for (int rep = 0; rep < 3; ++rep) {
      llmi::Tensor dq(c.q.shape(), p.dtype, llmi::Device::Cuda),
          dk(c.k.shape(), p.dtype, llmi::Device::Cuda), dv(c.k.shape(), p.dtype, llmi::Device::Cuda);
      dk.poison();
      dv.poison();
      fa2_backward_any_stream_k(p, c.backward_args(out, &lse, dq, dk, dv));
      LLMI_CUDA_CHECK(cudaDeviceSynchronize());
      std::vector<unsigned char> bytes = host_bytes(dk), v_bytes = host_bytes(dv);
      bytes.insert(bytes.end(), v_bytes.begin(), v_bytes.end());
      runs.push_back(std::move(bytes));
    }
    INFO(p.str());
    CHECK(runs[0] == runs[1]);
    CHECK(runs[0] == runs[2]);
  }
}

TEST_CASE("unsupported shapes are refused with a clear error") {
  Problem p = fixed_length_problem(DType::BF16, 1, 2, 2, 96, 8, 8, false);
  llmi::Tensor buf({64 * 1024}, DType::BF16, llmi::Device::Cuda);
  llmi::DeviceBuffer<int> cu(std::vector<int>{0, 8});
  ForwardArgs a{buf.raw(), buf.raw(), buf.raw(), cu.data(), cu.data(), buf.raw(), nullptr};
  LLMI_REQUIRE_THROWS_WITH(fa2_forward(p, a), "head dim 96 is not supported");
  LLMI_REQUIRE_THROWS_WITH(flash_decode(p, a, workspace()), "head dim 96 is not supported");
  LLMI_REQUIRE_THROWS_WITH(fa1_forward(p, a, workspace()), "head dim 96 is not supported");
  p.head_dim = 64;
  p.dtype = DType::F32;
  LLMI_REQUIRE_THROWS_WITH(fa2_forward(p, a), "dtype fp32 is not supported");
  p.dtype = DType::BF16;
  p.heads_kv = 3;
  LLMI_REQUIRE_THROWS_WITH(fa2_forward(p, a), "must be a multiple of kv heads");
  p.heads_kv = 2;
  ForwardArgs missing = a;
  missing.out = nullptr;
  LLMI_REQUIRE_THROWS_WITH(fa2_forward(p, missing), "must be non-null");
  Problem varlen = p;
  varlen.cu_seqlens_q = {0, 3, 8};
  varlen.cu_seqlens_k = {0, 4, 8};
  LLMI_REQUIRE_THROWS_WITH(standard_attention_forward(varlen, a, workspace()),
                           "standard attention needs equal lengths");
  LLMI_REQUIRE_THROWS_WITH(flash_decode(p, a, workspace(), {-1}), "num_splits must be >= 0");
  BackwardArgs b;
  b.fwd = a;
  b.dout = b.dq = b.dk = b.dv = buf.raw();
  Workspace empty;
  LLMI_REQUIRE_THROWS_WITH(standard_attention_backward(p, b, empty), "run the forward first");
  LLMI_REQUIRE_THROWS_WITH(fa2_backward(p, b, workspace()), "must be non-null");  // no lse
  Problem gqa = p;
  gqa.heads_kv = 1;
  LLMI_REQUIRE_THROWS_WITH(standard_attention_backward(gqa, b, workspace()), "MHA only");
}
