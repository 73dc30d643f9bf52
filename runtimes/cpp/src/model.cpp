// crsae::Model: one ONNX Runtime session per model, checked against the contract once at load time.
// ORT_API_MANUAL_INIT lets us check that the loaded libonnxruntime offers the C API version of the headers we
// were built with (older headers with a newer library are fine) and fail with a message instead of a crash.
// Only this file includes the ONNX Runtime headers. Every ORT object is made after the API is initialised (an
// Ort:: wrapper released before that would call through a null API table).
#define ORT_API_MANUAL_INIT
#include <onnxruntime_cxx_api.h>
#undef ORT_API_MANUAL_INIT

#include "crsae/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "crsae/chunking.hpp"
#include "crsae/errors.hpp"

namespace crsae {
namespace {

// ONNX Runtime's own log stays silent: its errors reach the caller as crsae exceptions (one line each), and a
// library should not write to stderr. CRSAE_ORT_LOG=verbose|info|warning|error|fatal turns its log on.
void ORT_API_CALL discard_log(void*, OrtLoggingLevel, const char*, const char*, const char*, const char*) {}

Ort::Env make_env() {
  const char* level = std::getenv("CRSAE_ORT_LOG");
  if (level && *level) {
    const std::pair<const char*, OrtLoggingLevel> levels[] = {
        {"verbose", ORT_LOGGING_LEVEL_VERBOSE}, {"info", ORT_LOGGING_LEVEL_INFO},
        {"warning", ORT_LOGGING_LEVEL_WARNING}, {"error", ORT_LOGGING_LEVEL_ERROR},
        {"fatal", ORT_LOGGING_LEVEL_FATAL}};
    for (const auto& [name, value] : levels)
      if (std::strcmp(level, name) == 0) return Ort::Env(value, "crsae");
    throw ConfigError("CRSAE_ORT_LOG is '" + std::string(level) +
                      "'; set it to verbose, info, warning, error or fatal, or unset it");
  }
  return Ort::Env(ORT_LOGGING_LEVEL_ERROR, "crsae", discard_log, nullptr);
}

Ort::Env& ort_env() {
  static const bool api_ready = [] {
    const OrtApi* api = OrtGetApiBase()->GetApi(ORT_API_VERSION);
    if (!api)
      throw Error("the loaded libonnxruntime " + std::string(OrtGetApiBase()->GetVersionString()) +
                  " lacks C API version " + std::to_string(ORT_API_VERSION) +
                  " that crsae was built with; use onnxruntime >= 1." + std::to_string(ORT_API_VERSION));
    Ort::InitApi(api);
    return true;
  }();
  (void)api_ready;
  static Ort::Env env = make_env();
  return env;
}

// ORT's messages may span lines; crsae's errors are one line each.
std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

std::string str(int64_t v) { return std::to_string(v); }

// The output shape the contract promises for `signal_shape` (export/CONTRACT.md, "Outputs").
std::vector<int64_t> expected_shape(const Metadata& m, const std::vector<int64_t>& signal_shape,
                                    const std::string& output) {
  if (output == "reconstruction") return signal_shape;
  std::vector<int64_t> s = {signal_shape[0], m.num_filters};
  for (size_t k = 2; k < signal_shape.size(); ++k) s.push_back((signal_shape[k] - m.kernel_size) / m.stride + 1);
  return s;
}

}  // namespace

struct Model::Impl {
  std::string path;
  Metadata meta;
  mutable std::optional<Ort::Session> session;  // Run() is thread-safe in ORT but not const in its C++ API
  ONNXTensorElementDataType elem = ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;

