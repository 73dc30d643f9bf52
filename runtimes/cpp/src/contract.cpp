#include "crsae/contract.hpp"

#include <algorithm>

#include "crsae/errors.hpp"

namespace crsae::contract {

std::string format_message(std::string_view text, const std::vector<std::pair<std::string, std::string>>& values) {
  std::string out;
  out.reserve(text.size() + 32);
  for (size_t k = 0; k < text.size(); ++k) {
    const char c = text[k];
    if ((c == '{' || c == '}') && k + 1 < text.size() && text[k + 1] == c) {  // "{{" or "}}"
      out += c;
      ++k;
    } else if (c == '{') {
      const size_t end = text.find('}', k);
      if (end == std::string_view::npos)
        throw Error("contract message '" + std::string(text) + "' has an unclosed '{'; fix export/contract.json");
      const std::string_view name = text.substr(k + 1, end - k - 1);
      auto hit = std::find_if(values.begin(), values.end(), [&](const auto& v) { return v.first == name; });
      if (hit == values.end())
        throw Error("contract message '" + std::string(text) + "' names {" + std::string(name) +
                    "}, which runtimes/cpp does not fill; update runtimes/cpp for this contract");
      out += hit->second;
      k = end;
    } else if (c == '}') {
      throw Error("contract message '" + std::string(text) + "' has a lone '}'; fix export/contract.json");
    } else {
      out += c;
    }
  }
  return out;
}

std::string size_text(const std::vector<int64_t>& size) {
  std::string s;
  for (size_t k = 0; k < size.size(); ++k) s += (k ? "x" : "") + std::to_string(size[k]);
  return s;
}

std::string too_small(const std::vector<int64_t>& size, int64_t min_size) {
  return format_message(messages::too_small, {{"size", size_text(size)}, {"min_size", std::to_string(min_size)}});
}

Tolerance tolerance_for(std::string_view dtype) {
  if (dtype == "float32") return {tolerance::atol_floor, tolerance::atol_per_layer};
  if (dtype == "float16") return {tolerance::float16_atol_floor, tolerance::float16_atol_per_layer};
  throw ConfigError("dtype '" + std::string(dtype) + "' has no tolerance rule; use float32 or float16");
}

bool is_output(std::string_view name) {
  return std::find(outputs.begin(), outputs.end(), name) != outputs.end();
}

std::string outputs_text() {
  std::string s;
  for (size_t k = 0; k < outputs.size(); ++k)
    s += std::string(k == 0 ? "" : k + 1 == outputs.size() ? " or " : ", ") + "'" + std::string(outputs[k]) + "'";
  return s;
}

}  // namespace crsae::contract
