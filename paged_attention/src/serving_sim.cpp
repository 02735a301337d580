#include "paged/serving_sim.h"

#include <algorithm>
#include <deque>

#include "llmi/check.h"

namespace paged {

double iteration_seconds(const ModelCost& m, const IterationShape& it, double decode_attention_s) {
  const double tokens = double(it.prefill_tokens) + double(it.decode_context.size());
  if (tokens == 0 && it.swapped_tokens == 0) return 0;
  const double linear = std::max(2.0 * m.params * tokens / m.peak_flops, m.weight_bytes / m.mem_bw);
  double kv_tokens = 0;
  for (int c : it.decode_context) kv_tokens += c;
  const double decode_attn =
      decode_attention_s >= 0 ? decode_attention_s : kv_tokens * m.kv_bytes_per_token() / m.mem_bw;
  double pairs = 0;  // causal query-key pairs of the prefills
  for (int p : it.prefill_lens) pairs += 0.5 * double(p) * double(p + 1);
  const double prefill_attn = 4.0 * m.layers * m.hidden * pairs / m.peak_flops;
  const double swap = double(it.swapped_tokens) * m.kv_bytes_per_token() / m.swap_bw;
  return m.overhead_s + linear + decode_attn + prefill_attn + swap;
}

namespace {
struct Live {
  int req;            // index into the workload
  int prompt_len;     // prompt as (re)admitted: after a recompute preemption it includes the
  int output_left;    // tokens generated so far, and output_left counts what remains
  int kv_len = 0;     // tokens whose K/V is stored
  int generated = 0;  // tokens generated since (re)admission
};
}  // namespace

SimResult simulate(const SimConfig& cfg, const std::vector<Request>& reqs, const CostFn& cost) {
  LLMI_REQUIRE(cfg.kv_capacity_tokens >= cfg.max_seq_len,
               "KV capacity " << cfg.kv_capacity_tokens << " tokens cannot hold one "
                              << cfg.max_seq_len << "-token sequence");
  LLMI_REQUIRE(!cfg.swap_preemption || cfg.policy == KvPolicy::Paged,
               "swap preemption needs the paged policy (reservations never preempt)");
  auto alloc = make_allocator(cfg.policy, cfg.kv_capacity_tokens, cfg.block_size, cfg.max_seq_len,
                              cfg.swap_preemption ? cfg.cpu_swap_tokens : 0);
  SimResult res;
  res.policy = policy_name(cfg.policy);
  const double cap = double(alloc->capacity_slots());

  std::deque<Live> waiting, swapped;
  std::vector<Live> running;
  size_t next_arrival = 0;
  double t = 0, weighted_batch = 0, norm_latency_sum = 0;
  double pressure_time = 0, busy_time = 0, reserved_waste_time = 0;
  double w_tokens = 0, w_reserved_unused = 0, w_unreserved = 0;
  int64_t output_tokens = 0;

  while (res.completed < int(reqs.size())) {
    while (next_arrival < reqs.size() && reqs[next_arrival].arrival_s <= t) {
      const Request& r = reqs[next_arrival++];
      waiting.push_back({r.id, r.prompt_len, r.output_len});
    }
    if (running.empty() && waiting.empty() && swapped.empty()) {
      t = reqs[next_arrival].arrival_s;
      continue;
    }
    IterationShape shape;
    // 0. Swapped-out requests return first, in order, and decode in this same iteration.
    while (!swapped.empty() && int(running.size()) < cfg.max_num_seqs) {
      const int64_t moved = alloc->swap_in(swapped.front().req);
      if (moved < 0) break;
      shape.swapped_tokens += moved;
      running.push_back(swapped.front());
      swapped.pop_front();
    }
    // 1. Decodes: each running request stores one more token. Out of blocks: preempt the
    //    latest admitted, by swapping it out (it resumes where it was) or by recompute (it
    //    restarts later with its generated tokens as part of the prompt).
    bool preempted = false;
    for (size_t i = 0; i < running.size();) {
      Live& l = running[i];
      if (alloc->grow(l.req, l.kv_len + 1)) {
        ++l.kv_len;
        shape.decode_context.push_back(l.kv_len);
        ++i;
        continue;
      }
      // The victim is at the back, so it has not decoded yet this iteration (or it is l).
      Live victim = running.back();
      running.pop_back();
      ++res.preemptions;
      preempted = true;
      const int64_t moved = cfg.swap_preemption ? alloc->swap_out(victim.req) : -1;
      if (moved >= 0) {
        shape.swapped_tokens += moved;
        ++res.swap_outs;
        swapped.push_front(victim);
        continue;
      }
      alloc->release(victim.req);
      waiting.push_front({victim.req, victim.prompt_len + victim.generated,
                          victim.output_left - victim.generated});
    }
    // 2. Admission, FCFS, only when nothing was preempted or is swapped out (vLLM v0's rule).
    bool memory_bound = preempted || !swapped.empty();  // requests wait for KV memory
    while (!memory_bound && !waiting.empty() && int(running.size()) < cfg.max_num_seqs) {
      Live& w = waiting.front();
      if (shape.prefill_tokens > 0 && shape.prefill_tokens + w.prompt_len > cfg.max_prefill_tokens) break;
      if (!alloc->admit(w.req, w.prompt_len, w.output_left)) {
        memory_bound = true;
        break;
      }
      w.kv_len = w.prompt_len;
      shape.prefill_tokens += w.prompt_len;
      shape.prefill_lens.push_back(w.prompt_len);
      running.push_back(w);
      waiting.pop_front();
    }
    LLMI_REQUIRE(!running.empty(), "the next request needs more KV memory than the " << cap
                                                                               << "-slot capacity offers");
    // 3. Memory accounting for this iteration.
    double used = 0;
    for (const Live& l : running) used += l.kv_len;
    const double reserved = double(alloc->reserved_slots());
    const double dt = cost(shape);
    LLMI_REQUIRE(dt > 0, "iteration cost must be positive");
    busy_time += dt;
    reserved_waste_time += dt * (reserved - used) / reserved;
    if (memory_bound) {
      pressure_time += dt;
      w_tokens += dt * used / cap;
      w_reserved_unused += dt * (reserved - used) / cap;
      w_unreserved += dt * (cap - reserved) / cap;
    }
    weighted_batch += double(running.size());
    ++res.iterations;
    t += dt;
    // 4. Every running request produced one token; finished ones leave.
    for (size_t i = 0; i < running.size();) {
      Live& l = running[i];
      ++l.generated;
      ++output_tokens;
      if (l.generated >= l.output_left) {
        const Request& r = reqs[size_t(l.req)];
        norm_latency_sum += (t - r.arrival_s) / r.output_len;
        alloc->release(l.req);
        ++res.completed;
        running.erase(running.begin() + long(i));
        continue;
      }
      ++i;
    }
  }
  res.makespan_s = t;
  res.throughput_req_s = res.completed / t;
  res.output_tok_s = double(output_tokens) / t;
  res.mean_batch = weighted_batch / res.iterations;
  res.mean_norm_latency_s = norm_latency_sum / res.completed;
  res.pressure_time_frac = pressure_time / busy_time;
  if (pressure_time > 0) {
    res.token_states = w_tokens / pressure_time;
    res.reserved_unused = w_reserved_unused / pressure_time;
    res.unreserved = w_unreserved / pressure_time;
  }
  res.reserved_waste = reserved_waste_time / busy_time;
  return res;
}

}  // namespace paged
