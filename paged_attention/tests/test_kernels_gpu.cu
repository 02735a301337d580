// Paged kernels against the fp64 CPU reference: reshape_and_cache, decode v1 and v2 over
// shuffled (non-contiguous) block tables with lengths ending mid-block, every block size, GQA
// ratio and cache dtype; the contiguous path; block copies and swaps; bad input.
#include <algorithm>
#include <cmath>
#include <utility>
#include <numeric>
#include <random>

#include "llmi/catch.h"
#include "llmi/compare.h"
#include "llmi/device_buffer.h"
#include "llmi/random.h"
#include "paged/paged_reference.h"
#include "paged_attention.h"

using namespace paged;
using llmi::DType;

namespace {

// A device cache poisoned with 0xFF (NaN in every dtype) so that a kernel reading a slot that
// was never written, or a token past the context, produces NaN and fails the check.
struct DeviceCache {
  llmi::DeviceBuffer<uint8_t> k, v;
  KvCache c;
  DeviceCache(int blocks, int kv_heads, int bs, DType dt, float k_scale = 1, float v_scale = 1) {
    c.num_blocks = blocks;
    c.kv_heads = kv_heads;
    c.block_size = bs;
    c.dtype = dt;
    c.k_scale = k_scale;
    c.v_scale = v_scale;
    k = llmi::DeviceBuffer<uint8_t>(size_t(blocks) * c.block_bytes());
    v = llmi::DeviceBuffer<uint8_t>(size_t(blocks) * c.block_bytes());
    k.poison();
    v.poison();
    c.k = k.data();
    c.v = v.data();
  }
  // Stored values as real numbers (dequantised with the scale for fp8).
  std::vector<double> values(bool value_cache) const {
    auto bytes = (value_cache ? v : k).to_host();
    const size_t n = bytes.size() / llmi::dtype_size(c.dtype);
    const double s = c.dtype == DType::FP8E4M3 ? (value_cache ? c.v_scale : c.k_scale) : 1.0;
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i) out[i] = double(llmi::load_as_float(bytes.data(), c.dtype, i)) * s;
    return out;
  }
};

struct Batch {
  std::vector<std::vector<int32_t>> tables;
  std::vector<int32_t> lens;
  std::vector<int64_t> slots;  // one per token of every sequence, in order
};

// Random lengths (many ending mid-block) and block tables drawn from a shuffled free list.
Batch make_batch(int num_seqs, int max_len, int bs, int num_blocks, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> free_blocks(num_blocks);
  std::iota(free_blocks.begin(), free_blocks.end(), 0);
  std::shuffle(free_blocks.begin(), free_blocks.end(), rng);
  Batch b;
  size_t next = 0;
  for (int s = 0; s < num_seqs; ++s) {
    const int len = 1 + int(rng() % uint32_t(max_len));
    std::vector<int32_t> t;
    for (int j = 0; j < (len + bs - 1) / bs; ++j) t.push_back(free_blocks.at(next++));
    for (int i = 0; i < len; ++i) b.slots.push_back(int64_t(t[size_t(i / bs)]) * bs + i % bs);
    b.tables.push_back(t);
    b.lens.push_back(len);
  }
  return b;
}

// Writes random K/V for every slot of the batch through reshape_and_cache; returns the inputs.
std::pair<llmi::Tensor, llmi::Tensor> fill_cache(DeviceCache& dc, const Batch& b, DType in, uint64_t seed) {
  const int64_t n = int64_t(b.slots.size());
  llmi::Tensor key({n, dc.c.kv_heads, kHeadDim}, in, llmi::Device::Cuda);
  llmi::Tensor val({n, dc.c.kv_heads, kHeadDim}, in, llmi::Device::Cuda);
  llmi::fill_uniform(key, seed, -1, 1);
  llmi::fill_uniform(val, seed + 1, -1, 1);
  llmi::DeviceBuffer<int64_t> slots(b.slots);
  reshape_and_cache(key.raw(), val.raw(), slots.data(), int(n), in, dc.c);
  LLMI_CUDA_CHECK(cudaDeviceSynchronize());
  return {key, val};
}

}  // namespace

