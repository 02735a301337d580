// Checkpoint loading: safetensors header validation on corrupt files, config variants (Llama,
// Mistral, Qwen2; GQA, tied embeddings, biases; bf16/fp16/fp32), shape checks, bad inputs.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "llmi/catch.h"
#include "llmi/llama/cpu_runtime.h"
#include "llmi/llama/safetensors.h"
#include "pycode.h"
#include "tiny_model.h"

using namespace llmi::llama;

namespace {

// A fresh directory under /tmp for one test's fixtures.
std::string temp_dir(const std::string& tag) {
  std::string d = "/tmp/llmi_llama_test_" + tag + "_" + std::to_string(::getpid());
  ::mkdir(d.c_str(), 0755);
  return d;
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A file with the given header JSON and `data` bytes after it.
std::string with_header(const std::string& json, size_t data) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((uint64_t(json.size()) >> (8 * i)) & 0xff);
  return s + json + std::string(data, '\x01');
}

}  // namespace

TEST_CASE("safetensors: a written file reads back", "[safetensors]") {
  const std::string d = temp_dir("rw");
  write_safetensors(d + "/a.safetensors", {{"x", llmi::DType::BF16, {2, 3}, {1, 2, 3, 4, 5, 6.5f}},
                                           {"y", llmi::DType::F32, {1}, {0.125f}}});
  SafetensorsFile f(d + "/a.safetensors");
  REQUIRE(f.tensors().size() == 2);
  const TensorView* x = f.find("x");
  REQUIRE(x);
  CHECK(x->shape == std::vector<int64_t>{2, 3});
  CHECK(llmi::load_as_float(x->data, x->dtype, 5) == 6.5f);
  CHECK(f.find("nope") == nullptr);
}

