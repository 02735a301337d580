// Stream-K for the FA2 backward (Osama et al., "Stream-K: Work-centric Parallel Decomposition for
// Dense Matrix Multiplication", 2023, in its "data-parallel + one to two stream-K waves" form):
// the last waves' key blocks cut along their query steps so that every SM gets the same amount
// of work. Host-and-device arithmetic, so the CPU tests (tests/test_stream_k.cpp) check that it
// covers every step once.
//
// Without the causal mask every key block ("tile") of an equal-length batch is equally long, so
// one thread block per tile leaves the last wave partly empty: 2048 tiles on 132 SMs are 15.5
// waves, and the kernel takes as long as 16 (3% lost; every anchor grid has 2048 tiles at
// d = 128 and 4096 at d = 64). So the backward runs as two launches of the same kernel:
//   1. whole tiles, one thread block each, in whole waves but one (as before: the hardware
//      hands them out, and the tiles that run together share Q, dO and dQ in L2);
//   2. the remaining one to two waves of tiles on one persistent block per SM, their query
//      steps split evenly: block b runs steps [b U / blocks, (b + 1) U / blocks) of those U.
// Leaving at least one wave to the split part makes each block's share at least one tile long,
// so a tile is cut at most once, between neighbouring blocks: block b - 1 runs the head of the
// tile (steps [0, s)) and hands its dK, dV partial sums on (kContribute); block b runs the rest
// and adds them before writing (kFinalize). Each block runs its contribution first and its
// finalised piece last, so a block waits only on a block with a lower index (dispatched before
// it), for a partial written early, and the sum is in a fixed order (deterministic).
#pragma once
#include "llmi/dtype.h"  // LLMI_HD

namespace flash {

enum class PieceRole {
  kWhole,       // every step of the tile: write dK, dV
  kContribute,  // the first steps of a tile: hand the partial dK, dV to block + 1
  kFinalize,    // the last steps of a tile: add block - 1's partial, write dK, dV
};

struct TilePiece {
  int tile;  // in dispatch order (block_order.h)
  int step_begin, step_end;
  PieceRole role;
};

struct StreamKSchedule {
  int blocks = 0;       // persistent thread blocks of the split part; 0: no split part
  int tiles = 0;        // all tiles, of `steps` query steps each
  int steps = 0;
  int whole_tiles = 0;  // tiles [0, whole_tiles) run one thread block each, before the rest
  // A block's share is under two tiles: a contribution, a whole tile, a finalised piece at most.
  static constexpr int kMaxPieces = 3;

  // Block b's steps of the split part start here (and end where block b + 1's start).
  LLMI_HD long long split_begin(int b) const {
    const long long units = (long long)(tiles - whole_tiles) * steps;
    return units * b / blocks;
  }

  // How many pieces block b of the split part runs.
  LLMI_HD int pieces(int b) const {
    const long long a = split_begin(b), e = split_begin(b + 1);
    const long long whole = e / steps - (a + steps - 1) / steps;
    return int(e % steps != 0) + int(whole) + int(a % steps != 0);
  }

  // Piece k of block b of the split part: its contribution, its whole tiles, the tile it
  // finalises.
  LLMI_HD TilePiece piece(int b, int k) const {
    const long long a = split_begin(b), e = split_begin(b + 1);
    if (e % steps != 0) {
      if (k == 0)
        return TilePiece{whole_tiles + int(e / steps), 0, int(e % steps), PieceRole::kContribute};
      --k;
    }
    const long long first_whole = (a + steps - 1) / steps;
    if (first_whole + k < e / steps)
      return TilePiece{whole_tiles + int(first_whole + k), 0, steps, PieceRole::kWhole};
    return TilePiece{whole_tiles + int(a / steps), int(a % steps), steps, PieceRole::kFinalize};
  }
};

// The schedule for `tiles` tiles of `steps` steps each on `slots` resident blocks: no split
// part (every tile whole) when whole tiles already fill the last wave or make less than one.
inline StreamKSchedule stream_k_schedule(int tiles, int steps, int slots) {
  if (slots <= 0 || steps <= 0 || tiles < slots || tiles % slots == 0)
    return StreamKSchedule{0, tiles, steps, tiles};
  return StreamKSchedule{slots, tiles, steps, (tiles / slots - 1) * slots};
}

}  // namespace flash
