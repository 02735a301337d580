// KV memory allocation policies the serving simulation compares (vLLM paper §3, §6.1), all over
// the same capacity of `capacity_tokens` token slots:
//
//   Paged        vLLM: blocks of block_size slots on demand from the BlockManager (§4.2);
//                waste is only the unfilled tail of each sequence's last block.
//   Orca-Max     one contiguous chunk of max_seq_len slots per request, reserved at admission.
//   Orca-Pow2    prompt + the output length rounded up to a power of two (over-reserves <= 2x).
//   Orca-Oracle  prompt + the true output length (knows the future; the best a reservation can do).
//
// Contiguous chunks come from a first-fit allocator over one address range, so holes between
// live chunks (external fragmentation) are real: a request waits if no single hole fits it.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "paged/block_manager.h"

namespace paged {

enum class KvPolicy { Paged, OrcaMax, OrcaPow2, OrcaOracle };
const char* policy_name(KvPolicy p);
KvPolicy parse_policy(const std::string& name);

class KvAllocator {
 public:
  virtual ~KvAllocator() = default;
  // Reserves memory for a request's prompt (and, for reservation policies, its future tokens).
  // False when it does not fit now; nothing changes then.
  virtual bool admit(int req, int prompt_len, int output_len) = 0;
  // The request's KV now holds new_len tokens (one more than before). False = out of memory
  // (the paged engine must preempt); reservation policies always have the slot already.
  virtual bool grow(int req, int new_len) = 0;
  virtual void release(int req) = 0;
  // Slots held by live requests (blocks x block_size for paged, chunk sizes for contiguous).
  virtual int64_t reserved_slots() const = 0;
  virtual int64_t capacity_slots() const = 0;
  // Preemption by swapping (§4.5): moves a request's KV to the CPU pool and back. Returns the
  // slots moved, or -1 when it cannot (CPU pool full, GPU too full to swap in, or a policy
  // without swapping); nothing changes then.
  virtual int64_t swap_out(int) { return -1; }
  virtual int64_t swap_in(int) { return -1; }
};

// cpu_swap_tokens: size of the CPU swap pool (paged only).
std::unique_ptr<KvAllocator> make_allocator(KvPolicy p, int64_t capacity_tokens, int block_size,
                                            int max_seq_len, int64_t cpu_swap_tokens = 0);

// First-fit allocator of contiguous ranges in [0, capacity); free holes are coalesced.
class FirstFitRanges {
 public:
  explicit FirstFitRanges(int64_t capacity);
  // Offset of a new range of `size`, or -1 when no hole is large enough.
  int64_t allocate(int64_t size);
  void free(int64_t offset, int64_t size);
  int64_t largest_hole() const;
  int64_t free_total() const { return free_total_; }

 private:
  std::map<int64_t, int64_t> holes_;  // offset -> size
  int64_t free_total_;
};

}  // namespace paged
