// Cache maintenance kernels: writing new K/V into the paged cache (vLLM's reshape_and_cache,
// §4.3 "the KV cache of the new token is stored in the physical block"), block copies for
// copy-on-write (§4.4), and block swaps between GPU and CPU pools (§4.5).
#include <string>

#include "kv_vec.cuh"
#include "llmi/check.h"
#include "paged_attention.h"

namespace paged {
namespace {

using namespace detail;

// Grid: (num_tokens); Block: 128 threads striding over kv_heads x 16 vectors of 8 elements.
template <typename IT, typename CT>
__global__ void reshape_and_cache_kernel(const void* key, const void* value,  // [tokens, kv_heads, 128]
                                         const int64_t* slots,                // [tokens]
                                         void* k_cache, void* v_cache,  // [blocks, kv_heads, bs, 128]
                                         int kv_heads, int block_size, float inv_k_scale,
                                         float inv_v_scale) {
  using IE = typename Elem<IT>::type;
  using CE = typename Elem<CT>::type;
  const int t = blockIdx.x;
  const int64_t slot = slots[t];
  if (slot < 0) return;  // padding token
  const int64_t block = slot / block_size, offset = slot % block_size;
  constexpr int kVecs = kHeadDim / 8;
  for (int v = threadIdx.x; v < kv_heads * kVecs; v += blockDim.x) {
    const int h = v / kVecs, d0 = (v % kVecs) * 8;
    const size_t src = (size_t(t) * kv_heads + h) * kHeadDim + d0;
    const size_t dst = ((size_t(block) * kv_heads + h) * block_size + offset) * kHeadDim + d0;
    float kf[8], vf[8];
    load_float8<IT>(static_cast<const IE*>(key) + src, kf);
    load_float8<IT>(static_cast<const IE*>(value) + src, vf);
    CE ko[8], vo[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      ko[i] = from_float(kf[i] * inv_k_scale, CT{});
      vo[i] = from_float(vf[i] * inv_v_scale, CT{});
    }
    *reinterpret_cast<typename CT::Raw*>(static_cast<CE*>(k_cache) + dst) =
        *reinterpret_cast<const typename CT::Raw*>(ko);
    *reinterpret_cast<typename CT::Raw*>(static_cast<CE*>(v_cache) + dst) =
        *reinterpret_cast<const typename CT::Raw*>(vo);
  }
}

template <typename IT, typename CT>
void launch_cache(const void* key, const void* value, const int64_t* slots, int n, const KvCache& c,
                  cudaStream_t s) {
  const bool fp8 = c.dtype == llmi::DType::FP8E4M3;
  // Grid: (num_tokens); Block: 128 threads.
  reshape_and_cache_kernel<IT, CT><<<n, 128, 0, s>>>(key, value, slots, c.k, c.v, c.kv_heads, c.block_size,
                                                     fp8 ? 1.0f / c.k_scale : 1.0f,
                                                     fp8 ? 1.0f / c.v_scale : 1.0f);
  LLMI_LAUNCH_CHECK();
}

// Grid: (num_pairs, 2) (y: K or V); Block: 256 threads copying 16-byte words.
__global__ void copy_blocks_kernel(void* k_cache, void* v_cache, const int2* pairs, size_t block_words) {
  uint4* cache = static_cast<uint4*>(blockIdx.y == 0 ? k_cache : v_cache);
  const int2 p = pairs[blockIdx.x];
  const uint4* src = cache + size_t(p.x) * block_words;
  uint4* dst = cache + size_t(p.y) * block_words;
  for (size_t i = threadIdx.x; i < block_words; i += blockDim.x) dst[i] = src[i];
}

}  // namespace

void reshape_and_cache(const void* key, const void* value, const int64_t* slot_mapping, int num_tokens,
                       llmi::DType in_dtype, const KvCache& c, cudaStream_t s) {
  validate_cache(c);
  LLMI_REQUIRE(num_tokens >= 0, "negative token count " << num_tokens);
  if (num_tokens == 0) return;
  using llmi::DType;
  if (in_dtype == DType::BF16 && c.dtype == DType::BF16) return launch_cache<Bf16, Bf16>(key, value, slot_mapping, num_tokens, c, s);
  if (in_dtype == DType::F16 && c.dtype == DType::F16) return launch_cache<F16, F16>(key, value, slot_mapping, num_tokens, c, s);
  if (in_dtype == DType::BF16 && c.dtype == DType::FP8E4M3) return launch_cache<Bf16, Fp8>(key, value, slot_mapping, num_tokens, c, s);
  throw llmi::Error(std::string("writing ") + llmi::dtype_name(in_dtype) + " K/V into a " +
                    llmi::dtype_name(c.dtype) + " cache is not supported (bf16->bf16, fp16->fp16, bf16->fp8_e4m3)");
}

void copy_blocks(const KvCache& c, const int2* pairs, int num_pairs, cudaStream_t s) {
  validate_cache(c);
  if (num_pairs == 0) return;
  // Grid: (num_pairs, 2); Block: 256 threads.
  copy_blocks_kernel<<<dim3(num_pairs, 2), 256, 0, s>>>(c.k, c.v, pairs, c.block_bytes() / 16);
  LLMI_LAUNCH_CHECK();
}

void swap_blocks(const KvCache& src, const KvCache& dst, const std::vector<BlockMove>& moves,
                 cudaMemcpyKind kind, cudaStream_t s) {
  LLMI_REQUIRE(src.block_bytes() == dst.block_bytes(), "swap between pools of different block shapes");
  const size_t bytes = src.block_bytes();
  for (const BlockMove& m : moves) {
    LLMI_REQUIRE(m.src >= 0 && m.src < src.num_blocks && m.dst >= 0 && m.dst < dst.num_blocks,
                 "swap of block " << m.src << " -> " << m.dst << " outside the pools ("
                                  << src.num_blocks << ", " << dst.num_blocks << " blocks)");
    for (int kv = 0; kv < 2; ++kv) {
      const char* from = static_cast<const char*>(kv ? src.v : src.k) + size_t(m.src) * bytes;
      char* to = static_cast<char*>(kv ? dst.v : dst.k) + size_t(m.dst) * bytes;
      LLMI_CUDA_CHECK(cudaMemcpyAsync(to, from, bytes, kind, s));
    }
  }
}

}  // namespace paged
