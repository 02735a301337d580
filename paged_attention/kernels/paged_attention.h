// Paged KV cache kernels (vLLM paper §4.1, §4.3; vLLM csrc/attention, csrc/cache_kernels.cu):
//   reshape_and_cache   write the new tokens' K/V into their slots of the paged cache
//   paged_decode        decode attention over block tables: v1 (one CTA per sequence and kv
//                       head, whole context) and v2 (context split in partitions, then a
//                       logsumexp-weighted reduce); GQA; bf16, fp16 or fp8 e4m3 cache
//   copy_blocks         GPU block copies for copy-on-write (BlockManager::append's copies)
//   swap_blocks         block moves between the GPU pool and a pinned CPU pool (§4.5 swapping)
//
// Cache layout (ours, not vLLM's split-x layout): K and V each [num_blocks, kv_heads,
// block_size, head_dim], so one (block, kv head) is block_size * head_dim contiguous elements
// that a warp streams with 16-byte loads, and a whole block moves with one memcpy.
//
// Built for head dim 128, block sizes 8/16/32 (a runtime parameter), q heads per kv head
// 1/2/4/8, and the (query, cache) types bf16/bf16, fp16/fp16, bf16/fp8-e4m3. Anything else is
// rejected with an llmi::Error naming what is unsupported.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "llmi/device_buffer.h"
#include "llmi/dtype.h"

namespace paged {

constexpr int kHeadDim = 128;

struct KvCache {
  void* k = nullptr;  // [num_blocks, kv_heads, block_size, head_dim] of dtype
  void* v = nullptr;  // [num_blocks, kv_heads, block_size, head_dim] of dtype
  int num_blocks = 0, kv_heads = 0, block_size = 16, head_dim = kHeadDim;
  llmi::DType dtype = llmi::DType::BF16;
  // FP8 only: per-tensor scales, stored value = real value / scale (vLLM's k_scale, v_scale).
  float k_scale = 1.0f, v_scale = 1.0f;
  size_t block_elems() const { return size_t(kv_heads) * block_size * head_dim; }
  size_t block_bytes() const { return block_elems() * llmi::dtype_size(dtype); }
};

// Checks the cache description itself (sizes, dtype, head dim, block size).
void validate_cache(const KvCache& c);

enum class DecodeVersion { Auto, V1, V2 };

struct DecodeArgs {
  const void* q = nullptr;           // [num_seqs, q_heads, head_dim] of q_dtype
  void* out = nullptr;               // [num_seqs, q_heads, head_dim] of q_dtype
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq], device
  const int32_t* context_lens = nullptr;  // [num_seqs], device
  int num_seqs = 0, q_heads = 0, max_blocks_per_seq = 0;
  int max_context_len = 0;           // host-side max of context_lens (sizes the v2 grid)
  float scale = 0;                   // softmax scale, usually 1/sqrt(head_dim)
  llmi::DType q_dtype = llmi::DType::BF16;
  DecodeVersion version = DecodeVersion::Auto;
  int partition_tokens = 0;          // Auto/V2 partition size; 0 picks one (plan_decode)
  // Treat the cache as contiguous per sequence: sequence s's logical block j is physical block
  // s * max_blocks_per_seq + j, computed, not looked up (the "contiguous" baseline; bf16 only).
  bool contiguous = false;
};

// What paged_decode will launch for these arguments (for tests and the benchmark's labels).
struct DecodePlan {
  bool v2 = false;
  int partition_tokens = 0, num_partitions = 1;
};
DecodePlan plan_decode(const DecodeArgs& a, const KvCache& c);

// Runs decode attention. `workspace` holds v2's partial outputs and is grown when too small.
void paged_decode(const DecodeArgs& a, const KvCache& c, llmi::DeviceBuffer<float>& workspace,
                  cudaStream_t stream = nullptr);

// key/value [num_tokens, kv_heads, head_dim] of in_dtype (bf16/fp16, matching the cache, or
// either one into an fp8 cache); slot_mapping [num_tokens] device int64, slot = block *
// block_size + offset, negative = padding (skipped).
void reshape_and_cache(const void* key, const void* value, const int64_t* slot_mapping,
                       int num_tokens, llmi::DType in_dtype, const KvCache& c,
                       cudaStream_t stream = nullptr);

// pairs: device [num_pairs] of (src block, dst block); copies K and V of each block.
void copy_blocks(const KvCache& c, const int2* pairs, int num_pairs, cudaStream_t stream = nullptr);

// Moves whole blocks (K and V) between pools of the same shape: one cudaMemcpyAsync each.
// kind: cudaMemcpyDeviceToHost (swap out) or cudaMemcpyHostToDevice (swap in).
struct BlockMove {
  int src, dst;
};
void swap_blocks(const KvCache& src, const KvCache& dst, const std::vector<BlockMove>& moves,
                 cudaMemcpyKind kind, cudaStream_t stream = nullptr);

// Host block tables, checked and flattened for the kernels. Throws llmi::Error for a block id
// outside the pool, a context length the table does not cover, or an empty sequence.
struct PackedTables {
  std::vector<int32_t> tables;  // [num_seqs, max_blocks_per_seq], unused entries 0
  std::vector<int32_t> lens;    // [num_seqs]
  int max_blocks_per_seq = 0, max_context_len = 0;
};
PackedTables pack_block_tables(const std::vector<std::vector<int32_t>>& tables,
                               const std::vector<int32_t>& context_lens, int num_blocks,
                               int block_size);

}  // namespace paged
