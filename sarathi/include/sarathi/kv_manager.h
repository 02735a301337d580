// KV-cache accounting in fixed-size blocks (vLLM's block manager, reduced to what a scheduler
// needs): how many blocks each request holds, and whether a request can grow.
#pragma once
#include <unordered_map>

namespace sarathi {

class KvManager {
 public:
  // Throws llmi::Error unless both are positive.
  KvManager(int num_blocks, int block_size);

  int num_blocks() const { return num_blocks_; }
  int block_size() const { return block_size_; }
  int free_blocks() const { return free_; }
  int used_blocks() const { return num_blocks_ - free_; }
  int capacity_tokens() const { return num_blocks_ * block_size_; }
  int blocks_for(int tokens) const { return (tokens + block_size_ - 1) / block_size_; }
  int held(int req) const;                 // blocks held by req (0 if none)
  int held_tokens(int req) const { return held(req) * block_size_; }

  // Blocks req still needs to hold `tokens` tokens.
  int shortfall(int req, int tokens) const;
  bool can_reserve(int req, int tokens) const { return shortfall(req, tokens) <= free_; }
  // Grows req's allocation to cover `tokens`; throws llmi::Error ("out of KV blocks") if it can't.
  void reserve(int req, int tokens);
  void release(int req);  // frees all of req's blocks (finish or preemption)

 private:
  int num_blocks_, block_size_, free_;
  std::unordered_map<int, int> held_;
};

}  // namespace sarathi
