// A crsae encoder exported to ONNX (export/CONTRACT.md), run with ONNX Runtime on the CPU.
//
//   crsae::Model model("export/models/spikes1d.onnx");
//   crsae::Tensor y = crsae::read_npy("signal.npy");        // (batch, channels, length)
//   crsae::Tensor x = model.encode(y);                       // (batch, num_filters, length - kernel_size + 1)
//   crsae::Tensor r = model.reconstruct(y, /*chunk=*/4096);  // (batch, channels, length), chunked
//   crsae::Tensor d = model.reconstruct(image, std::nullopt, std::vector<float>{25.f / 255});  // --noise-input export
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crsae/metadata.hpp"
#include "crsae/tensor.hpp"

namespace crsae {

// A noise_sigma entry that asks the graph to estimate the item's noise level (Donoho's MAD, export/CONTRACT.md).
inline constexpr float auto_noise_sigma = -1.0f;

// The noise levels of Model::run: none (the model's own metadata sigma), one value for every item, or one per
// item; each >= 0 in the signal's units, or auto_noise_sigma.
using NoiseSigma = std::optional<std::vector<float>>;

class Model {
 public:
  struct Options {
    int intra_op_threads = 0;  // ONNX Runtime intra-op threads; 0 lets it choose (one per core)
  };

  // Load MODEL and check it against the contract (export/contract.json): `format` is contract::format,
  // contract_version <= contract::version, every contract metadata key present, one input `signal` and the
  // outputs the metadata lists. Throws crsae::DataError (missing file or a folder), crsae::ConfigError (bad
  // options) or crsae::ModelFormatError (anything else).
  explicit Model(const std::string& path);
  Model(const std::string& path, const Options& options);
  ~Model();
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;

  const Metadata& metadata() const;
  const std::string& path() const;
  bool has_output(const std::string& output) const;

  // Run the model and return `output` ("codes" or "reconstruction").
  //   signal: (batch, channels, length) for 1-D, (batch, channels, height, width) for 2-D, finite values,
  //           length (height and width) >= metadata min_size (else the contract's too_small message), the
  //           one shape of a static-shape export, as fed to the model (see metadata input_scaling).
  //   chunk:  1-D only: process the signal in cores of `chunk` output samples with the contract's
  //           chunking rule (same result up to float rounding, memory bounded by the chunk).
  // Returns codes (batch, num_filters, code_length) or reconstruction (same shape as signal).
  //   noise_sigma: the noise level the thresholds are set for (NoiseSigma), for a model exported with
  //           --noise-input (metadata().noise_input); any other model takes none (the contract's no_noise_input).
  // Throws crsae::ShapeError for a bad signal (before ONNX Runtime sees it) and crsae::ConfigError for a bad
  // output, chunk or noise level.
  Tensor run(const Tensor& signal, const std::string& output, std::optional<int64_t> chunk = std::nullopt,
             const NoiseSigma& noise_sigma = std::nullopt) const;

  Tensor encode(const Tensor& signal, std::optional<int64_t> chunk = std::nullopt,
                const NoiseSigma& noise_sigma = std::nullopt) const {
    return run(signal, "codes", chunk, noise_sigma);
  }
  Tensor reconstruct(const Tensor& signal, std::optional<int64_t> chunk = std::nullopt,
                     const NoiseSigma& noise_sigma = std::nullopt) const {
    return run(signal, "reconstruction", chunk, noise_sigma);
  }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The ONNX Runtime library version actually loaded, e.g. "1.32.0".
std::string onnxruntime_version();

}  // namespace crsae
