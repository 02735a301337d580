#include "sharding.h"

#include <algorithm>

#include "llmi/check.h"

namespace llmi::cp {

std::vector<int> balanced_offsets(int T, int ranks, int r) {
  LLMI_REQUIRE(ranks >= 1, "context parallelism needs at least one rank, got " << ranks);
  LLMI_REQUIRE(r >= 0 && r < ranks, "rank " << r << " is outside [0, " << ranks << ")");
  LLMI_REQUIRE(T >= 0, "negative token count " << T);
  const int chunk = (T + 2 * ranks - 1) / (2 * ranks);  // ceil(T / 2N): T padded to 2N chunks
  std::vector<int> out;
  out.reserve(2 * chunk);
  for (int c : {r, 2 * ranks - 1 - r})
    for (int i = 0; i < chunk; ++i) {
      int off = c * chunk + i;
      out.push_back(off < T ? off : -1);
    }
  return out;
}

KvPlacement::KvPlacement(int ranks, int num_seqs) : ranks_(ranks), owner_(num_seqs) {
  LLMI_REQUIRE(ranks >= 1, "context parallelism needs at least one rank, got " << ranks);
  LLMI_REQUIRE(num_seqs >= 0, "negative batch size " << num_seqs);
}

KvPlacement KvPlacement::load_balanced(const std::vector<int>& lengths, int ranks) {
  KvPlacement p(ranks, int(lengths.size()));
  for (size_t s = 0; s < lengths.size(); ++s) {
    p.owner_[s].assign(lengths[s], -1);
    for (int r = 0; r < ranks; ++r)
      for (int off : balanced_offsets(lengths[s], ranks, r))
        if (off >= 0) p.owner_[s][off] = r;
  }
  return p;
}

int KvPlacement::length(int seq) const {
  LLMI_REQUIRE(seq >= 0 && seq < num_seqs(), "sequence " << seq << " is not in the batch of " << num_seqs());
  return int(owner_[seq].size());
}

int KvPlacement::owner(int seq, int pos) const {
  LLMI_REQUIRE(pos >= 0 && pos < length(seq), "position " << pos << " of sequence " << seq << " is not cached");
  return owner_[seq][pos];
}

void KvPlacement::append(int seq, int rank) {
  length(seq);  // validates seq
  LLMI_REQUIRE(rank >= 0 && rank < ranks_, "rank " << rank << " is outside [0, " << ranks_ << ")");
  owner_[seq].push_back(rank);
}

std::vector<int> KvPlacement::positions_on(int seq, int rank) const {
  std::vector<int> out;
  for (int pos = 0; pos < length(seq); ++pos)
    if (owner_[seq][pos] == rank) out.push_back(pos);
  return out;
}

namespace {
// Every rank's KV buffer: sequence by sequence, the positions it holds, then padding up to
// L_i = the most any rank holds of that sequence (Alg. 2 line 2: pad(P_ik + T_ik, L_i)).
void lay_out_kv(const std::vector<std::vector<std::vector<int>>>& held,  // [seq][rank] -> positions
                std::vector<RankShard>& shard) {
  for (size_t s = 0; s < held.size(); ++s) {
    size_t L = 0;
    for (const auto& pos : held[s]) L = std::max(L, pos.size());
    for (size_t r = 0; r < shard.size(); ++r) {
      for (int p : held[s][r]) shard[r].kv.push_back(Token{int32_t(s), p});
      shard[r].kv.resize(shard[r].kv.size() + L - held[s][r].size(), kPad);
    }
  }
}
}  // namespace

CpPlan plan_prefill(const std::vector<SeqSpec>& seqs, const KvPlacement& cache) {
  const int N = cache.ranks();
  LLMI_REQUIRE(cache.num_seqs() == int(seqs.size()),
               "the cache places " << cache.num_seqs() << " sequences but the batch has " << seqs.size());
  CpPlan plan;
  plan.ranks = N;
  plan.seqs = seqs;
  plan.shard.resize(N);
  std::vector<std::vector<std::vector<int>>> held(seqs.size(), std::vector<std::vector<int>>(N));
  for (size_t s = 0; s < seqs.size(); ++s) {
    const SeqSpec& q = seqs[s];
    LLMI_REQUIRE(q.cached >= 0 && q.fresh >= 0,
                 "sequence " << s << " has a negative length (P=" << q.cached << ", T=" << q.fresh << ")");
    LLMI_REQUIRE(cache.length(int(s)) == q.cached,
                 "sequence " << s << " has " << cache.length(int(s)) << " cached tokens placed, but P=" << q.cached);
    for (int r = 0; r < N; ++r) {
      held[s][r] = cache.positions_on(int(s), r);
      for (int off : balanced_offsets(q.fresh, N, r)) {
        Token t = off < 0 ? kPad : Token{int32_t(s), q.cached + off};
        plan.shard[r].q.push_back(t);
        if (off >= 0) held[s][r].push_back(t.pos);  // new KV stays where it was computed
      }
    }
  }
  lay_out_kv(held, plan.shard);
  return plan;
}

CpPlan plan_decode(KvPlacement& cache, int step) {
  const int N = cache.ranks(), B = cache.num_seqs();
  LLMI_REQUIRE(step >= 0, "negative decode step " << step);
  CpPlan plan;
  plan.ranks = N;
  plan.shard.resize(N);
  for (int b = 0; b < B; ++b) {
    plan.seqs.push_back(SeqSpec{cache.length(b), 1});
    const int owner = decode_owner(b, step, N);
    plan.shard[owner].q.push_back(Token{b, cache.length(b)});
    cache.append(b, owner);
  }
  // Queries padded to ceil(B/N) per rank (§4.3: at B=1 every other rank computes padding).
  const size_t slots = (size_t(B) + N - 1) / N;
  for (auto& sh : plan.shard) sh.q.resize(slots, kPad);
  std::vector<std::vector<std::vector<int>>> held(B, std::vector<std::vector<int>>(N));
  for (int b = 0; b < B; ++b)
    for (int r = 0; r < N; ++r) held[b][r] = cache.positions_on(b, r);
  lay_out_kv(held, plan.shard);
  return plan;
}

KvPlacement placement_after_prefill(const CpPlan& plan, const KvPlacement& cache) {
  std::vector<std::vector<int>> owner(plan.seqs.size());  // [seq][new-token offset] -> rank
  for (size_t s = 0; s < plan.seqs.size(); ++s) owner[s].assign(plan.seqs[s].fresh, -1);
  for (int r = 0; r < plan.ranks; ++r)
    for (Token t : plan.shard[r].q)
      if (!t.is_pad()) owner[t.seq][t.pos - plan.seqs[t.seq].cached] = r;
  KvPlacement out = cache;
  for (size_t s = 0; s < owner.size(); ++s)
    for (int r : owner[s]) out.append(int(s), r);
  return out;
}

uint64_t CpPlan::fingerprint() const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the plan's integers
  auto mix = [&h](int64_t v) {
    for (int i = 0; i < 8; ++i) h = (h ^ uint64_t((v >> (8 * i)) & 0xff)) * 1099511628211ull;
  };
  mix(ranks);
  for (const SeqSpec& s : seqs) mix(s.cached), mix(s.fresh);
  for (const RankShard& sh : shard) {
    mix(int64_t(sh.q.size()));
    for (Token t : sh.q) mix(t.seq), mix(t.pos);
    mix(int64_t(sh.kv.size()));
    for (Token t : sh.kv) mix(t.seq), mix(t.pos);
  }
  return h;
}

