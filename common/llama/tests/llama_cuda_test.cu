// CUDA bf16 backend against the CPU fp32 reference: single kernels against fp64 references,
// whole steps on random models (GQA, biases, head dims 64 and 128), the real pycode-19m
// checkpoint (logits and greedy agreement with golden_greedy.json), tree masks, KV edits and
// the batch-1 CUDA graph.
#include <algorithm>
#include <cmath>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>

#include "llmi/llama/kernels.h"
#include "llmi/catch.h"
#include "llmi/compare.h"
#include "llmi/cpu_ref.h"
#include "llmi/device_buffer.h"
#include "llmi/llama/cpu_runtime.h"
#include "llmi/llama/cuda_runtime.h"
#include "llmi/llama/sampling.h"
#include "llmi/random.h"
#include "pycode.h"
#include "tiny_model.h"

using namespace llmi::llama;
using test::chunk;
using llmi::compare;
using llmi::DeviceBuffer;

namespace {

std::vector<double> as_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }
std::vector<double> bf16_as_double(const std::vector<uint16_t>& v) {
  std::vector<double> d(v.size());
  for (size_t i = 0; i < v.size(); ++i) d[i] = llmi::bf16_bits_to_f32(v[i]);
  return d;
}

std::vector<uint16_t> random_bf16(size_t n, uint64_t seed) {
  std::vector<uint16_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = llmi::f32_to_bf16_bits(2.0f * llmi::uniform01(seed, i) - 1.0f);
  return v;
}

// bf16 weights and activations: logits agree with fp32 to about 1% (relative L2).
constexpr double kLogitBound = 3e-2;

}  // namespace

TEST_CASE("attention kernel matches the fp64 reference (prefix + tree mask, GQA, split-K)", "[cuda][kernel]") {
  struct Case {
    int D, P, n, Hq, Hkv;
    bool tree;
  };
  // Few (token, head) pairs take the split-K path (several blocks per pair, merged by the last);
  // many take one block each; a single decode row over a long prefix is the batch-1 step.
  const Case cases[] = {{64, 37, 6, 4, 2, true},   {128, 37, 6, 4, 2, true},
                        {128, 300, 1, 8, 8, false}, {64, 200, 70, 4, 1, false},
                        {256, 45, 3, 2, 2, true},   {96, 77, 2, 6, 3, false}};
  for (const Case& cs : cases) {
    const int D = cs.D, P = cs.P, n = cs.n, Hq = cs.Hq, Hkv = cs.Hkv, total = P + n, ctx = total + 5;
    std::vector<int> parents;
    for (int i = 0; i < n; ++i) parents.push_back(i == 0 ? -1 : (i - 1) / 2);
    const Mask mask = Mask::tree(parents);
    kernels::KvLayout kv{2, ctx, Hkv, D};  // sequence 1 of 2: the cache offset matters
    const auto kc = random_bf16(kv.layer_stride(), 1 + D), vc = random_bf16(kv.layer_stride(), 2 + D);
    const auto q = random_bf16(size_t(n) * Hq * D, 3 + P);
    std::vector<int> ints;
    for (int i = 0; i < n; ++i) ints.push_back(0);  // tokens (unused)
    for (int i = 0; i < n; ++i) ints.push_back(P + i);  // positions (unused)
    for (int i = 0; i < n; ++i) ints.push_back(0);  // tok_chunk
    for (int i = 0; i < n; ++i) ints.push_back(i);  // tok_row
    ints.insert(ints.end(), {1, P, n, cs.tree ? 0 : -1});  // seq, old_len, n_new, mask_off
    DeviceBuffer<int> dints(ints);
    std::vector<uint8_t> bits = mask.bits;
    DeviceBuffer<uint8_t> dmask(bits);
    kernels::StepMeta m{};
    m.tokens = dints.data(), m.positions = dints.data() + n, m.tok_chunk = dints.data() + 2 * n;
    m.tok_row = dints.data() + 3 * n, m.seq = dints.data() + 4 * n, m.old_len = m.seq + 1;
    m.n_new = m.seq + 2, m.mask_off = m.seq + 3, m.mask = dmask.data();
    DeviceBuffer<uint16_t> dk(kc), dv(vc), dq(q), dout(size_t(n) * Hq * D);
    DeviceBuffer<float> partial(kernels::attention_scratch_floats(D));
    DeviceBuffer<int> counters(std::vector<int>(kernels::kAttnTargetBlocks, 0));
    const int splits = kernels::attention_splits(n, Hq);

    std::vector<double> qd(q.size()), kd(size_t(total) * Hkv * D), vd(kd.size()), ref(q.size());
    const size_t seq1 = kv.seq_stride();
    for (size_t i = 0; i < q.size(); ++i) qd[i] = llmi::bf16_bits_to_f32(q[i]);
    for (size_t i = 0; i < kd.size(); ++i)
      kd[i] = llmi::bf16_bits_to_f32(kc[seq1 + i]), vd[i] = llmi::bf16_bits_to_f32(vc[seq1 + i]);
    llmi::ref::attention<double>(qd.data(), kd.data(), vd.data(), ref.data(), n, total, Hq, Hkv, D,
                                 1.0 / std::sqrt(double(D)), [&](int i, int j) {
                                   return j < P || (cs.tree ? mask.visible(i, j - P) : j - P <= i);
                                 });
    // Twice split (the arrival counters must be back at 0 after a launch, as graph replays
    // need), then without scratch: one block per (token, head).
    for (int rep = 0; rep < 3; ++rep) {
      dout.poison();
      const kernels::AttentionScratch scratch =
          rep < 2 ? kernels::AttentionScratch{partial.data(), counters.data()} : kernels::AttentionScratch{};
      kernels::attention(dq.data(), dk.data(), dv.data(), m, kv, dout.data(), scratch, n, Hq, nullptr);
      LLMI_CUDA_CHECK(cudaDeviceSynchronize());
      const auto cmp = compare(bf16_as_double(dout.to_host()), ref);
      INFO("D=" << D << " P=" << P << " n=" << n << " Hq=" << Hq << " splits=" << splits
                << " rep=" << rep << " " << cmp.str());
      CHECK(cmp.ok(1e-2));  // bf16 output rounding is 2^-9 relative
    }
    CHECK(counters.to_host() == std::vector<int>(kernels::kAttnTargetBlocks, 0));
  }
  CHECK(kernels::attention_splits(1, 32) > 1);     // a batch-1 decode step is split
  CHECK(kernels::attention_splits(1024, 32) == 1);  // a prefill is not
}