  void check_signal(const Tensor& signal) const;
  std::vector<float> noise_values(const NoiseSigma& noise_sigma, int64_t batch) const;
  Tensor run_whole(const Tensor& signal, const std::string& output, const std::vector<float>& noise) const;
  Tensor run_chunked(const Tensor& signal, const std::string& output, int64_t chunk,
                     const std::vector<float>& noise) const;
};

Model::Model(const std::string& path) : Model(path, Options{}) {}

Model::Model(const std::string& path, const Options& options) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status))
    throw DataError("model file " + path + " does not exist; pass the .onnx file written by crsae export");
  if (std::filesystem::is_directory(status))
    throw DataError("model " + path + " is a folder; pass the .onnx file written by crsae export");
  if (options.intra_op_threads < 0)
    throw ConfigError("intra_op_threads is " + std::to_string(options.intra_op_threads) +
                      "; pass 0 (one per core) or a positive count");

  Ort::Env& env = ort_env();  // first: initialises the ORT API
  try {
    Ort::SessionOptions so;
    so.SetIntraOpNumThreads(options.intra_op_threads);
    so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    impl_->session.emplace(env, path.c_str(), so);
  } catch (const Ort::Exception& e) {
    throw ModelFormatError(path + " is not a loadable ONNX model (ONNX Runtime: " + one_line(e.what()) +
                           "); pass a complete .onnx file written by crsae export");
  }
  Ort::Session& session = *impl_->session;

  // The contract's metadata: every value a JSON-encoded string in the custom metadata map.
  Ort::AllocatorWithDefaultOptions alloc;
  Ort::ModelMetadata md = session.GetModelMetadata();
  std::map<std::string, std::string> encoded;
  for (const auto& key : md.GetCustomMetadataMapKeysAllocated(alloc))
    encoded[key.get()] = md.LookupCustomMetadataMapAllocated(key.get(), alloc).get();
  impl_->meta = Metadata::from_encoded(encoded, path);
  const Metadata& m = impl_->meta;

  // The graph's interface must be the one the metadata describes.
  const size_t rank = m.kind == "1d" ? 3 : 4;
  impl_->elem = m.dtype == "float16" ? ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 : ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  const std::string input_name(contract::input), noise_name(contract::noise_input);
  bool input_ok = session.GetInputCount() == (m.noise_input ? 2u : 1u) &&
                  std::string(session.GetInputNameAllocated(0, alloc).get()) == input_name;
  if (input_ok && m.noise_input) {  // noise_sigma: float32 (batch,)
    input_ok = std::string(session.GetInputNameAllocated(1, alloc).get()) == noise_name;
    auto type_info = session.GetInputTypeInfo(1);
    if (input_ok) input_ok = type_info.GetONNXType() == ONNX_TYPE_TENSOR;
    if (input_ok) {
      auto info = type_info.GetTensorTypeAndShapeInfo();
      input_ok = info.GetDimensionsCount() == 1 && info.GetElementType() == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    }
  }
  if (input_ok) {
    auto type_info = session.GetInputTypeInfo(0);
    input_ok = type_info.GetONNXType() == ONNX_TYPE_TENSOR;
    if (input_ok) {
      auto info = type_info.GetTensorTypeAndShapeInfo();
      input_ok = info.GetDimensionsCount() == rank && info.GetElementType() == impl_->elem;
    }
  }
  if (!input_ok)
    throw ModelFormatError(path + ": the graph input is not one " + m.dtype + " tensor '" + input_name + "' of rank " +
                           str(int64_t(rank)) + (m.noise_input ? " and a float tensor '" + noise_name + "' of rank 1" : "") +
                           " as its metadata says; re-export the model");
  bool outputs_ok = session.GetOutputCount() == m.outputs.size();
  for (size_t k = 0; outputs_ok && k < m.outputs.size(); ++k)
    outputs_ok = session.GetOutputNameAllocated(k, alloc).get() == m.outputs[k];
  if (!outputs_ok)
    throw ModelFormatError(path + ": the graph outputs differ from metadata 'outputs' " +
                           m.find("outputs")->dump() + "; re-export the model");
}

Model::~Model() = default;
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;

const Metadata& Model::metadata() const { return impl_->meta; }
const std::string& Model::path() const { return impl_->path; }

bool Model::has_output(const std::string& output) const {
  const auto& o = impl_->meta.outputs;
  return std::find(o.begin(), o.end(), output) != o.end();
}

