#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <iterator>
#include <thread>
#include <filesystem>
#include <fstream>

#include "check.hpp"
#include "crsae/errors.hpp"
#include "crsae/npy.hpp"
#include "tiny_onnx.hpp"

namespace {

// Let a reader blocked opening FIFO go (it reads EOF) when the writer under test never opened it.
inline void release_reader(const std::string& fifo) {
  const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
  if (fd >= 0) ::close(fd);
}

const std::string dir = tiny_onnx::temp_dir("npy");

// A .npy file with a hand-written header, as another numpy version or a foreign writer might produce.
std::string raw_npy(const std::string& name, int major, const std::string& dict, size_t floats) {
  std::string header = dict;
  size_t prefix = major == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string path = dir + "/" + name;
  std::ofstream out(path, std::ios::binary);
  out << "\x93NUMPY" << char(major) << char(0);
  uint32_t len = uint32_t(header.size());
  out.write(reinterpret_cast<const char*>(&len), major == 1 ? 2 : 4);
  out << header << std::string(floats * 4, '\0');
  return path;
}

}  // namespace

TEST(writes_and_reads_back) {
  crsae::Tensor t{{2, 1, 3}, {1, 2, 3, 4, 5, 6.5f}};
  crsae::write_npy(dir + "/a.npy", t);
  crsae::Tensor r = crsae::read_npy(dir + "/a.npy");
  CHECK(r.shape == t.shape);
  CHECK(r.data == t.data);
  CHECK_EQ(std::filesystem::file_size(dir + "/a.npy") % 64, 24u);  // 64-byte header + 6 floats
}

TEST(reads_scalar_and_1d_shapes) {
  crsae::write_npy(dir + "/s.npy", crsae::Tensor{{}, {7}});
  CHECK(crsae::read_npy(dir + "/s.npy").shape.empty());
  crsae::write_npy(dir + "/v.npy", crsae::Tensor{{3}, {1, 2, 3}});
  CHECK(crsae::read_npy(dir + "/v.npy").shape == std::vector<int64_t>{3});
}

TEST(reads_format_2_headers) {
  auto path = raw_npy("v2.npy", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 4);
  CHECK(crsae::read_npy(path).shape == (std::vector<int64_t>{2, 2}));
}