TEST_CASE("add_rmsnorm kernel matches the fp64 reference", "[cuda][kernel]") {
  // 384: part of one 8-element chunk per thread; 8192: the largest, every thread two chunks.
  for (int H : {384, 8192}) {
    const int T = 5;
    std::vector<float> x(static_cast<size_t>(T * H)), w(static_cast<size_t>(H));
    for (size_t i = 0; i < x.size(); ++i) x[i] = 2.0f * llmi::uniform01(11, i) - 1.0f;
    for (size_t i = 0; i < w.size(); ++i) w[i] = 0.5f + llmi::uniform01(12, i);
    const auto delta = random_bf16(x.size(), 13);
    DeviceBuffer<float> dx(x), dw(w), d32(x.size());
    DeviceBuffer<uint16_t> dd(delta), dout(x.size());
    dout.poison(), d32.poison();
    kernels::add_rmsnorm(dx.data(), dd.data(), nullptr, dw.data(), dout.data(), d32.data(),
                         nullptr, T, H, 1e-5f, nullptr);
    LLMI_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<double> sum(x.size()), wd(w.begin(), w.end()), ref(x.size());
    for (size_t i = 0; i < x.size(); ++i) sum[i] = double(x[i]) + llmi::bf16_bits_to_f32(delta[i]);
    llmi::ref::rmsnorm<double>(sum.data(), wd.data(), ref.data(), T, H, 1e-5);
    CHECK(compare(as_double(d32.to_host()), ref).ok(1e-6));
    CHECK(compare(as_double(dx.to_host()), sum).ok(1e-7));  // the residual stream was updated
    CHECK(compare(bf16_as_double(dout.to_host()), ref).ok(5e-3));
  }
  LLMI_REQUIRE_THROWS_WITH(kernels::add_rmsnorm(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                                nullptr, 1, 100, 1e-5f, nullptr),
                           "multiple of 8");
}

