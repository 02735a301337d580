#include "paged/paged_reference.h"

#include "llmi/check.h"
#include "llmi/cpu_ref.h"

namespace paged::ref {

void reshape_and_cache(const std::vector<double>& key, const std::vector<double>& value,
                       const std::vector<int64_t>& slots, int kv_heads, int block_size, int head_dim,
                       std::vector<double>& k_cache, std::vector<double>& v_cache) {
  const size_t row = size_t(kv_heads) * head_dim;
  LLMI_REQUIRE(key.size() == slots.size() * row && value.size() == key.size(),
               "reshape_and_cache: K/V size does not match " << slots.size() << " tokens");
  for (size_t t = 0; t < slots.size(); ++t) {
    if (slots[t] < 0) continue;
    const int64_t block = slots[t] / block_size, off = slots[t] % block_size;
    for (int h = 0; h < kv_heads; ++h)
      for (int d = 0; d < head_dim; ++d) {
        const size_t dst = ((size_t(block) * kv_heads + h) * block_size + size_t(off)) * head_dim + d;
        LLMI_REQUIRE(dst < k_cache.size(), "slot " << slots[t] << " is past the cache");
        k_cache[dst] = key[t * row + size_t(h) * head_dim + d];
        v_cache[dst] = value[t * row + size_t(h) * head_dim + d];
      }
  }
}

std::vector<double> gather(const std::vector<double>& cache, const std::vector<int32_t>& table, int len,
                           int kv_heads, int block_size, int head_dim) {
  LLMI_REQUIRE(int64_t(len) <= int64_t(table.size()) * block_size, "gather past the block table");
  std::vector<double> out(size_t(len) * kv_heads * head_dim);
  for (int t = 0; t < len; ++t)
    for (int h = 0; h < kv_heads; ++h)
      for (int d = 0; d < head_dim; ++d)
        out[(size_t(t) * kv_heads + h) * head_dim + d] =
            cache.at(((size_t(table[size_t(t / block_size)]) * kv_heads + h) * block_size + t % block_size) *
                         head_dim + d);
  return out;
}

std::vector<double> paged_decode(const std::vector<double>& q, const std::vector<double>& k_cache,
                                 const std::vector<double>& v_cache,
                                 const std::vector<std::vector<int32_t>>& tables,
                                 const std::vector<int32_t>& lens, int q_heads, int kv_heads,
                                 int block_size, int head_dim, double scale) {
  const size_t qrow = size_t(q_heads) * head_dim;
  std::vector<double> out(tables.size() * qrow);
  for (size_t s = 0; s < tables.size(); ++s) {
    auto k = gather(k_cache, tables[s], lens[s], kv_heads, block_size, head_dim);
    auto v = gather(v_cache, tables[s], lens[s], kv_heads, block_size, head_dim);
    llmi::ref::attention(q.data() + s * qrow, k.data(), v.data(), out.data() + s * qrow, 1, lens[s],
                         q_heads, kv_heads, head_dim, scale, llmi::ref::full_mask());
  }
  return out;
}

}  // namespace paged::ref