TEST_CASE("reshape_and_cache writes each token to its slot, padding skipped", "[gpu][cache]") {
  for (DType dt : {DType::BF16, DType::F16, DType::FP8E4M3}) {
    const DType in = dt == DType::F16 ? DType::F16 : DType::BF16;
    const float ks = dt == DType::FP8E4M3 ? 0.01f : 1.0f, vs = dt == DType::FP8E4M3 ? 0.02f : 1.0f;
    DeviceCache dc(24, 2, 16, dt, ks, vs);
    Batch b = make_batch(3, 100, 16, 24, 5);
    b.slots.push_back(-1);  // a padding token: must not be written anywhere
    auto [key, val] = fill_cache(dc, b, in, 11);
    // Reference: the same inputs rounded to the cache type (fp8: times 1/scale, as the kernel
    // does, rounded to nearest even with saturation, then read back times the scale).
    auto kin = key.to_double(), vin = val.to_double();
    auto quant = [](std::vector<double>& x, float scale) {
      for (double& e : x) {
        const float stored = llmi::e4m3_bits_to_f32(llmi::f32_to_e4m3_bits(float(e) * (1.0f / scale)));
        e = double(stored) * double(scale);
      }
    };
    if (dt == DType::FP8E4M3) {
      quant(kin, ks);
      quant(vin, vs);
    }
    std::vector<double> kref(dc.c.block_elems() * 24, 0), vref = kref;
    std::vector<int64_t> slots(b.slots.begin(), b.slots.end());
    ref::reshape_and_cache(kin, vin, slots, 2, 16, kHeadDim, kref, vref);
    auto kgot = dc.values(false), vgot = dc.values(true);
    for (size_t s = 0; s < b.tables.size(); ++s) {
      INFO(llmi::dtype_name(dt) << " seq " << s);
      REQUIRE(ref::gather(kgot, b.tables[s], b.lens[s], 2, 16, kHeadDim) ==
              ref::gather(kref, b.tables[s], b.lens[s], 2, 16, kHeadDim));
      REQUIRE(ref::gather(vgot, b.tables[s], b.lens[s], 2, 16, kHeadDim) ==
              ref::gather(vref, b.tables[s], b.lens[s], 2, 16, kHeadDim));
    }
    // Blocks no sequence owns are still poison (NaN): nothing was written there.
    std::vector<bool> owned(24, false);
    for (auto& t : b.tables) for (int32_t x : t) owned[size_t(x)] = true;
    for (int blk = 0; blk < 24; ++blk)
      if (!owned[size_t(blk)]) REQUIRE(std::isnan(kgot[size_t(blk) * dc.c.block_elems()]));
  }
}