TEST_CASE("small-batch GEMV matches the fp64 reference", "[cuda][kernel]") {
  const int N = 37, K = 1608;  // N not a multiple of the 8 warps, K/8 = 201 leaves a tail
  const auto w = random_bf16(size_t(N) * K, 21);
  DeviceBuffer<uint16_t> dw(w);
  for (int T : {1, 3, 8}) {
    const auto x = random_bf16(size_t(T) * K, 22 + T);
    const auto xd = bf16_as_double(x), wd = bf16_as_double(w);
    std::vector<double> ref(size_t(T) * N);
    llmi::ref::gemm<double>(xd.data(), wd.data(), ref.data(), T, N, K, /*b_transposed=*/true);
    DeviceBuffer<uint16_t> dx(x), y16(ref.size());
    DeviceBuffer<float> y32(ref.size());
    y16.poison(), y32.poison();
    REQUIRE(kernels::gemv_supported(dx.data(), dw.data(), T, K));
    kernels::gemv(dx.data(), dw.data(), y32.data(), kernels::GemvOut::kF32, T, N, K, nullptr);
    kernels::gemv(dx.data(), dw.data(), y16.data(), kernels::GemvOut::kBf16, T, N, K, nullptr);
    LLMI_CUDA_CHECK(cudaDeviceSynchronize());
    const auto c32 = compare(as_double(y32.to_host()), ref);
    INFO("T=" << T << " fp32 out " << c32.str());
    CHECK(c32.ok(1e-5));
    CHECK(compare(bf16_as_double(y16.to_host()), ref).ok(5e-3));
  }
  CHECK_FALSE(kernels::gemv_supported(nullptr, nullptr, 9, 64));
  CHECK_FALSE(kernels::gemv_supported(nullptr, nullptr, 1, 60));
}

// The decode step's fusions (kernels.h GemvFusion): the norm folded into W and divided out in
// the epilogue, against RMSNorm then the product in fp64; the residual add in the epilogue.
TEST_CASE("GEMV with the norm or the residual add fused matches the fp64 reference", "[cuda][kernel]") {
  const int N = 37, K = 1608;
  const float eps = 1e-5f;
  std::vector<float> w(size_t(N) * K), norm(static_cast<size_t>(K));
  for (size_t i = 0; i < w.size(); ++i) w[i] = 2.0f * llmi::uniform01(41, i) - 1.0f;
  for (size_t i = 0; i < norm.size(); ++i) norm[i] = 0.5f + llmi::uniform01(42, i);
  std::vector<uint16_t> w_folded(w.size()), bias = random_bf16(size_t(N), 43);
  for (size_t i = 0; i < w.size(); ++i) w_folded[i] = llmi::f32_to_bf16_bits(w[i] * norm[i % K]);
  DeviceBuffer<uint16_t> dw(w_folded), dbias(bias);
  for (int T : {1, 3, 8}) {
    INFO("T=" << T);
    // Residual rows of different scales, so a wrong (or shared) per-token rms shows.
    std::vector<uint16_t> x(size_t(T) * K);
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = llmi::f32_to_bf16_bits((1.0f + float(i / K)) * (2.0f * llmi::uniform01(44 + T, i) - 1.0f));
    const auto xd = bf16_as_double(x);
    // RMSNorm(x) with the original weight, times the original W, in fp64: what the fused path
    // replaces. Against it the kernel carries bf16 roundings of x and of W * norm.
    std::vector<double> normed(xd.size()), nd(norm.begin(), norm.end()), wd(w.begin(), w.end());
    llmi::ref::rmsnorm<double>(xd.data(), nd.data(), normed.data(), T, K, eps);
    std::vector<double> ref(size_t(T) * N);
    llmi::ref::gemm<double>(normed.data(), wd.data(), ref.data(), T, N, K, /*b_transposed=*/true);
    DeviceBuffer<uint16_t> dx(x), y16(ref.size());
    y16.poison();
    kernels::gemv(dx.data(), dw.data(), y16.data(), kernels::GemvOut::kBf16, T, N, K, nullptr,
                  {true, eps});
    // The residual add: x32 += x W^T + bias, and its bf16 copy.
    std::vector<float> x32(ref.size());
    for (size_t i = 0; i < x32.size(); ++i) x32[i] = 4.0f * llmi::uniform01(45, i) - 2.0f;
    std::vector<double> sum(ref.size());
    const auto wfd = bf16_as_double(w_folded);
    llmi::ref::gemm<double>(xd.data(), wfd.data(), sum.data(), T, N, K, /*b_transposed=*/true);
    for (size_t i = 0; i < sum.size(); ++i)
      sum[i] += double(x32[i]) + llmi::bf16_bits_to_f32(bias[i % N]);
    DeviceBuffer<float> dres(x32);
    DeviceBuffer<uint16_t> dres16(ref.size());
    dres16.poison();
    kernels::gemv(dx.data(), dw.data(), dres.data(), kernels::GemvOut::kResidual, T, N, K, nullptr,
                  {false, 0.0f, dbias.data(), dres16.data()});
    LLMI_CUDA_CHECK(cudaDeviceSynchronize());
    const auto cn = compare(bf16_as_double(y16.to_host()), ref);
    INFO("norm-fused " << cn.str());
    CHECK(cn.ok(1e-2));  // x and W * norm rounded to bf16, then the output
    const auto res = dres.to_host();
    CHECK(compare(as_double(res), sum).ok(1e-5));
    const auto res16 = dres16.to_host();
    size_t copies_exact = 0;
    for (size_t i = 0; i < res.size(); ++i) copies_exact += res16[i] == llmi::f32_to_bf16_bits(res[i]);
    CHECK(copies_exact == res.size());
  }
  LLMI_REQUIRE_THROWS_WITH(kernels::gemv(nullptr, nullptr, nullptr, kernels::GemvOut::kResidual, 1,
                                         16, 64, nullptr),
                           "residual_bf16");
}

