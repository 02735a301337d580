// Host entry point of Flash-Decoding (flash_decode.cu): validates the Problem, picks the split
// count and hands the kernel its workspace (the splits' partials and per-tile arrival counters).
#include <algorithm>

#include <cuda_runtime.h>

#include "../kernels/flash_decode_launch.h"
#include "flash_attention/attention.h"
#include "flash_attention/split_kv.h"
#include "forward_params.h"
#include "llmi/check.h"

namespace flash {

void flash_decode(const Problem& pr, const ForwardArgs& a, Workspace& ws,
                  const DecodeOptions& options, cudaStream_t stream) {
  validate(pr);
  int num_splits = options.num_splits;
  LLMI_REQUIRE(num_splits >= 0, "num_splits must be >= 0 (0 = heuristic), got " << num_splits);
  DecodeParams p{};
  fill_forward_params(p, pr, a, "flash_decode");
  if (pr.total_q() == 0) return;
  // PackGQA: a tile's rows are (token, query head) pairs of one kv head.
  p.num_m_blocks = std::max(1, (pr.max_seqlen_q() * pr.group() + kDecodeRows - 1) / kDecodeRows);

  const DecodeShape shape = flash_decode_shape(pr.head_dim, pr.dtype);
  const int key_tiles = std::max(1, (pr.max_seqlen_k() + shape.block_n - 1) / shape.block_n);
  const int tiles = pr.batch() * pr.heads_kv * p.num_m_blocks;
  if (num_splits == 0)  // at least one key tile for every warp of every split
    num_splits = choose_num_splits(tiles, shape.slots, std::max(1, key_tiles / shape.warps));
  p.num_splits = std::min(num_splits, key_tiles);  // at least one key tile per split
  if (p.num_splits > 1) {
    const size_t rows = size_t(pr.total_q()) * pr.heads_q;
    float* partial = static_cast<float*>(
        ws.get(sizeof(float) * size_t(p.num_splits) * rows * (pr.head_dim + 1)));
    p.out_partial = partial;
    p.lse_partial = partial + size_t(p.num_splits) * rows * pr.head_dim;
    p.tile_counters = ws.counters(size_t(tiles));
  }
  run_flash_decode(p, pr.head_dim, pr.dtype, pr.batch(), options.overlap_previous_kernel,
                   stream);
}

}  // namespace flash
