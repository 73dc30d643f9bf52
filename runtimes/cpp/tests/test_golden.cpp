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

using crsae::json::Value;

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
  const Value* v = object.find(key);
  if (!v) throw crsae::DataError(where + " has no '" + key + "'; regenerate the golden index");
  return *v;
}

void run_case(Result& res, const std::string& root, const Value& c) {
  const std::string name = field(c, "name", "a golden case").as_string();
  const std::string where = "golden case " + name;
  crsae::Model model(root + "/" + field(c, "model", where).as_string());
  const auto& meta = model.metadata();

  if (const Value* sidecar = c.find("sidecar")) {
    auto side = crsae::Metadata::from_sidecar(root + "/" + sidecar->as_string());
    std::string mismatch;
    for (const auto& [key, value] : side.all) {
      const Value* embedded = meta.find(key);
      if (!embedded || *embedded != value) mismatch += " " + key;
    }
    res.report(mismatch.empty() && side.all.size() == meta.all.size(),
               name + " sidecar == ONNX metadata" + (mismatch.empty() ? "" : " (differs:" + mismatch + ")"));
  }

  crsae::Tensor signal = crsae::read_npy(root + "/" + field(c, "input", where).as_string());
  const Value* chunk_length = c.find("chunk_length");
  std::optional<int64_t> chunk;
  if (chunk_length && !chunk_length->is_null()) chunk = chunk_length->as_int();

  for (const auto& [output, ref_path] : field(c, "outputs", where).as_object()) {
    crsae::Tensor ref = crsae::read_npy(root + "/" + ref_path.as_string());
    const double atol = field(field(c, "atol", where), output, where + " atol").as_number();
    if (!(atol > 0 && std::isfinite(atol))) throw crsae::DataError(where + " has atol " + fmt(atol) + " for " + output);
    const std::string how = chunk ? " chunk=" + std::to_string(*chunk) : "";
    compare(res, name + " " + output + how, model.run(signal, output, chunk), ref, atol);
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
    Value index = crsae::json::parse_file(root + "/golden/index.json");
    if (field(index, "contract_version", "golden index").as_int() != crsae::kContractVersion)
      throw crsae::DataError("golden index is for another contract_version; update runtimes/cpp");
    for (const auto& c : field(index, "cases", "golden index").as_array()) {
      const std::string name = field(c, "name", "a golden case").as_string();
      if (!only.empty() && !only.count(name)) continue;
      only.erase(name);
      try {
        run_case(res, root, c);
      } catch (const crsae::Error& e) {
        res.report(false, name + ": " + e.what());
      }
    }
  } catch (const crsae::Error& e) {
    res.report(false, e.what());
  }
  for (const auto& missing : only) res.report(false, missing + ": no such case in the golden index; reconfigure");
  std::cout << res.passed << "/" << res.passed + res.failed << " checks passed\n";
  return res.failed || res.passed == 0 ? 1 : 0;
}
