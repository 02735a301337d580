// Decode-kernel sweep: paged_decode over shuffled block tables vs the same kernel reading a
// contiguous cache (physical block = seq * max_blocks + j, computed instead of looked up), both
// checked against the fp64 reference before timing. GB/s counts every K/V byte once.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>
#include <cstdio>
#include <numeric>
#include <random>

#include "bench_cases.h"
#include "llmi/compare.h"
#include "llmi/device_buffer.h"
#include "llmi/random.h"
#include "paged/paged_reference.h"
#include "paged_attention.h"

namespace paged::bench {
namespace {

using llmi::DType;

// One decode problem on the device: batch sequences of `context` tokens each.
struct Problem {
  int batch, context, q_heads, blocks_per_seq;
  KvCache c;
  llmi::DeviceBuffer<uint8_t> k, v;
  llmi::DeviceBuffer<uint16_t> q, out;
  llmi::DeviceBuffer<int32_t> tables, lens;
  std::vector<int32_t> host_tables;
  llmi::DeviceBuffer<float> ws;

  Problem(int b, int ctx, int hq, int hkv, int bs, DType dt, uint64_t seed)
      : batch(b), context(ctx), q_heads(hq), blocks_per_seq((ctx + bs - 1) / bs) {
    c.num_blocks = b * blocks_per_seq;
    c.kv_heads = hkv;
    c.block_size = bs;
    c.dtype = dt;
    k = llmi::DeviceBuffer<uint8_t>(size_t(c.num_blocks) * c.block_bytes());
    v = llmi::DeviceBuffer<uint8_t>(size_t(c.num_blocks) * c.block_bytes());
    c.k = k.data();
    c.v = v.data();
    const size_t elems = k.size() / llmi::dtype_size(dt);
    llmi::fill_uniform_device(c.k, dt, elems, seed, -1, 1);
    llmi::fill_uniform_device(c.v, dt, elems, seed + 1, -1, 1);
    q = llmi::DeviceBuffer<uint16_t>(size_t(b) * hq * kHeadDim);
    out = llmi::DeviceBuffer<uint16_t>(q.size());
    llmi::fill_uniform_device(q.data(), DType::BF16, q.size(), seed + 2, -1, 1);
    // Every block of the pool, shuffled: the tables are as scattered as they can be.
    host_tables.resize(size_t(c.num_blocks));
    std::iota(host_tables.begin(), host_tables.end(), 0);
    std::shuffle(host_tables.begin(), host_tables.end(), std::mt19937_64(seed));
    tables = llmi::DeviceBuffer<int32_t>(host_tables);
    lens = llmi::DeviceBuffer<int32_t>(std::vector<int32_t>(size_t(b), ctx));
  }

  DecodeArgs args(bool contiguous) {
    DecodeArgs a;
    a.q = q.data();
    a.out = out.data();
    a.block_tables = tables.data();
    a.context_lens = lens.data();
    a.num_seqs = batch;
    a.q_heads = q_heads;
    a.max_blocks_per_seq = blocks_per_seq;
    a.max_context_len = context;
    a.scale = 1.0f / std::sqrt(float(kHeadDim));
    a.contiguous = contiguous;
    return a;
  }

  int32_t physical(bool contiguous, int seq, int j) const {
    return contiguous ? seq * blocks_per_seq + j : host_tables[size_t(seq) * blocks_per_seq + size_t(j)];
  }

