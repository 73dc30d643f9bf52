// crsae::Model on small in-memory FISTA models (tiny_onnx): contract checks, input checks, chunking.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

#include "check.hpp"
#include "crsae/chunking.hpp"
#include "crsae/errors.hpp"
#include "crsae/model.hpp"
#include "tiny_onnx.hpp"

namespace {

const std::string dir = tiny_onnx::temp_dir("model");

std::string model_with(const std::string& name, const tiny_onnx::Spec& spec,
                       std::map<std::string, std::string> changes = {}, std::vector<std::string> drop = {}) {
  auto meta = tiny_onnx::crsae_metadata(spec);
  for (auto& [k, v] : changes) meta[k] = v;
  for (auto& k : drop) meta.erase(k);
  return tiny_onnx::write_model(dir + "/" + name + ".onnx", spec, meta);
}

crsae::Tensor random_signal(std::vector<int64_t> shape, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  crsae::Tensor t{shape, std::vector<float>(size_t(crsae::numel(shape)))};
  for (auto& v : t.data) v = normal(gen);
  return t;
}

float max_abs_diff(const crsae::Tensor& a, const crsae::Tensor& b) {
  float d = 0;
  for (size_t k = 0; k < a.data.size(); ++k) d = std::max(d, std::fabs(a.data[k] - b.data[k]));
  return d;
}

float max_abs(const crsae::Tensor& a) {
  float m = 0;
  for (float v : a.data) m = std::max(m, std::fabs(v));
  return m;
}

}  // namespace

TEST(loads_metadata_from_the_custom_metadata_map) {
  crsae::Model model(model_with("ok", {}));
  const auto& m = model.metadata();
  CHECK_EQ(m.kind, "1d");
  CHECK_EQ(m.channels, 2);
  CHECK_EQ(m.num_filters, 3);
  CHECK_EQ(m.kernel_size, 5);
  CHECK_EQ(m.num_layers, 3);
  CHECK_EQ(m.chunk_halo, 16);
  CHECK_EQ(m.min_size, 5);
  CHECK(m.static_shape.empty());
  CHECK(m.outputs == (std::vector<std::string>{"codes", "reconstruction"}));
  CHECK_EQ(m.find("threshold_mode")->get<std::string>(), "fixed");
  CHECK(m.find("lam")->is_null());
  CHECK_EQ(m.atol(10.0), 1e-5 + 2e-6 * 3 * 10.0);
  CHECK_EQ(m.atol(0.5), 1e-5 + 2e-6 * 3);
}

TEST(encodes_and_reconstructs_with_contract_shapes) {
  crsae::Model model(model_with("ok", {}));
  auto y = random_signal({4, 2, 50}, 1);
  auto x = model.encode(y);
  CHECK(x.shape == (std::vector<int64_t>{4, 3, 46}));
  CHECK(max_abs(x) > 0);
  auto r = model.reconstruct(y);
  CHECK(r.shape == y.shape);
  // the minimum length is kernel_size: one code per filter
  CHECK(model.encode(random_signal({1, 2, 5}, 2)).shape == (std::vector<int64_t>{1, 3, 1}));
}

TEST(one_sided_codes_are_non_negative) {
  tiny_onnx::Spec spec;
  spec.two_sided = false;
  auto x = crsae::Model(model_with("relu", spec, {{"two_sided", "false"}})).encode(random_signal({2, 2, 80}, 3));
  CHECK(*std::min_element(x.data.begin(), x.data.end()) >= 0.0f);
}

TEST(refuses_a_model_that_is_not_crsae) {
  tiny_onnx::Spec spec;
  CHECK_THROWS(crsae::Model(model_with("noformat", spec, {}, {"format"})), crsae::ModelFormatError,
               "not a crsae model (no 'format' metadata); export it with the crsae ONNX exporter");
  CHECK_THROWS(crsae::Model(tiny_onnx::write_model(dir + "/bare.onnx", spec, {})), crsae::ModelFormatError,
               "not a crsae model (no 'format' metadata)");
  CHECK_THROWS(crsae::Model(model_with("other", spec, {{"format", "\"other-onnx\""}})), crsae::ModelFormatError,
               "metadata 'format' is \"other-onnx\", expected \"crsae-onnx\"");
  CHECK_THROWS(crsae::Model(model_with("plain", spec, {{"format", "crsae-onnx"}})), crsae::ModelFormatError,
               "not a crsae model (metadata 'format' is 'crsae-onnx')");
}

