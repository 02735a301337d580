// Synthetic serving workload: Poisson arrivals, ShareGPT-like prompt and output lengths
// (vLLM paper §6.1: "we tokenize the datasets and use their input and output lengths to
// synthesize client requests ... request arrival times using Poisson distribution").
//
// Lengths are log-normal, parameterised by their mean and the sigma of the underlying normal,
// then clipped so that prompt + output <= max_seq_len (2048, OPT's and Orca (Max)'s limit).
// Defaults: ShareGPT means as read from the paper's Fig. 11 (input 161.31, output 337.99
// tokens; ShareGPT inputs are 8.4x and outputs 5.8x Alpaca's, which matches 19.31 / 58.45).
// The sigmas (1.0, 0.9) are our choice: a heavy right tail like the figure's histograms.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace paged {

struct Request {
  int id = 0;          // its index in the workload
  double arrival_s = 0;
  int prompt_len = 0;
  int output_len = 0;  // tokens to generate (>= 1)
};

struct WorkloadConfig {
  int num_requests = 1000;
  double rate_per_s = 10.0;   // Poisson arrival rate; <= 0 means every request arrives at t = 0
  double prompt_mean = 161.31;
  double prompt_sigma = 1.0;
  double output_mean = 337.99;
  double output_sigma = 0.9;
  int max_seq_len = 2048;
  uint64_t seed = 1;
};

// Deterministic for a given config (std::mt19937_64 seeded with cfg.seed).
std::vector<Request> make_workload(const WorkloadConfig& cfg);

std::string describe(const WorkloadConfig& cfg);

}  // namespace paged
