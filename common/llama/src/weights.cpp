// Loading Hugging Face checkpoints into fp32 host weights; random and saved test models.
#include "llmi/llama/weights.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "llmi/check.h"
#include "llmi/llama/safetensors.h"
#include "llmi/random.h"

namespace llmi::llama {

HostWeights load_weights(const std::string& model_dir) {
  HostWeights w;
  w.config = Config::from_file(model_dir + "/config.json");
  const Config& c = w.config;
  Checkpoint ck(model_dir);
  const int64_t H = c.hidden, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate, V = c.vocab_size;
  w.embed = ck.load_float("model.embed_tokens.weight", {V, H});
  w.final_norm = ck.load_float("model.norm.weight", {H});
  if (ck.has("lm_head.weight"))
    w.lm_head = ck.load_float("lm_head.weight", {V, H});
  else if (c.tie_embeddings)
    w.lm_head = w.embed;
  else
    throw Error("checkpoint " + model_dir +
                " has no 'lm_head.weight' and the config does not tie embeddings");
  for (int l = 0; l < c.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights L;
    L.attn_norm = ck.load_float(p + "input_layernorm.weight", {H});
    L.mlp_norm = ck.load_float(p + "post_attention_layernorm.weight", {H});
    L.wq = ck.load_float(p + "self_attn.q_proj.weight", {Q, H});
    L.wk = ck.load_float(p + "self_attn.k_proj.weight", {KV, H});
    L.wv = ck.load_float(p + "self_attn.v_proj.weight", {KV, H});
    L.wo = ck.load_float(p + "self_attn.o_proj.weight", {H, Q});
    if (c.qkv_bias) {
      L.bq = ck.load_float(p + "self_attn.q_proj.bias", {Q});
      L.bk = ck.load_float(p + "self_attn.k_proj.bias", {KV});
      L.bv = ck.load_float(p + "self_attn.v_proj.bias", {KV});
    }
    if (c.o_bias) L.bo = ck.load_float(p + "self_attn.o_proj.bias", {H});
    L.w_gate = ck.load_float(p + "mlp.gate_proj.weight", {I, H});
    L.w_up = ck.load_float(p + "mlp.up_proj.weight", {I, H});
    L.w_down = ck.load_float(p + "mlp.down_proj.weight", {H, I});
    w.layers.push_back(std::move(L));
  }
  return w;
}

namespace {

std::vector<float> uniform(size_t n, uint64_t seed, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = (2.0f * uniform01(seed, i) - 1.0f) * scale;
  return v;
}

std::vector<float> near_one(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = 0.8f + 0.4f * uniform01(seed, i);
  return v;
}

}  // namespace

HostWeights random_weights(const Config& config, uint64_t seed) {
  config.validate();
  HostWeights w;
  w.config = config;
  const Config& c = config;
  const size_t H = c.hidden, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate, V = c.vocab_size;
  uint64_t s = seed * 1000;
  w.embed = uniform(V * H, ++s, 1.0f);
  w.final_norm = near_one(H, ++s);
  w.lm_head = c.tie_embeddings ? w.embed : uniform(V * H, ++s, init_scale(int(H)));
  for (int l = 0; l < c.layers; ++l) {
    LayerWeights L;
    L.attn_norm = near_one(H, ++s);
    L.mlp_norm = near_one(H, ++s);
    L.wq = uniform(Q * H, ++s, init_scale(int(H)));
    L.wk = uniform(KV * H, ++s, init_scale(int(H)));
    L.wv = uniform(KV * H, ++s, init_scale(int(H)));
    L.wo = uniform(H * Q, ++s, init_scale(int(Q)));
    if (c.qkv_bias) {
      L.bq = uniform(Q, ++s, 0.1f);
      L.bk = uniform(KV, ++s, 0.1f);
      L.bv = uniform(KV, ++s, 0.1f);
    }
    if (c.o_bias) L.bo = uniform(H, ++s, 0.1f);
    L.w_gate = uniform(I * H, ++s, init_scale(int(H)));
    L.w_up = uniform(I * H, ++s, init_scale(int(H)));
    L.w_down = uniform(H * I, ++s, init_scale(int(I)));
    w.layers.push_back(std::move(L));
  }
  return w;
}

void save_model_dir(const HostWeights& w, const std::string& dir, const std::string& dtype_name) {
  const Config& c = w.config;
  const DType dt = parse_dtype(dtype_name);
  nlohmann::json j = {{"architectures", {c.model_type == "qwen2"     ? "Qwen2ForCausalLM"
                                         : c.model_type == "mistral" ? "MistralForCausalLM"
                                                                     : "LlamaForCausalLM"}},
                      {"model_type", c.model_type},
                      {"vocab_size", c.vocab_size},
                      {"hidden_size", c.hidden},
                      {"intermediate_size", c.intermediate},
                      {"num_hidden_layers", c.layers},
                      {"num_attention_heads", c.heads},
                      {"num_key_value_heads", c.kv_heads},
                      {"head_dim", c.head_dim},
                      {"max_position_embeddings", c.max_positions},
                      {"rms_norm_eps", c.rms_eps},
                      {"rope_theta", c.rope_theta},
                      {"tie_word_embeddings", c.tie_embeddings},
                      {"hidden_act", "silu"},
                      {"bos_token_id", c.bos_token},
                      {"eos_token_id", c.eos_tokens}};
  if (c.model_type != "qwen2") j["attention_bias"] = c.qkv_bias;
  std::ofstream(dir + "/config.json") << j.dump(2);
  const int64_t H = c.hidden, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate, V = c.vocab_size;
  std::vector<TensorToWrite> t;
  t.push_back({"model.embed_tokens.weight", dt, {V, H}, w.embed});
  t.push_back({"model.norm.weight", dt, {H}, w.final_norm});
  if (!c.tie_embeddings) t.push_back({"lm_head.weight", dt, {V, H}, w.lm_head});
  for (int l = 0; l < c.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const LayerWeights& L = w.layers[size_t(l)];
    t.push_back({p + "input_layernorm.weight", dt, {H}, L.attn_norm});
    t.push_back({p + "post_attention_layernorm.weight", dt, {H}, L.mlp_norm});
    t.push_back({p + "self_attn.q_proj.weight", dt, {Q, H}, L.wq});
    t.push_back({p + "self_attn.k_proj.weight", dt, {KV, H}, L.wk});
    t.push_back({p + "self_attn.v_proj.weight", dt, {KV, H}, L.wv});
    t.push_back({p + "self_attn.o_proj.weight", dt, {H, Q}, L.wo});
    if (c.qkv_bias) {
      t.push_back({p + "self_attn.q_proj.bias", dt, {Q}, L.bq});
      t.push_back({p + "self_attn.k_proj.bias", dt, {KV}, L.bk});
      t.push_back({p + "self_attn.v_proj.bias", dt, {KV}, L.bv});
    }
    if (c.o_bias) t.push_back({p + "self_attn.o_proj.bias", dt, {H}, L.bo});
    t.push_back({p + "mlp.gate_proj.weight", dt, {I, H}, L.w_gate});
    t.push_back({p + "mlp.up_proj.weight", dt, {I, H}, L.w_up});
    t.push_back({p + "mlp.down_proj.weight", dt, {H, I}, L.w_down});
  }
  write_safetensors(dir + "/model.safetensors", t);
}

}  // namespace llmi::llama