BatchRows::BatchRows(const std::vector<SeqSpec>& seqs) : seqs_(seqs), q_base_{0}, kv_base_{0} {
  for (const SeqSpec& s : seqs) {
    q_base_.push_back(q_base_.back() + size_t(s.fresh));
    kv_base_.push_back(kv_base_.back() + size_t(s.cached) + size_t(s.fresh));
  }
}

size_t BatchRows::q_row(Token t) const {
  LLMI_REQUIRE(t.seq >= 0 && t.seq < int(seqs_.size()), "token of sequence " << t.seq << " is not in the batch");
  const SeqSpec& s = seqs_[t.seq];
  LLMI_REQUIRE(t.pos >= s.cached && t.pos < s.cached + s.fresh,
               "position " << t.pos << " of sequence " << t.seq << " is not a new token");
  return q_base_[t.seq] + size_t(t.pos - s.cached);
}

size_t BatchRows::kv_row(Token t) const {
  LLMI_REQUIRE(t.seq >= 0 && t.seq < int(seqs_.size()), "token of sequence " << t.seq << " is not in the batch");
  const SeqSpec& s = seqs_[t.seq];
  LLMI_REQUIRE(t.pos >= 0 && t.pos < s.cached + s.fresh,
               "position " << t.pos << " is outside sequence " << t.seq);
  return kv_base_[t.seq] + size_t(t.pos);
}

}  // namespace llmi::cp
