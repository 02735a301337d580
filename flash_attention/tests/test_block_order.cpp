// CPU tests of the prefill kernels' dispatch order (kernels/block_order.h): every block once,
// longest first within a section, sections of about one wave, and the tail it removes under a
// list-scheduling model of the hardware's block dispatch.
#include <algorithm>
#include <functional>
#include <queue>
#include <vector>

#include "../kernels/block_order.h"
#include "llmi/catch.h"

using namespace flash;

namespace {

// Blocks go, in order, to whichever of `slots` SMs frees up first; returns when the last ends.
double makespan(const std::vector<double>& durations, int slots) {
  std::priority_queue<double, std::vector<double>, std::greater<double>> free_at;
  for (int i = 0; i < slots; ++i) free_at.push(0);
  double end = 0;
  for (double d : durations) {
    const double t = free_at.top() + d;
    free_at.pop();
    free_at.push(t);
    end = std::max(end, t);
  }
  return end;
}

}  // namespace

TEST_CASE("the dispatch order visits every (tile, head, sequence) once, longest first per section") {
  for (int tiles : {1, 3, 64}) {
    for (int heads : {1, 5, 16}) {
      for (int batch : {1, 2, 3}) {
        for (int section : {1, 2, 7, heads * batch}) {
          INFO("tiles " << tiles << " heads " << heads << " batch " << batch << " section "
                        << section);
          const int n = tiles * heads * batch;
          std::vector<int> seen(size_t(n), 0);
          int prev_section = 0, prev_tile = 0;
          for (int i = 0; i < n; ++i) {
            const GridBlock blk = lpt_block(i, tiles, heads, batch, section);
            REQUIRE(blk.tile >= 0);
            REQUIRE(blk.tile < tiles);
            REQUIRE(blk.head >= 0);
            REQUIRE(blk.head < heads);
            REQUIRE(blk.batch >= 0);
            REQUIRE(blk.batch < batch);
            ++seen[size_t((blk.batch * heads + blk.head) * tiles + blk.tile)];
            // Sections in order; inside one, tiles never go back (tile 0 of every pair first).
            const int s = (blk.batch * heads + blk.head) / section;
            REQUIRE(s >= prev_section);
            if (s == prev_section) REQUIRE(blk.tile >= prev_tile);
            prev_section = s, prev_tile = blk.tile;
          }
          REQUIRE(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
        }
      }
    }
  }
}

TEST_CASE("a section is about one wave of blocks, and the sections are equal") {
  CHECK(lpt_section(64, 32, 132) == 4);    // 8k backward, 128-key blocks: 3 x 64 >= 132, 3 -> 4
  CHECK(lpt_section(128, 16, 132) == 2);   // 16k
  CHECK(lpt_section(16, 128, 132) == 16);  // 2k: 9 -> 16
  CHECK(lpt_section(4, 512, 132) == 64);   // 512: 33 -> 64
  CHECK(lpt_section(200, 8, 132) == 1);    // a head alone is more than a wave
  CHECK(lpt_section(1, 4, 132) == 4);      // never more pairs than there are
  CHECK(lpt_section(64, 13, 132) == 13);   // a prime pair count: one section
  for (int tiles : {1, 4, 16, 64, 128})
    for (int pairs : {1, 6, 13, 32, 512}) {
      const int s = lpt_section(tiles, pairs, 132);
      REQUIRE(pairs % s == 0);
      REQUIRE((s * tiles >= 132 || s == pairs));
    }
}

TEST_CASE("longest-first sections remove the causal backward's tail in a list-scheduling model") {
  // 8k causal backward: 2 sequences x 16 heads, 64 key blocks of 128; key block n serves
  // 64 - n query blocks, plus a fixed cost of half a query block per thread block.
  const int tiles = 64, heads = 16, batch = 2, slots = 132;
  auto duration = [&](int tile) { return tiles - tile + 0.5; };
  std::vector<double> head_major, sectioned;
  double work = 0;
  for (int pair = 0; pair < heads * batch; ++pair)
    for (int n = 0; n < tiles; ++n) head_major.push_back(duration(n)), work += duration(n);
  const int section = lpt_section(tiles, heads * batch, slots);
  for (int i = 0; i < tiles * heads * batch; ++i)
    sectioned.push_back(duration(lpt_block(i, tiles, heads, batch, section).tile));
  const double ideal = work / slots;
  CHECK(makespan(head_major, slots) > 1.05 * ideal);
  CHECK(makespan(sectioned, slots) < 1.01 * ideal);
}
