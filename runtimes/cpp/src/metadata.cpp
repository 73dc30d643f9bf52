#include "crsae/metadata.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "crsae/errors.hpp"

namespace crsae {
namespace {

using nlohmann::json;

const std::string kReexport = "; re-export the model with the crsae exporter";

[[noreturn]] void bad(const std::string& source, const std::string& what) {
  throw ModelFormatError(source + ": " + what);
}

const json& need(const json& all, const std::string& key, const std::string& source) {
  auto it = all.find(key);
  if (it == all.end()) bad(source, "metadata has no '" + key + "'" + kReexport);
  return *it;
}

int64_t need_int(const json& all, const std::string& key, int64_t min, const std::string& source) {
  const json& v = need(all, key, source);
  constexpr int64_t max = std::numeric_limits<int32_t>::max();
  bool ok = v.is_number_integer();
  if (ok && v.is_number_unsigned()) ok = v.get<uint64_t>() <= uint64_t(max);
  if (ok) ok = v.get<int64_t>() >= min && v.get<int64_t>() <= max;
  if (!ok)
    bad(source, "metadata '" + key + "' is " + v.dump() + ", expected an integer >= " + std::to_string(min) + kReexport);
  return v.get<int64_t>();
}

std::string need_choice(const json& all, const std::string& key, const std::vector<std::string>& choices,
                        const std::string& source) {
  const json& v = need(all, key, source);
  if (v.is_string() && std::find(choices.begin(), choices.end(), v.get<std::string>()) != choices.end())
    return v.get<std::string>();
  std::string options;
  for (const auto& c : choices) options += (options.empty() ? "\"" : " or \"") + c + "\"";
  bad(source, "metadata '" + key + "' is " + v.dump() + ", expected " + options + kReexport);
}

double need_number(const json& all, const std::string& key, const std::string& source) {
  const json& v = need(all, key, source);
  if (!v.is_number() || !(v.get<double>() >= 0) || !std::isfinite(v.get<double>()))
    bad(source, "metadata '" + key + "' is " + v.dump() + ", expected a number >= 0" + kReexport);
  return v.get<double>();
}

Metadata from_object(json all, const std::string& source) {
  // Identity first: a model that is not a crsae export gets this message and no other.
  const std::string format(contract::format);
  auto fmt = all.find("format");
  if (fmt == all.end())
    bad(source, "not a crsae model (no 'format' metadata); export it with the crsae ONNX exporter");
  if (!fmt->is_string() || fmt->get<std::string>() != format)
    bad(source, "not a crsae model (metadata 'format' is " + fmt->dump() + ", expected \"" + format +
                    "\"); export it with the crsae ONNX exporter");
  const int64_t version = need_int(all, "contract_version", 1, source);
  if (version > contract::version)
    bad(source, "model uses crsae contract_version " + std::to_string(version) + " but this runtime knows only " +
                    std::to_string(contract::version) + "; upgrade runtimes/cpp");
  for (std::string_view key : contract::metadata_keys) need(all, std::string(key), source);

  Metadata m;
  m.kind = need_choice(all, "kind", {"1d", "2d"}, source);
  m.channels = need_int(all, "channels", 1, source);
  m.num_filters = need_int(all, "num_filters", 1, source);
  m.kernel_size = need_int(all, "kernel_size", 1, source);
  m.stride = need_int(all, "stride", 1, source);
  m.num_layers = need_int(all, "num_layers", 0, source);
  m.chunk_halo = need_int(all, "chunk_halo", 0, source);
  m.min_size = need_int(all, "min_size", 1, source);
  m.dtype = need_choice(all, "dtype", {"float32", "float16"}, source);
  m.input_scaling = need_choice(all, "input_scaling", {"none", "unit_interval"}, source);
  m.atol_floor = need_number(all, "atol_floor", source);
  m.atol_per_layer = need_number(all, "atol_per_layer", source);
  m.sigma = need_number(all, "sigma", source);
  if (auto flag = all.find("noise_sigma_input"); flag != all.end()) {  // optional: absent in older exports
    if (!flag->is_boolean())
      bad(source, "metadata 'noise_sigma_input' is " + flag->dump() + ", expected true or false" + kReexport);
    m.noise_input = flag->get<bool>();
    if (m.noise_input && need(all, "threshold_mode", source) == "bias")
      bad(source, "metadata 'noise_sigma_input' is true with threshold_mode \"bias\" (free biases have no sigma)" +
                      kReexport);
  }
  if (auto encoder = all.find("encoder"); encoder != all.end()) {  // optional: absent means the paper's encoder
    if (*encoder != "paper" && *encoder != "accelerated")
      bad(source, "metadata 'encoder' is " + encoder->dump() + ", expected \"paper\" or \"accelerated\"" + kReexport);
    m.accelerated = *encoder == "accelerated";
    auto step = all.find("step");
    if (m.accelerated && (step == all.end() || !step->is_number() || !(step->get<double>() > 0) ||
                          !(step->get<double>() < 2)))
      bad(source, "metadata 'step' is " + (step == all.end() ? std::string("missing") : step->dump()) +
                      ", expected a number in (0, 2) for the accelerated encoder" + kReexport);
  }

  const json& fixed = need(all, "static_shape", source);
  if (!fixed.is_null()) {
    const size_t rank = m.kind == "1d" ? 3 : 4;
    bool fixed_ok = fixed.is_array() && fixed.size() == rank;
    for (size_t k = 0; fixed_ok && k < rank; ++k) {
      fixed_ok = fixed[k].is_number_integer() && fixed[k].get<int64_t>() >= 1;
      if (fixed_ok) m.static_shape.push_back(fixed[k].get<int64_t>());
    }
    if (!fixed_ok || m.static_shape[1] != m.channels)
      bad(source, "metadata 'static_shape' is " + fixed.dump() + ", expected null or " + std::to_string(rank) +
                      " positive integers with channels " + std::to_string(m.channels) + kReexport);
  }

  const json& outputs = need(all, "outputs", source);
  if (outputs.is_array()) {
    for (const auto& o : outputs) {
      if (!o.is_string()) { m.outputs.clear(); break; }
      m.outputs.push_back(o.get<std::string>());
    }
  }
  bool ok = !m.outputs.empty();
  for (size_t k = 0; k < m.outputs.size(); ++k)
    ok = ok && contract::is_output(m.outputs[k]) &&
         std::find(m.outputs.begin(), m.outputs.begin() + long(k), m.outputs[k]) == m.outputs.begin() + long(k);
  if (!ok)
    bad(source, "metadata 'outputs' is " + outputs.dump() + ", expected a list of distinct " +
                    contract::outputs_text() + kReexport);

  // A code needs kernel_size samples per axis: a smaller min_size would let ONNX Runtime fail on valid input.
  if (m.min_size < m.kernel_size)
    bad(source, "metadata 'min_size' is " + std::to_string(m.min_size) + ", below kernel_size " +
                    std::to_string(m.kernel_size) + kReexport);
  if (m.kind == "1d") {
    const int64_t halo = (m.num_layers + 1) * (m.kernel_size - 1);  // CONTRACT.md: halo = (T + 1)(K - 1)
    if (m.stride != 1) bad(source, "1-D model has stride " + std::to_string(m.stride) + ", expected 1" + kReexport);
    if (m.chunk_halo != halo)
      bad(source, "metadata 'chunk_halo' is " + std::to_string(m.chunk_halo) +
                      " but (num_layers + 1)(kernel_size - 1) is " + std::to_string(halo) + kReexport);
  }
  m.all = std::move(all);
  return m;
}

// "line L, column C" (both from 1) of byte offset `at` in `text`.
std::string position(const std::string& text, size_t at) {
  at = std::min(at, text.size());
  const size_t line = 1 + size_t(std::count(text.begin(), text.begin() + long(at), '\n'));
  const size_t newline = at == 0 ? std::string::npos : text.rfind('\n', at - 1);
  const size_t line_start = newline == std::string::npos ? 0 : newline + 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(at - line_start + 1);
}

}  // namespace

Metadata Metadata::from_encoded(const std::map<std::string, std::string>& encoded, const std::string& source) {
  json all = json::object();
  for (const auto& [key, text] : encoded) {
    try {
      all[key] = json::parse(text);
    } catch (const json::parse_error&) {
      if (key == "format")  // a foreign model with a plain-text `format` key
        bad(source, "not a crsae model (metadata 'format' is '" + text + "'); export it with the crsae ONNX exporter");
      const bool non_finite = text.find("NaN") != std::string::npos || text.find("Infinity") != std::string::npos;
      if (non_finite)
        bad(source, "metadata '" + key + "' holds NaN or Infinity, which JSON and the contract do not allow" + kReexport);
      bad(source, "metadata '" + key + "' holds '" + text + "', which is not JSON-encoded as the contract requires" +
                      kReexport);
    }
  }
  return from_object(std::move(all), source);
}

Metadata Metadata::from_sidecar(const std::string& path) {
  json doc = read_json(path);
  if (!doc.is_object()) bad(path, "sidecar is not a JSON object; regenerate it with the crsae exporter");
  return from_object(std::move(doc), path);
}

double Metadata::atol(double max_abs_reference) const {
  return atol_floor + atol_per_layer * double(num_layers) * std::max(1.0, max_abs_reference);
}

const nlohmann::json* Metadata::find(const std::string& key) const {
  auto it = all.find(key);
  return it == all.end() ? nullptr : &*it;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot open JSON file " + path + "; check the path");
  std::stringstream s;
  s << in.rdbuf();
  const std::string text = s.str();
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    const size_t at = e.byte == 0 ? 0 : e.byte - 1;  // nlohmann counts bytes from 1
    throw DataError(path + ": not valid JSON at " + position(text, at) + "; regenerate the file");
  }
}

}  // namespace crsae
