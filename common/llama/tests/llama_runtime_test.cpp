// The step API on the CPU reference: chunked prefill, mixed batches, tree masks, KV truncate /
// keep, hidden states, and the inputs it must reject.
#include "llmi/catch.h"
#include "llmi/llama/cpu_runtime.h"
#include "llmi/llama/generate.h"
#include "tiny_model.h"

using namespace llmi::llama;
using test::rel_max_err;
using test::tokens;
using test::chunk;

namespace {

std::unique_ptr<Runtime> tiny_runtime(bool bias = false) {
  RuntimeOptions o;
  o.max_seqs = 4;
  return make_cpu_runtime(test::tiny_weights(bias), o);
}

}  // namespace

TEST_CASE("chunked prefill gives the same logits as one-shot prefill", "[runtime]") {
  for (bool bias : {false, true}) {
    auto rt = tiny_runtime(bias);
    const int V = rt->config().vocab_size;
    const auto prompt = tokens(23);
    const StepOutput whole = rt->step({chunk(0, prompt, Rows::All)});
    REQUIRE(whole.num_rows(0) == 23);
    for (int size : {1, 5, 8}) {
      rt->reset(1);
      std::vector<float> logits;
      for (size_t b = 0; b < prompt.size(); b += size_t(size)) {
        std::vector<int> part(prompt.begin() + long(b),
                              prompt.begin() + long(std::min(prompt.size(), b + size_t(size))));
        const StepOutput o = rt->step({chunk(1, part, Rows::All)});
        logits.insert(logits.end(), o.logits.begin(), o.logits.end());
      }
      INFO("chunk " << size << " bias " << bias);
      REQUIRE(logits.size() == whole.logits.size());
      CHECK(rel_max_err(logits.data(), whole.logits.data(), logits.size()) < 1e-5);
      CHECK(rt->length(1) == 23);
    }
    (void)V;
  }
}

TEST_CASE("a mixed batch (prefill chunk + decodes) equals running each sequence alone",
          "[runtime]") {
  auto rt = tiny_runtime();
  const int V = rt->config().vocab_size;
  // Sequences 1 and 2 already hold prompts; sequence 0 starts a prefill chunk.
  rt->step({chunk(1, tokens(9, 1))});
  rt->step({chunk(2, tokens(4, 2))});
  const StepOutput mixed =
      rt->step({chunk(0, tokens(6, 3), Rows::All), chunk(1, {17}), chunk(2, {33})});
  REQUIRE(mixed.num_rows(0) == 6);
  REQUIRE(mixed.num_rows(1) == 1);

  auto solo = tiny_runtime();
  const StepOutput a = solo->step({chunk(0, tokens(6, 3), Rows::All)});
  solo->step({chunk(1, tokens(9, 1))});
  const StepOutput b = solo->step({chunk(1, {17})});
  solo->step({chunk(2, tokens(4, 2))});
  const StepOutput c = solo->step({chunk(2, {33})});
  CHECK(rel_max_err(mixed.row_logits(0, 0), a.logits.data(), size_t(6 * V)) < 1e-5);
  CHECK(rel_max_err(mixed.row_logits(1, 0), b.logits.data(), size_t(V)) < 1e-5);
  CHECK(rel_max_err(mixed.row_logits(2, 0), c.logits.data(), size_t(V)) < 1e-5);
}

