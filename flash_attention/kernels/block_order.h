// The order in which the prefill kernels' thread blocks are dispatched: longest first, in
// sections of (sequence, head) pairs. Host-and-device arithmetic, so the CPU tests
// (tests/test_block_order.cpp) check that it visits every block once.
//
// Under the causal mask a grid's blocks differ in length: the forward's query block m sees
// m + 1 key blocks, and the backward's key block n serves the query blocks from n to the end.
// The hardware hands out blocks in linear order to whichever SM frees up first. In head-major
// order (every block of head 0, then head 1, ...) the longest block of the last heads starts
// near the end of the kernel and runs on alone: by a list-scheduling model of an 8k causal
// backward (32 pairs x 64 key blocks on 132 SMs) the kernel takes 5.8% longer than its work
// over 132 SMs. Longest-first over the whole grid removes that tail, but then the resident
// blocks belong to all heads at once, whose Q, dO and dQ accumulators no longer share L2.
// Here the pairs are cut into equal sections of about one wave of blocks (lpt_section), and
// each section runs its tiles longest first: the resident blocks span the same few heads
// as in head-major order, and only the last section's shortest tiles are left for the tail
// (0.1% in the same model). Without the mask every tile is equally long: the launchers keep
// head-major order there (sections of one pair), which measured up to 2.4% faster than this
// order on those grids (flash_attention/PERFORMANCE_LOG.md). FA3 schedules its tiles the same way
// (hopper/tile_scheduler.hpp: longest-processing-time first within L2-sized sections of heads).
#pragma once
#include <algorithm>

#include "llmi/dtype.h"  // LLMI_HD

namespace flash {

struct GridBlock {
  int tile;  // 0 = the longest: the forward's last query block, the backward's first key block
  int head;
  int batch;
};

// Block `linear` (0 .. tiles * heads * batch - 1) of the dispatch order: sections of
// `section` (batch, head) pairs, batch-major, and in each section tile 0 of every pair, then
// tile 1, ... (the last section may hold fewer pairs).
LLMI_HD GridBlock lpt_block(int linear, int tiles, int heads, int batch, int section) {
  const int pairs = heads * batch;
  const int s = linear / (section * tiles), first = s * section;
  const int width = pairs - first < section ? pairs - first : section;
  const int r = linear - first * tiles;
  const int pair = first + r % width;
  return GridBlock{r / width, pair % heads, pair / heads};
}

// Pairs per section: the fewest that make one wave of blocks over `slots` (SMs x resident
// blocks per SM), rounded up to a divisor of the pair count. A last section narrower than the
// others would start its longest tiles late -- the tail again (5.0% instead of 0.1% at 8k,
// with 3 pairs per section instead of 4).
inline int lpt_section(int tiles, int pairs, int slots) {
  pairs = std::max(1, pairs);
  int section = std::clamp((slots + tiles - 1) / std::max(1, tiles), 1, pairs);
  while (pairs % section != 0) ++section;
  return section;
}

}  // namespace flash