TEST_CASE("paged decode v1/v2 equals fp64 attention over the gathered context", "[gpu][decode]") {
  const int kv_heads = 2, num_seqs = 5;
  int cases = 0;
  for (DType dt : {DType::BF16, DType::F16, DType::FP8E4M3}) {
    const DType qt = dt == DType::F16 ? DType::F16 : DType::BF16;
    for (int bs : {8, 16, 32}) {
      const int num_blocks = num_seqs * (700 / bs + 1) + 3;
      const float ks = dt == DType::FP8E4M3 ? 0.005f : 1.0f, vs = dt == DType::FP8E4M3 ? 0.004f : 1.0f;
      DeviceCache dc(num_blocks, kv_heads, bs, dt, ks, vs);
      Batch b = make_batch(num_seqs, 700, bs, num_blocks, uint32_t(bs * 31 + int(dt)));
      fill_cache(dc, b, qt, 40 + bs);
      auto kc = dc.values(false), vc = dc.values(true);
      PackedTables p = pack_block_tables(b.tables, b.lens, num_blocks, bs);
      llmi::DeviceBuffer<int32_t> tables(p.tables), lens(p.lens);
      for (int group : {1, 2, 4, 8}) {
        const int q_heads = kv_heads * group;
        llmi::Tensor q({num_seqs, q_heads, kHeadDim}, qt, llmi::Device::Cuda);
        llmi::fill_uniform(q, 900 + group, -1, 1);
        const double scale = 1.0 / std::sqrt(double(kHeadDim));
        auto want = ref::paged_decode(q.to_double(), kc, vc, b.tables, b.lens, q_heads, kv_heads, bs,
                                      kHeadDim, scale);
        for (DecodeVersion ver : {DecodeVersion::V1, DecodeVersion::V2}) {
          llmi::Tensor out({num_seqs, q_heads, kHeadDim}, qt, llmi::Device::Cuda);
          out.poison();
          DecodeArgs a;
          a.q = q.raw();
          a.out = out.raw();
          a.block_tables = tables.data();
          a.context_lens = lens.data();
          a.num_seqs = num_seqs;
          a.q_heads = q_heads;
          a.max_blocks_per_seq = p.max_blocks_per_seq;
          a.max_context_len = p.max_context_len;
          a.scale = float(scale);
          a.q_dtype = qt;
          a.version = ver;
          a.partition_tokens = 64;  // several partitions per sequence, some sequences shorter
          llmi::DeviceBuffer<float> ws;
          paged_decode(a, dc.c, ws);
          LLMI_CUDA_CHECK(cudaDeviceSynchronize());
          REQUIRE(plan_decode(a, dc.c).v2 == (ver == DecodeVersion::V2));
          llmi::Comparison cmp = llmi::compare(out.to_double(), want);
          INFO(llmi::dtype_name(dt) << " block " << bs << " group " << group << " v"
                                    << (ver == DecodeVersion::V1 ? 1 : 2) << ": " << cmp.str());
          // Inputs are the stored values, so the error is fp32 accumulation plus rounding the
          // output to bf16 (2^-9) or fp16 (2^-12).
          REQUIRE(cmp.ok(qt == DType::BF16 ? 8e-3 : 2e-3));
          ++cases;
        }
      }
    }
  }
  REQUIRE(cases == 72);
}

TEST_CASE("contiguous-layout decode equals the paged decode of the same data", "[gpu][decode]") {
  const int kv_heads = 2, q_heads = 8, num_seqs = 3, bs = 16, max_blocks = 40;
  DeviceCache dc(num_seqs * max_blocks, kv_heads, bs, DType::BF16);
  llmi::fill_uniform_device(dc.c.k, DType::BF16, dc.k.size() / 2, 3, -1, 1);
  llmi::fill_uniform_device(dc.c.v, DType::BF16, dc.v.size() / 2, 4, -1, 1);
  std::vector<std::vector<int32_t>> tables(num_seqs);
  const std::vector<int32_t> lens = {37, 640, 333};
  for (int s = 0; s < num_seqs; ++s)
    for (int j = 0; j < max_blocks; ++j) tables[size_t(s)].push_back(s * max_blocks + j);
  PackedTables p = pack_block_tables(tables, lens, dc.c.num_blocks, bs);
  llmi::DeviceBuffer<int32_t> dt(p.tables), dl(p.lens);
  llmi::Tensor q({num_seqs, q_heads, kHeadDim}, DType::BF16, llmi::Device::Cuda);
  llmi::fill_uniform(q, 5, -1, 1);
  auto want = ref::paged_decode(q.to_double(), dc.values(false), dc.values(true), tables, lens, q_heads,
                                kv_heads, bs, kHeadDim, 0.088);
  for (bool contiguous : {false, true}) {
    llmi::Tensor out({num_seqs, q_heads, kHeadDim}, DType::BF16, llmi::Device::Cuda);
    out.poison();
    DecodeArgs a;
    a.q = q.raw();
    a.out = out.raw();
    a.block_tables = dt.data();
    a.context_lens = dl.data();
    a.num_seqs = num_seqs;
    a.q_heads = q_heads;
    a.max_blocks_per_seq = p.max_blocks_per_seq;
    a.max_context_len = p.max_context_len;
    a.scale = 0.088f;
    a.contiguous = contiguous;
    llmi::DeviceBuffer<float> ws;
    paged_decode(a, dc.c, ws);
    LLMI_CUDA_CHECK(cudaDeviceSynchronize());
    REQUIRE(llmi::compare(out.to_double(), want).ok(8e-3));
  }
}

