// test_golden EXPORT_DIR [CASE...]: every case of EXPORT_DIR/golden/index.json, every output, within the case's
// atol (export/CONTRACT.md, "Golden vectors"); cases with an integer chunk_length run with the chunking rule.
// Also: the sidecar equals the ONNX metadata, and 1-D cases match their whole-signal reference when chunked.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <set>

#include "crsae/errors.hpp"
#include "crsae/model.hpp"
#include "crsae/npy.hpp"

namespace {

using Value = nlohmann::json;

struct Result {
  int passed = 0, failed = 0;
  void report(bool ok, const std::string& line) {
    std::cout << (ok ? "PASS " : "FAIL ") << line << "\n";
    ok ? ++passed : ++failed;
  }
};

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

void compare(Result& res, const std::string& label, const crsae::Tensor& out, const crsae::Tensor& ref, double atol) {
  if (out.shape != ref.shape) {
    res.report(false, label + ": shape " + crsae::shape_str(out.shape) + " != reference " + crsae::shape_str(ref.shape));
    return;
  }
  double diff = 0;
  for (size_t k = 0; k < out.data.size(); ++k) diff = std::max(diff, double(std::fabs(out.data[k] - ref.data[k])));
  res.report(diff <= atol, label + " " + crsae::shape_str(out.shape) + ": max |diff| " + fmt(diff) +
                               (diff <= atol ? " <= " : " > ") + "atol " + fmt(atol));
}

// A member that must be there; a missing one fails the case with a message instead of crashing.
const Value& field(const Value& object, const std::string& key, const std::string& where) {
  if (!object.is_object() || !object.contains(key))
    throw crsae::DataError(where + " has no '" + key + "'; regenerate the golden index");
  return object.at(key);
}

// A member of a given JSON type; a wrong type fails the case with a message instead of an exception escaping.
std::string text(const Value& object, const std::string& key, const std::string& where) {
  const Value& v = field(object, key, where);
  if (!v.is_string()) throw crsae::DataError(where + " '" + key + "' is " + v.dump() + ", expected a string");
  return v.get<std::string>();
}

void run_case(Result& res, const std::string& root, const Value& c) {
  const std::string name = text(c, "name", "a golden case");
  const std::string where = "golden case " + name;
  crsae::Model model(root + "/" + text(c, "model", where));
  const auto& meta = model.metadata();

  if (c.contains("sidecar")) {
    auto side = crsae::Metadata::from_sidecar(root + "/" + text(c, "sidecar", where));
    std::string mismatch;
    for (const auto& [key, value] : side.all.items()) {
      const Value* embedded = meta.find(key);  // nullptr when the ONNX metadata lacks the key
      if (!embedded || *embedded != value) mismatch += " " + key;
    }
    res.report(mismatch.empty() && side.all.size() == meta.all.size(),
               name + " sidecar == ONNX metadata" + (mismatch.empty() ? "" : " (differs:" + mismatch + ")"));
  }

  crsae::Tensor signal = crsae::read_npy(root + "/" + text(c, "input", where));
  std::optional<int64_t> chunk;
  if (c.contains("chunk_length") && !c["chunk_length"].is_null()) {
    if (!c["chunk_length"].is_number_integer()) throw crsae::DataError(where + " chunk_length is not an integer");
    chunk = c["chunk_length"].get<int64_t>();
  }

  crsae::NoiseSigma noise;  // the case's noise levels; -1 is the graph's estimate (crsae::auto_noise_sigma)
  if (c.contains("noise_sigma")) noise = crsae::read_npy(root + "/" + text(c, "noise_sigma", where)).data;
  res.report(meta.noise_input == noise.has_value(), name + " noise_sigma_input matches the case");

  for (const auto& item : field(c, "outputs", where).items()) {
    const std::string output = item.key();
    crsae::Tensor ref = crsae::read_npy(root + "/" + text(field(c, "outputs", where), output, where + " outputs"));
    const Value& atol_value = field(field(c, "atol", where), output, where + " atol");
    if (!atol_value.is_number()) throw crsae::DataError(where + " atol " + output + " is not a number");
    const double atol = atol_value.get<double>();
    if (!(atol > 0 && std::isfinite(atol))) throw crsae::DataError(where + " has atol " + fmt(atol) + " for " + output);
    const std::string how = chunk ? " chunk=" + std::to_string(*chunk) : "";
    compare(res, name + " " + output + how, model.run(signal, output, chunk, noise), ref, atol);
    if (meta.kind == "1d" && !chunk) {  // the chunking rule must reproduce the whole-signal reference too
      const int64_t small = std::max<int64_t>(1, signal.shape[2] / 3);
      compare(res, name + " " + output + " chunk=" + std::to_string(small), model.run(signal, output, small), ref, atol);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: test_golden EXPORT_DIR [CASE...]\n";
    return 2;
  }
  const std::string root = argv[1];
  std::set<std::string> only(argv + 2, argv + argc);
  Result res;
  try {
    Value index = crsae::read_json(root + "/golden/index.json");
    if (field(index, "contract_version", "golden index") != crsae::kContractVersion)
      throw crsae::DataError("golden index is for another contract_version; update runtimes/cpp");
    for (const auto& c : field(index, "cases", "golden index")) {
      const std::string name = text(c, "name", "a golden case");
      if (!only.empty() && !only.count(name)) continue;
      only.erase(name);
      try {
        run_case(res, root, c);
      } catch (const std::exception& e) {
        res.report(false, name + ": " + e.what());
      }
    }
  } catch (const std::exception& e) {
    res.report(false, e.what());
  }
  for (const auto& missing : only) res.report(false, missing + ": no such case in the golden index; reconfigure");
  std::cout << res.passed << "/" << res.passed + res.failed << " checks passed\n";
  return res.failed || res.passed == 0 ? 1 : 0;
}
