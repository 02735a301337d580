// Property test: long random sequences of block-manager operations (allocate with shared
// prefixes, append one or many tokens, fork, truncate, free, swap out/in), checking after every
// step that
//   - every block is free xor referenced, and ref counts equal the table entries (check_invariants);
//   - each sequence reads back exactly its own tokens through its block table from a shadow
//     "KV memory" that the test updates only with the copies the manager returned and with
//     the writes of new tokens: so a missing or wrong copy-on-write or swap copy is caught;
//   - no write ever lands in a block referenced more than once (CoW never writes a shared block);
//   - a prefix-cache hit returns a block that already holds those tokens, and the same
//     physical block as the live sequence that holds that prefix;
//   - after freeing everything, every block of both pools is free (no leak).
#include <algorithm>
#include <map>
#include <random>

#include "llmi/catch.h"
#include "paged/block_manager.h"

using namespace paged;

namespace {

class Model {
 public:
  Model(const BlockManagerConfig& c, uint64_t seed)
      : bm(c), rng(seed), gpu(size_t(c.num_gpu_blocks), std::vector<Token>(size_t(c.block_size), -1)),
        cpu(size_t(c.num_cpu_blocks), std::vector<Token>(size_t(c.block_size), -1)) {
    // A handful of shared prompt prefixes so that prefix-cache hits happen often.
    for (int p = 0; p < 4; ++p) {
      std::vector<Token> pre(size_t(bs() * (1 + p)));
      for (auto& t : pre) t = Token(rng() % 1000);
      prefixes.push_back(pre);
    }
  }

  int bs() const { return bm.block_size(); }

  void step() {
    const int op = int(rng() % 100);
    std::vector<SeqId> live = bm.sequences();
    if (op < 25 || live.empty()) return do_allocate();
    const SeqId s = live[rng() % live.size()];
    if (!bm.on_gpu(s)) {
      if (op < 70) return do_swap_in(s);
      return do_free(s);
    }
    if (op < 60) return do_append(s);
    if (op < 70) return do_fork(s);
    if (op < 78) return do_truncate(s);
    if (op < 88) return do_swap_out(s);
    do_free(s);
  }

  void check() {
    bm.check_invariants();
    for (SeqId s : bm.sequences()) {
      const auto& want = expected.at(s);
      REQUIRE(bm.tokens(s) == want);
      const auto& mem = bm.on_gpu(s) ? gpu : cpu;
      const auto& table = bm.block_table(s);
      for (size_t i = 0; i < want.size(); ++i)
        REQUIRE(mem[size_t(table[i / size_t(bs())])][i % size_t(bs())] == want[i]);
    }
  }

  void free_all() {
    for (SeqId s : bm.sequences()) do_free(s);
    REQUIRE(bm.num_free_gpu_blocks() == bm.num_gpu_blocks());
    REQUIRE(bm.num_free_cpu_blocks() == bm.config().num_cpu_blocks);
    bm.check_invariants();
  }

  BlockManager bm;
  int64_t ok_ops = 0, refused_ops = 0, hits_checked = 0;

 private:
  // Writes the tokens at positions [from, len) of s into the shadow memory, as the
  // reshape_and_cache kernel would; each target block must belong to s alone.
  void write(SeqId s, size_t from) {
    const auto& table = bm.block_table(s);
    const auto& toks = bm.tokens(s);
    for (size_t i = from; i < toks.size(); ++i) {
      BlockId b = table[i / size_t(bs())];
      REQUIRE(bm.gpu_pool().ref_count(b) == 1);
      gpu[size_t(b)][i % size_t(bs())] = toks[i];
    }
  }

  void do_allocate() {
    std::vector<Token> prompt;
    if (rng() % 2) prompt = prefixes[rng() % prefixes.size()];
    const int extra = int(rng() % (3 * bs())) + (prompt.empty() ? 1 : 0);
    for (int i = 0; i < extra; ++i) prompt.push_back(Token(rng() % 1000));
    const SeqId s = next_id++;
    AllocateResult r = bm.allocate(s, prompt);
    if (!r.ok) {
      ++refused_ops;
      REQUIRE_FALSE(bm.has(s));
      return;
    }
    ++ok_ops;
    expected[s] = prompt;
    // A hit's blocks already hold the prompt's tokens, and are the blocks any live GPU sequence
    // with the same leading blocks uses (the cache never holds two copies of a live prefix
    // that the hit could have found).
    const auto& table = bm.block_table(s);
    for (int i = 0; i < r.cached_tokens; ++i)
      REQUIRE(gpu[size_t(table[size_t(i / bs())])][size_t(i % bs())] == prompt[size_t(i)]);
    for (int b = 0; b < r.cached_tokens / bs(); ++b) {
      REQUIRE(bm.is_cached(table[size_t(b)]));
      ++hits_checked;
      const size_t prefix_len = size_t(b + 1) * size_t(bs());
      for (SeqId o : bm.sequences()) {
        if (o == s || !bm.on_gpu(o) || bm.tokens(o).size() < prefix_len) continue;
        const BlockId ob = bm.block_table(o)[size_t(b)];
        if (bm.is_cached(ob) &&
            std::equal(prompt.begin(), prompt.begin() + long(prefix_len), bm.tokens(o).begin()))
          REQUIRE(ob == table[size_t(b)]);
      }
    }
    write(s, size_t(r.cached_tokens));
  }

