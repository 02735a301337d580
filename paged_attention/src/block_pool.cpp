#include "paged/block_pool.h"

#include "llmi/check.h"

namespace paged {

BlockPool::BlockPool(int num_blocks)
    : ref_(num_blocks, 0), prev_(num_blocks, kNoBlock), next_(num_blocks, kNoBlock),
      list_of_(num_blocks, kNone) {
  LLMI_REQUIRE(num_blocks >= 0, "a block pool needs a non-negative size, got " << num_blocks);
  for (BlockId b = 0; b < num_blocks; ++b) push_back(kFree, b);
}

void BlockPool::push_back(ListId id, BlockId b) {
  List& l = list(id);
  prev_[b] = l.tail;
  next_[b] = kNoBlock;
  if (l.tail != kNoBlock) next_[l.tail] = b; else l.head = b;
  l.tail = b;
  ++l.size;
  list_of_[b] = id;
}

void BlockPool::unlink(BlockId b) {
  List& l = list(list_of_[b]);
  if (prev_[b] != kNoBlock) next_[prev_[b]] = next_[b]; else l.head = next_[b];
  if (next_[b] != kNoBlock) prev_[next_[b]] = prev_[b]; else l.tail = prev_[b];
  prev_[b] = next_[b] = kNoBlock;
  --l.size;
  list_of_[b] = kNone;
}

BlockId BlockPool::allocate(BlockId* evicted) {
  *evicted = kNoBlock;
  BlockId b = free_.head;
  if (b == kNoBlock) {
    b = evictable_.head;  // least recently freed cached block (LRU eviction)
    if (b == kNoBlock) return kNoBlock;
    *evicted = b;
  }
  unlink(b);
  ref_[b] = 1;
  return b;
}

void BlockPool::incref(BlockId b) {
  LLMI_REQUIRE(ref_.at(b) > 0, "incref of block " << b << " which is not referenced");
  ++ref_[b];
}

int BlockPool::decref(BlockId b, bool keep_cached) {
  LLMI_REQUIRE(ref_.at(b) > 0, "free of block " << b << " which is not referenced (double free)");
  if (--ref_[b] == 0) push_back(keep_cached ? kEvictable : kFree, b);
  return ref_[b];
}

void BlockPool::revive(BlockId b) {
  LLMI_REQUIRE(list_of_.at(b) == kEvictable, "revive of block " << b << " which is not evictable");
  unlink(b);
  ref_[b] = 1;
}

void BlockPool::forget_cached(BlockId b) {
  if (list_of_.at(b) != kEvictable) return;
  unlink(b);
  push_back(kFree, b);
}

}  // namespace paged
