// How many pieces Flash-Decoding splits the key range into (CPU-side, tested on CPU).
//
// One query per sequence gives batch * kv_heads tiles of work, far fewer than the GPU has
// slots for (batch 1, 8 kv heads: 8 thread blocks on 132 SMs). Splitting each sequence's keys
// into n pieces gives n times the thread blocks; a combine kernel merges the partial outputs by
// their logsumexps. The rule follows FlashAttention's num_splits_heuristic (flash_api.cpp):
// among 1..max_splits, choose the fewest splits whose wave efficiency (tiles / (waves * slots))
// is at least 85% of the best one, never splitting finer than one key block per split.
#pragma once

namespace flash {

// tiles: thread blocks without splitting; slots: thread blocks the GPU runs at once
// (SMs x blocks per SM); key_blocks: key blocks of the longest sequence.
int choose_num_splits(int tiles, int slots, int key_blocks, int max_splits = 128);

}  // namespace flash
