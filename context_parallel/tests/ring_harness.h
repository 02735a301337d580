// Test scenarios: one ring-attention run on the calling rank, checked against single-rank fp64
// attention on every rank (src/ring_check.h).
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "communicator.h"
#include "cpu_engine.h"
#include "llmi/random.h"
#include "ring_attention.h"
#include "ring_check.h"
#include "sharding.h"

namespace llmi::cp::test {

enum class Placement { Balanced, Random };  // where the cached KV sits before the prefill

struct Scenario {
  std::string name;
  std::vector<SeqSpec> seqs;  // P_i, T_i (decode: the prompt lengths; T is ignored)
  bool causal = true;
  int q_heads = 4, kv_heads = 2, head_dim = 8;
  Placement placement = Placement::Balanced;
  uint64_t seed = 7;
};

inline KvPlacement initial_placement(const Scenario& sc, int N) {
  std::vector<int> lens;
  for (const SeqSpec& s : sc.seqs) lens.push_back(s.cached);
  if (sc.placement == Placement::Balanced) return KvPlacement::load_balanced(lens, N);
  KvPlacement p(N, int(lens.size()));  // any placement must work: the ring visits every rank
  for (size_t s = 0; s < lens.size(); ++s)
    for (int pos = 0; pos < lens[s]; ++pos) p.append(int(s), int(splitmix64(sc.seed * 977 + s * 131 + pos) % N));
  return p;
}

inline AttnShape shape_of(const Scenario& sc) {
  return AttnShape{sc.q_heads, sc.kv_heads, sc.head_dim, 1.0 / std::sqrt(double(sc.head_dim)), sc.causal};
}

// Runs `variant` (or ring_decode) on `plan` (the plan's seqs are the batch) and checks against
// fp64 attention.
template <class Engine>
Verdict run_and_check(Communicator& comm, Engine& eng, RingWorkspace<Engine>& ws, Variant variant,
                      const Scenario& sc, const CpPlan& plan, bool use_ring_decode = false) {
  auto d = load_rank(eng, plan, comm.rank(), sc.seed);
  if (use_ring_decode)
    ring_decode(comm, eng, plan, d.q.data(), d.kv.data(), d.out.data(), d.lse.data(), ws);
  else
    ring_attention(variant, comm, eng, plan, d.q.data(), d.kv.data(), d.out.data(), d.lse.data(), ws);
  return check_fp64(comm, eng, plan, d, sc.seed);
}

// A prefill (full when every P is 0) with the scenario's cache placement.
template <class MakeEngine>
Verdict run_prefill(Communicator& comm, MakeEngine make_engine, Variant variant, const Scenario& sc) {
  auto eng = make_engine(shape_of(sc));
  RingWorkspace<decltype(eng)> ws;
  const CpPlan plan = plan_prefill(sc.seqs, initial_placement(sc, comm.size()));
  return run_and_check(comm, eng, ws, variant, sc, plan);
}

// Prefill of the scenario's prompts, then `steps` decode steps (Alg. 4) sharing one workspace
// (a new plan each step: buffers grow, tokens re-upload); the worst step's verdict.
template <class MakeEngine>
Verdict run_decode(Communicator& comm, MakeEngine make_engine, Variant variant, const Scenario& sc,
                   int steps, bool use_ring_decode) {
  auto eng = make_engine(shape_of(sc));
  RingWorkspace<decltype(eng)> ws;
  const CpPlan prefill = plan_prefill(sc.seqs, initial_placement(sc, comm.size()));
  KvPlacement cache = placement_after_prefill(prefill, initial_placement(sc, comm.size()));
  auto badness = [](const Verdict& v) { return std::max(v.out.rel_l2, v.lse.rel_l2); };  // inf if NaN
  Verdict worst;
  for (int step = 0; step < steps; ++step) {
    const CpPlan plan = plan_decode(cache, step);
    const Verdict v = run_and_check(comm, eng, ws, variant, sc, plan, use_ring_decode);
    if (step == 0 || !(badness(v) <= badness(worst))) worst = v;
  }
  return worst;
}

// The scenarios every backend runs: lengths not divisible by 2N, GQA and MHA, causal and not,
// cache-hit rates 25/50/90%, a fused varlen batch, cached KV placed at random, a lone token.
inline std::vector<Scenario> prefill_scenarios() {
  std::vector<Scenario> v;
  v.push_back({"full causal GQA T=37", {{0, 37}}, true, 4, 2, 8});
  v.push_back({"full non-causal MHA T=21", {{0, 21}}, false, 2, 2, 8});
  v.push_back({"full causal MQA T=16", {{0, 16}}, true, 4, 1, 4});
  v.push_back({"partial 25% hit P=12 T=36", {{12, 36}}, true, 4, 2, 8});
  v.push_back({"partial 50% hit P=24 T=24", {{24, 24}}, true, 4, 2, 8});
  v.push_back({"partial 90% hit P=45 T=5", {{45, 5}}, true, 4, 2, 8});
  v.push_back({"partial non-causal P=19 T=11", {{19, 11}}, false, 4, 2, 8});
  v.push_back({"varlen batch", {{0, 13}, {7, 5}, {20, 1}, {0, 2}}, true, 4, 2, 8});
  Scenario rnd{"varlen, cached KV placed at random", {{9, 7}, {30, 3}}, true, 4, 2, 8};
  rnd.placement = Placement::Random;
  v.push_back(rnd);
  v.push_back({"one new token (ranks get unequal work)", {{5, 1}}, true, 4, 2, 8});
  return v;
}

// The host engines.
template <typename Elem, typename Acc>
struct MakeCpuEngine {
  CpuEngine<Elem, Acc> operator()(const AttnShape& shape) const { return CpuEngine<Elem, Acc>(shape); }
};
using CpuF64 = MakeCpuEngine<double, double>;
using CpuF32 = MakeCpuEngine<float, float>;

inline Scenario decode_scenario() { return {"decode B=3", {{9, 0}, {16, 0}, {4, 0}}, true, 4, 2, 8}; }

}  // namespace llmi::cp::test
