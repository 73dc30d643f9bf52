// The contract as the one source: the constants generated at configure time (crsae/contract_generated.hpp)
// equal export/contract.json read now; the shipped models carry its metadata; too-small signals are refused
// with exactly the contract's message, before ONNX Runtime runs.
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "check.hpp"
#include "crsae/contract.hpp"
#include "crsae/errors.hpp"
#include "crsae/metadata.hpp"
#include "crsae/model.hpp"
#include "crsae/npy.hpp"
#include "tiny_onnx.hpp"

namespace {

using nlohmann::json;
namespace contract = crsae::contract;

const std::string exports = CRSAE_EXPORT_DIR;

const json& contract_json() {
  static const json doc = crsae::read_json(CRSAE_CONTRACT_FILE);
  return doc;
}

// The contract's message, formatted here independently of crsae::contract::format_message.
std::string expected_message(const std::string& name, const std::string& size, int64_t min_size) {
  std::string text = contract_json()["messages"][name].get<std::string>();
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"{size}", size},
                                   {"{min_size}", std::to_string(min_size)}}) {
    const size_t at = text.find(key);
    if (at == std::string::npos) check::fail(__FILE__, __LINE__, "contract message lacks " + key);
    text.replace(at, key.size(), value);
  }
  return text;
}

crsae::Tensor zeros(std::vector<int64_t> shape) {
  return crsae::Tensor{shape, std::vector<float>(size_t(crsae::numel(shape)), 0.25f)};
}

// what() of the crsae::ShapeError that `body` throws, or a failure.
template <class Body>
std::string shape_error(Body&& body) {
  try {
    body();
  } catch (const crsae::ShapeError& e) {
    return e.what();
  } catch (const std::exception& e) {
    check::fail(__FILE__, __LINE__, std::string("expected crsae::ShapeError, got: ") + e.what());
  }
  check::fail(__FILE__, __LINE__, "expected crsae::ShapeError, nothing was thrown");
}

std::vector<std::string> shipped_models() {
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::directory_iterator(exports + "/models"))
    if (e.path().extension() == ".onnx") paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  if (paths.empty()) check::fail(__FILE__, __LINE__, "no .onnx model in " + exports + "/models");
  return paths;
}

}  // namespace

TEST(generated_constants_equal_contract_json) {
  const json& c = contract_json();
  CHECK_EQ(std::string(contract::format), c["format"].get<std::string>());
  CHECK_EQ(contract::version, c["contract_version"].get<int64_t>());
  CHECK_EQ(crsae::kContractVersion, c["contract_version"].get<int64_t>());
  CHECK_EQ(contract::opset, c["opset"].get<int64_t>());
  CHECK_EQ(std::string(contract::dtype), c["dtype"].get<std::string>());

  std::vector<std::string> keys(contract::metadata_keys.begin(), contract::metadata_keys.end());
  CHECK(keys == c["metadata_keys"].get<std::vector<std::string>>());
  CHECK(std::find(keys.begin(), keys.end(), "min_size") != keys.end());

  CHECK_EQ(c["inputs"].size(), 2u);  // the signal, and the optional noise levels
  CHECK(c["inputs"].contains(std::string(contract::input)) && !c["inputs"][std::string(contract::input)].contains("optional"));
  CHECK(c["inputs"][std::string(contract::noise_input)]["optional"] == true);
  CHECK(c["optional_metadata"]["noise_sigma_input"] == false);
  std::vector<std::string> outputs;
  for (const auto& o : c["outputs"].items()) outputs.push_back(o.key());
  CHECK(std::vector<std::string>(contract::outputs.begin(), contract::outputs.end()) == outputs);

  CHECK_EQ(contract::messages::all.size(), c["messages"].size());
  for (const auto& [name, text] : contract::messages::all)
    CHECK_EQ(std::string(text), c["messages"][std::string(name)].get<std::string>());
  CHECK_EQ(std::string(contract::messages::too_small), c["messages"]["too_small"].get<std::string>());

  const json& tol = c["tolerance"];
  CHECK_EQ(contract::tolerance::atol_floor, tol["atol_floor"].get<double>());
  CHECK_EQ(contract::tolerance::atol_per_layer, tol["atol_per_layer"].get<double>());
  CHECK_EQ(contract::tolerance::float16_atol_floor, tol["float16_atol_floor"].get<double>());
  CHECK_EQ(contract::tolerance::float16_atol_per_layer, tol["float16_atol_per_layer"].get<double>());
  CHECK_EQ(contract::tolerance_for("float16").atol_floor, tol["float16_atol_floor"].get<double>());
  CHECK_THROWS(contract::tolerance_for("bfloat16"), crsae::ConfigError, "has no tolerance rule");
}