TEST_CASE("a tree-masked step equals running each branch as its own sequence; keep() "
          "compacts the accepted branch", "[runtime][tree]") {
  auto rt = tiny_runtime();
  const int V = rt->config().vocab_size;
  const auto prefix = tokens(7, 4);
  rt->step({chunk(0, prefix)});
  // Tree:   r(0) -> a(1) -> c(3)
  //              -> b(2)
  const std::vector<int> parent = {-1, 0, 0, 1}, depth = {0, 1, 1, 2};
  const std::vector<int> toks = {10, 20, 30, 40};
  const Mask mask = Mask::tree(parent);
  SeqChunk t = chunk(0, toks, Rows::All);
  t.mask = &mask;
  for (int d : depth) t.positions.push_back(7 + d);
  const StepOutput tree = rt->step({t});
  REQUIRE(rt->length(0) == 11);

  // Branch r-a-c and branch r-b as plain causal sequences.
  auto ref = tiny_runtime();
  ref->step({chunk(1, prefix)});
  const StepOutput b1 = ref->step({chunk(1, {10, 20, 40}, Rows::All)});
  ref->step({chunk(2, prefix)});
  const StepOutput b2 = ref->step({chunk(2, {10, 30}, Rows::All)});
  CHECK(rel_max_err(tree.row_logits(0, 0), b1.row_logits(0, 0), size_t(V)) < 1e-5);  // r
  CHECK(rel_max_err(tree.row_logits(0, 1), b1.row_logits(0, 1), size_t(V)) < 1e-5);  // a
  CHECK(rel_max_err(tree.row_logits(0, 3), b1.row_logits(0, 2), size_t(V)) < 1e-5);  // c
  CHECK(rel_max_err(tree.row_logits(0, 2), b2.row_logits(0, 1), size_t(V)) < 1e-5);  // b

  // Accept r-a-c: the cache must then behave exactly like branch 1's cache.
  rt->keep(0, 7, {0, 1, 3});
  REQUIRE(rt->length(0) == 10);
  const StepOutput next = rt->step({chunk(0, {55})});
  const StepOutput next_ref = ref->step({chunk(1, {55})});
  CHECK(rel_max_err(next.logits.data(), next_ref.logits.data(), size_t(V)) < 1e-5);
}

TEST_CASE("truncate drops rejected rows: re-running them reproduces the logits", "[runtime]") {
  auto rt = tiny_runtime();
  const int V = rt->config().vocab_size;
  rt->step({chunk(0, tokens(5))});
  const StepOutput first = rt->step({chunk(0, {3, 4, 5}, Rows::All)});
  rt->step({chunk(0, {6, 7})});  // speculative rows that get rejected
  REQUIRE(rt->length(0) == 10);
  rt->truncate(0, 5);
  REQUIRE(rt->length(0) == 5);
  const StepOutput again = rt->step({chunk(0, {3, 4, 5}, Rows::All)});
  CHECK(rel_max_err(again.logits.data(), first.logits.data(), size_t(3 * V)) < 1e-6);
  rt->reset(0);
  CHECK(rt->length(0) == 0);
}

TEST_CASE("hidden states and row lists", "[runtime]") {
  auto w = test::tiny_weights();
  auto rt = make_cpu_runtime(w, {});
  const int V = rt->config().vocab_size, H = rt->config().hidden;
  SeqChunk c = chunk(0, tokens(6), Rows::List);
  c.row_list = {1, 4};
  c.want_hidden = true;
  const StepOutput o = rt->step({c});
  REQUIRE(o.num_rows(0) == 2);
  REQUIRE(o.hidden_states.size() == size_t(2 * H));
  // The LM head applied to the returned hidden states gives the returned logits.
  std::vector<float> l(static_cast<size_t>(2 * V));
  cpu_linear(o.hidden_states.data(), w->lm_head.data(), nullptr, l.data(), 2, V, H);
  CHECK(rel_max_err(l.data(), o.logits.data(), l.size()) < 1e-6);
  // Row 4 of a List request equals the Last row of the same 5-token prefix.
  auto rt2 = make_cpu_runtime(w, {});
  const StepOutput last = rt2->step({chunk(0, std::vector<int>(c.tokens.begin(), c.tokens.begin() + 5))});
  CHECK(rel_max_err(o.row_logits(0, 1), last.logits.data(), size_t(V)) < 1e-5);
  // Rows::None returns nothing.
  const StepOutput none = rt2->step({chunk(0, {1}, Rows::None)});
  CHECK(none.logits.empty());
  CHECK(none.num_rows(0) == 0);
}