Tensor Model::run(const Tensor& signal, const std::string& output, std::optional<int64_t> chunk,
                  const NoiseSigma& noise_sigma) const {
  const Metadata& m = impl_->meta;
  if (!contract::is_output(output))
    throw ConfigError("unknown output '" + output + "'; use " + contract::outputs_text());
  if (!has_output(output))
    throw ConfigError(impl_->path + " has no output '" + output + "' (it has " + m.find("outputs")->dump() +
                      "); ask for one of those");
  impl_->check_signal(signal);
  const std::vector<float> noise = impl_->noise_values(noise_sigma, signal.shape[0]);
  if (!chunk) return impl_->run_whole(signal, output, noise);
  if (m.accelerated)
    throw ConfigError(contract::format_message(contract::messages::not_chunkable,
                                               {{"model", std::filesystem::path(impl_->path).filename().string()}}));
  if (m.kind != "1d")
    throw ConfigError("chunking applies to 1-D models only and " + impl_->path + " is " + m.kind +
                      "; run it without a chunk size");
  if (!m.static_shape.empty())
    throw ConfigError(impl_->path + " is a static-shape export, which takes whole signals of shape " +
                      shape_str(m.static_shape) + " only; run it without a chunk size");
  if (std::find(noise.begin(), noise.end(), auto_noise_sigma) != noise.end())
    throw ConfigError("noise_sigma auto would estimate the noise per chunk, so chunks would differ from the whole; "
                      "pass the signal's noise std");
  return impl_->run_chunked(signal, output, *chunk, noise);
}

std::vector<float> Model::Impl::noise_values(const NoiseSigma& noise_sigma, int64_t batch) const {
  if (!meta.noise_input) {
    if (noise_sigma) {
      char sigma[32];
      std::snprintf(sigma, sizeof sigma, "%.6g", meta.sigma);
      throw ConfigError(contract::format_message(contract::messages::no_noise_input,
                                                 {{"model", std::filesystem::path(path).filename().string()},
                                                  {"sigma", sigma}}));
    }
    return {};
  }
  const std::vector<float> given = noise_sigma ? *noise_sigma : std::vector<float>{float(meta.sigma)};
  if (given.size() != 1 && static_cast<int64_t>(given.size()) != batch)
    throw ConfigError("noise_sigma has " + str(int64_t(given.size())) + " values for " + str(batch) +
                      " items; pass one, or one per item");
  for (float v : given)
    if (!(v >= 0 || v == auto_noise_sigma) || !std::isfinite(v))
      throw ConfigError("noise_sigma must be a number >= 0 or auto (crsae::auto_noise_sigma), got " +
                        std::to_string(v));
  return given.size() == 1 ? std::vector<float>(static_cast<size_t>(batch), given[0]) : given;
}

void Model::Impl::check_signal(const Tensor& signal) const {
  const Metadata& m = meta;
  const auto& s = signal.shape;
  const char* axes = m.kind == "1d" ? "(batch, channels, length)" : "(batch, channels, height, width)";
  const size_t rank = m.kind == "1d" ? 3 : 4;
  if (s.size() != rank)
    throw ShapeError("signal has shape " + shape_str(s) + " but this " + m.kind + " model takes " + axes +
                     "; reshape it to rank " + str(int64_t(rank)));
  for (int64_t d : s) {
    if (d < 0) throw ShapeError("signal has negative dimension in shape " + shape_str(s) + "; fix the shape");
  }
  if (s[0] < 1) throw ShapeError("signal has batch 0 in shape " + shape_str(s) + "; pass at least one signal");
  if (s[1] != m.channels)
    throw ShapeError("signal has " + str(s[1]) + " channels in shape " + shape_str(s) + " but the model takes " +
                     str(m.channels) + "; pass " + axes + " with channels = " + str(m.channels));
  // Before ONNX Runtime sees it: a strided 2-D model needs more than kernel_size (metadata min_size).
  const std::vector<int64_t> spatial(s.begin() + 2, s.end());
  if (*std::min_element(spatial.begin(), spatial.end()) < m.min_size)
    throw ShapeError(contract::too_small(spatial, m.min_size));
  if (!m.static_shape.empty() && s != m.static_shape)
    throw ShapeError("this model was exported for inputs of shape " + shape_str(m.static_shape) + ", got " +
                     shape_str(s) + "; pass that size or export without --static-shape");
  if (static_cast<int64_t>(signal.data.size()) != numel(s))
    throw ShapeError("signal holds " + str(int64_t(signal.data.size())) + " values but its shape " + shape_str(s) +
                     " needs " + str(numel(s)) + "; fix the shape or the data");
  auto bad = std::find_if(signal.data.begin(), signal.data.end(), [](float v) { return !std::isfinite(v); });
  if (bad != signal.data.end())
    throw ShapeError("signal holds " + std::to_string(*bad) + " at flat index " +
                     str(int64_t(bad - signal.data.begin())) + "; replace NaN/Inf values before inference");
}

