// CPU tests of the shared-memory addressing the FA2 kernels rely on (kernels/swizzle.h): the
// swizzle spreads each ldmatrix phase over all bank groups, every lane addresses the row its
// fragment needs, and LdsmLane's split of an address into four per-lane values (or one, with
// an XOR) plus an immediate is exact where the kernels use it.
#include <set>
#include <type_traits>
#include <utility>

#include "../kernels/swizzle.h"
#include "llmi/catch.h"

using namespace flash::mma;

namespace {

struct Form {
  const char* name;
  LaneRow (*row)(int lane);
  // ldmatrix.x4 matrix i (lanes 8i..8i+7): which 8-row block and which 8-column half it reads,
  // in the register order of the mma.sync fragments (mma_utils.cuh).
  int (*block_of)(int i);
  int (*half_of)(int i);
};

LaneRow row_a(int lane) { return lane_row_a(lane); }

const Form kForms[] = {
    // A = X[m][k]: a[0] (m 0-7, k 0-7), a[1] (m 8-15, k 0-7), a[2] (m 0-7, k 8-15), a[3] (m 8-15, k 8-15)
    {"a", row_a, [](int i) { return i & 1; }, [](int i) { return i >> 1; }},
    // B = X[n][k]^T: b0 = (n 0-7: k 0-7, k 8-15), b1 = (n 8-15: k 0-7, k 8-15)
    {"b", lane_row_b, [](int i) { return i >> 1; }, [](int i) { return i & 1; }},
    // B = X[k][n] transposed: b0 = (k 0-7, k 8-15 of n 0-7), b1 = (the same of n 8-15)
    {"b_trans", lane_row_b_trans, [](int i) { return i & 1; }, [](int i) { return i >> 1; }},
    // A = X[k][m]^T transposed: a[0] (k 0-7, m 0-7), a[1] (k 0-7, m 8-15), a[2] (k 8-15, m 0-7), ...
    {"a_trans", lane_row_a_trans, [](int i) { return i >> 1; }, [](int i) { return i & 1; }},
};

template <int kCols>
void check_swizzle_permutes_chunks() {
  constexpr int kChunks = kCols / 8;
  for (int r = 0; r < 64; ++r) {
    std::set<int> chunks;
    for (int c = 0; c < kChunks; ++c) {
      const int at = swizzle<kCols>(r, 8 * c);
      REQUIRE(at / kCols == r);  // stays in its row
      chunks.insert(at % kCols / 8);
      for (int e = 0; e < 8; ++e) REQUIRE(swizzle<kCols>(r, 8 * c + e) == at + e);
    }
    REQUIRE(int(chunks.size()) == kChunks);
  }
}

// Every phase of an ldmatrix (the 8 row reads of one matrix) hits 8 different 16-byte bank
// groups of the 128-byte bank window, for every form, step and row offset the kernels use.
template <int kCols>
void check_conflict_free() {
  for (const Form& f : kForms)
    for (int j = 0; j < kCols / 16; ++j)
      for (int dr = 0; dr < 64; dr += 8)
        for (int i = 0; i < 4; ++i) {
          std::set<int> groups;
          for (int t = 0; t < 8; ++t) {
            const LaneRow lr = f.row(8 * i + t);
            const int bytes = swizzle<kCols>(lr.row + dr, 16 * j + 8 * lr.sel) * 2;
            groups.insert(bytes / 16 % 8);
          }
          INFO(f.name << " kCols " << kCols << " step " << j << " matrix " << i);
          REQUIRE(groups.size() == 8);
        }
}

}  // namespace

TEST_CASE("the tile swizzle permutes each row's chunks and keeps ldmatrix free of bank conflicts") {
  check_swizzle_permutes_chunks<64>();
  check_swizzle_permutes_chunks<128>();
  check_swizzle_permutes_chunks<256>();
  check_conflict_free<64>();
  check_conflict_free<128>();
  check_conflict_free<256>();
}

TEST_CASE("each ldmatrix lane addresses the row and half its mma fragment needs") {
  for (const Form& f : kForms) {
    INFO(f.name);
    std::set<std::pair<int, int>> seen;
    for (int lane = 0; lane < 32; ++lane) {
      const LaneRow lr = f.row(lane);
      const int i = lane / 8, t = lane % 8;
      CHECK(lr.row == 8 * f.block_of(i) + t);
      CHECK(lr.sel == f.half_of(i));
      seen.insert({lr.row, lr.sel});
    }
    CHECK(seen.size() == 32);  // 16 rows x 2 halves, each once
  }
  CHECK(lane_row_a(5, 32).row == 37);  // a warp's row offset moves every row
  CHECK(lane_row_a(5, 32).sel == lane_row_a(5).sel);
}

// stsm_x4 (mma_utils.cuh) stores a 16 x 16 block from A-fragment registers at the rows lane_a
// addresses, as stmatrix does on sm_90. Its fallback for older GPUs: lane (g, c) takes the row
// address of matrix i from lane 8i + g and adds its own 2c elements. That must be where the
// fragment puts register i of lane (g, c): row g + 8 (i % 2), column 8 (i / 2) + 2c of the block.
TEST_CASE("stsm_x4's fallback stores each fragment register at its element") {
  auto check = [](auto cols_constant) {
    constexpr int kCols = decltype(cols_constant)::value;
    for (int row0 : {0, 8, 48})
      for (int col0 = 0; col0 < kCols; col0 += 16)
        for (int lane = 0; lane < 32; ++lane)
          for (int i = 0; i < 4; ++i) {
            const int g = lane / 4, c = lane % 4;
            const LaneRow from = lane_row_a(8 * i + g, row0);
            const int fallback = swizzle<kCols>(from.row, col0 + 8 * from.sel) + 2 * c;
            INFO("kCols " << kCols << " row0 " << row0 << " col0 " << col0 << " lane " << lane
                          << " register " << i);
            REQUIRE(fallback == swizzle<kCols>(row0 + g + 8 * (i % 2), col0 + 8 * (i / 2) + 2 * c));
          }
  };
  check(std::integral_constant<int, 64>());
  check(std::integral_constant<int, 128>());
}