TEST_CASE("runtime rejects bad inputs before touching any cache", "[runtime][errors]") {
  auto rt = tiny_runtime();
  rt->step({chunk(0, tokens(3))});
  LLMI_REQUIRE_THROWS_WITH(rt->step({chunk(0, tokens(62))}), "longer than the context");
  LLMI_REQUIRE_THROWS_WITH(rt->step({chunk(4, {1})}), "seq_id 4 outside");
  LLMI_REQUIRE_THROWS_WITH(rt->step({chunk(1, {1}), chunk(1, {2})}), "appears twice");
  LLMI_REQUIRE_THROWS_WITH(rt->step({chunk(1, {96})}), "outside the vocabulary");
  LLMI_REQUIRE_THROWS_WITH(rt->step({chunk(1, {})}), "no new tokens");
  LLMI_REQUIRE_THROWS_WITH(rt->step({}), "empty batch");
  SeqChunk p = chunk(1, {1, 2});
  p.positions = {0};
  LLMI_REQUIRE_THROWS_WITH(rt->step({p}), "positions");
  p.positions = {0, 64};
  LLMI_REQUIRE_THROWS_WITH(rt->step({p}), "position 64");
  Mask m(3);
  SeqChunk q = chunk(1, {1, 2});
  q.mask = &m;
  LLMI_REQUIRE_THROWS_WITH(rt->step({q}), "mask is 3x3");
  SeqChunk r = chunk(1, {1, 2}, Rows::List);
  r.row_list = {2};
  LLMI_REQUIRE_THROWS_WITH(rt->step({r}), "row 2 outside");
  // A failed step left every cache as it was.
  CHECK(rt->length(0) == 3);
  CHECK(rt->length(1) == 0);
  LLMI_REQUIRE_THROWS_WITH(rt->truncate(0, 4), "outside [0, 3]");
  LLMI_REQUIRE_THROWS_WITH(rt->keep(0, 1, {1, 1}), "strictly increasing");
  LLMI_REQUIRE_THROWS_WITH(rt->keep(0, 1, {2}), "outside sequence");
  LLMI_REQUIRE_THROWS_WITH(Mask::tree({0}), "parents must come first");
}

TEST_CASE("generate: greedy equals step-by-step argmax; stops; rejects long prompts",
          "[runtime][generate]") {
  auto rt = tiny_runtime();
  const int V = rt->config().vocab_size;
  GenerateOptions g;
  g.max_new_tokens = 10;
  g.stop_at_eos = false;
  g.prefill_chunk = 4;
  std::vector<int> streamed;
  const auto prompt = tokens(9);
  const GenerateResult r = generate(*rt, prompt, g, [&](int t) { streamed.push_back(t); });
  REQUIRE(r.tokens.size() == 10);
  CHECK(streamed == r.tokens);
  CHECK(r.stop_reason == "max_new_tokens");
  // The same continuation by hand.
  auto ref = tiny_runtime();
  StepOutput o = ref->step({chunk(0, prompt)});
  for (int t : r.tokens) {
    CHECK(argmax(o.logits.data(), V) == t);
    o = ref->step({chunk(0, {t})});
  }
  // Stop at EOS: make the model's first choice the EOS token.
  auto eos_w = std::make_shared<HostWeights>(random_weights(test::tiny_config(), 7));
  eos_w->config.eos_tokens = {r.tokens[0]};
  auto rt2 = make_cpu_runtime(eos_w, {});
  g.stop_at_eos = true;
  const GenerateResult e = generate(*rt2, prompt, g);
  CHECK(e.stop_reason == "eos");
  CHECK(e.tokens == std::vector<int>{r.tokens[0]});
  // The context (64) fills before 100 new tokens.
  g.max_new_tokens = 100;
  g.stop_at_eos = false;
  const GenerateResult c = generate(*rt, prompt, g);
  CHECK(c.stop_reason == "context");
  CHECK(int(prompt.size() + c.tokens.size()) == 65);  // the last token is chosen, never cached
  LLMI_REQUIRE_THROWS_WITH(generate(*rt, tokens(64), g), "does not fit the context");
  LLMI_REQUIRE_THROWS_WITH(generate(*rt, {}, g), "empty prompt");
}
