// CPU reference for the paged KV cache and decode attention, in fp64 (vLLM paper §4.1 eq. 4:
// attention computed block by block equals attention over the contiguous sequence).
//
// The host cache mirrors the device layout [num_blocks, kv_heads, block_size, head_dim], holding
// the values the device cache stores (already rounded to its dtype, times the fp8 scale).
#pragma once
#include <cstdint>
#include <vector>

namespace paged::ref {

// key/value [num_tokens, kv_heads, head_dim] into the cache slots (slot = block * bs + offset;
// negative slots are padding and skipped).
void reshape_and_cache(const std::vector<double>& key, const std::vector<double>& value,
                       const std::vector<int64_t>& slots, int kv_heads, int block_size,
                       int head_dim, std::vector<double>& k_cache, std::vector<double>& v_cache);

// One sequence's K or V, [len, kv_heads, head_dim], read through its block table.
std::vector<double> gather(const std::vector<double>& cache, const std::vector<int32_t>& table,
                           int len, int kv_heads, int block_size, int head_dim);

// out [num_seqs, q_heads, head_dim]: for each sequence, one query token attending over its whole
// context (gathered, then llmi::ref::attention with GQA).
std::vector<double> paged_decode(const std::vector<double>& q, const std::vector<double>& k_cache,
                                 const std::vector<double>& v_cache,
                                 const std::vector<std::vector<int32_t>>& tables,
                                 const std::vector<int32_t>& lens, int q_heads, int kv_heads,
                                 int block_size, int head_dim, double scale);

}  // namespace paged::ref
