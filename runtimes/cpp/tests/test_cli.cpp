// crsae-infer end to end: round trip against the library, exit codes, one-line errors, no partial files.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "check.hpp"
#include "crsae/model.hpp"
#include "crsae/npy.hpp"
#include "tiny_onnx.hpp"

namespace {

const std::string dir = tiny_onnx::temp_dir("cli");

struct Run {
  int code;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Run cli(const std::string& args) {
  const std::string cmd = std::string(CRSAE_INFER) + " " + args + " >" + dir + "/stdout 2>" + dir + "/stderr";
  int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir + "/stdout"), slurp(dir + "/stderr")};
}

std::string model() {
  static const std::string path = tiny_onnx::write_model(dir + "/m.onnx", {}, tiny_onnx::crsae_metadata({}));
  return path;
}

std::string signal(std::vector<int64_t> shape) {
  crsae::Tensor t{shape, std::vector<float>(size_t(crsae::numel(shape)))};
  for (size_t k = 0; k < t.data.size(); ++k) t.data[k] = std::sin(0.37f * float(k)) + 0.1f * float(k % 7);
  crsae::write_npy(dir + "/in.npy", t);
  return dir + "/in.npy";
}

bool one_error_line(const Run& r, const std::string& text) {
  return r.err.rfind("error: ", 0) == 0 && r.err.find(text) != std::string::npos &&
         r.err.find('\n') == r.err.size() - 1;
}

bool no_temp_files() {
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().string().find(".tmp-") != std::string::npos) return false;
  return true;
}

}  // namespace

TEST(round_trip_matches_the_library) {
  const std::string in = signal({2, 2, 100});
  Run r = cli(model() + " " + in + " -o " + dir + "/codes.npy");
  CHECK_EQ(r.code, 0);
  CHECK_EQ(r.out, "wrote codes (2, 3, 96) to " + dir + "/codes.npy\n");
  crsae::Model m(model());
  auto y = crsae::read_npy(in);
  CHECK(crsae::read_npy(dir + "/codes.npy").data == m.encode(y).data);

  r = cli(model() + " " + in + " -o " + dir + "/rec.npy --output reconstruction --chunk 30");
  CHECK_EQ(r.code, 0);
  auto rec = crsae::read_npy(dir + "/rec.npy");
  CHECK(rec.shape == y.shape);
  CHECK(rec.data == m.reconstruct(y, 30).data);
  CHECK(no_temp_files());
}

TEST(errors_are_one_line_and_exit_1_without_output) {
  const std::string in = signal({1, 2, 100});
  auto meta = tiny_onnx::crsae_metadata({});
  meta.erase("format");
  const std::string foreign = tiny_onnx::write_model(dir + "/foreign.onnx", {}, meta);
  Run r = cli(foreign + " " + in + " -o " + dir + "/x.npy");
  CHECK_EQ(r.code, 1);
  CHECK(one_error_line(r, "not a crsae model"));
  CHECK(!std::filesystem::exists(dir + "/x.npy"));

  const std::string bad = signal({1, 3, 100});
  r = cli(model() + " " + bad + " -o " + dir + "/x.npy");
  CHECK_EQ(r.code, 1);
  CHECK(one_error_line(r, "signal has 3 channels"));

  r = cli(model() + " " + dir + "/none.npy -o " + dir + "/x.npy");
  CHECK_EQ(r.code, 1);
  CHECK(one_error_line(r, "cannot open"));
  CHECK(!std::filesystem::exists(dir + "/x.npy"));
  CHECK(no_temp_files());
}

TEST(failure_keeps_an_existing_output) {
  std::ofstream(dir + "/keep.npy") << "old";
  Run r = cli(model() + " " + signal({1, 2, 3}) + " -o " + dir + "/keep.npy");
  CHECK_EQ(r.code, 1);
  CHECK(one_error_line(r, "smaller than kernel_size 5"));
  CHECK_EQ(slurp(dir + "/keep.npy"), "old");
}

TEST(usage_errors_exit_2) {
  const std::string in = signal({1, 2, 100});
  CHECK_EQ(cli(model() + " " + in).code, 2);
  CHECK(cli(model() + " " + in).err.find("missing -o OUT.npy") != std::string::npos);
  CHECK_EQ(cli(model() + " " + in + " -o x.npy --chunk 0").code, 2);
  CHECK_EQ(cli(model() + " " + in + " -o x.npy --chunk ten").code, 2);
  CHECK_EQ(cli(model() + " " + in + " -o x.npy --output sparse").code, 2);
  CHECK_EQ(cli(model() + " " + in + " -o x.npy --frobnicate").code, 2);
  Run help = cli("--help");
  CHECK_EQ(help.code, 0);
  CHECK(help.out.rfind("usage: crsae-infer MODEL INPUT.npy -o OUT.npy", 0) == 0);
}
