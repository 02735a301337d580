// CPU tests of the backward's stream-K schedule (kernels/stream_k.h): every query step of every
// tile runs once, a cut tile is cut once between neighbouring blocks in the order the kernel's
// hand-over needs, and the blocks' shares are equal.
#include <algorithm>
#include <vector>

#include "../kernels/stream_k.h"
#include "llmi/catch.h"

using namespace flash;

namespace {

// The steps each SM runs: one-block-per-tile launches spread whole tiles over the SMs as they
// free up (all tiles equally long: round robin), then the split part's blocks run their shares.
std::vector<long long> steps_per_sm(const StreamKSchedule& s, int slots) {
  std::vector<long long> load(size_t(slots), 0);
  for (int t = 0; t < s.whole_tiles; ++t) load[size_t(t % slots)] += s.steps;
  for (int b = 0; b < s.blocks; ++b)
    for (int k = 0; k < s.pieces(b); ++k) {
      const TilePiece pc = s.piece(b, k);
      load[size_t(b)] += pc.step_end - pc.step_begin;
    }
  return load;
}

}  // namespace

TEST_CASE("stream-K runs every step of every tile once, cutting a tile at most once") {
  for (int slots : {1, 4, 132}) {
    for (int tiles : {1, 3, 131, 133, 200, 264, 265, 2048, 4096}) {
      for (int steps : {1, 2, 5, 64, 128}) {
        INFO("slots " << slots << " tiles " << tiles << " steps " << steps);
        const StreamKSchedule s = stream_k_schedule(tiles, steps, slots);
        REQUIRE(s.tiles == tiles);
        REQUIRE(s.steps == steps);
        if (tiles < slots || tiles % slots == 0) {
          REQUIRE(s.blocks == 0);  // whole tiles fill every wave, or there is less than one
          REQUIRE(s.whole_tiles == tiles);
          continue;
        }
        REQUIRE(s.blocks == slots);
        REQUIRE(s.whole_tiles % slots == 0);
        // Between one and two waves of tiles are split, so each share is >= one tile.
        REQUIRE(tiles - s.whole_tiles >= slots);
        REQUIRE(tiles - s.whole_tiles < 2 * slots);

        std::vector<int> runs(size_t(tiles) * steps, 0);
        for (int t = 0; t < s.whole_tiles; ++t)
          for (int i = 0; i < steps; ++i) ++runs[size_t(t) * steps + i];
        std::vector<int> contributed_by(size_t(tiles), -1), finalized_by(size_t(tiles), -1);
        std::vector<int> cut_at(size_t(tiles), -1);
        for (int b = 0; b < s.blocks; ++b) {
          const int n = s.pieces(b);
          REQUIRE(n >= 1);
          REQUIRE(n <= StreamKSchedule::kMaxPieces);  // the kernel's shared-memory list
          for (int k = 0; k < n; ++k) {
            const TilePiece pc = s.piece(b, k);
            REQUIRE(pc.tile >= s.whole_tiles);
            REQUIRE(pc.tile < tiles);
            REQUIRE(0 <= pc.step_begin);
            REQUIRE(pc.step_begin < pc.step_end);
            REQUIRE(pc.step_end <= steps);
            for (int i = pc.step_begin; i < pc.step_end; ++i)
              ++runs[size_t(pc.tile) * steps + i];
            switch (pc.role) {
              case PieceRole::kWhole:
                REQUIRE(pc.step_begin == 0);
                REQUIRE(pc.step_end == steps);
                break;
              case PieceRole::kContribute:  // the head of a tile, run first
                REQUIRE(k == 0);
                REQUIRE(pc.step_begin == 0);
                REQUIRE(pc.step_end < steps);
                REQUIRE(contributed_by[size_t(pc.tile)] == -1);
                contributed_by[size_t(pc.tile)] = b;
                cut_at[size_t(pc.tile)] = pc.step_end;
                break;
              case PieceRole::kFinalize:  // the rest of a tile, run last
                REQUIRE(k == n - 1);
                REQUIRE(pc.step_begin > 0);
                REQUIRE(pc.step_end == steps);
                REQUIRE(finalized_by[size_t(pc.tile)] == -1);
                finalized_by[size_t(pc.tile)] = b;
                REQUIRE(cut_at[size_t(pc.tile)] == pc.step_begin);  // the contributor ran first
                break;
            }
          }
        }
        REQUIRE(std::all_of(runs.begin(), runs.end(), [](int r) { return r == 1; }));
        // Each cut tile: head from block b - 1 (the slot the kernel reads), rest from block b.
        for (int t = 0; t < tiles; ++t) {
          INFO("tile " << t);
          REQUIRE((contributed_by[size_t(t)] == -1) == (finalized_by[size_t(t)] == -1));
          if (finalized_by[size_t(t)] != -1)
            REQUIRE(contributed_by[size_t(t)] == finalized_by[size_t(t)] - 1);
        }
        // Equal shares: no SM runs more than one step beyond the average.
        const std::vector<long long> load = steps_per_sm(s, slots);
        const long long total = (long long)tiles * steps;
        REQUIRE(*std::max_element(load.begin(), load.end()) <= (total + slots - 1) / slots);
      }
    }
  }
}

TEST_CASE("stream-K removes the backward's partial last wave on the anchor grids") {
  // d = 128: 2048 tiles of 128 steps at 8k (64 at 2k ...); whole tiles alone take 16 waves.
  const StreamKSchedule s = stream_k_schedule(2048, 128, 132);
  REQUIRE(s.blocks == 132);
  REQUIRE(s.whole_tiles == 14 * 132);
  const std::vector<long long> load = steps_per_sm(s, 132);
  const long long longest = *std::max_element(load.begin(), load.end());
  CHECK(longest == (2048LL * 128 + 131) / 132);  // 1986 steps against 16 x 128 = 2048
  CHECK(double(longest) / (16 * 128) < 0.97);
  // d = 64 at 8k: 4096 tiles of 64 steps, 31.03 waves.
  const StreamKSchedule s64 = stream_k_schedule(4096, 64, 132);
  const std::vector<long long> load64 = steps_per_sm(s64, 132);
  CHECK(*std::max_element(load64.begin(), load64.end()) == (4096LL * 64 + 131) / 132);
}