  // Runs once and compares sequences 0 and batch-1 with the fp64 reference.
  llmi::Comparison check(bool contiguous) {
    out.poison();
    paged_decode(args(contiguous), c, ws);
    LLMI_CUDA_CHECK(cudaDeviceSynchronize());
    const auto got_all = out.to_host();
    std::vector<double> got, want;
    const size_t be = c.block_elems(), bb = c.block_bytes(), row = size_t(q_heads) * kHeadDim;
    const std::vector<int> checked = batch == 1 ? std::vector<int>{0} : std::vector<int>{0, batch - 1};
    for (int s : checked) {
      std::vector<uint8_t> kb(size_t(blocks_per_seq) * bb), vb(kb.size());
      for (int j = 0; j < blocks_per_seq; ++j) {
        const size_t off = size_t(physical(contiguous, s, j)) * bb;
        LLMI_CUDA_CHECK(cudaMemcpy(kb.data() + size_t(j) * bb, k.data() + off, bb, cudaMemcpyDeviceToHost));
        LLMI_CUDA_CHECK(cudaMemcpy(vb.data() + size_t(j) * bb, v.data() + off, bb, cudaMemcpyDeviceToHost));
      }
      std::vector<double> kd(size_t(blocks_per_seq) * be), vd(kd.size());
      for (size_t i = 0; i < kd.size(); ++i) {
        kd[i] = llmi::load_as_float(kb.data(), c.dtype, i);
        vd[i] = llmi::load_as_float(vb.data(), c.dtype, i);
      }
      std::vector<int32_t> local(static_cast<size_t>(blocks_per_seq));
      std::iota(local.begin(), local.end(), 0);
      std::vector<uint16_t> qs(q.size());
      LLMI_CUDA_CHECK(cudaMemcpy(qs.data(), q.data() + size_t(s) * row, row * 2, cudaMemcpyDeviceToHost));
      std::vector<double> qd(row);
      for (size_t i = 0; i < row; ++i) qd[i] = llmi::bf16_bits_to_f32(qs[i]);
      auto ref = ref::paged_decode(qd, kd, vd, {local}, {context}, q_heads, c.kv_heads, c.block_size,
                                   kHeadDim, 1.0 / std::sqrt(double(kHeadDim)));
      want.insert(want.end(), ref.begin(), ref.end());
      for (size_t i = 0; i < row; ++i) got.push_back(llmi::bf16_bits_to_f32(got_all[size_t(s) * row + i]));
    }
    return llmi::compare(got, want);
  }