TEST(refuses_a_newer_contract_version) {
  CHECK_THROWS(crsae::Model(model_with("v2", {}, {{"contract_version", "2"}})), crsae::ModelFormatError,
               "contract_version 2 but this runtime knows only 1; upgrade runtimes/cpp");
}

TEST(refuses_inconsistent_metadata) {
  tiny_onnx::Spec spec;
  CHECK_THROWS(crsae::Model(model_with("nokind", spec, {}, {"kind"})), crsae::ModelFormatError, "metadata has no 'kind'");
  CHECK_THROWS(crsae::Model(model_with("kind3", spec, {{"kind", "\"3d\""}})), crsae::ModelFormatError,
               "metadata 'kind' is \"3d\", expected \"1d\" or \"2d\"");
  CHECK_THROWS(crsae::Model(model_with("chan", spec, {{"channels", "\"2\""}})), crsae::ModelFormatError,
               "metadata 'channels' is \"2\", expected an integer >= 1");
  CHECK_THROWS(crsae::Model(model_with("halo", spec, {{"chunk_halo", "12"}})), crsae::ModelFormatError,
               "metadata 'chunk_halo' is 12 but (num_layers + 1)(kernel_size - 1) is 16");
  CHECK_THROWS(crsae::Model(model_with("outs", spec, {{"outputs", "[\"reconstruction\", \"codes\"]"}})),
               crsae::ModelFormatError, "graph outputs differ from metadata 'outputs'");
  CHECK_THROWS(crsae::Model(model_with("json", spec, {{"kind", "1d"}})), crsae::ModelFormatError,
               "metadata 'kind' holds '1d', which is not JSON-encoded");
  CHECK_THROWS(crsae::Model(model_with("rank", spec, {{"kind", "\"2d\""}, {"chunk_halo", "0"}})),
               crsae::ModelFormatError, "graph input is not one float32 tensor 'signal' of rank 4");
}

TEST(refuses_missing_and_corrupt_files) {
  // ctest runs this alone in a fresh process: the first Model of the process fails before ONNX Runtime is
  // initialised, which once crashed (an Ort::Session released through the uninitialised API).
  CHECK_THROWS(crsae::Model(dir + "/missing.onnx"), crsae::DataError,
               "missing.onnx does not exist; pass the .onnx file written by crsae export");
  CHECK_THROWS(crsae::Model(dir), crsae::DataError, "is a folder");
  std::ofstream(dir + "/junk.onnx") << "this is not protobuf";
  CHECK_THROWS(crsae::Model(dir + "/junk.onnx"), crsae::ModelFormatError, "junk.onnx is not a loadable ONNX model");
  std::ofstream(dir + "/empty.onnx") << "";
  CHECK_THROWS(crsae::Model(dir + "/empty.onnx"), crsae::ModelFormatError, "is not a loadable ONNX model");
  CHECK_THROWS(crsae::Model(model_with("ok", {}), crsae::Model::Options{-1}), crsae::ConfigError, "intra_op_threads is -1");
}

TEST(refuses_wrong_shape_input) {
  crsae::Model model(model_with("ok", {}));
  CHECK_THROWS(model.encode(random_signal({2, 50}, 1)), crsae::ShapeError,
               "signal has shape (2, 50) but this 1d model takes (batch, channels, length); reshape it to rank 3");
  CHECK_THROWS(model.encode(random_signal({1, 3, 50}, 1)), crsae::ShapeError,
               "signal has 3 channels in shape (1, 3, 50) but the model takes 2");
  CHECK_THROWS(model.encode(random_signal({1, 2, 4}, 1)), crsae::ShapeError,
               "signal size 4 is smaller than 5, the least this model takes; pass longer signals or larger images");
  CHECK_THROWS(model.encode(random_signal({0, 2, 50}, 1)), crsae::ShapeError, "batch 0");
  CHECK_THROWS(model.encode(crsae::Tensor{{1, 2, 50}, std::vector<float>(99)}), crsae::ShapeError,
               "signal holds 99 values but its shape (1, 2, 50) needs 100");
}

