#include "paged/block_manager.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "llmi/check.h"

namespace paged {

namespace {
constexpr uint64_t kRootHash = 0x9e3779b97f4a7c15ull;  // parent hash of a sequence's first block

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

using MovedBlocks = std::unordered_map<BlockId, BlockId>;  // source block -> destination block

// Moves one sequence's table to the other pool, for swap_out / swap_in of a group: a block that
// several sequences of the group share (after a fork) is copied once and stays shared. take()
// returns a new destination block, share(dst) adds a reference to one taken before, and
// release(src) drops the table's reference to its source block.
template <class Take, class Share, class Release>
void move_table(std::vector<BlockId>& table, MovedBlocks& moved, std::vector<BlockCopy>& copies,
                Take take, Share share, Release release) {
  for (BlockId& b : table) {
    auto it = moved.find(b);
    BlockId dst;
    if (it == moved.end()) {
      dst = take();
      moved.emplace(b, dst);
      copies.push_back({b, dst});
    } else {
      dst = it->second;
      share(dst);
    }
    release(b);
    b = dst;
  }
}
}  // namespace

BlockManager::BlockManager(const BlockManagerConfig& cfg)
    : cfg_(cfg),
      watermark_blocks_(int(std::floor(cfg.watermark * cfg.num_gpu_blocks))),
      gpu_(cfg.num_gpu_blocks),
      cpu_(cfg.num_cpu_blocks),
      gpu_hash_(size_t(std::max(cfg.num_gpu_blocks, 0))) {
  LLMI_REQUIRE(cfg.block_size > 0, "block size must be positive, got " << cfg.block_size);
  LLMI_REQUIRE(cfg.watermark >= 0 && cfg.watermark < 1,
               "watermark must be a fraction in [0, 1), got " << cfg.watermark);
}

const BlockManager::Seq& BlockManager::get(SeqId seq) const {
  auto it = seqs_.find(seq);
  LLMI_REQUIRE(it != seqs_.end(), "unknown sequence " << seq);
  return it->second;
}
BlockManager::Seq& BlockManager::get(SeqId seq) {
  return const_cast<Seq&>(static_cast<const BlockManager*>(this)->get(seq));
}

std::vector<SeqId> BlockManager::sequences() const {
  std::vector<SeqId> ids;
  for (const auto& kv : seqs_) ids.push_back(kv.first);
  std::sort(ids.begin(), ids.end());
  return ids;
}

// --- prefix cache ------------------------------------------------------------------------------

// The block's identity is its whole prefix: hash(parent block's hash, this block's token ids).
uint64_t BlockManager::hash_block(uint64_t parent, const Token* tokens) const {
  uint64_t h = mix(parent);
  for (int i = 0; i < cfg_.block_size; ++i) h = mix(h ^ uint64_t(uint32_t(tokens[i])));
  return h;
}

BlockId BlockManager::lookup(uint64_t hash, uint64_t parent, const Token* tokens) const {
  if (!cfg_.prefix_caching) return kNoBlock;
  auto it = cache_.find(hash);
  if (it == cache_.end()) return kNoBlock;
  const BlockHash& bh = gpu_hash_[size_t(it->second)];
  if (bh.parent != parent || !std::equal(bh.tokens.begin(), bh.tokens.end(), tokens))
    return kNoBlock;  // a 64-bit collision: treat as a miss
  return it->second;
}

// Block `block_index` of s just became full: record its hash in the sequence's chain and, if no
// block with that content is cached yet, register this one.
void BlockManager::register_full_block(Seq& s, int block_index) {
  const uint64_t parent = block_index == 0 ? kRootHash : s.hashes[size_t(block_index) - 1];
  const Token* toks = s.tokens.data() + size_t(block_index) * cfg_.block_size;
  const uint64_t h = hash_block(parent, toks);
  if (s.hashes.size() <= size_t(block_index)) s.hashes.resize(size_t(block_index) + 1);
  s.hashes[size_t(block_index)] = h;
  if (!cfg_.prefix_caching || !s.on_gpu || cache_.count(h)) return;
  BlockId b = s.table[size_t(block_index)];
  if (gpu_hash_[size_t(b)].valid) return;  // already registered under another prefix
  cache_[h] = b;
  gpu_hash_[size_t(b)] = BlockHash{true, h, parent, std::vector<Token>(toks, toks + cfg_.block_size)};
}

// Block b's content is about to change (or it was evicted): it no longer represents its hash.
void BlockManager::uncache(BlockId b) {
  BlockHash& bh = gpu_hash_[size_t(b)];
  if (!bh.valid) return;
  cache_.erase(bh.hash);
  bh = BlockHash{};
  gpu_.forget_cached(b);
}

BlockId BlockManager::take_gpu_block() {
  BlockId evicted = kNoBlock;
  BlockId b = gpu_.allocate(&evicted);
  LLMI_REQUIRE(b != kNoBlock, "internal: GPU block pool exhausted after availability check");
  if (evicted != kNoBlock) {
    ++stats_.evictions;
    BlockHash& bh = gpu_hash_[size_t(evicted)];
    cache_.erase(bh.hash);
    bh = BlockHash{};
  }
  return b;
}

// --- admission and growth --------------------------------------------------------------------

AllocStatus BlockManager::can_allocate(int num_prompt_tokens) const {
  const int needed = blocks_for(num_prompt_tokens);
  if (needed > gpu_.num_blocks() - watermark_blocks_) return AllocStatus::Never;
  if (gpu_.num_available() - needed < watermark_blocks_) return AllocStatus::Later;
  return AllocStatus::Ok;
}

AllocateResult BlockManager::allocate(SeqId seq, const std::vector<Token>& prompt) {
  LLMI_REQUIRE(!seqs_.count(seq), "sequence " << seq << " is already allocated");
  LLMI_REQUIRE(!prompt.empty(), "sequence " << seq << " has an empty prompt");
  const int bs = cfg_.block_size;
  const int n_blocks = blocks_for(int64_t(prompt.size()));
  const int n_full = int(prompt.size()) / bs;

  // Longest cached prefix of full blocks (a prefix: the first miss ends it).
  std::vector<BlockId> hits;
  std::vector<uint64_t> hashes;
  uint64_t parent = kRootHash;
  for (int i = 0; i < n_full; ++i) {
    const Token* toks = prompt.data() + size_t(i) * bs;
    const uint64_t h = hash_block(parent, toks);
    hashes.push_back(h);
    if (hits.size() == size_t(i)) {
      BlockId b = lookup(h, parent, toks);
      if (b != kNoBlock) hits.push_back(b);
    }
    parent = h;
  }
  int revived = 0;
  for (BlockId b : hits) revived += gpu_.is_evictable(b);
  if (gpu_.num_available() < n_blocks - int(hits.size()) + revived) return {};  // not enough

  stats_.prefix_query_blocks += n_full;
  stats_.prefix_hit_blocks += int64_t(hits.size());
  Seq s;
  s.tokens = prompt;
  for (BlockId b : hits) {  // take the hits before allocating, so eviction cannot pick them
    if (gpu_.is_evictable(b)) gpu_.revive(b); else gpu_.incref(b);
    s.table.push_back(b);
  }
  while (int(s.table.size()) < n_blocks) s.table.push_back(take_gpu_block());
  s.hashes = hashes;
  for (int i = int(hits.size()); i < n_full; ++i) register_full_block(s, i);
  seqs_.emplace(seq, std::move(s));
  return {true, int(hits.size()) * bs};
}

int BlockManager::blocks_needed_to_append(SeqId seq, int n) const {
  const Seq& s = get(seq);
  LLMI_REQUIRE(s.on_gpu, "sequence " << seq << " is swapped out; swap it in before appending");
  const int len = int(s.tokens.size());
  int needed = blocks_for(len + n) - int(s.table.size());
  // Writing into a partially filled last block that others share copies it first (CoW).
  if (n > 0 && len % cfg_.block_size != 0 && gpu_.ref_count(s.table.back()) > 1) ++needed;
  return needed;
}

AppendResult BlockManager::append(SeqId seq, const std::vector<Token>& tokens) {
  AppendResult r;
  if (blocks_needed_to_append(seq, int(tokens.size())) > gpu_.num_available()) return r;
  Seq& s = get(seq);
  const int bs = cfg_.block_size;
  const int len = int(s.tokens.size());
  if (!tokens.empty() && len % bs != 0) {
    BlockId& last = s.table.back();
    if (gpu_.ref_count(last) > 1) {  // §4.4 copy-on-write at block granularity
      BlockId fresh = take_gpu_block();
      r.copies.push_back({last, fresh});
      ++stats_.cow_copies;
      release_gpu(last);
      last = fresh;
    } else {
      uncache(last);  // sole owner of a cached block (after truncate): it is about to change
    }
  }
  s.tokens.insert(s.tokens.end(), tokens.begin(), tokens.end());
  while (int(s.table.size()) < blocks_for(int64_t(s.tokens.size()))) s.table.push_back(take_gpu_block());
  for (int i = len / bs; i < int(s.tokens.size()) / bs; ++i) register_full_block(s, i);
  r.ok = true;
  return r;
}

void BlockManager::fork(SeqId parent, SeqId child) {
  LLMI_REQUIRE(!seqs_.count(child), "fork target sequence " << child << " already exists");
  const Seq& p = get(parent);
  LLMI_REQUIRE(p.on_gpu, "cannot fork swapped-out sequence " << parent);
  for (BlockId b : p.table) gpu_.incref(b);
  Seq c = p;
  seqs_.emplace(child, std::move(c));
}

void BlockManager::truncate(SeqId seq, int new_len) {
  Seq& s = get(seq);
  LLMI_REQUIRE(s.on_gpu, "cannot truncate swapped-out sequence " << seq);
  LLMI_REQUIRE(new_len >= 1 && new_len <= int(s.tokens.size()),
               "truncate of sequence " << seq << " to " << new_len << " tokens (it has "
                                       << s.tokens.size() << ")");
  const int keep = blocks_for(new_len);
  for (int i = int(s.table.size()) - 1; i >= keep; --i) release_gpu(s.table[size_t(i)]);
  s.table.resize(size_t(keep));
  s.tokens.resize(size_t(new_len));
  s.hashes.resize(size_t(new_len / cfg_.block_size));
}

void BlockManager::free(SeqId seq) {
  Seq& s = get(seq);
  // Reverse order: a sequence's tail blocks become the least recently used, so eviction takes
  // them before the shared-prefix blocks at the front (as vLLM v1 does).
  for (auto it = s.table.rbegin(); it != s.table.rend(); ++it) {
    if (s.on_gpu) release_gpu(*it); else cpu_.decref(*it, false);
  }
  seqs_.erase(seq);
}

// --- swapping ----------------------------------------------------------------------------------

int BlockManager::distinct_blocks(const std::vector<SeqId>& group, bool want_gpu) const {
  std::unordered_set<BlockId> blocks;
  for (SeqId id : group) {
    const Seq& s = get(id);
    LLMI_REQUIRE(s.on_gpu == want_gpu, "sequence " << id << " is already "
                                                   << (s.on_gpu ? "on the GPU" : "swapped out"));
    blocks.insert(s.table.begin(), s.table.end());
  }
  return int(blocks.size());
}

bool BlockManager::can_swap_out(const std::vector<SeqId>& group) const {
  return distinct_blocks(group, true) <= cpu_.num_available();
}

bool BlockManager::can_swap_in(const std::vector<SeqId>& group) const {
  return gpu_.num_available() - distinct_blocks(group, false) >= watermark_blocks_;
}

std::optional<std::vector<BlockCopy>> BlockManager::swap_out(const std::vector<SeqId>& group) {
  if (!can_swap_out(group)) return std::nullopt;
  MovedBlocks moved;
  std::vector<BlockCopy> copies;
  for (SeqId id : group) {
    Seq& s = get(id);
    move_table(
        s.table, moved, copies,
        [&] {
          BlockId unused;
          return cpu_.allocate(&unused);
        },
        [&](BlockId dst) { cpu_.incref(dst); },
        // a cached block stays reusable on the GPU after its owner leaves
        [&](BlockId src) { release_gpu(src); });
    s.on_gpu = false;
  }
  return copies;
}

std::optional<std::vector<BlockCopy>> BlockManager::swap_in(const std::vector<SeqId>& group) {
  if (!can_swap_in(group)) return std::nullopt;
  MovedBlocks moved;
  std::vector<BlockCopy> copies;
  for (SeqId id : group) {
    Seq& s = get(id);
    move_table(
        s.table, moved, copies, [&] { return take_gpu_block(); },
        [&](BlockId dst) { gpu_.incref(dst); }, [&](BlockId src) { cpu_.decref(src, false); });
    s.on_gpu = true;
    for (size_t i = 0; i < s.hashes.size(); ++i) register_full_block(s, int(i));
  }
  return copies;
}

// --- invariants ------------------------------------------------------------------------------

void BlockManager::check_invariants() const {
  std::vector<int> gpu_refs(size_t(gpu_.num_blocks()), 0), cpu_refs(size_t(cpu_.num_blocks()), 0);
  for (const auto& [id, s] : seqs_) {
    LLMI_REQUIRE(int(s.table.size()) == blocks_for(int64_t(s.tokens.size())),
                 "sequence " << id << " has " << s.table.size() << " blocks for " << s.tokens.size()
                             << " tokens");
    LLMI_REQUIRE(s.hashes.size() == s.tokens.size() / size_t(cfg_.block_size),
                 "sequence " << id << " hash chain length is wrong");
    auto& refs = s.on_gpu ? gpu_refs : cpu_refs;
    for (BlockId b : s.table) {
      LLMI_REQUIRE(b >= 0 && size_t(b) < refs.size(), "sequence " << id << " points at block " << b
                                                                  << " outside its pool");
      ++refs[size_t(b)];
    }
  }
  auto check_pool = [](const BlockPool& pool, const std::vector<int>& refs, const char* name) {
    int on_lists = 0;
    for (BlockId b = 0; b < pool.num_blocks(); ++b) {
      const bool listed = pool.is_free_plain(b) || pool.is_evictable(b);
      LLMI_REQUIRE(pool.ref_count(b) == refs[size_t(b)],
                   name << " block " << b << " has ref count " << pool.ref_count(b) << " but "
                        << refs[size_t(b)] << " table entries");
      LLMI_REQUIRE(listed == (refs[size_t(b)] == 0),
                   name << " block " << b << " is not exactly one of free or referenced");
      on_lists += listed;
    }
    LLMI_REQUIRE(on_lists == pool.num_available(), name << " free-list sizes disagree with blocks");
  };
  check_pool(gpu_, gpu_refs, "GPU");
  check_pool(cpu_, cpu_refs, "CPU");
  size_t hashed = 0;
  for (BlockId b = 0; b < gpu_.num_blocks(); ++b) {
    const BlockHash& bh = gpu_hash_[size_t(b)];
    if (gpu_.is_evictable(b)) LLMI_REQUIRE(bh.valid, "evictable GPU block " << b << " has no hash");
    if (!bh.valid) continue;
    ++hashed;
    auto it = cache_.find(bh.hash);
    LLMI_REQUIRE(it != cache_.end() && it->second == b,
                 "GPU block " << b << " has a hash the prefix cache does not map to it");
  }
  LLMI_REQUIRE(hashed == cache_.size(), "prefix cache maps hashes to blocks that lost them");
}

}  // namespace paged
