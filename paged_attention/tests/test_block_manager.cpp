// Block manager, one behaviour per test case (vLLM paper §4.2-§4.5). The randomised test in
// test_block_manager_random.cpp checks the same invariants over long operation sequences.
#include <numeric>

#include "llmi/catch.h"
#include "paged/block_manager.h"

using namespace paged;

namespace {
std::vector<Token> iota_tokens(int n, Token first = 0) {
  std::vector<Token> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}
BlockManagerConfig cfg(int gpu, int cpu = 0, bool caching = true, double watermark = 0.0) {
  BlockManagerConfig c;
  c.num_gpu_blocks = gpu;
  c.num_cpu_blocks = cpu;
  c.block_size = 4;
  c.watermark = watermark;
  c.prefix_caching = caching;
  return c;
}
}  // namespace

TEST_CASE("allocate takes ceil(len / block_size) blocks and free returns them", "[block_manager]") {
  BlockManager bm(cfg(8));
  REQUIRE(bm.allocate(1, iota_tokens(9)).ok);
  REQUIRE(bm.block_table(1).size() == 3);
  REQUIRE(bm.num_free_gpu_blocks() == 5);
  bm.check_invariants();
  bm.free(1);
  REQUIRE(bm.num_free_gpu_blocks() == 8);
  bm.check_invariants();
}

TEST_CASE("append fills the last block before taking a new one", "[block_manager]") {
  BlockManager bm(cfg(8, 0, false));
  REQUIRE(bm.allocate(1, iota_tokens(6)).ok);  // 2 blocks, last half full
  REQUIRE(bm.blocks_needed_to_append(1, 2) == 0);
  REQUIRE(bm.append(1, {100, 101}).ok);
  REQUIRE(bm.block_table(1).size() == 2);
  REQUIRE(bm.blocks_needed_to_append(1, 5) == 2);
  REQUIRE(bm.append(1, iota_tokens(5, 200)).ok);
  REQUIRE(bm.block_table(1).size() == 4);
  REQUIRE(bm.seq_len(1) == 13);
  bm.check_invariants();
}

TEST_CASE("running out of blocks is reported and changes nothing", "[block_manager]") {
  BlockManager bm(cfg(3, 0, false));
  REQUIRE(bm.allocate(1, iota_tokens(8)).ok);    // 2 blocks
  REQUIRE_FALSE(bm.allocate(2, iota_tokens(5)).ok);  // needs 2, 1 free
  REQUIRE_FALSE(bm.has(2));
  REQUIRE(bm.append(1, iota_tokens(4)).ok);      // takes the last block
  AppendResult r = bm.append(1, {7});
  REQUIRE_FALSE(r.ok);
  REQUIRE(bm.seq_len(1) == 12);
  REQUIRE(bm.num_free_gpu_blocks() == 0);
  bm.check_invariants();
}

TEST_CASE("can_allocate answers Ok, Later or Never with the watermark", "[block_manager]") {
  BlockManager bm(cfg(100, 0, false, 0.1));  // 10 blocks of watermark
  REQUIRE(bm.watermark_blocks() == 10);
  REQUIRE(bm.can_allocate(4 * 90) == AllocStatus::Ok);
  REQUIRE(bm.can_allocate(4 * 91) == AllocStatus::Never);
  REQUIRE(bm.allocate(1, iota_tokens(4 * 50)).ok);
  REQUIRE(bm.can_allocate(4 * 40) == AllocStatus::Ok);
  REQUIRE(bm.can_allocate(4 * 41) == AllocStatus::Later);
}

TEST_CASE("fork shares blocks and copy-on-write copies only the written block", "[block_manager]") {
  BlockManager bm(cfg(8, 0, false));
  REQUIRE(bm.allocate(1, iota_tokens(6)).ok);  // blocks [a, b], b half full
  bm.fork(1, 2);
  REQUIRE(bm.block_table(2) == bm.block_table(1));
  REQUIRE(bm.gpu_pool().ref_count(bm.block_table(1)[0]) == 2);
  const BlockId shared_last = bm.block_table(1)[1];
  REQUIRE(bm.blocks_needed_to_append(2, 1) == 1);
  AppendResult r = bm.append(2, {42});
  REQUIRE(r.ok);
  REQUIRE(r.copies.size() == 1);
  REQUIRE(r.copies[0].src == shared_last);
  REQUIRE(r.copies[0].dst == bm.block_table(2)[1]);
  REQUIRE(bm.block_table(2)[1] != shared_last);
  REQUIRE(bm.block_table(2)[0] == bm.block_table(1)[0]);  // the full first block stays shared
  // The parent is now sole owner of its last block: no copy.
  AppendResult r1 = bm.append(1, {43});
  REQUIRE(r1.ok);
  REQUIRE(r1.copies.empty());
  REQUIRE(bm.block_table(1)[1] == shared_last);
  REQUIRE(bm.stats().cow_copies == 1);
  bm.check_invariants();
}

TEST_CASE("prefix cache: the same full blocks map to the same physical block", "[block_manager]") {
  BlockManager bm(cfg(16));
  std::vector<Token> a = iota_tokens(10);  // 2 full blocks + 2 tokens
  std::vector<Token> b = a;
  b[9] = 999;  // same first 2 blocks, different partial tail
  REQUIRE(bm.allocate(1, a).cached_tokens == 0);
  AllocateResult rb = bm.allocate(2, b);
  REQUIRE(rb.ok);
  REQUIRE(rb.cached_tokens == 8);
  REQUIRE(bm.block_table(2)[0] == bm.block_table(1)[0]);
  REQUIRE(bm.block_table(2)[1] == bm.block_table(1)[1]);
  REQUIRE(bm.block_table(2)[2] != bm.block_table(1)[2]);
  // A different first block breaks the chain, even if later blocks match token for token.
  std::vector<Token> c = a;
  c[0] = -5;
  REQUIRE(bm.allocate(3, c).cached_tokens == 0);
  REQUIRE(bm.block_table(3)[1] != bm.block_table(1)[1]);
  bm.check_invariants();
}

