// BlockPool: the physical KV blocks of one device (GPU or CPU), their reference counts and the
// O(1) free lists (vLLM paper §4.2: "the KV block manager ... maintains free physical blocks").
//
// A block is in exactly one state:
//   referenced  ref_count > 0, on no list;
//   free        ref_count == 0, on the plain free list (content meaningless);
//   evictable   ref_count == 0, holds a hashed full block still worth reusing (prefix caching),
//               on an LRU list; allocation takes plain free blocks first and evicts the least
//               recently freed evictable block only when none is left.
// Both lists are intrusive doubly-linked lists over arrays, so allocate, free, evict and
// "revive a cached block" are all O(1).
#pragma once
#include <cstdint>
#include <vector>

namespace paged {

using BlockId = int32_t;
constexpr BlockId kNoBlock = -1;

class BlockPool {
 public:
  explicit BlockPool(int num_blocks);

  int num_blocks() const { return int(ref_.size()); }
  // Blocks an allocation can obtain: plain free plus evictable.
  int num_available() const { return free_.size + evictable_.size; }
  int num_free_plain() const { return free_.size; }
  int num_evictable() const { return evictable_.size; }
  int ref_count(BlockId b) const { return ref_.at(b); }
  bool is_evictable(BlockId b) const { return list_of_.at(b) == kEvictable; }
  bool is_free_plain(BlockId b) const { return list_of_.at(b) == kFree; }

  // Takes one block (ref_count becomes 1). Returns kNoBlock when none is available; sets
  // *evicted to the evicted cached block's id (the caller drops its hash), else kNoBlock.
  BlockId allocate(BlockId* evicted);
  void incref(BlockId b);
  // Drops one reference; at zero the block goes to the evictable LRU tail when `keep_cached`
  // (its content is a hashed full block), else to the plain free list. Returns the new count.
  int decref(BlockId b, bool keep_cached);
  // A prefix-cache hit on an evictable block: take it off the LRU list with ref_count 1.
  void revive(BlockId b);
  // An evictable block whose hash the caller dropped becomes plain free.
  void forget_cached(BlockId b);

 private:
  enum ListId : uint8_t { kNone, kFree, kEvictable };
  struct List {
    BlockId head = kNoBlock, tail = kNoBlock;
    int size = 0;
  };
  List& list(ListId id) { return id == kFree ? free_ : evictable_; }
  void push_back(ListId id, BlockId b);
  void unlink(BlockId b);

  std::vector<int> ref_;
  std::vector<BlockId> prev_, next_;
  std::vector<ListId> list_of_;
  List free_, evictable_;
};

}  // namespace paged