// Both SwiGLU paths on the interleaved gate|up layout of kernels.h: the decode GEMV finishing
// silu(gate) * up in its tiles, and the prefill path's bf16 gate|up followed by silu_mul.
TEST_CASE("SwiGLU in the GEMV and silu_mul match the fp64 reference", "[cuda][kernel]") {
  const int I = 40, N = 2 * I, K = 1608;  // 5 tiles of 8 gate + 8 up rows; K leaves a tail
  const auto w = random_bf16(size_t(N) * K, 31);
  DeviceBuffer<uint16_t> dw(w);
  for (int T : {1, 5, 8}) {
    const auto x = random_bf16(size_t(T) * K, 32 + T);
    const auto xd = bf16_as_double(x), wd = bf16_as_double(w);
    std::vector<double> gu(size_t(T) * N), ref(size_t(T) * I);
    llmi::ref::gemm<double>(xd.data(), wd.data(), gu.data(), T, N, K, /*b_transposed=*/true);
    const int G = kernels::kSwigluGroup;
    for (int t = 0; t < T; ++t)
      for (int i = 0; i < I; ++i) {
        const double g = gu[size_t(t) * N + (i / G) * 2 * G + i % G];
        const double u = gu[size_t(t) * N + (i / G) * 2 * G + G + i % G];
        ref[size_t(t) * I + i] = g / (1.0 + std::exp(-g)) * u;
      }
    DeviceBuffer<uint16_t> dx(x), fused(ref.size()), gu16(gu.size()), act(ref.size());
    fused.poison(), gu16.poison(), act.poison();
    kernels::gemv(dx.data(), dw.data(), fused.data(), kernels::GemvOut::kSwiglu, T, N, K, nullptr);
    kernels::gemv(dx.data(), dw.data(), gu16.data(), kernels::GemvOut::kBf16, T, N, K, nullptr);
    kernels::silu_mul(gu16.data(), act.data(), T, I, nullptr);
    LLMI_CUDA_CHECK(cudaDeviceSynchronize());
    const auto cf = compare(bf16_as_double(fused.to_host()), ref);
    const auto cs = compare(bf16_as_double(act.to_host()), ref);
    INFO("T=" << T << " fused " << cf.str() << "; gate|up then silu_mul " << cs.str());
    CHECK(cf.ok(5e-3));   // one bf16 rounding of the output
    CHECK(cs.ok(1e-2));   // gate and up rounded to bf16 first, then the output
  }
  LLMI_REQUIRE_THROWS_WITH(kernels::gemv(nullptr, nullptr, nullptr, kernels::GemvOut::kSwiglu, 1,
                                         24, 64, nullptr),
                           "groups of 8");
  LLMI_REQUIRE_THROWS_WITH(kernels::silu_mul(nullptr, nullptr, 1, 20, nullptr), "multiple of 8");
}