// Calls fn(form, lane's row, lane, col0, step j, dr, the swizzled byte offset of that step) for
// every form, lane, starting column (multiples of 16), step inside the row and row offset dr
// (multiples of 8 below max_dr): the space LdsmLane's address forms are checked over.
template <int kCols, typename Fn>
void for_each_lane_step(int max_dr, Fn&& fn) {
  for (const Form& f : kForms)
    for (int lane = 0; lane < 32; ++lane)
      for (int col0 = 0; col0 < kCols; col0 += 16)
        for (int j = 0; col0 + 16 * (j + 1) <= kCols; ++j)
          for (int dr = 0; dr < max_dr; dr += 8) {
            const LaneRow lr = f.row(lane);
            fn(f, lr, lane, col0, j, dr,
               uint32_t(swizzle<kCols>(lr.row + dr, col0 + 16 * j + 8 * lr.sel)) * 2);
          }
}

// LdsmLane keeps ldsm_step_offset for steps 0..3 and adds ldsm_step_tail as an immediate: exact
// for every form, lane, starting column and step, at row offsets that are multiples of 8 (the
// only ones the kernels use: warp rows and m-tiles come in 8s).
TEST_CASE("LdsmLane's per-lane offsets plus immediates give the swizzled address") {
  auto check = [](auto cols_constant) {
    constexpr int kCols = decltype(cols_constant)::value;
    int compared = 0;
    for_each_lane_step<kCols>(128, [&](const Form& f, LaneRow lr, int lane, int col0, int j, int dr,
                                       uint32_t direct) {
      const uint32_t split =
          ldsm_step_offset<kCols>(lr.row, lr.sel, col0, j % 4) + ldsm_step_tail<kCols>(j, dr);
      INFO(f.name << " kCols " << kCols << " lane " << lane << " col0 " << col0 << " step " << j
                  << " dr " << dr);
      REQUIRE(split == direct);
      ++compared;
    });
    CHECK(compared == 4 * 32 * 16 * (kCols / 16) * (kCols / 16 + 1) / 2);
  };
  check(std::integral_constant<int, 64>());
  check(std::integral_constant<int, 128>());
  check(std::integral_constant<int, 256>());
}

// The one-register form: from step 0's absolute address (tile at a 128-byte-aligned base), an
// XOR gives step j % 4 wherever ldsm_compact_exact says so, and is wrong somewhere it does not
// (so the rule is needed, not just safe).
TEST_CASE("the one-register LdsmLane form is exact where ldsm_compact_exact allows") {
  auto check = [](auto cols_constant) {
    constexpr int kCols = decltype(cols_constant)::value;
    int exact = 0, wrong_outside = 0;
    for (uint32_t base : {0u, 128u * 37u})
      for_each_lane_step<kCols>(64, [&](const Form& f, LaneRow lr, int lane, int col0, int j,
                                        int dr, uint32_t direct) {
        const uint32_t at0 = base + ldsm_step_offset<kCols>(lr.row, lr.sel, col0, 0);
        const uint32_t compact = ldsm_compact_step(at0, j) + ldsm_step_tail<kCols>(j, dr);
        if (ldsm_compact_exact(col0, j)) {
          INFO(f.name << " kCols " << kCols << " lane " << lane << " col0 " << col0 << " step "
                      << j << " dr " << dr);
          REQUIRE(compact == base + direct);
          ++exact;
        } else {
          wrong_outside += compact != base + direct;
        }
      });
    CHECK(exact > 0);
    CHECK(wrong_outside > 0);
  };
  check(std::integral_constant<int, 64>());
  check(std::integral_constant<int, 128>());
  check(std::integral_constant<int, 256>());
  // The uses in the backward (fa2_backward.cuh): steps 0-1 from col0 = 32 and 96 (d = 128: warp
  // columns of P^T, dS^T and K^T, and of the P and dS blocks a warp stores), every step from
  // col0 = 0 and 64.
  for (int col0 : {32, 96})
    for (int j : {0, 1}) CHECK(ldsm_compact_exact(col0, j));
  for (int col0 : {0, 64})
    for (int j = 0; j < 8; ++j) CHECK(ldsm_compact_exact(col0, j));
}

// A row offset that is not a multiple of 8 changes the XOR, so it cannot be an immediate: the
// split is wrong there, which is why lane_a's row0 and every dr must come in 8s.
TEST_CASE("row offsets off the 8-row grid break the split") {
  int wrong = 0;
  for (int lane = 0; lane < 32; ++lane) {
    const LaneRow lr = lane_row_a(lane);
    for (int dr = 1; dr < 8; ++dr)
      wrong += ldsm_step_offset<128>(lr.row, lr.sel, 0, 1) + ldsm_step_tail<128>(1, dr) !=
               uint32_t(swizzle<128>(lr.row + dr, 16 + 8 * lr.sel)) * 2;
  }
  CHECK(wrong > 0);
}