  void do_append(SeqId s) {
    const int n = rng() % 4 == 0 ? int(rng() % (2 * bs())) + 1 : 1;
    std::vector<Token> toks(static_cast<size_t>(n));
    for (auto& t : toks) t = Token(rng() % 1000);
    const size_t before = bm.tokens(s).size();
    const int free_before = bm.num_free_gpu_blocks();
    const int need = bm.blocks_needed_to_append(s, n);
    AppendResult r = bm.append(s, toks);
    if (!r.ok) {
      ++refused_ops;
      REQUIRE(need > free_before);
      REQUIRE(bm.tokens(s).size() == before);
      return;
    }
    ++ok_ops;
    for (const BlockCopy& c : r.copies) {
      REQUIRE(bm.gpu_pool().ref_count(c.dst) == 1);
      gpu[size_t(c.dst)] = gpu[size_t(c.src)];
    }
    expected[s].insert(expected[s].end(), toks.begin(), toks.end());
    write(s, before);
  }

  void do_fork(SeqId s) {
    const SeqId c = next_id++;
    bm.fork(s, c);
    expected[c] = expected[s];
    ++ok_ops;
  }

  void do_truncate(SeqId s) {
    const int len = bm.seq_len(s);
    const int new_len = 1 + int(rng() % uint64_t(len));
    bm.truncate(s, new_len);
    expected[s].resize(size_t(new_len));
    ++ok_ops;
  }

  // A group is a sequence and every sequence forked from the same prompt that shares its first
  // block (what vLLM's SequenceGroup holds); swapping is all-or-nothing for the group.
  std::vector<SeqId> group_of(SeqId s) {
    std::vector<SeqId> g;
    for (SeqId o : bm.sequences())
      if (bm.on_gpu(o) == bm.on_gpu(s) && bm.block_table(o)[0] == bm.block_table(s)[0]) g.push_back(o);
    return g;
  }

  void do_swap_out(SeqId s) {
    std::vector<SeqId> g = group_of(s);
    const int cpu_free = bm.num_free_cpu_blocks();
    auto copies = bm.swap_out(g);
    if (!copies) {
      ++refused_ops;
      for (SeqId o : g) REQUIRE(bm.on_gpu(o));
      REQUIRE(bm.num_free_cpu_blocks() == cpu_free);
      return;
    }
    ++ok_ops;
    for (const BlockCopy& c : *copies) cpu[size_t(c.dst)] = gpu[size_t(c.src)];
  }

  void do_swap_in(SeqId s) {
    std::vector<SeqId> g = group_of(s);
    auto copies = bm.swap_in(g);
    if (!copies) {
      ++refused_ops;
      for (SeqId o : g) REQUIRE_FALSE(bm.on_gpu(o));
      return;
    }
    ++ok_ops;
    for (const BlockCopy& c : *copies) gpu[size_t(c.dst)] = cpu[size_t(c.src)];
  }

  void do_free(SeqId s) {
    bm.free(s);
    expected.erase(s);
    ++ok_ops;
  }

  std::mt19937_64 rng;
  std::vector<std::vector<Token>> gpu, cpu;  // shadow KV memory: token id per slot
  std::vector<std::vector<Token>> prefixes;
  std::map<SeqId, std::vector<Token>> expected;
  SeqId next_id = 1;
};

}  // namespace

TEST_CASE("random operation sequences keep every block-manager invariant", "[block_manager][random]") {
  for (int block_size : {4, 16}) {
    for (bool caching : {true, false}) {
      for (uint64_t seed : {1u, 2u, 3u}) {
        BlockManagerConfig c;
        c.num_gpu_blocks = block_size == 4 ? 48 : 24;
        c.num_cpu_blocks = 16;
        c.block_size = block_size;
        c.watermark = 0.0;
        c.prefix_caching = caching;
        Model m(c, seed * 7919 + uint64_t(block_size) + (caching ? 1000 : 0));
        for (int i = 0; i < 4000; ++i) {
          m.step();
          m.check();
        }
        INFO("block " << block_size << " caching " << caching << " seed " << seed);
        // The run really exercised the paths: refusals (out of blocks), CoW, cache hits.
        REQUIRE(m.refused_ops > 0);
        REQUIRE(m.bm.stats().cow_copies > 0);
        if (caching) {
          REQUIRE(m.hits_checked > 0);
          REQUIRE(m.bm.stats().evictions > 0);
        } else {
          REQUIRE(m.bm.stats().prefix_hit_blocks == 0);
        }
        m.free_all();
      }
    }
  }
}