TEST_CASE("CUDA steps match the CPU reference on random models", "[cuda]") {
  struct V { bool bias; int kv; int hd; };
  for (V v : {V{false, 2, 16 * 4}, V{true, 4, 128}}) {
    Config c = test::tiny_config(v.bias);
    c.kv_heads = v.kv;
    c.head_dim = v.hd;
    const auto w = std::make_shared<const HostWeights>(random_weights(c, 5));
    RuntimeOptions o;
    o.max_seqs = 3;
    auto cpu = make_cpu_runtime(w, o);
    CudaOptions co;
    co.max_seqs = 3;
    co.max_step_tokens = 64;
    auto gpu = make_cuda_runtime(*w, co);
    // Prefill two sequences, then a mixed step: a chunk of one plus a decode of the other plus
    // a new sequence, all rows, with hidden states.
    for (auto* rt : {cpu.get(), gpu.get()}) {
      rt->step({chunk(0, test::tokens(11, 1)), chunk(1, test::tokens(5, 2))});
    }
    std::vector<SeqChunk> mixed = {chunk(0, test::tokens(7, 3), Rows::All), chunk(1, {9}),
                                   chunk(2, test::tokens(4, 4), Rows::All)};
    mixed[1].want_hidden = true;
    const StepOutput a = cpu->step(mixed), b = gpu->step(mixed);
    REQUIRE(a.logits.size() == b.logits.size());
    const auto cmp = compare(as_double(b.logits), as_double(a.logits));
    INFO("bias " << v.bias << " kv " << v.kv << " hd " << v.hd << ": " << cmp.str());
    CHECK(cmp.ok(kLogitBound));
    const auto hc = compare(as_double(b.hidden_states), as_double(a.hidden_states));
    INFO("hidden " << hc.str());
    CHECK(hc.ok(kLogitBound));
    CHECK(gpu->length(0) == 18);
  }
}

TEST_CASE("CUDA tree step equals each branch alone; keep, truncate and the decode graph",
          "[cuda][tree]") {
  const auto w = test::tiny_weights();
  CudaOptions co;
  co.max_seqs = 3;
  co.max_step_tokens = 32;
  auto gpu = make_cuda_runtime(*w, co);
  const int V = w->config.vocab_size;
  const auto prefix = test::tokens(9, 5);
  gpu->step({chunk(0, prefix), chunk(1, prefix), chunk(2, prefix)});
  const Mask mask = Mask::tree({-1, 0, 0, 1});
  SeqChunk t = chunk(0, {10, 20, 30, 40}, Rows::All);
  t.mask = &mask;
  t.positions = {9, 10, 10, 11};
  const StepOutput tree = gpu->step({t});
  const StepOutput b1 = gpu->step({chunk(1, {10, 20, 40}, Rows::All)});
  const StepOutput b2 = gpu->step({chunk(2, {10, 30}, Rows::All)});
  auto close = [&](const float* x, const float* y) {
    return compare(std::vector<double>(x, x + V), std::vector<double>(y, y + V)).ok(1e-2);
  };
  CHECK(close(tree.row_logits(0, 0), b1.row_logits(0, 0)));
  CHECK(close(tree.row_logits(0, 1), b1.row_logits(0, 1)));
  CHECK(close(tree.row_logits(0, 3), b1.row_logits(0, 2)));
  CHECK(close(tree.row_logits(0, 2), b2.row_logits(0, 1)));
  // Accept r-a-c: sequence 0 must now continue exactly like sequence 1 (batch-1 decode steps
  // take the CUDA graph path).
  gpu->keep(0, 9, {0, 1, 3});
  REQUIRE(gpu->length(0) == 12);
  const StepOutput n0 = gpu->step({chunk(0, {55})});
  const StepOutput n1 = gpu->step({chunk(1, {55})});
  CHECK(close(n0.logits.data(), n1.logits.data()));
  // Truncate and replay: the same logits again (graph replay vs graph replay: bitwise).
  gpu->truncate(1, 12);
  const StepOutput again = gpu->step({chunk(1, {55})});
  CHECK(again.logits == n1.logits);
  // Graph vs eager: the same step run as part of a 2-sequence batch (no graph).
  gpu->truncate(0, 12), gpu->truncate(1, 12);
  const StepOutput eager = gpu->step({chunk(0, {55}), chunk(1, {55})});
  CHECK(close(eager.row_logits(1, 0), n1.logits.data()));
}

