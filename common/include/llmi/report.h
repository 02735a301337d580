// Markdown rendering of benchmark results (the --json documents that bench::Report writes).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace llmi {

// One section per document, in the order given; a document without results still gets its
// section (e.g. "skipped: no GPU"), so a reader sees what was not measured.
std::string render_report(const std::vector<nlohmann::json>& docs);

}  // namespace llmi