TEST(refuses_other_dtypes_orders_and_versions) {
  CHECK_THROWS(crsae::read_npy(raw_npy("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 4)),
               crsae::DataError, "dtype '<f8' is not supported: only little-endian float32 '<f4'");
  CHECK_THROWS(crsae::read_npy(raw_npy("be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 2)),
               crsae::DataError, "astype('<f4')");
  CHECK_THROWS(crsae::read_npy(raw_npy("fo.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 4)),
               crsae::DataError, "Fortran order; save numpy.ascontiguousarray(x)");
  CHECK_THROWS(crsae::read_npy(raw_npy("v3.npy", 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 2)),
               crsae::DataError, ".npy format 3.0 is not supported");
}

TEST(refuses_truncated_and_foreign_files) {
  CHECK_THROWS(crsae::read_npy(raw_npy("short.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (9,), }", 4)),
               crsae::DataError, "data is shorter than shape (9,)");
  CHECK_THROWS(crsae::read_npy(raw_npy("long.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4)),
               crsae::DataError, "data is longer");
  std::ofstream(dir + "/text.npy") << "hello world, not numpy";
  CHECK_THROWS(crsae::read_npy(dir + "/text.npy"), crsae::DataError, "not a .npy file (bad magic)");
  CHECK_THROWS(crsae::read_npy(dir + "/missing.npy"), crsae::DataError, "missing.npy does not exist; check the path");
  CHECK_THROWS(crsae::read_npy(dir), crsae::DataError, "is a folder; pass a .npy file");
  CHECK_THROWS(crsae::read_npy(raw_npy("c8.npy", 1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 4)),
               crsae::DataError, "complex values are not supported");
  CHECK_THROWS(crsae::read_npy(raw_npy("big.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000,), }", 4)),
               crsae::DataError, "data is shorter than shape (4000000000,) needs (16000000000 bytes, the file has 16)");
}

TEST(write_checks_shape_and_folder) {
  CHECK_THROWS(crsae::write_npy(dir + "/bad.npy", crsae::Tensor{{2, 2}, {1, 2, 3}}), crsae::ConfigError,
               "holds 3 values");
  CHECK_THROWS(crsae::write_npy(dir + "/no/such/dir/x.npy", crsae::Tensor{{1}, {1}}), crsae::DataError,
               "output folder " + dir + "/no/such/dir does not exist; create it or choose another path");

}

TEST(npy_output_is_atomic) {
  namespace fs = std::filesystem;
  const std::string sub = dir + "/atomic";
  fs::create_directories(sub);
  std::ofstream(sub + "/keep.npy") << "old";
  {
    crsae::NpyOutput out(sub + "/keep.npy");
    const std::string temp = out.temp_path();
    CHECK(fs::path(temp).parent_path() == fs::path(sub));
    CHECK(fs::path(temp).filename().string().rfind(".keep.npy.", 0) == 0);
    CHECK(temp.size() > 4 && temp.substr(temp.size() - 4) == ".tmp");
    CHECK(fs::exists(temp));
    // dropped without commit(): as if the run had failed
  }
  CHECK_EQ(std::distance(fs::directory_iterator(sub), fs::directory_iterator()), 1);
  std::ifstream in(sub + "/keep.npy");
  std::string text;
  in >> text;
  CHECK_EQ(text, "old");

  crsae::NpyOutput out(sub + "/keep.npy");
  out.commit(crsae::Tensor{{2}, {1, 2}});
  CHECK(out.temp_path().empty());
  CHECK(crsae::read_npy(sub + "/keep.npy").data == (std::vector<float>{1, 2}));
  CHECK_EQ(std::distance(fs::directory_iterator(sub), fs::directory_iterator()), 1);
  CHECK_THROWS(out.commit(crsae::Tensor{{2}, {1, 2}}), crsae::ConfigError, "is already written");
  CHECK_THROWS(crsae::NpyOutput(""), crsae::DataError, "the output path is empty");
  CHECK_THROWS(crsae::NpyOutput(sub), crsae::DataError, "is a folder; pass a file path such as");
  CHECK_THROWS(crsae::NpyOutput(sub + "/keep.npy/x.npy"), crsae::DataError, "keep.npy is a file, not a folder");
}

TEST(npy_output_writes_through_links_and_into_pipes) {
  namespace fs = std::filesystem;
  const std::string sub = dir + "/links";
  fs::create_directories(sub + "/real");
  crsae::write_npy(sub + "/real/a.npy", crsae::Tensor{{1}, {1}});
  fs::create_symlink("real/a.npy", sub + "/link.npy");
  crsae::write_npy(sub + "/link.npy", crsae::Tensor{{3}, {1, 2, 3}});
  CHECK(fs::is_symlink(sub + "/link.npy"));  // the link stays, its target is replaced
  CHECK(crsae::read_npy(sub + "/real/a.npy").data == (std::vector<float>{1, 2, 3}));
  CHECK_EQ(std::distance(fs::directory_iterator(sub + "/real"), fs::directory_iterator()), 1);

  // A pipe (as /dev/null or /dev/stdout would be) is written directly: nothing to rename onto it.
  const std::string fifo = sub + "/pipe";
  CHECK_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] {
    std::ifstream in(fifo, std::ios::binary);
    received.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  });
  crsae::NpyOutput out(fifo);
  CHECK(out.temp_path().empty());
  out.commit(crsae::Tensor{{3}, {1, 2, 3}});
  release_reader(fifo);
  reader.join();
  std::ifstream want(sub + "/real/a.npy", std::ios::binary);
  CHECK(received == std::string(std::istreambuf_iterator<char>(want), std::istreambuf_iterator<char>()));
  CHECK(fs::status(fifo).type() == fs::file_type::fifo);
  CHECK_EQ(std::distance(fs::directory_iterator(sub), fs::directory_iterator()), 3);  // real/, link.npy, pipe
}
