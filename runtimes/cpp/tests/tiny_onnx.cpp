#include "tiny_onnx.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "crsae/contract.hpp"

namespace tiny_onnx {
namespace {

// Protobuf wire format: varint (type 0) and length-delimited (type 2) fields.
class Proto {
 public:
  Proto& varint(int field, uint64_t v) { key(field, 0); put(v); return *this; }
  Proto& bytes(int field, const std::string& s) { key(field, 2); put(s.size()); buf_ += s; return *this; }
  Proto& msg(int field, const Proto& m) { return bytes(field, m.buf_); }
  const std::string& str() const { return buf_; }

 private:
  std::string buf_;
  void key(int field, int type) { put(uint64_t(field) << 3 | uint64_t(type)); }
  void put(uint64_t v) {
    while (v >= 0x80) buf_ += char((v & 0x7F) | 0x80), v >>= 7;
    buf_ += char(v);
  }
};

constexpr int kFloat = 1;  // TensorProto.DataType.FLOAT

Proto tensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values) {
  Proto t;
  for (int64_t d : dims) t.varint(1, uint64_t(d));  // dims
  t.varint(2, kFloat).bytes(8, name);                // data_type, name
  std::string raw(values.size() * 4, '\0');
  std::memcpy(raw.data(), values.data(), raw.size());  // little-endian host assumed (x86, arm64)
  return t.bytes(9, raw);                              // raw_data
}

Proto scalar(const std::string& name, float v) { return tensor(name, {}, {v}); }

Proto node(const std::string& op, const std::vector<std::string>& in, const std::string& out) {
  Proto n;
  for (const auto& i : in) n.bytes(1, i);
  return n.bytes(2, out).bytes(4, op);  // output, op_type
}

// ValueInfoProto of a float tensor; a dim is a number (fixed) or a name (dynamic).
Proto value_info(const std::string& name, const std::vector<std::string>& dims) {
  Proto shape;
  for (const auto& d : dims) {
    Proto dim;
    if (std::isdigit(static_cast<unsigned char>(d[0]))) dim.varint(1, std::stoull(d));  // dim_value
    else dim.bytes(2, d);                                                                // dim_param
    shape.msg(1, dim);
  }
  Proto tensor_type;
  tensor_type.varint(1, kFloat).msg(2, shape);  // elem_type, shape
  Proto type;
  type.msg(1, tensor_type);  // TypeProto.tensor_type
  Proto vi;
  return vi.bytes(1, name).msg(2, type);
}

float step_L(const Spec& s) { return float(s.num_filters * s.channels) * 1.5f; }
float threshold(const Spec&, int64_t c) { return 0.02f * float(c + 1); }

}  // namespace

std::map<std::string, std::string> crsae_metadata(const Spec& s) {
  using nlohmann::json;
  std::vector<float> b;
  for (int64_t c = 0; c < s.num_filters; ++c) b.push_back(threshold(s, c));
  const bool one_d = s.kind == "1d";
  const auto tol = crsae::contract::tolerance_for("float32");
  const json values = {
      {"format", std::string(crsae::contract::format)}, {"contract_version", crsae::contract::version},
      {"kind", s.kind}, {"channels", s.channels}, {"num_filters", s.num_filters}, {"kernel_size", s.kernel_size},
      {"stride", 1}, {"num_layers", s.num_layers}, {"L", step_L(s)}, {"sigma", 1.0},
      {"threshold_mode", "fixed"}, {"two_sided", s.two_sided}, {"tied", true}, {"lam", nullptr},
      {"thresholds", b}, {"input_scaling", one_d ? "none" : "unit_interval"}, {"outputs", s.outputs},
      {"chunk_halo", one_d ? (s.num_layers + 1) * (s.kernel_size - 1) : 0},
      {"min_size", s.kernel_size},  // stride 1: the least size is kernel_size
      {"dtype", "float32"}, {"opset", crsae::contract::opset}, {"static_shape", nullptr},
      {"atol_floor", tol.atol_floor}, {"atol_per_layer", tol.atol_per_layer},
      {"crsae_version", "test"}, {"torch_version", "none"}, {"onnx_version", "none"}, {"checkpoint_sha256", ""}};
  std::map<std::string, std::string> encoded;  // each value JSON-encoded, as the exporter writes it
  for (const auto& [key, value] : values.items()) encoded[key] = value.dump();
  return encoded;
}

