// BlockManager: per-sequence block tables over a GPU and a CPU BlockPool (vLLM paper §4.2-§4.5).
//
//   §4.2  logical blocks of a sequence map to physical blocks through its block table; blocks
//         are allocated on demand as tokens are appended (allocate, append).
//   §4.4  parallel sampling / beam search: fork() shares every block (ref counts); a write to a
//         shared block copies it first, at block granularity (copy-on-write). append() returns
//         the block copies the GPU must perform (kernels/cache_ops.cuh copy_blocks).
//   §4.4  shared prefix: full blocks are hashed by (parent hash, token ids), as vLLM's automatic
//         prefix caching does; allocate() reuses cached blocks; freed cached blocks stay
//         reusable until evicted (LRU) when no plain free block is left.
//   §4.5  preemption: all-or-nothing per sequence group, by recompute (free the group) or by
//         swapping its blocks to the CPU pool (swap_out / swap_in return the block moves).
//
// Running out of blocks is a normal outcome: allocate/append/swap return "not done" and change
// nothing, so the scheduler can preempt. Misuse (unknown sequence, double free) throws llmi::Error.
//
// Order of device work for one engine step: perform the returned swap-outs, then swap-ins and
// copy-on-write copies, then write the new tokens' K/V. A block freed during the step may be
// handed out again in the same step, so the copies must be issued before any K/V write.
#pragma once
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "paged/block_pool.h"

namespace paged {

using SeqId = int64_t;
using Token = int32_t;

struct BlockManagerConfig {
  int num_gpu_blocks = 0;
  int num_cpu_blocks = 0;
  int block_size = 16;
  double watermark = 0.01;     // fraction of GPU blocks admission keeps free (vLLM v0 default)
  bool prefix_caching = true;
};

// Admission answer (vLLM v0 AllocStatus): fits now, fits once memory frees, or never fits.
enum class AllocStatus { Ok, Later, Never };

struct BlockCopy {
  BlockId src, dst;  // CoW: GPU -> GPU; swap-out: GPU -> CPU; swap-in: CPU -> GPU
};

struct AllocateResult {
  bool ok = false;
  int cached_tokens = 0;  // prompt tokens whose K/V came from the prefix cache (need no prefill)
};

struct AppendResult {
  bool ok = false;
  std::vector<BlockCopy> copies;  // copy-on-write copies to run before writing the new K/V
};

struct BlockManagerStats {
  int64_t prefix_hit_blocks = 0, prefix_query_blocks = 0, evictions = 0, cow_copies = 0;
};

class BlockManager {
 public:
  explicit BlockManager(const BlockManagerConfig& cfg);

  const BlockManagerConfig& config() const { return cfg_; }
  int block_size() const { return cfg_.block_size; }
  int blocks_for(int64_t tokens) const { return int((tokens + cfg_.block_size - 1) / cfg_.block_size); }

  // --- admission and growth -----------------------------------------------------------
  AllocStatus can_allocate(int num_prompt_tokens) const;
  // Gives a new sequence blocks for its prompt, reusing prefix-cached full blocks.
  AllocateResult allocate(SeqId seq, const std::vector<Token>& prompt);
  // New GPU blocks that appending n tokens to `seq` takes (including a copy-on-write block).
  int blocks_needed_to_append(SeqId seq, int n = 1) const;
  // Appends tokens (one decode step, or several: speculative/chunked); all-or-nothing.
  AppendResult append(SeqId seq, const std::vector<Token>& tokens);
  // Parallel sampling / beam search: child shares all of parent's blocks.
  void fork(SeqId parent, SeqId child);
  // Keeps the first new_len tokens (beam search dropping a candidate's tail, rejected drafts).
  void truncate(SeqId seq, int new_len);
  // Releases a finished sequence, or one preempted by recompute.
  void free(SeqId seq);

  // --- preemption by swapping (all-or-nothing per sequence group) -------------------------
  bool can_swap_out(const std::vector<SeqId>& group) const;
  std::optional<std::vector<BlockCopy>> swap_out(const std::vector<SeqId>& group);
  bool can_swap_in(const std::vector<SeqId>& group) const;
  std::optional<std::vector<BlockCopy>> swap_in(const std::vector<SeqId>& group);

  // --- inspection ---------------------------------------------------------------------------
  bool has(SeqId seq) const { return seqs_.count(seq) != 0; }
  bool on_gpu(SeqId seq) const { return get(seq).on_gpu; }
  const std::vector<BlockId>& block_table(SeqId seq) const { return get(seq).table; }
  const std::vector<Token>& tokens(SeqId seq) const { return get(seq).tokens; }
  int seq_len(SeqId seq) const { return int(get(seq).tokens.size()); }
  std::vector<SeqId> sequences() const;
  int num_free_gpu_blocks() const { return gpu_.num_available(); }
  int num_free_cpu_blocks() const { return cpu_.num_available(); }
  int num_gpu_blocks() const { return gpu_.num_blocks(); }
  int watermark_blocks() const { return watermark_blocks_; }
  const BlockPool& gpu_pool() const { return gpu_; }
  const BlockPool& cpu_pool() const { return cpu_; }
  // True when GPU block b holds a full block registered in the prefix cache.
  bool is_cached(BlockId b) const { return gpu_hash_[size_t(b)].valid; }
  const BlockManagerStats& stats() const { return stats_; }

  // Checks every structural invariant; throws llmi::Error naming the first one broken:
  // each block free xor referenced, ref counts equal the table entries pointing at them,
  // table lengths match token counts, the prefix-cache map and block hashes agree.
  void check_invariants() const;

 private:
  struct Seq {
    std::vector<Token> tokens;
    std::vector<BlockId> table;
    std::vector<uint64_t> hashes;  // hash chain of the full blocks, hashes[i] for block i
    bool on_gpu = true;
  };
  struct BlockHash {
    bool valid = false;
    uint64_t hash = 0, parent = 0;
    std::vector<Token> tokens;  // kept so that a 64-bit collision can never alias two blocks
  };

  const Seq& get(SeqId seq) const;
  Seq& get(SeqId seq);
  uint64_t hash_block(uint64_t parent, const Token* tokens) const;
  // The cached GPU block holding exactly (parent, tokens), or kNoBlock.
  BlockId lookup(uint64_t hash, uint64_t parent, const Token* tokens) const;
  void register_full_block(Seq& s, int block_index);
  void uncache(BlockId b);
  BlockId take_gpu_block();  // assumes availability was checked
  void release_gpu(BlockId b) { gpu_.decref(b, gpu_hash_[size_t(b)].valid); }
  int distinct_blocks(const std::vector<SeqId>& group, bool want_gpu) const;

  BlockManagerConfig cfg_;
  int watermark_blocks_;
  BlockPool gpu_, cpu_;
  std::vector<BlockHash> gpu_hash_;
  std::unordered_map<uint64_t, BlockId> cache_;
  std::unordered_map<SeqId, Seq> seqs_;
  BlockManagerStats stats_;
};

}  // namespace paged
