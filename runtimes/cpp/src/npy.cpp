// The .npy format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
// magic "\x93NUMPY", version (major, minor), header length (uint16 for 1.0, uint32 for 2.0), then a Python dict
// literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces to a multiple of 64
// bytes and ended by '\n', then the raw data.
#include "crsae/npy.hpp"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>

#include "crsae/errors.hpp"

namespace crsae {
namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559, "float must be IEEE binary32");

bool little_endian_host() {
  const uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw DataError(path + ": " + what);
}

// The value after "'key':" in the header dict, up to the matching ',' or '}' (tuples kept whole).
std::string dict_value(const std::string& header, const std::string& key, const std::string& path) {
  size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) bad(path, "header has no '" + key + "'; write the file with numpy.save");
  k = header.find(':', k);
  if (k == std::string::npos) bad(path, "malformed header; write the file with numpy.save");
  size_t start = header.find_first_not_of(' ', k + 1);
  if (start == std::string::npos) bad(path, "malformed header; write the file with numpy.save");
  size_t end = header[start] == '(' ? header.find(')', start) : header.find_first_of(",}", start);
  if (end == std::string::npos) bad(path, "malformed header; write the file with numpy.save");
  if (header[start] == '(') ++end;  // keep the closing parenthesis
  return header.substr(start, end - start);
}

std::vector<int64_t> parse_shape(const std::string& tuple, const std::string& path) {
  // "(2, 1, 300)", "(5,)" or "()"
  std::vector<int64_t> shape;
  size_t k = 1;
  while (k < tuple.size()) {
    while (k < tuple.size() && (tuple[k] == ' ' || tuple[k] == ',')) ++k;
    if (k >= tuple.size() || tuple[k] == ')') break;
    size_t end = k;
    while (end < tuple.size() && tuple[end] >= '0' && tuple[end] <= '9') ++end;
    if (end == k || end - k > 15) bad(path, "bad shape " + tuple + " in header; write the file with numpy.save");
    shape.push_back(std::stoll(tuple.substr(k, end - k)));
    k = end;
  }
  return shape;
}

}  // namespace

Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot open " + path + "; check the path");
  if (!little_endian_host()) bad(path, "this runtime needs a little-endian machine");

  char magic[kMagicLen];
  unsigned char version[2];
  if (!in.read(magic, kMagicLen) || std::memcmp(magic, kMagic, kMagicLen) != 0)
    bad(path, "not a .npy file (bad magic); save the array with numpy.save");
  in.read(reinterpret_cast<char*>(version), 2);
  uint32_t header_len = 0;
  if (version[0] == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else if (version[0] == 2) {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
  } else {
    bad(path, ".npy format " + std::to_string(version[0]) + "." + std::to_string(version[1]) +
                  " is not supported (only 1.0 and 2.0); save with numpy.save and ASCII field names");
  }
  if (!in || header_len > (1u << 24)) bad(path, "truncated or oversized .npy header; rewrite the file");
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) bad(path, "truncated .npy header; rewrite the file");

  std::string descr = dict_value(header, "descr", path);
  if (descr != "'<f4'")
    bad(path, "dtype " + descr + " is not supported, only little-endian float32 '<f4'; "
              "save it with numpy.save(path, x.astype('<f4'))");
  if (dict_value(header, "fortran_order", path) != "False")
    bad(path, "array is in Fortran order; save numpy.ascontiguousarray(x) instead");
  Tensor t;
  t.shape = parse_shape(dict_value(header, "shape", path), path);

  int64_t n = numel(t.shape);
  if (n > (int64_t(1) << 40)) bad(path, "array of shape " + shape_str(t.shape) + " is too large");
  t.data.resize(static_cast<size_t>(n));
  if (!in.read(reinterpret_cast<char*>(t.data.data()), std::streamsize(n * 4)))
    bad(path, "data is shorter than shape " + shape_str(t.shape) + " needs; rewrite the file");
  if (in.peek() != std::char_traits<char>::eof())
    bad(path, "data is longer than shape " + shape_str(t.shape) + " needs; rewrite the file");
  return t;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  if (numel(tensor.shape) != static_cast<int64_t>(tensor.data.size()))
    throw ConfigError("tensor of shape " + shape_str(tensor.shape) + " holds " +
                      std::to_string(tensor.data.size()) + " values; fix the shape before writing " + path);
  if (!little_endian_host()) bad(path, "this runtime needs a little-endian machine");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_str(tensor.shape) + ", }";
  // Pad so that magic + version + length + header + '\n' is a multiple of 64 bytes.
  size_t total = kMagicLen + 2 + 2 + header.size() + 1;
  bool v2 = header.size() + 64 > 65535;
  if (v2) total += 2;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw DataError("cannot write " + path + "; check that its folder exists and is writable");
  out.write(kMagic, kMagicLen);
  const unsigned char version[2] = {static_cast<unsigned char>(v2 ? 2 : 1), 0};
  out.write(reinterpret_cast<const char*>(version), 2);
  uint32_t len = static_cast<uint32_t>(header.size());
  unsigned char b[4] = {static_cast<unsigned char>(len), static_cast<unsigned char>(len >> 8),
                        static_cast<unsigned char>(len >> 16), static_cast<unsigned char>(len >> 24)};
  out.write(reinterpret_cast<const char*>(b), v2 ? 4 : 2);
  out.write(header.data(), std::streamsize(header.size()));
  out.write(reinterpret_cast<const char*>(tensor.data.data()), std::streamsize(tensor.data.size() * 4));
  out.close();
  if (!out) throw DataError("failed writing " + path + "; check free disk space");
}

}  // namespace crsae