TEST(refuses_non_finite_values) {
  crsae::Model model(model_with("ok", {}));
  auto y = random_signal({1, 2, 50}, 1);
  y.data[17] = NAN;
  CHECK_THROWS(model.encode(y), crsae::ShapeError, "at flat index 17; replace NaN/Inf values");
  y.data[17] = INFINITY;
  CHECK_THROWS(model.reconstruct(y, 10), crsae::ShapeError, "inf at flat index 17");
}

TEST(refuses_bad_output_and_chunk_requests) {
  crsae::Model model(model_with("ok", {}));
  auto y = random_signal({1, 2, 50}, 1);
  CHECK_THROWS(model.run(y, "sparse"), crsae::ConfigError, "unknown output 'sparse'; use 'codes' or 'reconstruction'");
  CHECK_THROWS(model.encode(y, 0), crsae::ConfigError, "chunk is 0; pass a core size of at least 1");
  tiny_onnx::Spec only_codes;
  only_codes.outputs = {"codes"};
  crsae::Model codes_model(model_with("codes_only", only_codes, {{"outputs", "[\"codes\"]"}}));
  CHECK(!codes_model.has_output("reconstruction"));
  CHECK_THROWS(codes_model.reconstruct(y), crsae::ConfigError, "has no output 'reconstruction' (it has [\"codes\"])");
}

TEST(accelerated_encoder_models_run_whole_and_refuse_chunking) {
  crsae::Model model(model_with("accelerated", {}, {{"encoder", "\"accelerated\""}, {"step", "1.9"}}));
  CHECK(model.metadata().accelerated);
  auto y = random_signal({1, 2, 50}, 1);
  CHECK(model.encode(y).shape.size() == 3);
  CHECK_THROWS(model.encode(y, 20), crsae::ConfigError,
               "accelerated.onnx runs the accelerated encoder, whose safeguard is per example, so chunks would not "
               "reproduce the whole signal; run the signal whole, or export the model with crsae export --encoder "
               "paper to chunk it");
  CHECK_THROWS(crsae::Model(model_with("bad_encoder", {}, {{"encoder", "\"fast\""}})), crsae::ModelFormatError,
               "metadata 'encoder' is \"fast\", expected \"paper\" or \"accelerated\"");
  CHECK_THROWS(crsae::Model(model_with("bad_step", {}, {{"encoder", "\"accelerated\""}, {"step", "2.5"}})),
               crsae::ModelFormatError, "metadata 'step' is 2.5, expected a number in (0, 2)");
  CHECK(!crsae::Model(model_with("paper", {}, {{"encoder", "\"paper\""}})).metadata().accelerated);
}

TEST(chunked_equals_whole_on_a_long_signal) {
  tiny_onnx::Spec spec;
  spec.num_layers = 6;
  crsae::Model model(model_with("deep", spec));
  auto y = random_signal({2, 2, 3000}, 7);
  for (const char* output : {"codes", "reconstruction"}) {
    auto whole = model.run(y, output);
    double atol = model.metadata().atol(max_abs(whole));
    for (int64_t chunk : {1, 37, 256, 2995, 3000, 100000}) {
      auto chunked = model.run(y, output, chunk);
      CHECK(chunked.shape == whole.shape);
      if (!(max_abs_diff(chunked, whole) <= atol))
        check::fail(__FILE__, __LINE__, std::string(output) + " chunk " + std::to_string(chunk) + ": max |diff| " +
                                            std::to_string(max_abs_diff(chunked, whole)));
    }
  }
}

TEST(a_halo_too_small_would_change_the_result) {
  // Guards the test above against passing trivially: halving the halo must break equality somewhere.
  tiny_onnx::Spec spec;
  spec.num_layers = 6;
  auto y = random_signal({1, 2, 600}, 9);
  const int64_t halo = spec.kernel_size - 1;  // << (T + 1)(K - 1) = 28
  auto honest = crsae::Model(model_with("deep", spec)).encode(y);
  // Run the rule by hand with the short halo.
  crsae::Model model(model_with("deep", spec));
  float worst = 0;
  for (const auto& w : crsae::plan_chunks(600, spec.kernel_size, halo, 50, "codes")) {
    crsae::Tensor win{{1, 2, w.window_end - w.window_begin}, {}};
    for (int64_t c = 0; c < 2; ++c)
      win.data.insert(win.data.end(), y.data.begin() + c * 600 + w.window_begin, y.data.begin() + c * 600 + w.window_end);
    auto part = model.encode(win);
    for (int64_t f = 0; f < 3; ++f)
      for (int64_t n = w.core_begin; n < w.core_end; ++n)
        worst = std::max(worst, std::fabs(part.data[f * part.shape[2] + n - w.window_begin] - honest.data[f * 596 + n]));
  }
  if (!(worst > 1e-3f)) check::fail(__FILE__, __LINE__, "short halo changed codes by only " + std::to_string(worst));
}