Tensor Model::Impl::run_whole(const Tensor& signal, const std::string& output,
                              const std::vector<float>& noise) const {
  Ort::MemoryInfo mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  const size_t n = signal.data.size();
  std::vector<Ort::Float16_t> half;
  Ort::Value input{nullptr};
  if (elem == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
    // ORT does not write to inputs; the const_cast only satisfies the C API's signature.
    input = Ort::Value::CreateTensor<float>(mem, const_cast<float*>(signal.data.data()), n, signal.shape.data(),
                                            signal.shape.size());
  } else {
    half.reserve(n);
    for (float v : signal.data) half.emplace_back(v);
    input = Ort::Value::CreateTensor<Ort::Float16_t>(mem, half.data(), n, signal.shape.data(), signal.shape.size());
  }
  const std::string input_name(contract::input), noise_name(contract::noise_input);
  const char* input_names[] = {input_name.c_str(), noise_name.c_str()};
  const char* output_names[] = {output.c_str()};
  std::vector<Ort::Value> inputs;
  inputs.push_back(std::move(input));
  const int64_t noise_shape[] = {signal.shape[0]};
  if (!noise.empty())
    inputs.push_back(Ort::Value::CreateTensor<float>(mem, const_cast<float*>(noise.data()), noise.size(), noise_shape, 1));
  std::vector<Ort::Value> results;
  try {
    results = session->Run(Ort::RunOptions{nullptr}, input_names, inputs.data(), inputs.size(), output_names, 1);
  } catch (const Ort::Exception& e) {
    throw ModelFormatError(path + ": ONNX Runtime failed on a signal of shape " + shape_str(signal.shape) + " (" +
                           one_line(e.what()) + "); re-export the model or report a bug");
  }

  Tensor out;
  out.shape = results[0].GetTensorTypeAndShapeInfo().GetShape();
  std::vector<int64_t> want = expected_shape(meta, signal.shape, output);
  if (out.shape != want)
    throw ModelFormatError(path + " returned " + output + " of shape " + shape_str(out.shape) + " for a signal of shape " +
                           shape_str(signal.shape) + ", the contract says " + shape_str(want) + "; re-export the model");
  const size_t m = static_cast<size_t>(numel(out.shape));
  if (elem == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
    const float* p = results[0].GetTensorData<float>();
    out.data.assign(p, p + m);
  } else {
    const Ort::Float16_t* p = results[0].GetTensorData<Ort::Float16_t>();
    out.data.resize(m);
    for (size_t k = 0; k < m; ++k) out.data[k] = p[k].ToFloat();
  }
  return out;
}

// The contract's chunking rule (see chunking.hpp): run each window, keep its core, stitch along the last axis.
Tensor Model::Impl::run_chunked(const Tensor& signal, const std::string& output, int64_t chunk,
                                const std::vector<float>& noise) const {
  const int64_t batch = signal.shape[0], channels = signal.shape[1], length = signal.shape[2];
  Tensor out;
  out.shape = expected_shape(meta, signal.shape, output);
  const int64_t rows = out.shape[0] * out.shape[1], out_length = out.shape[2];
  out.data.resize(static_cast<size_t>(numel(out.shape)));

  Tensor window;
  for (Window w : plan_chunks(length, meta.kernel_size, meta.chunk_halo, chunk, output)) {
    // The rule's windows are at least kernel_size long; widen one that is shorter than min_size (more context
    // than the halo leaves the kept core unchanged up to float rounding).
    if (w.window_end - w.window_begin < meta.min_size) {
      w.window_end = std::min(length, w.window_begin + meta.min_size);
      w.window_begin = std::max<int64_t>(0, w.window_end - meta.min_size);
    }
    const int64_t wlen = w.window_end - w.window_begin;
    window.shape = {batch, channels, wlen};
    window.data.resize(static_cast<size_t>(batch * channels * wlen));
    for (int64_t r = 0; r < batch * channels; ++r)
      std::copy_n(signal.data.begin() + r * length + w.window_begin, wlen, window.data.begin() + r * wlen);

    Tensor part = run_whole(window, output, noise);
    const int64_t plen = part.shape[2], keep = w.core_end - w.core_begin, from = w.core_begin - w.window_begin;
    for (int64_t r = 0; r < rows; ++r)
      std::copy_n(part.data.begin() + r * plen + from, keep, out.data.begin() + r * out_length + w.core_begin);
  }
  return out;
}

std::string onnxruntime_version() { return OrtGetApiBase()->GetVersionString(); }

}  // namespace crsae
