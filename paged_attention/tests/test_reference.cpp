// CPU pieces the GPU tests rely on: the paged reference (paged result equals contiguous
// attention, for shuffled block tables and lengths that end mid-block) and the host checks
// that stop bad metadata before a kernel sees it.
#include <algorithm>
#include <numeric>
#include <random>

#include "llmi/catch.h"
#include "llmi/cpu_ref.h"
#include "llmi/random.h"
#include "paged/paged_reference.h"
#include "paged_attention.h"

using namespace paged;

namespace {
std::vector<double> random_values(size_t n, uint64_t seed) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = 2.0 * llmi::uniform01(seed, i) - 1.0;
  return v;
}
}  // namespace

TEST_CASE("paged reference: scattered blocks read back as the contiguous sequence", "[reference]") {
  const int kv_heads = 2, q_heads = 8, d = 16, num_blocks = 40;
  for (int bs : {8, 16, 32}) {
    std::mt19937 rng(static_cast<uint32_t>(bs));
    std::vector<int32_t> free_blocks(num_blocks);
    std::iota(free_blocks.begin(), free_blocks.end(), 0);
    std::shuffle(free_blocks.begin(), free_blocks.end(), rng);  // non-contiguous, shuffled
    const std::vector<int32_t> lens = {1, bs - 1, bs + 3, 3 * bs};  // ends mid-block and on a boundary
    std::vector<std::vector<int32_t>> tables;
    std::vector<double> kc(size_t(num_blocks) * kv_heads * bs * d, 0), vc = kc;
    std::vector<std::vector<double>> ks, vs;
    size_t next = 0;
    for (size_t s = 0; s < lens.size(); ++s) {
      std::vector<int32_t> t;
      for (int b = 0; b < (lens[s] + bs - 1) / bs; ++b) t.push_back(free_blocks[next++]);
      tables.push_back(t);
      std::vector<int64_t> slots;
      for (int i = 0; i < lens[s]; ++i) slots.push_back(int64_t(t[size_t(i / bs)]) * bs + i % bs);
      ks.push_back(random_values(size_t(lens[s]) * kv_heads * d, 100 + s));
      vs.push_back(random_values(size_t(lens[s]) * kv_heads * d, 200 + s));
      ref::reshape_and_cache(ks[s], vs[s], slots, kv_heads, bs, d, kc, vc);
    }
    const auto q = random_values(lens.size() * q_heads * d, 7);
    const auto out = ref::paged_decode(q, kc, vc, tables, lens, q_heads, kv_heads, bs, d, 0.25);
    for (size_t s = 0; s < lens.size(); ++s) {
      REQUIRE(ref::gather(kc, tables[s], lens[s], kv_heads, bs, d) == ks[s]);
      REQUIRE(ref::gather(vc, tables[s], lens[s], kv_heads, bs, d) == vs[s]);
      std::vector<double> want(size_t(q_heads) * d);
      llmi::ref::attention(q.data() + s * q_heads * d, ks[s].data(), vs[s].data(), want.data(), 1, lens[s],
                           q_heads, kv_heads, d, 0.25, llmi::ref::full_mask());
      for (size_t i = 0; i < want.size(); ++i) REQUIRE(out[s * q_heads * d + i] == want[i]);
    }
  }
}

TEST_CASE("block tables: bad input is a clear error", "[reference][errors]") {
  const std::vector<std::vector<int32_t>> ok_tables = {{3, 1}, {0}};
  PackedTables p = pack_block_tables(ok_tables, {20, 5}, 4, 16);
  REQUIRE(p.max_blocks_per_seq == 2);
  REQUIRE(p.max_context_len == 20);
  REQUIRE(p.tables == std::vector<int32_t>{3, 1, 0, 0});
  LLMI_REQUIRE_THROWS_WITH(pack_block_tables({{3, 9}}, {20}, 4, 16), "points at block 9 past the pool of 4");
  LLMI_REQUIRE_THROWS_WITH(pack_block_tables({{-1}}, {2}, 4, 16), "points at block -1");
  LLMI_REQUIRE_THROWS_WITH(pack_block_tables({{3, 1}}, {33}, 4, 16), "larger than its block table covers");
  LLMI_REQUIRE_THROWS_WITH(pack_block_tables({{3}}, {0}, 4, 16), "context length 0");
}

TEST_CASE("cache description: unsupported head size, block size and dtype are named", "[errors]") {
  int dummy = 0;
  KvCache c;
  c.k = c.v = &dummy;
  c.num_blocks = 4;
  c.kv_heads = 2;
  validate_cache(c);
  c.head_dim = 96;
  LLMI_REQUIRE_THROWS_WITH(validate_cache(c), "head dim 96 is not supported");
  c.head_dim = kHeadDim;
  c.block_size = 64;
  LLMI_REQUIRE_THROWS_WITH(validate_cache(c), "block size 64 is not supported");
  c.block_size = 16;
  c.dtype = llmi::DType::F32;
  LLMI_REQUIRE_THROWS_WITH(validate_cache(c), "KV cache dtype fp32 is not supported");
}
