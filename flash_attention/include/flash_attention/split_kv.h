// How many pieces Flash-Decoding splits the key range into (CPU-side, tested on CPU).
//
// One query per sequence gives batch * kv_heads tiles of work, far fewer than the GPU has
// slots for (batch 1, 8 kv heads: 8 thread blocks on 132 SMs). Splitting each tile's keys into
// n pieces gives n times the thread blocks, merged by their logsumexps.
//
// Decode reads every K/V byte once, so its time is the bytes over the bandwidth the resident
// blocks draw, plus a fixed cost per wave of blocks (the first loads' latency, the merge). The
// rule is therefore one wave, as full as it gets: n = slots / tiles. FlashAttention's
// num_splits_heuristic (flash_api.cpp) takes the fewest splits within 85% of the best wave
// efficiency instead -- 15 rather than 16 splits here, leaving 12 of 132 SMs idle (76% against
// 79% of copy at 32k on an H200) -- because its merge is a second kernel whose cost grows with
// n; ours runs in the same kernel.
#pragma once

namespace flash {

// tiles: thread blocks without splitting; slots: thread blocks the GPU runs at once
// (SMs x blocks per SM); max_splits: the most pieces the keys can be cut into (each piece
// needs some keys). Returns 1 when the tiles alone fill the GPU.
int choose_num_splits(int tiles, int slots, int max_splits);

}  // namespace flash