TEST_CASE("safetensors: corrupt files are errors naming file and tensor", "[safetensors][errors]") {
  const std::string d = temp_dir("bad");
  const std::string p = d + "/bad.safetensors";
  LLMI_REQUIRE_THROWS_WITH(SafetensorsFile(d + "/missing.safetensors"), "cannot open");
  write_bytes(p, "abc");
  LLMI_REQUIRE_THROWS_WITH(SafetensorsFile(p), "truncated");
  write_bytes(p, with_header("{}", 0).substr(0, 9));  // header length says 2, one byte present
  LLMI_REQUIRE_THROWS_WITH(SafetensorsFile(p), "exceeds the file");
  write_bytes(p, with_header("{\"x\": [1, 2", 0));
  LLMI_REQUIRE_THROWS_WITH(SafetensorsFile(p), "not valid JSON");
  write_bytes(p, with_header(R"({"w": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})", 8));
  LLMI_REQUIRE_THROWS_WITH(SafetensorsFile(p), "tensor 'w' has unsupported dtype 'I64'");
  write_bytes(p, with_header(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8));
  LLMI_REQUIRE_THROWS_WITH(SafetensorsFile(p), "tensor 'w': data_offsets [0, 16] lie outside");
  write_bytes(p, with_header(R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}})", 16));
  LLMI_REQUIRE_THROWS_WITH(SafetensorsFile(p), "needs 12 bytes");
  write_bytes(p, with_header(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                 "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 12));
  LLMI_REQUIRE_THROWS_WITH(SafetensorsFile(p), "'a' and 'b' overlap");
  write_bytes(p, with_header(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4));
  LLMI_REQUIRE_THROWS_WITH(SafetensorsFile(p), "bad dimension");
  write_bytes(p, with_header(R"({"w": {"dtype": "F32", "shape": [1]}})", 4));
  LLMI_REQUIRE_THROWS_WITH(SafetensorsFile(p), "needs dtype, shape and data_offsets");
  // A real shard cut in half: header intact, data missing.
  const std::string shard = read_bytes(test::pycode_dir() + "/model-00001-of-00003.safetensors");
  write_bytes(p, shard.substr(0, shard.size() / 2));
  LLMI_REQUIRE_THROWS_WITH(SafetensorsFile(p), "lie outside the data section");
}

TEST_CASE("checkpoint variants load and run like the in-memory model", "[loading]") {
  struct Variant { const char* name; bool bias, tied; int kv; const char* dtype; double tol; };
  const Variant variants[] = {{"llama-gqa-bf16", false, false, 2, "bf16", 2e-2},
                              {"qwen2-bias-tied-fp16", true, true, 2, "fp16", 5e-3},
                              {"llama-mha-fp32", false, false, 4, "fp32", 1e-5}};
  for (const auto& v : variants) {
    INFO(v.name);
    Config c = test::tiny_config(v.bias);
    c.tie_embeddings = v.tied;
    c.kv_heads = v.kv;
    const HostWeights w = random_weights(c, 3);
    const std::string d = temp_dir(v.name);
    save_model_dir(w, d, v.dtype);
    const HostWeights loaded = load_weights(d);
    CHECK(loaded.config.qkv_bias == v.bias);
    CHECK(loaded.config.tie_embeddings == v.tied);
    CHECK(loaded.config.kv_heads == v.kv);
    auto a = make_cpu_runtime(std::make_shared<const HostWeights>(w), {});
    auto b = make_cpu_runtime(std::make_shared<const HostWeights>(loaded), {});
    SeqChunk ch;
    ch.tokens = test::tokens(9);
    ch.rows = Rows::All;
    const StepOutput oa = a->step({ch}), ob = b->step({ch});
    CHECK(test::rel_max_err(ob.logits.data(), oa.logits.data(), oa.logits.size()) < v.tol);
  }
}

TEST_CASE("pycode-19m loads from its sharded index", "[loading]") {
  Checkpoint ck(test::pycode_dir());
  CHECK(ck.num_tensors() == 2 + 1 + 8 * 9);
  const HostWeights w = load_weights(test::pycode_dir());
  CHECK(w.config.hidden == 384);
  CHECK(w.config.kv_heads == 2);
  CHECK(w.config.num_params() == 18880896);
}

TEST_CASE("bad checkpoints and configs are clear errors", "[loading][errors]") {
  LLMI_REQUIRE_THROWS_WITH(load_weights("/nonexistent/model"), "cannot open model config");
  const std::string d = temp_dir("cfg");
  HostWeights w = random_weights(test::tiny_config(), 1);
  save_model_dir(w, d, "fp32");
  const std::string cfg = read_bytes(d + "/config.json");
  auto edit = [&](const std::function<void(nlohmann::json&)>& f) {
    auto j = nlohmann::json::parse(cfg);
    f(j);
    std::ofstream(d + "/config.json") << j.dump();
  };
  edit([](nlohmann::json& j) { j["model_type"] = "gpt2"; });
  LLMI_REQUIRE_THROWS_WITH(load_weights(d), "unsupported architecture model_type='gpt2'");
  edit([](nlohmann::json& j) { j["architectures"] = {"LlamaForSequenceClassification"}; });
  LLMI_REQUIRE_THROWS_WITH(load_weights(d), "unsupported architecture 'LlamaForSequenceClassification'");
  edit([](nlohmann::json& j) { j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}}; });
  LLMI_REQUIRE_THROWS_WITH(load_weights(d), "unsupported rope scaling type 'llama3'");
  edit([](nlohmann::json& j) { j["num_key_value_heads"] = 3; });
  LLMI_REQUIRE_THROWS_WITH(load_weights(d), "not a multiple of num_key_value_heads");
  edit([](nlohmann::json& j) { j.erase("hidden_size"); });
  LLMI_REQUIRE_THROWS_WITH(load_weights(d), "'hidden_size'");
  // Shape mismatch between config and checkpoint names the tensor.
  edit([](nlohmann::json& j) { j["intermediate_size"] = 80; });
  LLMI_REQUIRE_THROWS_WITH(load_weights(d), "'model.layers.0.mlp.gate_proj.weight' has shape [96, 64]");
  // A tensor missing from the checkpoint.
  edit([](nlohmann::json& j) { j["num_hidden_layers"] = 3; });
  LLMI_REQUIRE_THROWS_WITH(load_weights(d), "no tensor 'model.layers.2.input_layernorm.weight'");
  // No checkpoint file at all.
  edit([](nlohmann::json&) {});
  std::remove((d + "/model.safetensors").c_str());
  LLMI_REQUIRE_THROWS_WITH(load_weights(d), "expected model.safetensors");
  // An index naming a shard that lacks the tensor.
  save_model_dir(w, d, "fp32");
  std::rename((d + "/model.safetensors").c_str(), (d + "/shard.safetensors").c_str());
  std::ofstream(d + "/model.safetensors.index.json")
      << R"({"weight_map": {"model.norm.weight": "shard.safetensors", "lm_head.bias": "shard.safetensors"}})";
  LLMI_REQUIRE_THROWS_WITH(Checkpoint{d}, "maps tensor 'lm_head.bias' to shard.safetensors");
  LLMI_REQUIRE_THROWS_WITH(Config::preset("gpt-4"), "unknown model preset");
}

TEST_CASE("presets have the published parameter counts", "[loading]") {
  CHECK(Config::preset("llama2-7b").num_params() == 6738415616);
  CHECK(Config::preset("llama2-13b").num_params() == 13015864320);
  CHECK(Config::preset("llama3-8b").num_params() == 8030261248);
}