  double kv_bytes() const {
    return double(batch) * context * c.kv_heads * kHeadDim * llmi::dtype_size(c.dtype) * 2.0;
  }
};

std::string plan_label(const DecodePlan& p) {
  return p.v2 ? "v2 x" + std::to_string(p.num_partitions) + " (" + std::to_string(p.partition_tokens) + " tok)"
              : std::string("v1");
}

constexpr double kCudnnDenseDecodeGbps = 2850;  // dense cuDNN decode anchor on this H100
constexpr double kBoundBf16 = 8e-3;             // bf16 output rounding, fp32 accumulation

}  // namespace

DecodeSummary run_decode_grid(llmi::bench::Report& report, const llmi::bench::Options& opt,
                              const DecodeGridOptions& g) {
  DecodeSummary sum;
  const double copy_gbps = llmi::bench::device_ceilings(opt).copy_gbps;
  std::printf("\n%-6s %-7s %-22s %10s %7s %12s %9s %7s\n", "batch", "context", "plan", "paged GB/s", "%copy",
              "contig GB/s", "overhead", "check");
  for (int b : g.batches)
    for (int ctx : g.contexts) {
      if (long(b) * ctx > g.max_tokens) continue;
      Problem p(b, ctx, g.q_heads, g.kv_heads, g.block_size, DType::BF16, opt.seed + uint64_t(b) * 1000003u + uint64_t(ctx));
      llmi::bench::Result r;
      r.name = "decode b" + std::to_string(b) + " c" + std::to_string(ctx);
      r.params = {{"batch", b}, {"context", ctx}, {"q_heads", g.q_heads}, {"kv_heads", g.kv_heads},
                  {"head_dim", kHeadDim}, {"block_size", g.block_size}, {"dtype", "bf16"}};
      r.bytes = p.kv_bytes();
      r.baseline = "same kernel, contiguous cache";
      bool ok = true;
      if (opt.check) {
        llmi::Comparison cp = p.check(false), cc = p.check(true);
        ok = cp.ok(kBoundBf16) && cc.ok(kBoundBf16);
        r.check = "paged " + cp.str() + "; contiguous rel_l2=" + std::to_string(cc.rel_l2);
      }
      r.check_ok = ok;
      DecodeArgs ap = p.args(false), ac = p.args(true);
      r.ms = llmi::bench::time_cuda([&](cudaStream_t s) { paged_decode(ap, p.c, p.ws, s); }, opt);
      const llmi::bench::Stats contig = llmi::bench::time_cuda([&](cudaStream_t s) { paged_decode(ac, p.c, p.ws, s); }, opt);
      r.baseline_ms = contig.median;
      const double gbps = r.bytes / (r.ms.median * 1e-3) / 1e9, cgbps = r.bytes / (contig.median * 1e-3) / 1e9;
      const double overhead = r.ms.median / contig.median - 1;
      const DecodePlan plan = plan_decode(ap, p.c);
      r.extra = {{"plan", plan_label(plan)}, {"contiguous_gbps", cgbps}, {"paged_overhead", overhead},
                 {"frac_of_copy_bw", gbps / copy_gbps}, {"vs_cudnn_dense_anchor", gbps / kCudnnDenseDecodeGbps}};
      std::printf("%-6d %-7d %-22s %10.0f %6.1f%% %12.0f %8.1f%% %7s\n", b, ctx, plan_label(plan).c_str(), gbps,
                  100 * gbps / copy_gbps, cgbps, 100 * overhead, ok ? "ok" : "FAIL");
      sum.max_gbps = std::max(sum.max_gbps, gbps);
      if (long(b) * ctx >= 256L * 1024) {
        sum.min_bw_frac_large = sum.large_cases ? std::min(sum.min_bw_frac_large, gbps / copy_gbps) : gbps / copy_gbps;
        sum.max_overhead_large = std::max(sum.max_overhead_large, overhead);
        ++sum.large_cases;
      }
      report.add(r);
    }
  return sum;
}

void run_decode_variants(llmi::bench::Report& report, const llmi::bench::Options& opt) {
  const int b = opt.quick ? 16 : 64, ctx = 4096;
  std::printf("\nblock size and cache dtype at batch %d, context %d (32 q / 8 kv heads):\n", b, ctx);
  struct V { int bs; DType dt; };
  for (V v : {V{8, DType::BF16}, V{16, DType::BF16}, V{32, DType::BF16}, V{16, DType::FP8E4M3}}) {
    Problem p(b, ctx, 32, 8, v.bs, v.dt, opt.seed + uint64_t(v.bs));
    llmi::bench::Result r;
    r.name = std::string("decode b") + std::to_string(b) + " c" + std::to_string(ctx) + " bs" + std::to_string(v.bs) +
             " " + llmi::dtype_name(v.dt);
    r.params = {{"batch", b}, {"context", ctx}, {"block_size", v.bs}, {"dtype", llmi::dtype_name(v.dt)}};
    r.bytes = p.kv_bytes();
    if (opt.check) {
      llmi::Comparison cp = p.check(false);
      r.check = cp.str();
      r.check_ok = cp.ok(kBoundBf16);
    }
    DecodeArgs a = p.args(false);
    r.ms = llmi::bench::time_cuda([&](cudaStream_t s) { paged_decode(a, p.c, p.ws, s); }, opt);
    std::printf("  block %-3d %-9s %8.0f GB/s  %s\n", v.bs, llmi::dtype_name(v.dt), r.bytes / (r.ms.median * 1e-3) / 1e9,
                r.check_ok ? "ok" : "FAIL");
    report.add(r);
  }
}

void run_partition_sweep(llmi::bench::Report& report, const llmi::bench::Options& opt) {
  std::printf("\npartition-size sweep (GB/s; v1 = one partition per sequence):\n%-6s %-7s", "batch", "context");
  const std::vector<int> pts = {0, 256, 512, 1024, 2048, 4096};
  for (int pt : pts) std::printf(" %8s", pt ? std::to_string(pt).c_str() : "v1");
  std::printf("  auto\n");
  for (auto [b, ctx] : std::vector<std::pair<int, int>>{{1, 32768}, {8, 32768}, {16, 8192}, {64, 4096}, {256, 2048}, {256, 8192}}) {
    Problem p(b, ctx, 32, 8, 16, DType::BF16, opt.seed);
    std::printf("%-6d %-7d", b, ctx);
    for (int pt : pts) {
      if (pt >= ctx) {
        std::printf(" %8s", "-");
        continue;
      }
      DecodeArgs a = p.args(false);
      a.version = pt ? DecodeVersion::V2 : DecodeVersion::V1;
      a.partition_tokens = pt;
      llmi::bench::Result r;
      r.name = "sweep b" + std::to_string(b) + " c" + std::to_string(ctx) + (pt ? " pt" + std::to_string(pt) : " v1");
      r.params = {{"batch", b}, {"context", ctx}, {"partition_tokens", pt}};
      r.bytes = p.kv_bytes();
      r.ms = llmi::bench::time_cuda([&](cudaStream_t s) { paged_decode(a, p.c, p.ws, s); }, opt);
      std::printf(" %8.0f", r.bytes / (r.ms.median * 1e-3) / 1e9);
      r.check = "unchecked (timing sweep)";
      report.add(r);
    }
    std::printf("  %s\n", plan_label(plan_decode(p.args(false), p.c)).c_str());
  }
}

}  // namespace paged::bench
