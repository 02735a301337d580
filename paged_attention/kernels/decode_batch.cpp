// Host-side checks of what the kernels trust: block tables, context lengths, cache shapes.
// The kernels do no bounds checks of their own (as in vLLM); bad metadata is stopped here.
#include <algorithm>

#include "llmi/check.h"
#include "paged_attention.h"

namespace paged {

void validate_cache(const KvCache& c) {
  LLMI_REQUIRE(c.head_dim == kHeadDim,
               "head dim " << c.head_dim << " is not supported (paged kernels are built for "
                           << kHeadDim << ")");
  LLMI_REQUIRE(c.block_size == 8 || c.block_size == 16 || c.block_size == 32,
               "block size " << c.block_size << " is not supported (8, 16 or 32)");
  LLMI_REQUIRE(c.dtype == llmi::DType::BF16 || c.dtype == llmi::DType::F16 ||
                   c.dtype == llmi::DType::FP8E4M3,
               "KV cache dtype " << llmi::dtype_name(c.dtype) << " is not supported (bf16, fp16, fp8_e4m3)");
  LLMI_REQUIRE(c.num_blocks > 0 && c.kv_heads > 0,
               "KV cache needs blocks and kv heads, got " << c.num_blocks << " blocks, "
                                                          << c.kv_heads << " kv heads");
  LLMI_REQUIRE(c.k && c.v, "KV cache pointers are null");
  LLMI_REQUIRE(c.k_scale > 0 && c.v_scale > 0, "KV scales must be positive");
}

PackedTables pack_block_tables(const std::vector<std::vector<int32_t>>& tables,
                               const std::vector<int32_t>& lens, int num_blocks, int block_size) {
  LLMI_REQUIRE(tables.size() == lens.size(), tables.size() << " block tables for " << lens.size()
                                                           << " context lengths");
  PackedTables p;
  for (const auto& t : tables) p.max_blocks_per_seq = std::max(p.max_blocks_per_seq, int(t.size()));
  p.tables.assign(tables.size() * size_t(p.max_blocks_per_seq), 0);
  for (size_t s = 0; s < tables.size(); ++s) {
    LLMI_REQUIRE(lens[s] >= 1, "sequence " << s << " has context length " << lens[s]);
    LLMI_REQUIRE(int64_t(lens[s]) <= int64_t(tables[s].size()) * block_size,
                 "context length " << lens[s] << " of sequence " << s
                                   << " is larger than its block table covers ("
                                   << tables[s].size() << " blocks x " << block_size << ")");
    for (size_t j = 0; j < tables[s].size(); ++j) {
      const int32_t b = tables[s][j];
      LLMI_REQUIRE(b >= 0 && b < num_blocks, "block table of sequence "
                                                 << s << " points at block " << b
                                                 << " past the pool of " << num_blocks << " blocks");
      p.tables[s * size_t(p.max_blocks_per_seq) + j] = b;
    }
    p.max_context_len = std::max(p.max_context_len, int(lens[s]));
  }
  p.lens = lens;
  return p;
}

}  // namespace paged
