// A request as the schedulers see it, and its progress through prefill and decode.
//
// One uniform rule covers prefill, decode and recompute after preemption (Sarathi-Serve §4,
// vLLM's recompute preemption): a request "knows" prompt_len + generated tokens and has
// `processed` of them in its KV cache. A step that feeds it n tokens and brings processed up to
// known emits the next output token. pending = known - processed is > 1 during a (re)prefill and
// exactly 1 while decoding.
#pragma once

namespace sarathi {

struct RequestSpec {
  int id = 0;
  double arrival_s = 0;  // seconds; the serving loop hides the request until then
  int prompt_len = 0;    // tokens
  int output_len = 0;    // tokens to generate (>= 1)
};

enum class Phase { Waiting, Running, Finished };

struct RequestState {
  RequestSpec spec;
  Phase phase = Phase::Waiting;
  int processed = 0;    // tokens whose K/V are in the cache
  int generated = 0;    // output tokens emitted so far
  int preemptions = 0;  // times its cache was dropped (recompute on resume)
  long batch = -1;      // serial of the last batch it was scheduled in (O(1) membership test)

  int known() const { return spec.prompt_len + generated; }
  int pending() const { return known() - processed; }
  // A decode feeds exactly the last emitted token; anything else is a (re)prefill.
  bool decoding() const { return generated > 0 && pending() == 1; }
  bool done() const { return generated >= spec.output_len; }
};

}  // namespace sarathi
