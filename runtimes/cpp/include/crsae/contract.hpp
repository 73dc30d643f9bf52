// The ONNX contract (export/contract.json, explained in export/CONTRACT.md) as C++: the constants are generated
// from contract.json at configure time (crsae/contract_generated.hpp); this header adds what acts on them.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crsae/contract_generated.hpp"

namespace crsae::contract {

// Fill a message template's {name} placeholders from `values`; "{{" and "}}" stand for literal braces, as in
// Python's str.format, so every runtime words a message identically. Throws crsae::Error for a placeholder that
// `values` lacks (a contract message this runtime does not fill yet) or an unbalanced brace.
std::string format_message(std::string_view text, const std::vector<std::pair<std::string, std::string>>& values);

// A spatial size as the contract's messages write it: axes joined by 'x' ({7, 96} -> "7x96", {5} -> "5").
std::string size_text(const std::vector<int64_t>& size);

// messages::too_small for a signal of spatial `size` and metadata `min_size`.
std::string too_small(const std::vector<int64_t>& size, int64_t min_size);

// The tolerance rule's constants for a "float32" or "float16" export; throws crsae::ConfigError otherwise.
struct Tolerance {
  double atol_floor, atol_per_layer;
};
Tolerance tolerance_for(std::string_view dtype);

// Whether `name` is one of the contract's outputs, and those outputs as "'codes' or 'reconstruction'".
bool is_output(std::string_view name);
std::string outputs_text();

}  // namespace crsae::contract
