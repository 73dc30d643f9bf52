#include "crsae/metadata.hpp"

#include <algorithm>

#include "crsae/errors.hpp"

namespace crsae {
namespace {

[[noreturn]] void bad(const std::string& source, const std::string& what) {
  throw ModelFormatError(source + ": " + what);
}

const json::Value& need(const json::Value::Object& all, const std::string& key, const std::string& source) {
  for (const auto& [k, v] : all) {
    if (k == key) return v;
  }
  bad(source, "metadata has no '" + key + "'; re-export the model with the crsae exporter");
}

int64_t need_int(const json::Value::Object& all, const std::string& key, int64_t min, const std::string& source) {
  const json::Value& v = need(all, key, source);
  if (!v.is_integer() || v.as_int() < min)
    bad(source, "metadata '" + key + "' is " + v.dump() + ", expected an integer >= " + std::to_string(min) +
                    "; re-export the model with the crsae exporter");
  return v.as_int();
}

std::string need_choice(const json::Value::Object& all, const std::string& key,
                        const std::vector<std::string>& choices, const std::string& source) {
  const json::Value& v = need(all, key, source);
  if (v.is_string() && std::find(choices.begin(), choices.end(), v.as_string()) != choices.end())
    return v.as_string();
  std::string options;
  for (const auto& c : choices) options += (options.empty() ? "\"" : " or \"") + c + "\"";
  bad(source, "metadata '" + key + "' is " + v.dump() + ", expected " + options +
                  "; re-export the model with the crsae exporter");
}

double need_number(const json::Value::Object& all, const std::string& key, const std::string& source) {
  const json::Value& v = need(all, key, source);
  if (!v.is_number() || !(v.as_number() >= 0))
    bad(source, "metadata '" + key + "' is " + v.dump() + ", expected a number >= 0; re-export the model");
  return v.as_number();
}

Metadata from_object(json::Value::Object all, const std::string& source) {
  // Identity first: a model that is not a crsae export gets this message and no other.
  const json::Value* format = nullptr;
  for (const auto& [k, v] : all) if (k == "format") format = &v;
  if (!format)
    bad(source, "not a crsae model (no 'format' metadata); export it with the crsae ONNX exporter");
  if (!format->is_string() || format->as_string() != kFormat)
    bad(source, "not a crsae model (metadata 'format' is " + format->dump() + ", expected \"" + kFormat +
                    "\"); export it with the crsae ONNX exporter");
  int64_t version = need_int(all, "contract_version", 1, source);
  if (version > kContractVersion)
    bad(source, "model uses crsae contract_version " + std::to_string(version) + " but this runtime knows only " +
                    std::to_string(kContractVersion) + "; upgrade runtimes/cpp");

  Metadata m;
  m.kind = need_choice(all, "kind", {"1d", "2d"}, source);
  m.channels = need_int(all, "channels", 1, source);
  m.num_filters = need_int(all, "num_filters", 1, source);
  m.kernel_size = need_int(all, "kernel_size", 1, source);
  m.stride = need_int(all, "stride", 1, source);
  m.num_layers = need_int(all, "num_layers", 0, source);
  m.chunk_halo = need_int(all, "chunk_halo", 0, source);
  m.dtype = need_choice(all, "dtype", {"float32", "float16"}, source);
  m.input_scaling = need_choice(all, "input_scaling", {"none", "unit_interval"}, source);
  m.atol_floor = need_number(all, "atol_floor", source);
  m.atol_per_layer = need_number(all, "atol_per_layer", source);

  const json::Value& outputs = need(all, "outputs", source);
  if (outputs.is_array()) {
    for (const auto& o : outputs.as_array()) {
      if (!o.is_string()) { m.outputs.clear(); break; }
      m.outputs.push_back(o.as_string());
    }
  }
  bool ok = !m.outputs.empty() && m.outputs.size() <= 2;
  for (const auto& o : m.outputs) ok = ok && (o == "codes" || o == "reconstruction");
  if (m.outputs.size() == 2) ok = ok && m.outputs[0] != m.outputs[1];
  if (!ok)
    bad(source, "metadata 'outputs' is " + outputs.dump() +
                    ", expected a list of \"codes\" and/or \"reconstruction\"; re-export the model");

  if (m.kind == "1d") {
    int64_t halo = (m.num_layers + 1) * (m.kernel_size - 1);  // CONTRACT.md: halo = (T + 1)(K - 1)
    if (m.stride != 1) bad(source, "1-D model has stride " + std::to_string(m.stride) + ", expected 1; re-export it");
    if (m.chunk_halo != halo)
      bad(source, "metadata 'chunk_halo' is " + std::to_string(m.chunk_halo) + " but (num_layers + 1)(kernel_size - 1) is " +
                      std::to_string(halo) + "; re-export the model");
  }
  m.all = std::move(all);
  return m;
}

}  // namespace

Metadata Metadata::from_encoded(const std::map<std::string, std::string>& encoded, const std::string& source) {
  json::Value::Object all;
  for (const auto& [key, text] : encoded) {
    try {
      all.emplace_back(key, json::parse(text, "metadata '" + key + "'"));
    } catch (const DataError&) {
      if (key == "format")  // a foreign model with a plain-text `format` key
        bad(source, "not a crsae model (metadata 'format' is '" + text + "'); export it with the crsae ONNX exporter");
      bad(source, "metadata '" + key + "' holds '" + text + "', which is not JSON-encoded as the contract requires; "
                  "re-export the model with the crsae exporter");
    }
  }
  return from_object(std::move(all), source);
}

Metadata Metadata::from_sidecar(const std::string& path) {
  json::Value doc = json::parse_file(path);
  if (!doc.is_object()) bad(path, "sidecar is not a JSON object; regenerate it with the crsae exporter");
  return from_object(doc.as_object(), path);
}

double Metadata::atol(double max_abs_reference) const {
  return atol_floor + atol_per_layer * double(num_layers) * std::max(1.0, max_abs_reference);
}

const json::Value* Metadata::find(const std::string& key) const {
  for (const auto& [k, v] : all) {
    if (k == key) return &v;
  }
  return nullptr;
}

}  // namespace crsae