std::string model_bytes(const Spec& s, const std::map<std::string, std::string>& metadata) {
  const bool one_d = s.kind == "1d";
  const int64_t C = s.num_filters, ch = s.channels, K = s.kernel_size;

  // H: C filters of shape (channels, K[, K]), unit norm, from a fixed LCG.
  std::vector<int64_t> hdims = one_d ? std::vector<int64_t>{C, ch, K} : std::vector<int64_t>{C, ch, K, K};
  int64_t per_filter = ch * K * (one_d ? 1 : K);
  std::vector<float> H(size_t(C * per_filter));
  uint32_t state = 12345;
  for (auto& h : H) state = state * 1664525u + 1013904223u, h = float(state >> 8) / float(1 << 24) - 0.5f;
  for (int64_t c = 0; c < C; ++c) {
    float norm = 0;
    for (int64_t k = 0; k < per_filter; ++k) norm += H[c * per_filter + k] * H[c * per_filter + k];
    for (int64_t k = 0; k < per_filter; ++k) H[c * per_filter + k] /= std::sqrt(norm);
  }
  std::vector<float> b;
  for (int64_t c = 0; c < C; ++c) b.push_back(threshold(s, c));

  Proto g;
  g.msg(5, tensor("H", hdims, H));
  g.msg(5, tensor("b", one_d ? std::vector<int64_t>{1, C, 1} : std::vector<int64_t>{1, C, 1, 1}, b));
  g.msg(5, scalar("invL", 1.0f / step_L(s))).msg(5, scalar("zero", 0.0f));
  g.msg(1, node("Conv", {"signal", "H"}, "hty")).msg(1, node("Mul", {"hty", "zero"}, "x0"));  // x_0 = 0

  // FISTA: z = x + ((t - 1) / t') (x - x_prev); v = z + H^T (y - H z) / L; x' = shrink(v, b)
  std::string x_prev = "x0", x = "x0";
  double t = 1;
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const std::string n = std::to_string(i);
    double t_next = (1 + std::sqrt(1 + 4 * t * t)) / 2;
    g.msg(5, scalar("m" + n, float((t - 1) / t_next)));
    g.msg(1, node("Sub", {x, x_prev}, "d" + n)).msg(1, node("Mul", {"d" + n, "m" + n}, "md" + n));
    g.msg(1, node("Add", {x, "md" + n}, "z" + n)).msg(1, node("ConvTranspose", {"z" + n, "H"}, "Hz" + n));
    g.msg(1, node("Sub", {"signal", "Hz" + n}, "r" + n)).msg(1, node("Conv", {"r" + n, "H"}, "g" + n));
    g.msg(1, node("Mul", {"g" + n, "invL"}, "gs" + n)).msg(1, node("Add", {"z" + n, "gs" + n}, "v" + n));
    g.msg(1, node("Sub", {"v" + n, "b"}, "p" + n)).msg(1, node("Relu", {"p" + n}, "pr" + n));
    const std::string out = i + 1 == s.num_layers ? "codes" : "x" + std::to_string(i + 1);
    if (s.two_sided) {
      g.msg(1, node("Neg", {"v" + n}, "nv" + n)).msg(1, node("Sub", {"nv" + n, "b"}, "q" + n));
      g.msg(1, node("Relu", {"q" + n}, "qr" + n)).msg(1, node("Sub", {"pr" + n, "qr" + n}, out));
    } else {
      g.msg(1, node("Identity", {"pr" + n}, out));
    }
    x_prev = x, x = out, t = t_next;
  }
  g.msg(1, node("ConvTranspose", {"codes", "H"}, "reconstruction"));
  g.bytes(2, "crsae");

  const std::string chs = std::to_string(ch), Cs = std::to_string(C);
  g.msg(11, value_info("signal", one_d ? std::vector<std::string>{"batch", chs, "length"}
                                        : std::vector<std::string>{"batch", chs, "height", "width"}));
  for (const auto& o : s.outputs) {
    if (o == "codes")
      g.msg(12, value_info("codes", one_d ? std::vector<std::string>{"batch", Cs, "code_length"}
                                           : std::vector<std::string>{"batch", Cs, "code_height", "code_width"}));
    else
      g.msg(12, value_info("reconstruction", one_d ? std::vector<std::string>{"batch", chs, "length"}
                                                    : std::vector<std::string>{"batch", chs, "height", "width"}));
  }

  Proto m;
  Proto opset;
  opset.varint(2, uint64_t(crsae::contract::opset));  // OperatorSetIdProto.version (default domain)
  m.varint(1, 8).bytes(2, "crsae-tests").msg(8, opset).msg(7, g);  // ir_version, producer, opset_import, graph
  for (const auto& [k, v] : metadata) {
    Proto entry;
    m.msg(14, entry.bytes(1, k).bytes(2, v));  // metadata_props
  }
  return m.str();
}

std::string write_model(const std::string& path, const Spec& spec, const std::map<std::string, std::string>& metadata) {
  std::ofstream(path, std::ios::binary) << model_bytes(spec, metadata);
  return path;
}

std::string temp_dir(const std::string& tag) {
  // Removed when the test binary exits.
  struct Cleanup {
    std::vector<std::filesystem::path> dirs;
    ~Cleanup() {
      std::error_code ec;
      for (const auto& d : dirs) std::filesystem::remove_all(d, ec);
    }
  };
  static Cleanup cleanup;
  auto dir = std::filesystem::temp_directory_path() / ("crsae-cpp-" + tag + "-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  cleanup.dirs.push_back(dir);
  return dir.string();
}

}  // namespace tiny_onnx
