// Stream-K for the FA2 backward (Osama et al., "Stream-K: Work-centric Parallel Decomposition for
// Dense Matrix Multiplication", 2023, in its "data-parallel waves + a stream-K remainder" form):
// the tiles that do not fill a last wave are cut along their query steps so that every SM gets
// the same amount of work. Host-and-device arithmetic, so the CPU tests
// (tests/test_stream_k.cpp) check that it covers every step once.
//
// Without the causal mask every key block ("tile") of an equal-length batch is equally long, so
// one thread block per tile leaves the last wave partly empty: 2048 tiles on 132 SMs are 15.5
// waves, and the kernel takes as long as 16 (3% lost; every anchor grid has 2048 tiles at
// d = 128 and 4096 at d = 64). So the backward runs as two launches of the same kernel:
//   1. whole tiles, one thread block each, in whole waves (as before: the hardware hands them
//      out, and the tiles that run together share Q, dO and dQ in L2);
//   2. the remaining tiles on one persistent block per SM, their query steps split evenly:
//      block b runs steps [b U / blocks, (b + 1) U / blocks) of those U.
// The split part is the r tiles past the last whole wave when they give each block at least
// half a tile (r >= blocks / 2), else r plus one wave. Those shares run on a slower kernel
// (more registers spilled, a K/V load per piece: ~10% per step at d = 128, H200 timeline), so
// the split part is kept as small as that allows.
// A tile is cut between consecutive blocks, at most three (shares of at least half a tile).
// The blocks that run its first pieces hand their dK, dV partial sums on (kContribute); the
// block that runs its last piece adds them, in block order, before writing (kFinalize). Each
// block runs its contribution first and its finalised piece last, so a block waits only on
// lower indices (dispatched before it), for partials written early, and the sums are in a
// fixed order (deterministic).
#pragma once
#include "llmi/dtype.h"  // LLMI_HD

namespace flash {

enum class PieceRole {
  kWhole,       // every step of the tile: write dK, dV
  kContribute,  // the first or middle steps of a tile: hand the partial dK, dV on
  kFinalize,    // the last steps of a tile: add the contributors' partials, write dK, dV
};

struct TilePiece {
  int tile;  // in dispatch order (block_order.h)
  int step_begin, step_end;
  PieceRole role;
  int first_contributor;  // kFinalize: blocks [first_contributor, this block) contributed
};

struct StreamKSchedule {
  int blocks = 0;       // persistent thread blocks of the split part; 0: no split part
  int tiles = 0;        // all tiles, of `steps` query steps each
  int steps = 0;
  int whole_tiles = 0;  // tiles [0, whole_tiles) run one thread block each, before the rest
  // A block's share is under 1.5 tiles: a contribution, a whole tile, a finalised piece at most.
  static constexpr int kMaxPieces = 3;

  LLMI_HD long long split_units() const { return (long long)(tiles - whole_tiles) * steps; }
  // Block b's steps of the split part start here (and end where block b + 1's start).
  LLMI_HD long long split_begin(int b) const { return split_units() * b / blocks; }
  // The block whose share holds split step u: the last b with split_begin(b) <= u.
  LLMI_HD int block_of(long long u) const {
    return int(((u + 1) * blocks + split_units() - 1) / split_units()) - 1;
  }

  // How many pieces block b of the split part runs.
  LLMI_HD int pieces(int b) const {
    const long long a = split_begin(b), e = split_begin(b + 1);
    if (a == e) return 0;
    if (a / steps == e / steps) return 1;  // inside one tile
    const long long whole = e / steps - (a + steps - 1) / steps;
    return int(e % steps != 0) + int(whole) + int(a % steps != 0);
  }

  // Piece k of block b of the split part: its contribution (the head or a middle part of a
  // tile), its whole tiles, the tile it finalises.
  LLMI_HD TilePiece piece(int b, int k) const {
    const long long a = split_begin(b), e = split_begin(b + 1);
    const int t_a = int(a / steps), t_e = int(e / steps);
    if (t_a == t_e)  // the share lies inside one tile: a middle part (or its head)
      return TilePiece{whole_tiles + t_a, int(a % steps), int(e % steps), PieceRole::kContribute, 0};
    if (e % steps != 0) {
      if (k == 0)
        return TilePiece{whole_tiles + t_e, 0, int(e % steps), PieceRole::kContribute, 0};
      --k;
    }
    const long long first_whole = (a + steps - 1) / steps;
    if (first_whole + k < t_e)
      return TilePiece{whole_tiles + int(first_whole + k), 0, steps, PieceRole::kWhole, 0};
    return TilePiece{whole_tiles + t_a, int(a % steps), steps, PieceRole::kFinalize,
                     block_of((long long)t_a * steps)};
  }
};

// The schedule for `tiles` tiles of `steps` steps each on `slots` resident blocks: no split
// part (every tile whole) when whole tiles already fill the last wave or make less than one.
inline StreamKSchedule stream_k_schedule(int tiles, int steps, int slots) {
  if (slots <= 0 || steps <= 0 || tiles < slots || tiles % slots == 0)
    return StreamKSchedule{0, tiles, steps, tiles};
  const int rest = tiles % slots;
  const int split = 2 * rest >= slots ? rest : rest + slots < tiles ? rest + slots : tiles;
  return StreamKSchedule{slots, tiles, steps, tiles - split};
}

}  // namespace flash
