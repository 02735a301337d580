// The shared-memory layout of the FA2 kernels and the ldmatrix addressing built on it, as
// host-and-device arithmetic so the CPU tests (tests/test_swizzle.cpp) check what the kernels
// rely on: that the swizzle spreads ldmatrix's row reads over all banks, and that each lane's
// addresses split into four per-lane values plus compile-time immediates (mma_utils.cuh,
// LdsmLane).
#pragma once
#include <cstdint>

#include "llmi/dtype.h"  // LLMI_HD

namespace flash::mma {

// A [rows][kCols] tile of 16-bit elements in shared memory, swizzled so that ldmatrix's 8 row
// reads of 16 bytes hit 8 different bank groups: 16-byte chunk c of row r lives at chunk
// c ^ (r % 8). Rows are >= 128 bytes, so without the XOR all 8 rows would hit the same banks.
// Returns the element offset of (row, col).
template <int kCols>
LLMI_HD int swizzle(int row, int col) {
  static_assert(kCols % 64 == 0, "the swizzle needs at least 8 chunks of 16 bytes per row");
  return row * kCols + ((((col >> 3) ^ row) & 7) | ((col >> 3) & ~7)) * 8 + (col & 7);
}

// The row and 8-column half an ldmatrix.x4 lane addresses for each fragment form (PTX ISA,
// "ldmatrix": lanes 8i..8i+7 give the rows of matrix i), relative to the fragment's first row
// and column:
//   A 16x16 of A = X[m][k]        rows m, halves of k        (a)
//   B n8 x 2 of B = X[n][k]^T     rows n, halves of k        (b)
//   B n8 x 2 of B = X[k][n]       rows k, halves of n        (b_trans)
//   A 16x16 of A = X[k][m]^T      rows k, halves of m        (a_trans)
struct LaneRow {
  int row, sel;
};
// row0 (a multiple of 8) offsets the rows of A, e.g. to a warp's own rows.
LLMI_HD LaneRow lane_row_a(int lane, int row0 = 0) { return {row0 + (lane & 15), lane >> 4}; }
LLMI_HD LaneRow lane_row_b(int lane) { return {(lane & 7) + ((lane >> 4) << 3), (lane >> 3) & 1}; }
LLMI_HD LaneRow lane_row_b_trans(int lane) { return {(lane & 7) + ((lane >> 3) & 1) * 8, lane >> 4}; }
LLMI_HD LaneRow lane_row_a_trans(int lane) { return lane_row_b(lane); }

// Byte offset of step j < 4 (columns col0 + 16j + 8 sel ..) of row r: one of the four per-lane
// values LdsmLane keeps.
template <int kCols>
LLMI_HD uint32_t ldsm_step_offset(int r, int sel, int col0, int j) {
  return uint32_t(swizzle<kCols>(r, col0 + 16 * j + 8 * sel)) * 2;
}
// What step j of row r + dr adds to step j % 4 of row r: dr rows, and j / 4 groups of 8 chunks
// (step j is 4 * (j / 4) steps = 8 * (j / 4) chunks past step j % 4, and adding a multiple of 8
// to a chunk index leaves the bits the XOR changes alone). Exact for any col0 when dr is a
// multiple of 8 (the XOR sees r % 8 only).
template <int kCols>
LLMI_HD int ldsm_step_tail(int j, int dr) {
  return (dr * kCols + (2 * j / 8) * 64) * 2;
}

// The one-register form (LdsmLane's kCompact): step j's address from step 0's, at0, by flipping
// the chunk bits that 2j sets. Step j % 4 sits at chunk (c0 + 2 (j % 4)) ^ x of its 8-chunk
// group, with c0 = (col0 / 8) % 8 + sel; when c0 and 2 (j % 4) share no bit that sum is an XOR,
// so at0 ^ 32 (j % 4) is exact, provided the tile starts at a 128-byte-aligned address (the XOR
// acts on bits 5-6 of the address). ldsm_compact_exact(col0, j) is that condition (sel only
// touches bit 0); j / 4 groups further are ldsm_step_tail's.
LLMI_HD uint32_t ldsm_compact_step(uint32_t at0, int j) { return at0 ^ uint32_t(32 * (j % 4)); }
LLMI_HD constexpr bool ldsm_compact_exact(int col0, int j) { return (((col0 / 8) % 8) & (2 * (j % 4))) == 0; }

}  // namespace flash::mma
