// CPU tests of the backward's stream-K schedule (kernels/stream_k.h): every query step of every
// tile runs once, a cut tile is cut between at most three consecutive blocks in the order the
// kernel's hand-over needs, and the blocks' shares are equal.
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

TEST_CASE("stream-K runs every step of every tile once, in the hand-over order the kernel needs") {
  for (int slots : {1, 4, 7, 132}) {
    for (int tiles : {1, 3, 131, 133, 160, 197, 198, 200, 264, 265, 2048, 4096}) {
      for (int steps : {1, 2, 3, 5, 64, 128}) {
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
        // The split part: the tiles past the last whole wave, plus one wave when they would
        // give a block less than half a tile.
        const int split = tiles - s.whole_tiles;
        REQUIRE(split % slots == tiles % slots);
        REQUIRE(2 * split >= slots);
        REQUIRE((split < slots || 2 * (tiles % slots) < slots || split == tiles));

        // Which block ran each step of each split tile.
        std::vector<int> ran_by(size_t(tiles) * steps, -1);
        for (int t = 0; t < s.whole_tiles; ++t)
          for (int i = 0; i < steps; ++i) ran_by[size_t(t) * steps + i] = -2;
        std::vector<int> finalized_by(size_t(tiles), -1), first_contributor(size_t(tiles), -1);
        for (int b = 0; b < s.blocks; ++b) {
          const int n = s.pieces(b);
          REQUIRE(n <= StreamKSchedule::kMaxPieces);  // the kernel's shared-memory list
          for (int k = 0; k < n; ++k) {
            const TilePiece pc = s.piece(b, k);
            REQUIRE(pc.tile >= s.whole_tiles);
            REQUIRE(pc.tile < tiles);
            REQUIRE(0 <= pc.step_begin);
            REQUIRE(pc.step_begin < pc.step_end);
            REQUIRE(pc.step_end <= steps);
            for (int i = pc.step_begin; i < pc.step_end; ++i) {
              REQUIRE(ran_by[size_t(pc.tile) * steps + i] == -1);  // once
              ran_by[size_t(pc.tile) * steps + i] = b;
            }
            switch (pc.role) {
              case PieceRole::kWhole:
                REQUIRE(pc.step_begin == 0);
                REQUIRE(pc.step_end == steps);
                break;
              case PieceRole::kContribute:  // a head or middle part, run first
                REQUIRE(k == 0);
                REQUIRE(pc.step_end < steps);
                break;
              case PieceRole::kFinalize:  // the tail, run last
                REQUIRE(k == n - 1);
                REQUIRE(pc.step_begin > 0);
                REQUIRE(pc.step_end == steps);
                finalized_by[size_t(pc.tile)] = b;
                first_contributor[size_t(pc.tile)] = pc.first_contributor;
                break;
            }
          }
        }
        for (int t = s.whole_tiles; t < tiles; ++t) {
          INFO("tile " << t);
          const int* by = &ran_by[size_t(t) * steps];
          REQUIRE(std::all_of(by, by + steps, [](int b) { return b >= 0; }));
          // Consecutive blocks in step order: the last one finalises (when the tile is cut)
          // and names the first, whose partial it adds first.
          REQUIRE(std::is_sorted(by, by + steps));
          REQUIRE(by[steps - 1] - by[0] <= 2);  // at most three blocks
          if (by[0] == by[steps - 1]) {
            REQUIRE(finalized_by[size_t(t)] == -1);  // whole
          } else {
            REQUIRE(finalized_by[size_t(t)] == by[steps - 1]);
            REQUIRE(first_contributor[size_t(t)] == by[0]);
          }
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
  REQUIRE(s.whole_tiles == 15 * 132);  // 68 tiles split: 66 steps, over half a tile, per block
  const std::vector<long long> load = steps_per_sm(s, 132);
  const long long longest = *std::max_element(load.begin(), load.end());
  CHECK(longest == (2048LL * 128 + 131) / 132);  // 1986 steps against 16 x 128 = 2048
  CHECK(double(longest) / (16 * 128) < 0.97);
  // d = 64 at 8k: 4096 tiles of 64 steps, 31.03 waves: 4 tiles would give a block 2 steps, so
  // one wave more is split.
  const StreamKSchedule s64 = stream_k_schedule(4096, 64, 132);
  REQUIRE(s64.whole_tiles == 30 * 132);
  const std::vector<long long> load64 = steps_per_sm(s64, 132);
  CHECK(*std::max_element(load64.begin(), load64.end()) == (4096LL * 64 + 131) / 132);
}