// Greedy agreement with golden_greedy.json over the first 32 tokens of each case, two ways:
//  - teacher-forced: the bf16 argmax after the golden prefix, at every position (>= 95%);
//  - free-running bf16 greedy: a continuation may leave the golden one only at a position where
//    the fp32 reference's top-2 logits are closer than twice the bf16-vs-fp32 logit error
//    measured here (after that the texts differ, so later positions are not comparable).
// Measured on an H200 (2026-11-27): free-running agreement 233/256; the one divergence is case 4
// at token 9, where the fp32 top-2 gap is 0.006.
TEST_CASE("CUDA bf16 pycode-19m: logits near fp32, greedy agrees with golden", "[cuda][golden]") {
  std::ifstream in(test::pycode_dir() + "/golden_greedy.json");
  REQUIRE(in);
  const auto j = nlohmann::json::parse(in);
  const HostWeights w = load_weights(test::pycode_dir());
  auto cpu = make_cpu_runtime(std::make_shared<const HostWeights>(w), {});
  CudaOptions co;
  co.max_seqs = 1;
  co.max_step_tokens = 256;
  auto gpu = make_cuda_runtime(w, co);
  const int V = w.config.vocab_size, N = 32;
  auto top2_gap = [&](const std::vector<float>& l) {
    std::vector<float> v(l);
    std::partial_sort(v.begin(), v.begin() + 2, v.end(), std::greater<float>());
    return double(v[0]) - double(v[1]);
  };
  int forced = 0, free_run = 0, total = 0;
  double worst_rel = 0, worst_abs = 0;
  struct Divergence { int case_index, step; double fp32_gap; };
  std::vector<Divergence> divergences;
  int case_index = 0;
  for (const auto& c : j["cases"]) {
    const auto prompt = c["prompt_ids"].get<std::vector<int>>();
    const auto golden = c["greedy_ids"].get<std::vector<int>>();
    cpu->reset(0), gpu->reset(0);
    StepOutput a = cpu->step({chunk(0, prompt)}), b = gpu->step({chunk(0, prompt)});
    const auto cmp = compare(as_double(b.logits), as_double(a.logits));
    worst_rel = std::max(worst_rel, cmp.rel_l2), worst_abs = std::max(worst_abs, cmp.max_abs);
    CHECK(cmp.ok(kLogitBound));
    std::vector<double> gaps;
    for (int s = 0; s < N; ++s) {  // teacher-forced, both backends
      gaps.push_back(top2_gap(a.logits));
      forced += argmax(b.logits.data(), V) == golden[size_t(s)];
      a = cpu->step({chunk(0, {golden[size_t(s)]})});
      b = gpu->step({chunk(0, {golden[size_t(s)]})});
    }
    gpu->reset(0);
    int next = argmax(gpu->step({chunk(0, prompt)}).logits.data(), V), first_div = -1;
    for (int s = 0; s < N; ++s) {  // free-running bf16 greedy
      const bool same = next == golden[size_t(s)];
      free_run += same;
      if (!same && first_div < 0) first_div = s;
      next = argmax(gpu->step({chunk(0, {next})}).logits.data(), V);
    }
    if (first_div >= 0) divergences.push_back({case_index, first_div, gaps[size_t(first_div)]});
    total += N;
    ++case_index;
  }
  WARN("pycode-19m bf16 vs fp32 prompt logits: worst rel_l2 " << worst_rel << ", max_abs "
       << worst_abs << "; greedy agreement teacher-forced " << forced << "/" << total
       << ", free-running " << free_run << "/" << total << ", divergences " << divergences.size());
  CHECK(double(forced) >= 0.95 * total);
  for (const auto& d : divergences) {
    INFO("case " << d.case_index << " leaves the golden continuation at token " << d.step
                 << " where the fp32 top-2 gap is " << d.fp32_gap << " (bf16 logit error "
                 << worst_abs << ")");
    CHECK(d.fp32_gap < 2 * worst_abs);
  }
}

TEST_CASE("CUDA runtime rejects bad inputs", "[cuda][errors]") {
  const auto w = test::tiny_weights();
  CudaOptions co;
  co.max_seqs = 2;
  co.max_step_tokens = 8;
  auto gpu = make_cuda_runtime(*w, co);
  LLMI_REQUIRE_THROWS_WITH(gpu->step({chunk(0, test::tokens(9))}), "exceed max_step_tokens");
  LLMI_REQUIRE_THROWS_WITH(gpu->step({chunk(2, {1})}), "seq_id 2 outside");
  for (int i = 0; i < 8; ++i) gpu->step({chunk(0, test::tokens(8, i))});
  LLMI_REQUIRE_THROWS_WITH(gpu->step({chunk(0, {1})}), "longer than the context");
  Config odd = test::tiny_config();
  odd.head_dim = 16;
  LLMI_REQUIRE_THROWS_WITH(make_cuda_runtime(random_weights(odd, 1), co), "head dim 16 unsupported");
}