TEST(message_formatting_follows_the_contract_rules) {
  CHECK_EQ(contract::size_text({7, 96}), "7x96");
  CHECK_EQ(contract::size_text({5}), "5");
  CHECK_EQ(contract::too_small({7, 96}, 8), expected_message("too_small", "7x96", 8));
  CHECK_EQ(contract::too_small({29}, 30),
           "signal size 29 is smaller than 30, the least this model takes; pass longer signals or larger images");
  CHECK_EQ(contract::format_message("{{a}} {a} }}", {{"a", "x"}}), "{a} x }");
  CHECK_THROWS(contract::format_message("{b}", {{"a", "x"}}), crsae::Error, "names {b}, which runtimes/cpp does not fill");
  CHECK_THROWS(contract::format_message("a {b", {}), crsae::Error, "unclosed '{'");
  CHECK_THROWS(contract::format_message("a } b", {}), crsae::Error, "lone '}'");
  CHECK_EQ(contract::outputs_text(), "'codes' or 'reconstruction'");
}

TEST(shipped_models_carry_the_contract_metadata) {
  const json& c = contract_json();
  for (const std::string& path : shipped_models()) {
    crsae::Model model(path);
    const crsae::Metadata& m = model.metadata();
    for (const auto& key : c["metadata_keys"])
      if (!m.find(key.get<std::string>())) check::fail(__FILE__, __LINE__, path + " lacks " + key.dump());
    CHECK_EQ(m.find("format")->get<std::string>(), std::string(contract::format));
    CHECK_EQ(m.find("contract_version")->get<int64_t>(), contract::version);
    CHECK_EQ(m.find("opset")->get<int64_t>(), contract::opset);
    // derived.min_size: kernel_size, and max(kernel_size, 3 stride - 1) for a 2-D model with stride > 1
    const int64_t want = m.kind == "2d" && m.stride > 1 ? std::max(m.kernel_size, 3 * m.stride - 1) : m.kernel_size;
    CHECK_EQ(m.min_size, want);
    // derived.chunk_halo
    CHECK_EQ(m.chunk_halo, m.kind == "1d" ? (m.num_layers + 1) * (m.kernel_size - 1) : 0);
    const auto tol = contract::tolerance_for(m.dtype);
    CHECK_EQ(m.atol_floor, tol.atol_floor);
    CHECK_EQ(m.atol_per_layer, tol.atol_per_layer);
    // the sidecar says the same
    const std::string sidecar = path.substr(0, path.size() - 5) + ".json";
    CHECK(crsae::Metadata::from_sidecar(sidecar).all == m.all);
  }
}