TEST(two_d_models_check_both_spatial_axes_and_refuse_chunking) {
  tiny_onnx::Spec spec;
  spec.kind = "2d";
  spec.channels = 1;
  crsae::Model model(model_with("img", spec));
  auto y = random_signal({2, 1, 12, 9}, 4);
  CHECK(model.encode(y).shape == (std::vector<int64_t>{2, 3, 8, 5}));
  CHECK(model.reconstruct(y).shape == y.shape);
  CHECK_THROWS(model.encode(random_signal({2, 1, 12, 4}, 4)), crsae::ShapeError, "signal size 12x4 is smaller than 5,");
  CHECK_THROWS(model.encode(random_signal({2, 1, 12}, 4)), crsae::ShapeError, "(batch, channels, height, width)");
  CHECK_THROWS(model.encode(y, 16), crsae::ConfigError, "chunking applies to 1-D models only");
}

TEST(sidecar_metadata_matches_the_same_checks) {
  nlohmann::json side = nlohmann::json::object();
  for (const auto& [key, text] : tiny_onnx::crsae_metadata({})) side[key] = nlohmann::json::parse(text);
  std::ofstream(dir + "/side.json") << side.dump(2);
  auto m = crsae::Metadata::from_sidecar(dir + "/side.json");
  CHECK_EQ(m.chunk_halo, 16);
  CHECK(m.all == side);
  CHECK(m.all == crsae::Model(model_with("ok", {})).metadata().all);
  std::ofstream(dir + "/side2.json") << R"({"format": "crsae-onnx", "contract_version": 3})";
  CHECK_THROWS(crsae::Metadata::from_sidecar(dir + "/side2.json"), crsae::ModelFormatError, "contract_version 3");
  side.erase("min_size");
  std::ofstream(dir + "/side3.json") << side.dump();
  CHECK_THROWS(crsae::Metadata::from_sidecar(dir + "/side3.json"), crsae::ModelFormatError, "metadata has no 'min_size'");
  std::ofstream(dir + "/side4.json") << "{\"format\": \"crsae-onnx\",\n  \"kind\": 1d}";
  CHECK_THROWS(crsae::Metadata::from_sidecar(dir + "/side4.json"), crsae::DataError,
               "side4.json: not valid JSON at line 2, column 12; regenerate the file");
  std::ofstream(dir + "/side5.json") << "[1, 2]";
  CHECK_THROWS(crsae::Metadata::from_sidecar(dir + "/side5.json"), crsae::ModelFormatError, "sidecar is not a JSON object");
  CHECK_THROWS(crsae::Metadata::from_sidecar(dir + "/none.json"), crsae::DataError, "cannot open JSON file");
}

TEST(metadata_values_must_be_json_encoded) {
  auto meta = tiny_onnx::crsae_metadata({});
  meta["sigma"] = "NaN";  // what Python's json.dumps writes for a float NaN; JSON has no NaN
  CHECK_THROWS(crsae::Metadata::from_encoded(meta, "m.onnx"), crsae::ModelFormatError,
               "m.onnx: metadata 'sigma' holds NaN or Infinity, which JSON and the contract do not allow");
  meta = tiny_onnx::crsae_metadata({});
  meta["num_layers"] = "3.5";
  CHECK_THROWS(crsae::Metadata::from_encoded(meta, "m.onnx"), crsae::ModelFormatError,
               "metadata 'num_layers' is 3.5, expected an integer >= 0");
  meta["num_layers"] = "99999999999999999999";
  CHECK_THROWS(crsae::Metadata::from_encoded(meta, "m.onnx"), crsae::ModelFormatError, "expected an integer >= 0");
  meta = tiny_onnx::crsae_metadata({});
  meta["outputs"] = "[\"codes\", \"codes\"]";
  CHECK_THROWS(crsae::Metadata::from_encoded(meta, "m.onnx"), crsae::ModelFormatError,
               "expected a list of distinct 'codes' or 'reconstruction'");
  meta["outputs"] = "[\"sparse\"]";
  CHECK_THROWS(crsae::Metadata::from_encoded(meta, "m.onnx"), crsae::ModelFormatError, "metadata 'outputs' is [\"sparse\"]");
  meta = tiny_onnx::crsae_metadata({});
  meta["static_shape"] = "[1, 3, 50]";  // channels 3, the model has 2
  CHECK_THROWS(crsae::Metadata::from_encoded(meta, "m.onnx"), crsae::ModelFormatError, "metadata 'static_shape' is [1,3,50]");
}

