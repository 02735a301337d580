// llmi_report: turns the benchmarks' --json files into results/REPORT.md, one section per
// benchmark: the headline beside the paper's claim, the run's device/date/commit/command, and
// every case with its rate beside the measured ceiling. The report is regenerated from raw JSON,
// so it never drifts from the data.
//
//   llmi_report results/*.json -o results/REPORT.md
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "llmi/report.h"

int main(int argc, char** argv) {
  CLI::App app{"Write results/REPORT.md from benchmark JSON files"};
  std::vector<std::string> inputs;
  std::string output = "results/REPORT.md";
  app.add_option("inputs", inputs, "benchmark --json files")->required()->check(CLI::ExistingFile);
  app.add_option("-o,--output", output, "the Markdown report to write");
  CLI11_PARSE(app, argc, argv);
  try {
    std::vector<nlohmann::json> docs;
    for (const auto& path : inputs) {
      std::ifstream f(path);
      nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.contains("benchmark")) {
        std::fprintf(stderr, "llmi_report: %s is not a benchmark JSON file, skipped\n", path.c_str());
        continue;
      }
      docs.push_back(std::move(j));
    }
    std::ofstream out(output);
    if (!out) throw std::runtime_error("cannot write " + output);
    out << llmi::render_report(docs);
    std::printf("llmi_report: wrote %s (%zu benchmarks)\n", output.c_str(), docs.size());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "llmi_report: %s\n", e.what());
    return 1;
  }
}