TEST(image2d_refuses_too_small_images_with_the_contract_message) {
  crsae::Model model(exports + "/models/image2d.onnx");
  const auto& m = model.metadata();
  CHECK_EQ(m.kind, "2d");
  CHECK(m.stride > 1);
  CHECK(m.min_size > m.kernel_size);  // a kernel_size image passes a kernel_size check but not this one
  const int64_t small = m.min_size - 1, big = 12 * m.min_size;
  for (const auto& hw : std::vector<std::vector<int64_t>>{{small, big}, {big, small}, {small, small},
                                                          {m.kernel_size, big}, {1, 1}}) {
    const std::string got = shape_error([&] { model.encode(zeros({1, m.channels, hw[0], hw[1]})); });
    CHECK_EQ(got, expected_message("too_small", contract::size_text(hw), m.min_size));
    CHECK_EQ(shape_error([&] { model.reconstruct(zeros({2, m.channels, hw[0], hw[1]})); }), got);
  }
  CHECK_EQ(shape_error([&] { model.encode(zeros({1, m.channels, 7, 96})); }),
           "signal size 7x96 is smaller than " + std::to_string(m.min_size) +
               ", the least this model takes; pass longer signals or larger images");
  // min_size itself is taken, and gives the contract's code size
  const auto x = model.encode(zeros({1, m.channels, m.min_size, m.min_size}));
  const int64_t code = (m.min_size - m.kernel_size) / m.stride + 1;
  CHECK(x.shape == (std::vector<int64_t>{1, m.num_filters, code, code}));
  CHECK(model.reconstruct(zeros({1, m.channels, m.min_size, m.min_size + 1})).shape ==
        (std::vector<int64_t>{1, m.channels, m.min_size, m.min_size + 1}));
}

TEST(spikes1d_refuses_too_short_signals_with_the_contract_message) {
  crsae::Model model(exports + "/models/spikes1d.onnx");
  const auto& m = model.metadata();
  CHECK_EQ(m.min_size, m.kernel_size);
  const int64_t n = m.min_size - 1;
  CHECK_EQ(shape_error([&] { model.encode(zeros({1, m.channels, n})); }),
           expected_message("too_small", std::to_string(n), m.min_size));
  CHECK_EQ(shape_error([&] { model.reconstruct(zeros({1, m.channels, n}), 10); }),
           expected_message("too_small", std::to_string(n), m.min_size));
  CHECK(model.encode(zeros({1, m.channels, m.min_size})).shape == (std::vector<int64_t>{1, m.num_filters, 1}));
}

TEST(cli_prints_the_contract_message_alone) {
  const std::string dir = tiny_onnx::temp_dir("contract-cli");
  crsae::write_npy(dir + "/small.npy", zeros({1, 1, 7, 96}));
  const std::string cmd = std::string(CRSAE_INFER) + " " + exports + "/models/image2d.onnx " + dir +
                          "/small.npy -o " + dir + "/out.npy >" + dir + "/stdout 2>" + dir + "/stderr";
  const int status = std::system(cmd.c_str());
  CHECK(WIFEXITED(status));
  CHECK_EQ(WEXITSTATUS(status), 1);
  std::ifstream err(dir + "/stderr");
  std::stringstream s;
  s << err.rdbuf();
  const int64_t least = crsae::Model(exports + "/models/image2d.onnx").metadata().min_size;
  CHECK_EQ(s.str(), "error: " + expected_message("too_small", "7x96", least) + "\n");
  CHECK(!std::filesystem::exists(dir + "/out.npy"));
  for (const auto& e : std::filesystem::directory_iterator(dir))
    CHECK(e.path().filename().string().rfind(".out.npy.", 0) != 0);
}

TEST(a_model_missing_any_contract_key_is_refused) {
  const auto full = tiny_onnx::crsae_metadata({});
  std::vector<std::string> keys;
  for (const auto& [k, v] : full) keys.push_back(k);
  std::vector<std::string> want(contract::metadata_keys.begin(), contract::metadata_keys.end());
  std::sort(want.begin(), want.end());
  CHECK(keys == want);  // the test fixture writes exactly the contract's keys
  (void)crsae::Metadata::from_encoded(full, "m.onnx");
  for (std::string_view key : contract::metadata_keys) {
    auto meta = full;
    meta.erase(std::string(key));
    const std::string text = key == "format" ? "not a crsae model (no 'format' metadata)"
                                             : "m.onnx: metadata has no '" + std::string(key) + "'; re-export";
    CHECK_THROWS(crsae::Metadata::from_encoded(meta, "m.onnx"), crsae::ModelFormatError, text);
  }
  auto low = full;
  low["min_size"] = "4";  // below kernel_size 5
  CHECK_THROWS(crsae::Metadata::from_encoded(low, "m.onnx"), crsae::ModelFormatError,
               "metadata 'min_size' is 4, below kernel_size 5");
}