TEST_CASE("prefix cache: freed blocks stay reusable and are evicted LRU", "[block_manager]") {
  BlockManager bm(cfg(4));
  REQUIRE(bm.allocate(1, iota_tokens(8)).ok);        // 2 cached blocks
  const auto t1 = bm.block_table(1);
  bm.free(1);
  REQUIRE(bm.num_free_gpu_blocks() == 4);
  REQUIRE(bm.gpu_pool().num_evictable() == 2);
  AllocateResult hit = bm.allocate(2, iota_tokens(8));
  REQUIRE(hit.cached_tokens == 8);
  REQUIRE(bm.block_table(2) == t1);
  bm.free(2);
  // Two plain free blocks are used before any cached block is evicted.
  REQUIRE(bm.allocate(3, iota_tokens(8, 100)).ok);
  REQUIRE(bm.stats().evictions == 0);
  // The next allocation must evict; the tail block of seq 2 was freed first (reverse order),
  // so it is the least recently used and goes first, keeping the first block's hit.
  REQUIRE(bm.allocate(4, iota_tokens(1, 500)).ok);
  REQUIRE(bm.stats().evictions == 1);
  REQUIRE(bm.block_table(4)[0] == t1[1]);
  REQUIRE(bm.allocate(5, iota_tokens(4)).cached_tokens == 4);
  REQUIRE(bm.block_table(5)[0] == t1[0]);
  bm.check_invariants();
}

TEST_CASE("writing into a cached block after truncation uncaches or copies it", "[block_manager]") {
  BlockManager bm(cfg(8));
  REQUIRE(bm.allocate(1, iota_tokens(8)).ok);
  const BlockId second = bm.block_table(1)[1];
  REQUIRE(bm.is_cached(second));
  bm.truncate(1, 6);
  REQUIRE(bm.block_table(1).size() == 2);
  REQUIRE(bm.append(1, {77}).copies.empty());  // sole owner: written in place, hash dropped
  REQUIRE_FALSE(bm.is_cached(second));
  // Shared case: seq 2 hits seq 3's cached blocks, truncates and appends: it must copy.
  REQUIRE(bm.allocate(3, iota_tokens(8, 50)).ok);
  REQUIRE(bm.allocate(2, iota_tokens(8, 50)).cached_tokens == 8);
  bm.truncate(2, 7);
  AppendResult r = bm.append(2, {1234});
  REQUIRE(r.copies.size() == 1);
  REQUIRE(r.copies[0].src == bm.block_table(3)[1]);
  REQUIRE(bm.is_cached(bm.block_table(3)[1]));
  bm.check_invariants();
}

TEST_CASE("swap out and in move a group all-or-nothing, sharing preserved", "[block_manager]") {
  BlockManager bm(cfg(8, 3, false));
  REQUIRE(bm.allocate(1, iota_tokens(6)).ok);
  bm.fork(1, 2);
  REQUIRE(bm.append(2, {9}).ok);  // 3 distinct blocks: shared first, two lasts
  REQUIRE(bm.can_swap_out({1, 2}));
  auto out = bm.swap_out({1, 2});
  REQUIRE(out);
  REQUIRE(out->size() == 3);
  REQUIRE(bm.block_table(1)[0] == bm.block_table(2)[0]);  // still shared, now on the CPU
  REQUIRE(bm.cpu_pool().ref_count(bm.block_table(1)[0]) == 2);
  REQUIRE(bm.num_free_gpu_blocks() == 8);
  REQUIRE_FALSE(bm.on_gpu(1));
  bm.check_invariants();
  // A second group does not fit in the CPU pool: nothing moves.
  REQUIRE(bm.allocate(3, iota_tokens(4)).ok);
  REQUIRE_FALSE(bm.swap_out({3}).has_value());
  REQUIRE(bm.on_gpu(3));
  auto in = bm.swap_in({1, 2});
  REQUIRE(in);
  REQUIRE(in->size() == 3);
  REQUIRE(bm.on_gpu(1));
  REQUIRE(bm.num_free_cpu_blocks() == 3);
  REQUIRE(bm.block_table(1)[0] == bm.block_table(2)[0]);
  bm.check_invariants();
}

TEST_CASE("misuse is a clear error", "[block_manager]") {
  BlockManager bm(cfg(4, 4));
  LLMI_REQUIRE_THROWS_WITH(bm.free(7), "unknown sequence 7");
  REQUIRE(bm.allocate(1, iota_tokens(3)).ok);
  LLMI_REQUIRE_THROWS_WITH(bm.allocate(1, iota_tokens(3)), "already allocated");
  LLMI_REQUIRE_THROWS_WITH(bm.allocate(2, {}), "empty prompt");
  LLMI_REQUIRE_THROWS_WITH(bm.truncate(1, 5), "truncate");
  LLMI_REQUIRE_THROWS_WITH(bm.fork(1, 1), "already exists");
  REQUIRE(bm.swap_out({1}));
  LLMI_REQUIRE_THROWS_WITH(bm.append(1, {1}), "swapped out");
  LLMI_REQUIRE_THROWS_WITH(bm.swap_out({1}), "already swapped out");
  LLMI_REQUIRE_THROWS_WITH(BlockManager(cfg(4, 0, true, 1.5)), "watermark");
}
