// The crsae metadata of an export (export/CONTRACT.md, "Metadata"): typed fields for what the runtime uses,
// plus every key's parsed JSON value. The same keys live in the ONNX custom metadata map (each value
// JSON-encoded) and in the NAME.json sidecar (one JSON object). JSON is nlohmann::json.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crsae/contract.hpp"

namespace crsae {

// The contract version this runtime implements (contract.json `contract_version`); newer models are refused.
constexpr int64_t kContractVersion = contract::version;

struct Metadata {
  std::string kind;                  // "1d" or "2d"
  int64_t channels = 0;              // input channels
  int64_t num_filters = 0;           // C, the `filters` axis of codes
  int64_t kernel_size = 0;           // K
  int64_t stride = 1;                // 2-D stride s (1 for 1-D)
  int64_t num_layers = 0;            // T, unrolled FISTA steps
  int64_t chunk_halo = 0;            // (T + 1)(K - 1) for 1-D, 0 for 2-D
  int64_t min_size = 0;              // the least length (1-D) or height and width (2-D) the model takes
  std::vector<int64_t> static_shape;  // the one input shape of a static-shape export; empty when dynamic
  std::vector<std::string> outputs;  // output names in graph order
  std::string dtype;                 // "float32" or "float16"
  std::string input_scaling;         // "none" or "unit_interval"
  double sigma = 0;                  // the noise level the thresholds were set for
  bool noise_input = false;          // metadata noise_sigma_input: the graph takes contract::noise_input
  bool accelerated = false;          // metadata encoder "accelerated" (step in (0, 2)): not chunkable
  double atol_floor = 0, atol_per_layer = 0;
  nlohmann::json all = nlohmann::json::object();  // every key, parsed

  // From key -> JSON-encoded value pairs (the ONNX custom metadata map). `source` names the model in
  // messages. Throws crsae::ModelFormatError if `format` is not contract::format, `contract_version` is newer
  // than contract::version, a key of contract::metadata_keys is missing, or a key the runtime uses is ill-typed.
  static Metadata from_encoded(const std::map<std::string, std::string>& encoded, const std::string& source);

  // From a NAME.json sidecar (one JSON object with typed values); same checks. crsae::DataError if unreadable.
  static Metadata from_sidecar(const std::string& path);

  // The contract's tolerance: atol_floor + atol_per_layer * num_layers * max(1, max_abs_reference).
  double atol(double max_abs_reference) const;

  // The parsed value of `key`, or nullptr when the export does not carry it.
  const nlohmann::json* find(const std::string& key) const;
};

// Parse the JSON file PATH; throws crsae::DataError "PATH: <problem> at line L, column C; <fix>".
nlohmann::json read_json(const std::string& path);

}  // namespace crsae
