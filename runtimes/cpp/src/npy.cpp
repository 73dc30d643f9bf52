// The .npy format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
// magic "\x93NUMPY", version (major, minor), header length (uint16 for 1.0, uint32 for 2.0), then a Python dict
// literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces to a multiple of 64
// bytes and ended by '\n', then the raw data.
#include "crsae/npy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

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
  const char open = header[start];
  size_t end = open == '(' ? header.find(')', start)
               : open == '[' ? header.rfind(']')
                             : header.find_first_of(",}", start);
  if (end == std::string::npos || end < start) bad(path, "malformed header; write the file with numpy.save");
  if (open == '(' || open == '[') ++end;  // keep the closing bracket
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
    if (end == k || end - k > 12) bad(path, "bad shape " + tuple + " in header; write the file with numpy.save");
    shape.push_back(std::stoll(tuple.substr(k, end - k)));
    k = end;
    while (k < tuple.size() && tuple[k] == ' ') ++k;
    if (k < tuple.size() && tuple[k] != ',' && tuple[k] != ')')
      bad(path, "bad shape " + tuple + " in header; write the file with numpy.save");
  }
  return shape;
}

// The fix for a dtype other than '<f4' (numpy's descr: byte order, kind letter, item size).
std::string dtype_fix(const std::string& descr) {
  const std::string d = descr.size() >= 2 && descr.front() == '\'' ? descr.substr(1, descr.size() - 2) : descr;
  const char kind = d.size() >= 2 ? d[1] : '?';
  if (!d.empty() && d[0] == '[')
    return "structured arrays are not supported; save one float32 field: numpy.save(path, x['name'].astype('<f4'))";
  if (kind == 'c')
    return "complex values are not supported, only little-endian float32 '<f4'; save the real part: "
           "numpy.save(path, x.real.astype('<f4'))";
  if (kind == 'O')
    return "object arrays are not supported, only little-endian float32 '<f4'; save numpy.asarray(x, '<f4')";
  return "only little-endian float32 '<f4' is supported; save it with numpy.save(path, x.astype('<f4'))";
}

std::string os_error(int err) { return std::strerror(err); }

mode_t current_umask() {
  const mode_t mask = ::umask(0);  // the only portable way to read it
  ::umask(mask);
  return mask;
}

}  // namespace

Tensor read_npy(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw DataError("input file " + path + " does not exist; check the path");
  if (std::filesystem::is_directory(status)) throw DataError("input " + path + " is a folder; pass a .npy file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot open " + path + " (" + os_error(errno) + "); check its permissions");
  if (!little_endian_host()) bad(path, "this runtime needs a little-endian machine");
  in.seekg(0, std::ios::end);
  const std::streamoff file_size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (file_size < 0) bad(path, "cannot read its size; pass a regular .npy file");

  char magic[kMagicLen];
  unsigned char version[2];
  if (!in.read(magic, kMagicLen) || std::memcmp(magic, kMagic, kMagicLen) != 0)
    bad(path, "not a .npy file (bad magic); save the array with numpy.save");
  if (!in.read(reinterpret_cast<char*>(version), 2)) bad(path, "truncated .npy header; rewrite the file");
  uint32_t header_len = 0;
  if (version[0] == 1) {
    unsigned char b[2] = {0, 0};
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else if (version[0] == 2) {
    unsigned char b[4] = {0, 0, 0, 0};
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t(b[3]) << 24);
  } else {
    bad(path, ".npy format " + std::to_string(version[0]) + "." + std::to_string(version[1]) +
                  " is not supported (only 1.0 and 2.0); save with numpy.save and ASCII field names");
  }
  if (!in || header_len > (1u << 24) || std::streamoff(header_len) > file_size)
    bad(path, "truncated or oversized .npy header; rewrite the file");
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) bad(path, "truncated .npy header; rewrite the file");
  if (header.find('{') == std::string::npos) bad(path, "malformed header; write the file with numpy.save");

  const std::string descr = dict_value(header, "descr", path);
  if (descr != "'<f4'") bad(path, "dtype " + descr + " is not supported: " + dtype_fix(descr));
  const std::string order = dict_value(header, "fortran_order", path);
  if (order == "True") bad(path, "array is in Fortran order; save numpy.ascontiguousarray(x) instead");
  if (order != "False") bad(path, "malformed header (fortran_order " + order + "); write the file with numpy.save");
  Tensor t;
  t.shape = parse_shape(dict_value(header, "shape", path), path);

  // The size the shape needs, checked against the file before anything is allocated.
  const int64_t data_bytes = int64_t(file_size) - int64_t(in.tellg());
  int64_t n = 1;
  for (int64_t d : t.shape) {
    if (d != 0 && n > (int64_t(1) << 40) / d) bad(path, "shape " + shape_str(t.shape) + " is too large; rewrite the file");
    n *= d;
  }
  if (n * 4 > data_bytes)
    bad(path, "data is shorter than shape " + shape_str(t.shape) + " needs (" + std::to_string(n * 4) + " bytes, the file has " +
                  std::to_string(data_bytes) + "); the file is truncated, rewrite it");
  if (n * 4 < data_bytes)
    bad(path, "data is longer than shape " + shape_str(t.shape) + " needs; rewrite the file");
  t.data.resize(static_cast<size_t>(n));
  if (!in.read(reinterpret_cast<char*>(t.data.data()), std::streamsize(n * 4)))
    bad(path, "data is shorter than shape " + shape_str(t.shape) + " needs; rewrite the file");
  return t;
}

