// The real Llama runtime (CPU fp32, pycode-19m) under every scheduler: chunked prefill of any
// chunk size gives the logits of an unchunked prefill, and batched, chunked, preempted serving
// produces exactly the tokens of unbatched greedy decoding.
#include <algorithm>
#include <cmath>

#include "llmi/catch.h"
#include "llmi/llama/cpu_runtime.h"
#include "pycode_engine.h"
#include "sarathi/engine.h"

using namespace sarathi;
using namespace sarathi::test;
using namespace llmi::llama;

namespace {

double rel_max_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num = std::max(num, std::fabs(double(a[i]) - double(b[i])));
    den = std::max(den, std::fabs(double(b[i])));
  }
  return num / den;
}

}  // namespace

TEST_CASE("chunked prefill of any chunk size gives the unchunked logits (CPU, pycode-19m)",
          "[engine][chunking]") {
  RuntimeOptions o;
  o.max_seqs = 2, o.max_context = 128;
  auto rt = make_cpu_runtime(pycode(), o);
  std::vector<int> prompt;
  for (const auto& p : prompts()) prompt.insert(prompt.end(), p.begin(), p.end());
  prompt.resize(std::min<size_t>(prompt.size(), 72));
  SeqChunk whole;
  whole.seq_id = 0, whole.tokens = prompt, whole.rows = Rows::All;
  const StepOutput ref = rt->step({whole});
  for (int chunk : {1, 7, 16, 31, 71}) {
    rt->reset(1);
    std::vector<float> logits;
    for (size_t b = 0; b < prompt.size(); b += size_t(chunk)) {
      SeqChunk c;
      c.seq_id = 1, c.rows = Rows::All;
      c.tokens.assign(prompt.begin() + long(b),
                      prompt.begin() + long(std::min(prompt.size(), b + size_t(chunk))));
      const StepOutput out = rt->step({c});
      logits.insert(logits.end(), out.logits.begin(), out.logits.end());
    }
    INFO("chunk " << chunk);
    REQUIRE(logits.size() == ref.logits.size());
    CHECK(rel_max_err(logits, ref.logits) < 1e-5);
  }
}

TEST_CASE("every scheduler reproduces unbatched greedy decoding on the CPU runtime",
          "[engine]") {
  const auto ps = prompts();
  const std::vector<int> outputs = output_lengths();
  auto rt = engine_runtime();

  std::vector<EngineRequest> reqs;
  std::map<int, std::vector<int>> expected;
  int peak_sum = 0;
  for (size_t i = 0; i < ps.size(); ++i) {
    reqs.push_back({int(i), ps[i], outputs[i]});
    expected[int(i)] = greedy(*rt, ps[i], outputs[i]);
    peak_sum += int(ps[i].size()) + outputs[i];
  }

  const SchedulerConfig c = tight_config();
  // Room for the largest request but well under the three running at once: forces preemption.
  REQUIRE(c.kv_blocks * c.block_size < peak_sum);
  int preemptions = 0;
  for (const std::string& name : scheduler_names()) {
    INFO("scheduler " << name);
    auto s = make_scheduler(name, c);
    int hybrid_steps = 0;  // steps whose one runtime call fused prefill tokens with decodes
    const EngineResult got = run_engine(*rt, *s, reqs, [&](const Batch& b, double, double) {
      hybrid_steps += b.prefill_tokens > 0 && b.decode_tokens > 0;
    });
    for (const auto& [id, toks] : expected) {
      INFO("request " << id);
      CHECK(got.tokens.at(id) == toks);
    }
    CHECK(got.serving.max_batch_seqs > 1);  // it really batched
    // vLLM never mixes prefills with decodes; the other three piggyback decodes on prefills.
    if (name == "vllm")
      CHECK(hybrid_steps == 0);
    else
      CHECK(hybrid_steps > 0);
    preemptions += got.serving.preemptions;
  }
  CHECK(preemptions > 0);  // and the recompute path ran
}

TEST_CASE("engine rejects a scheduler wider than the runtime", "[engine][errors]") {
  RuntimeOptions o;
  o.max_seqs = 2, o.max_context = 64;
  auto rt = make_cpu_runtime(pycode(), o);
  SchedulerConfig c;
  c.max_batch_seqs = 4;
  auto s = make_scheduler("sarathi-serve", c);
  LLMI_REQUIRE_THROWS_WITH(run_engine(*rt, *s, {{0, {1, 2, 3}, 2}}), "has 2 KV slots");
  c.max_batch_seqs = 2;
  auto s2 = make_scheduler("sarathi-serve", c);
  LLMI_REQUIRE_THROWS_WITH(run_engine(*rt, *s2, {{0, std::vector<int>(70, 5), 2}}),
                           "does not fit the runtime's context");
}