TEST_CASE("copy_blocks and swap_blocks move whole blocks exactly", "[gpu][cache]") {
  DeviceCache dc(8, 2, 16, DType::BF16);
  llmi::fill_uniform_device(dc.c.k, DType::BF16, dc.k.size() / 2, 8, -1, 1);
  llmi::fill_uniform_device(dc.c.v, DType::BF16, dc.v.size() / 2, 9, -1, 1);
  const auto k0 = dc.values(false), v0 = dc.values(true);
  const size_t be = dc.c.block_elems();
  llmi::DeviceBuffer<int2> pairs(std::vector<int2>{{1, 6}, {3, 7}});
  copy_blocks(dc.c, pairs.data(), 2);
  LLMI_CUDA_CHECK(cudaDeviceSynchronize());
  auto k1 = dc.values(false), v1 = dc.values(true);
  for (auto [src, dst] : {std::pair{1, 6}, std::pair{3, 7}})
    for (size_t i = 0; i < be; ++i) {
      REQUIRE(k1[size_t(dst) * be + i] == k0[size_t(src) * be + i]);
      REQUIRE(v1[size_t(dst) * be + i] == v0[size_t(src) * be + i]);
    }
  // Swap blocks 0 and 2 out to a pinned CPU pool, then back in to blocks 4 and 5.
  void *hk = nullptr, *hv = nullptr;
  LLMI_CUDA_CHECK(cudaMallocHost(&hk, 4 * dc.c.block_bytes()));
  LLMI_CUDA_CHECK(cudaMallocHost(&hv, 4 * dc.c.block_bytes()));
  KvCache host = dc.c;
  host.k = hk;
  host.v = hv;
  host.num_blocks = 4;
  swap_blocks(dc.c, host, {{0, 3}, {2, 1}}, cudaMemcpyDeviceToHost);
  swap_blocks(host, dc.c, {{3, 4}, {1, 5}}, cudaMemcpyHostToDevice);
  LLMI_CUDA_CHECK(cudaDeviceSynchronize());
  auto k2 = dc.values(false);
  for (size_t i = 0; i < be; ++i) {
    REQUIRE(k2[4 * be + i] == k0[0 * be + i]);
    REQUIRE(k2[5 * be + i] == k0[2 * be + i]);
  }
  LLMI_REQUIRE_THROWS_WITH(swap_blocks(dc.c, host, {{0, 9}}, cudaMemcpyDeviceToHost), "outside the pools");
  LLMI_CUDA_CHECK(cudaFreeHost(hk));
  LLMI_CUDA_CHECK(cudaFreeHost(hv));
}

TEST_CASE("paged decode rejects unsupported shapes and dtypes by name", "[gpu][errors]") {
  DeviceCache dc(4, 2, 16, DType::BF16);
  llmi::DeviceBuffer<uint16_t> q(6 * kHeadDim), out(6 * kHeadDim);
  llmi::DeviceBuffer<int32_t> t(std::vector<int32_t>{0, 1}), l(std::vector<int32_t>{20});
  DecodeArgs a;
  a.q = q.data();
  a.out = out.data();
  a.block_tables = t.data();
  a.context_lens = l.data();
  a.num_seqs = 1;
  a.q_heads = 6;  // 3 q heads per kv head
  a.max_blocks_per_seq = 2;
  a.max_context_len = 20;
  a.scale = 0.1f;
  llmi::DeviceBuffer<float> ws;
  LLMI_REQUIRE_THROWS_WITH(paged_decode(a, dc.c, ws), "q heads per kv head = 3 is not supported");
  a.q_heads = 4;
  a.max_context_len = 40;
  LLMI_REQUIRE_THROWS_WITH(paged_decode(a, dc.c, ws), "larger than the block tables cover");
  a.max_context_len = 20;
  a.q_dtype = DType::F16;
  LLMI_REQUIRE_THROWS_WITH(paged_decode(a, dc.c, ws), "is not supported (bf16/bf16");
  KvCache bad = dc.c;
  bad.head_dim = 64;
  a.q_dtype = DType::BF16;
  LLMI_REQUIRE_THROWS_WITH(paged_decode(a, bad, ws), "head dim 64 is not supported");
}