namespace {

void check_fill(const std::string& path, const Tensor& tensor) {
  if (numel(tensor.shape) != static_cast<int64_t>(tensor.data.size()))
    throw ConfigError("tensor of shape " + shape_str(tensor.shape) + " holds " +
                      std::to_string(tensor.data.size()) + " values; fix the shape before writing " + path);
}

std::string npy_bytes(const Tensor& tensor) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_str(tensor.shape) + ", }";
  // Pad so that magic + version + length + header + '\n' is a multiple of 64 bytes.
  size_t total = kMagicLen + 2 + 2 + header.size() + 1;
  const bool v2 = header.size() + 64 > 65535;
  if (v2) total += 2;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, kMagicLen);
  out += char(v2 ? 2 : 1);
  out += char(0);
  const uint32_t len = static_cast<uint32_t>(header.size());
  for (int k = 0; k < (v2 ? 4 : 2); ++k) out += char((len >> (8 * k)) & 0xFF);
  return out + header;
}

}  // namespace

NpyOutput::NpyOutput(std::string path) : path_(std::move(path)) {
  if (path_.empty()) throw DataError("the output path is empty; pass a file name such as codes.npy");
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path_, ec))
    throw DataError("output " + path_ + " is a folder; pass a file path such as " +
                    (fs::path(path_) / "codes.npy").string());
  const std::string leaf = fs::path(path_).filename().string();
  if (leaf.empty() || leaf == "." || leaf == "..")
    throw DataError("output " + path_ + " names a folder; pass a file path such as " +
                    (fs::path(path_) / "codes.npy").lexically_normal().string());
  // Write through a symbolic link, as numpy.save does, rather than replacing the link with a file.
  // (a dangling link too: its target is created, as open() would).
  target_ = path_;
  for (int hops = 0; fs::is_symlink(fs::symlink_status(target_, ec)); ++hops) {
    if (hops == 40) throw DataError("output " + path_ + " is a loop of symbolic links; choose another path");
    const fs::path next = fs::read_symlink(target_, ec);
    if (ec) break;
    target_ = (next.is_absolute() ? next : fs::path(target_).parent_path() / next).lexically_normal().string();
  }
  const auto target_status = fs::status(target_, ec);
  if (fs::is_directory(target_status))
    throw DataError("output " + path_ + " is a folder; pass a file path such as " +
                    (fs::path(path_) / "codes.npy").string());
  if (fs::exists(target_status) && !fs::is_regular_file(target_status)) {  // /dev/null, a FIFO: no rename
    // Probe a device now; never a FIFO: opening and closing it would hand a waiting reader an early EOF.
    if (!fs::is_fifo(target_status)) {
      const int fd = ::open(target_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0)
        throw DataError("cannot write to output " + path_ + " (" + os_error(errno) + "); choose another path");
      ::close(fd);
    } else if (::access(target_.c_str(), W_OK) != 0) {
      throw DataError("cannot write to output " + path_ + " (" + os_error(errno) + "); choose another path");
    }
    direct_ = true;
    return;
  }
  fs::path folder = fs::path(target_).parent_path();
  if (folder.empty()) folder = ".";
  const auto status = fs::status(folder, ec);
  if (!fs::exists(status))
    throw DataError("output folder " + folder.string() + " does not exist; create it or choose another path");
  if (!fs::is_directory(status))
    throw DataError("output folder " + folder.string() + " is a file, not a folder; choose another path");

  const std::string name = fs::path(target_).filename().string();
  const std::string pattern = (folder / ("." + name + ".XXXXXX.tmp")).string();
  std::vector<char> tmpl(pattern.begin(), pattern.end());
  tmpl.push_back('\0');
  const int fd = ::mkstemps(tmpl.data(), 4);
  if (fd < 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM || err == EROFS || err == ENOENT)
      throw DataError("output folder " + folder.string() + " is not writable (" + os_error(err) +
                      "); choose another path");
    throw DataError("cannot create a file in output folder " + folder.string() + " (" + os_error(err) +
                    "); choose another path");
  }
  temp_ = tmpl.data();
  ::fchmod(fd, 0666 & ~current_umask());  // mkstemps makes 0600; give the file numpy.save's permissions
  ::close(fd);
}

NpyOutput::~NpyOutput() {
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

void NpyOutput::commit(const Tensor& tensor) {
  if (done_) throw ConfigError(path_ + " is already written; make a new NpyOutput for another file");
  check_fill(path_, tensor);
  if (!little_endian_host()) bad(path_, "this runtime needs a little-endian machine");
  const std::string head = npy_bytes(tensor);
  const std::string& file = direct_ ? target_ : temp_;
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC | (direct_ ? 0 : O_TRUNC));
  if (fd < 0) throw DataError("cannot write " + file + " (" + os_error(errno) + "); choose another output path");
  auto write_all = [&](const char* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= size_t(w);
    }
    return true;
  };
  bool ok = write_all(head.data(), head.size()) &&
            write_all(reinterpret_cast<const char*>(tensor.data.data()), tensor.data.size() * 4);
  int err = ok ? 0 : errno;
  if (ok && !direct_ && ::fsync(fd) != 0 && errno != EINVAL) ok = false, err = errno;
  if (::close(fd) != 0 && ok) ok = false, err = errno;
  if (!ok) throw DataError("failed writing " + path_ + " (" + os_error(err) + "); check free disk space");
  if (!direct_ && ::rename(temp_.c_str(), target_.c_str()) != 0)
    throw DataError("cannot rename " + temp_ + " onto " + target_ + " (" + os_error(errno) +
                    "); choose another output path");
  temp_.clear();
  done_ = true;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  check_fill(path, tensor);
  NpyOutput out(path);
  out.commit(tensor);
}

}  // namespace crsae
