// Builds small crsae-like ONNX models in memory for the tests, so they need neither Python nor the shipped
// exports: an unrolled FISTA encoder with T layers (Conv = H^T, ConvTranspose = H, soft or one-sided
// threshold), x_0 = z_1 = 0, as in shared/crsae-math.md, with the contract's metadata (built with nlohmann_json
// from the generated contract constants).
//
// The protobuf is written by hand (field numbers from onnx.proto; two wire types, about ten fields), on purpose:
//  - a library (Debian's libonnx-dev + libprotobuf-dev) would be a test-only, root-installed dependency tied to the
//    distribution's ONNX/protobuf pairing, for what is 40 lines of wire format here;
//  - pre-generated fixture files would need Python + onnx to regenerate (the no-venv setup has neither), and the
//    tests write dozens of metadata variants (each contract key dropped, ill-typed values, static shapes);
//  - every model written here is parsed by ONNX Runtime itself in the tests and checked numerically (contract
//    output shapes, chunked == whole), so a writer mistake fails loudly rather than silently.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tiny_onnx {

struct Spec {
  std::string kind = "1d";  // "1d" or "2d" (stride 1)
  int64_t channels = 2, num_filters = 3, kernel_size = 5, num_layers = 3;
  bool two_sided = true;
  std::vector<std::string> outputs = {"codes", "reconstruction"};
};

// Contract metadata for `spec`: key -> JSON-encoded value, as the exporter writes it.
std::map<std::string, std::string> crsae_metadata(const Spec& spec);

// The serialized ModelProto of `spec` with `metadata` as its metadata_props.
std::string model_bytes(const Spec& spec, const std::map<std::string, std::string>& metadata);

// Write `spec` with `metadata` to PATH and return PATH.
std::string write_model(const std::string& path, const Spec& spec, const std::map<std::string, std::string>& metadata);

// A fresh folder under the system temp dir for test files, removed when the test binary exits.
std::string temp_dir(const std::string& tag);

}  // namespace tiny_onnx
