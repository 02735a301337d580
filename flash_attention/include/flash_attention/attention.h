// The attention kernels of this directory, as host functions on device pointers.
//
//   standard_attention_*        the paper's baseline: cuBLAS S = QK^T, softmax kernel, O = PV,
//                               with S and P materialised in HBM (FA1 paper Sec. 2.2), and
//                               autograd's backward of it
//   fa1_forward / fa1_backward  FlashAttention-1, Algorithms 1 and 4 of arXiv 2205.14135,
//                               written plainly (fp32 CUDA-core math on shared-memory tiles)
//   fa2_forward                 FlashAttention-2, Algorithm 1 of arXiv 2307.08691, on tensor
//                               cores (mma.sync m16n8k16, ldmatrix), bf16/fp16, head dim 64/128/256
//   fa2_backward                FlashAttention-2's backward (Algorithm 2: parallel over key
//                               blocks, dQ accumulated atomically), on tensor cores for
//                               d = 64/128; d = 256 runs the same grid on fp32 tiles
//   flash_decode                Flash-Decoding: split-KV decode on tensor cores, the key range
//                               split across thread blocks and warps, merged by logsumexp in the
//                               same kernel (flash_decode.cu)
//
// Layouts are those of problem.h; all pointers are device pointers; every call validates the
// Problem first and throws llmi::Error naming what is unsupported.
#pragma once
#include <cuda_runtime.h>

#include "flash_attention/problem.h"
#include "llmi/device_buffer.h"

namespace flash {

struct ForwardArgs {
  const void* q = nullptr;            // [total_q, heads_q, head_dim]
  const void* k = nullptr;            // [total_k, heads_kv, head_dim]
  const void* v = nullptr;            // [total_k, heads_kv, head_dim]
  const int* cu_seqlens_q = nullptr;  // [batch + 1] device copy of Problem::cu_seqlens_q
  const int* cu_seqlens_k = nullptr;  // [batch + 1]
  void* out = nullptr;                // [total_q, heads_q, head_dim]
  float* lse = nullptr;               // [heads_q, total_q]; may be null where noted
};

struct BackwardArgs {
  ForwardArgs fwd;                    // q, k, v, offsets, out and lse of the forward pass
  const void* dout = nullptr;         // [total_q, heads_q, head_dim]
  void* dq = nullptr;                 // [total_q, heads_q, head_dim]
  void* dk = nullptr;                 // [total_k, heads_kv, head_dim]
  void* dv = nullptr;                 // [total_k, heads_kv, head_dim]
};

// Scratch memory that grows on demand and is reused, so timed calls never allocate.
class Workspace {
 public:
  void* get(size_t bytes);
  size_t bytes() const { return buf_.bytes(); }
  // n counters that are 0 when handed out; a kernel that uses them leaves them 0 when it ends
  // (flash_decode's per-tile arrival counts). Separate from get()'s memory, which other kernels
  // overwrite.
  int* counters(size_t n);

 private:
  llmi::DeviceBuffer<unsigned char> buf_;
  llmi::DeviceBuffer<int> counters_;
};

// Baseline. Needs equal lengths across the batch (the cuBLAS batched GEMMs see one shape);
// scratch: S and P, standard_attention_scratch_bytes(p). lse may be null (not produced).
void standard_attention_forward(const Problem& p, const ForwardArgs& a, Workspace& ws,
                                cudaStream_t stream = nullptr);
// Autograd's backward of the baseline: reads P kept in `ws` by standard_attention_forward of
// the same problem (as PyTorch saves the softmax output). MHA only (heads_q == heads_kv).
void standard_attention_backward(const Problem& p, const BackwardArgs& a, Workspace& ws,
                                 cudaStream_t stream = nullptr);

void fa1_forward(const Problem& p, const ForwardArgs& a, Workspace& ws,
                 cudaStream_t stream = nullptr);
void fa1_backward(const Problem& p, const BackwardArgs& a, Workspace& ws,
                  cudaStream_t stream = nullptr);

void fa2_forward(const Problem& p, const ForwardArgs& a, cudaStream_t stream = nullptr);
void fa2_backward(const Problem& p, const BackwardArgs& a, Workspace& ws,
                  cudaStream_t stream = nullptr);

struct DecodeOptions {
  // 0 picks the split count with the heuristic of split_kv.h; a count above the number of key
  // tiles (16 keys at d = 128) is lowered to it.
  int num_splits = 0;
  // Programmatic dependent launch (llmi/pdl.cuh): the call may start while the previous kernel
  // in the stream is finishing, and reads the sequence offsets and the cached keys and values
  // [0, Sk - Sq) of every sequence before waiting for it; Q, the Sq newest rows and every write
  // come after the wait. Set it when the previous kernel writes none of those, as in a decode
  // step (the cache rows were appended by earlier steps).
  bool overlap_previous_kernel = false;
};

// Query heads of one kv head are packed into the rows of one tile (FA2's PackGQA), so one query
// x 4 heads is one tile. Uses ws for the splits' partial outputs and arrival counters: calls
// that share a Workspace must not run concurrently (back-to-back in one stream is fine, with or
// without overlap_previous_kernel).
void flash_decode(const Problem& p, const ForwardArgs& a, Workspace& ws,
                  const DecodeOptions& options = {}, cudaStream_t stream = nullptr);

}  // namespace flash