TEST(min_size_comes_from_the_metadata) {
  // A model whose metadata asks for more than kernel_size (as a strided 2-D export does): refused below it,
  // and chunk windows shorter than min_size are widened so each run still gets min_size samples.
  auto y = random_signal({2, 2, 400}, 5);
  crsae::Model model(model_with("min40", {}, {{"min_size", "40"}}));
  CHECK_EQ(model.metadata().min_size, 40);
  CHECK_THROWS(model.encode(random_signal({1, 2, 39}, 1)), crsae::ShapeError,
               "signal size 39 is smaller than 40, the least this model takes");
  CHECK(model.encode(random_signal({1, 2, 40}, 1)).shape == (std::vector<int64_t>{1, 3, 36}));
  for (const char* output : {"codes", "reconstruction"}) {
    auto whole = model.run(y, output);
    for (int64_t chunk : {1, 7, 100}) {
      auto chunked = model.run(y, output, chunk);
      CHECK(chunked.shape == whole.shape);
      CHECK(max_abs_diff(chunked, whole) <= model.metadata().atol(max_abs(whole)));
    }
  }
}

TEST(static_shape_exports_take_their_one_shape) {
  crsae::Model model(model_with("static", {}, {{"static_shape", "[1, 2, 50]"}}));
  CHECK(model.metadata().static_shape == (std::vector<int64_t>{1, 2, 50}));
  CHECK(model.encode(random_signal({1, 2, 50}, 1)).shape == (std::vector<int64_t>{1, 3, 46}));
  CHECK_THROWS(model.encode(random_signal({2, 2, 50}, 1)), crsae::ShapeError,
               "this model was exported for inputs of shape (1, 2, 50), got (2, 2, 50); pass that size or export "
               "without --static-shape");
  CHECK_THROWS(model.encode(random_signal({1, 2, 50}, 1), 10), crsae::ConfigError, "is a static-shape export");
}

TEST(a_frozen_model_refuses_a_noise_level_with_the_contract_message) {
  crsae::Model model(model_with("frozen", {}));
  CHECK(!model.metadata().noise_input);
  const auto y = random_signal({1, 2, 50}, 3);
  CHECK_THROWS(model.encode(y, std::nullopt, std::vector<float>{0.1f}), crsae::ConfigError,
               "frozen.onnx has its noise level frozen at sigma 1 (exported without --noise-input); leave the noise "
               "level unset, or export the model again with crsae export --noise-input");
  CHECK(max_abs_diff(model.encode(y, std::nullopt, std::nullopt), model.encode(y)) == 0);
}

TEST(noise_sigma_input_metadata_is_checked_against_the_graph) {
  CHECK_THROWS(crsae::Model(model_with("flagtype", {}, {{"noise_sigma_input", "\"yes\""}})), crsae::ModelFormatError,
               "metadata 'noise_sigma_input' is \"yes\", expected true or false");
  CHECK_THROWS(crsae::Model(model_with("flagbias", {}, {{"noise_sigma_input", "true"},
                                                        {"threshold_mode", "\"bias\""}})),
               crsae::ModelFormatError, "free biases have no sigma");
  CHECK_THROWS(crsae::Model(model_with("flagged", {}, {{"noise_sigma_input", "true"}})), crsae::ModelFormatError,
               "and a float tensor 'noise_sigma' of rank 1 as its metadata says");
  crsae::Model unflagged(model_with("unflagged", {}, {{"noise_sigma_input", "false"}}));
  CHECK(!unflagged.metadata().noise_input);
}
