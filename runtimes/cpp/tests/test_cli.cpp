// crsae-infer and crsae-bench end to end, each run in a fresh process (so ONNX Runtime's initialisation order
// in this binary cannot hide a crash): round trips against the library, and hostile inputs. A bad input must
// print exactly one line "error: ..." on stderr, exit 1 (2 for usage errors), write nothing to stdout, leave no
// output and no temporary file, and leave an existing output file untouched.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <signal.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "check.hpp"
#include "crsae/model.hpp"
#include "crsae/npy.hpp"
#include "tiny_onnx.hpp"

namespace fs = std::filesystem;

namespace {

// Let a reader blocked opening FIFO go (it reads EOF) when the writer under test never opened it.
inline void release_reader(const std::string& fifo) {
  const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
  if (fd >= 0) ::close(fd);
}

const std::string dir = tiny_onnx::temp_dir("cli");
const std::string logs = tiny_onnx::temp_dir("cli-logs");  // stdout/stderr captures, outside `dir`

struct Run {
  int code;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Run run(const std::string& binary, const std::vector<std::string>& args, const std::string& cwd = "") {
  std::string cmd = (cwd.empty() ? "" : "cd " + quote(cwd) + " && ") + binary;
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " >" + logs + "/stdout 2>" + logs + "/stderr </dev/null";
  const int status = std::system(cmd.c_str());
  // A signal (a crash: 139 from a shell) is never an acceptable result.
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {code, slurp(logs + "/stdout"), slurp(logs + "/stderr")};
}

Run infer(const std::vector<std::string>& args, const std::string& cwd = "") { return run(CRSAE_INFER, args, cwd); }
Run bench(const std::vector<std::string>& args) { return run(CRSAE_BENCH, args); }

// Every file in `dir`, for checking that a failed run left nothing behind.
std::vector<std::string> listing() {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied))
    names.push_back(e.path().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool leftover_temp() {
  for (const auto& name : listing())
    if (name.find(".tmp") != std::string::npos) return true;
  return false;
}

// The run failed as promised: exit `code`, one "error: " line holding `text`, empty stdout, no temp file.
void expect_error(const Run& r, int code, const std::string& text, const char* file, int line) {
  std::ostringstream where;
  where << "exit " << r.code << ", stdout '" << r.out << "', stderr '" << r.err << "'";
  if (r.code != code) check::fail(file, line, "expected exit " + std::to_string(code) + ": " + where.str());
  if (r.err.rfind("error: ", 0) != 0 || r.err.find('\n') != r.err.size() - 1)
    check::fail(file, line, "stderr is not one 'error: ' line: " + where.str());
  if (r.err.find(text) == std::string::npos) check::fail(file, line, "stderr lacks '" + text + "': " + where.str());
  if (!r.out.empty()) check::fail(file, line, "stdout is not empty: " + where.str());
  if (leftover_temp()) check::fail(file, line, "a temporary file was left behind: " + where.str());
}
#define EXPECT_ERROR(run_, code_, text_) expect_error((run_), (code_), (text_), __FILE__, __LINE__)

std::string model() {
  static const std::string path = tiny_onnx::write_model(dir + "/m.onnx", {}, tiny_onnx::crsae_metadata({}));
  return path;
}

std::string model_2d() {
  tiny_onnx::Spec spec;
  spec.kind = "2d";
  spec.channels = 1;
  static const std::string path = tiny_onnx::write_model(dir + "/img.onnx", spec, tiny_onnx::crsae_metadata(spec));
  return path;
}

std::string signal(const std::string& name, std::vector<int64_t> shape) {
  crsae::Tensor t{shape, std::vector<float>(size_t(crsae::numel(shape)))};
  for (size_t k = 0; k < t.data.size(); ++k) t.data[k] = std::sin(0.37f * float(k)) + 0.1f * float(k % 7);
  crsae::write_npy(dir + "/" + name, t);
  return dir + "/" + name;
}

// A .npy file with a hand-written header and `data_bytes` zero bytes of data.
std::string raw_npy(const std::string& name, const std::string& dict, size_t data_bytes) {
  std::string header = dict;
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out << "\x93NUMPY" << char(1) << char(0);
  const uint16_t len = uint16_t(header.size());
  out.write(reinterpret_cast<const char*>(&len), 2);
  out << header << std::string(data_bytes, '\0');
  return dir + "/" + name;
}

std::string file_with(const std::string& name, const std::string& bytes) {
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  return dir + "/" + name;
}

std::string random_bytes(size_t n) {
  std::string s(n, '\0');
  uint32_t state = 2463534242u;
  for (char& c : s) state ^= state << 13, state ^= state >> 17, state ^= state << 5, c = char(state & 0xFF);
  return s;
}

// A folder this process cannot create files in: a read-only folder for a normal user; as root (who may write
// anywhere permissions allow) a kernel folder that refuses new files.
std::string unwritable_folder() {
  const std::string ro = dir + "/readonly";
  fs::create_directories(ro);
  ::chmod(ro.c_str(), 0555);
  for (const std::string& candidate : {ro, std::string("/sys"), std::string("/proc")}) {
    const std::string probe = candidate + "/.crsae-probe";
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 && fs::is_directory(candidate)) return candidate;
    if (fd >= 0) ::close(fd), ::unlink(probe.c_str());
  }
  check::fail(__FILE__, __LINE__, "found no unwritable folder to test with");
}

}  // namespace

TEST(round_trip_matches_the_library) {
  const std::string in = signal("in.npy", {2, 2, 100});
  Run r = infer({model(), in, "-o", dir + "/codes.npy"});
  CHECK_EQ(r.code, 0);
  CHECK_EQ(r.out, "wrote codes (2, 3, 96) to " + dir + "/codes.npy\n");
  CHECK_EQ(r.err, "");
  crsae::Model m(model());
  auto y = crsae::read_npy(in);
  CHECK(crsae::read_npy(dir + "/codes.npy").data == m.encode(y).data);

  r = infer({model(), in, "-o", dir + "/rec.npy", "--output", "reconstruction", "--chunk", "30", "--threads", "1"});
  CHECK_EQ(r.code, 0);
  auto rec = crsae::read_npy(dir + "/rec.npy");
  CHECK(rec.shape == y.shape);
  CHECK(rec.data == m.reconstruct(y, 30).data);
  CHECK(!leftover_temp());
  // numpy.save's permissions (0666 less the umask), not mkstemp's 0600
  const mode_t mask = ::umask(0);
  ::umask(mask);
  CHECK_EQ(int(fs::status(dir + "/rec.npy").permissions() & fs::perms::all), int(0666 & ~mask));
  // an existing output is replaced whole
  r = infer({model(), in, "-o", dir + "/rec.npy"});
  CHECK_EQ(r.code, 0);
  CHECK(crsae::read_npy(dir + "/rec.npy").shape == (std::vector<int64_t>{2, 3, 96}));
}

TEST(missing_model) {
  const std::string in = signal("in.npy", {1, 2, 100});
  EXPECT_ERROR(infer({dir + "/none.onnx", in, "-o", dir + "/x.npy"}), 1, "model file " + dir + "/none.onnx does not exist");
  EXPECT_ERROR(bench({dir + "/none.onnx", in}), 1, "does not exist; pass the .onnx file written by crsae export");
  EXPECT_ERROR(infer({dir, in, "-o", dir + "/x.npy"}), 1, "is a folder; pass the .onnx file");
  CHECK(!fs::exists(dir + "/x.npy"));
}

TEST(model_that_is_not_onnx) {
  const std::string in = signal("in.npy", {1, 2, 100});
  for (const std::string& bad : {file_with("empty.onnx", ""), file_with("random.onnx", random_bytes(4096)),
                                 file_with("text.onnx", "this is not protobuf\n"), in}) {
    EXPECT_ERROR(infer({bad, in, "-o", dir + "/x.npy"}), 1, "is not a loadable ONNX model");
    EXPECT_ERROR(bench({bad, in, "--repeat", "1"}), 1, "pass a complete .onnx file written by crsae export");
  }
  CHECK(!fs::exists(dir + "/x.npy"));
}

TEST(onnx_without_crsae_metadata) {
  const std::string in = signal("in.npy", {1, 2, 100});
  const std::string bare = tiny_onnx::write_model(dir + "/bare.onnx", {}, {});
  EXPECT_ERROR(infer({bare, in, "-o", dir + "/x.npy"}), 1, "not a crsae model (no 'format' metadata)");
  auto meta = tiny_onnx::crsae_metadata({});
  meta.erase("min_size");
  const std::string old = tiny_onnx::write_model(dir + "/old.onnx", {}, meta);
  EXPECT_ERROR(infer({old, in, "-o", dir + "/x.npy"}), 1, "metadata has no 'min_size'; re-export the model");
  meta = tiny_onnx::crsae_metadata({});
  meta["contract_version"] = "99";
  EXPECT_ERROR(bench({tiny_onnx::write_model(dir + "/new.onnx", {}, meta), in}), 1,
               "contract_version 99 but this runtime knows only 1");
  CHECK(!fs::exists(dir + "/x.npy"));
}

TEST(missing_input) {
  EXPECT_ERROR(infer({model(), dir + "/none.npy", "-o", dir + "/x.npy"}), 1,
               "input file " + dir + "/none.npy does not exist; check the path");
  EXPECT_ERROR(bench({model(), dir + "/none.npy"}), 1, "does not exist; check the path");
  EXPECT_ERROR(infer({model(), dir, "-o", dir + "/x.npy"}), 1, "is a folder; pass a .npy file");
  CHECK(!fs::exists(dir + "/x.npy"));
}

TEST(corrupt_input) {
  const std::string out = dir + "/x.npy";
  EXPECT_ERROR(infer({model(), file_with("empty.npy", ""), "-o", out}), 1, "not a .npy file (bad magic)");
  EXPECT_ERROR(infer({model(), file_with("junk.npy", random_bytes(300)), "-o", out}), 1, "not a .npy file");
  EXPECT_ERROR(infer({model(), file_with("cut.npy", std::string("\x93NUMPY\x01\x00\x76\x00{'descr'", 18)), "-o", out}),
               1, "truncated");
  EXPECT_ERROR(infer({model(), raw_npy("short.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 100), }", 12),
                      "-o", out}), 1, "data is shorter than shape (1, 2, 100) needs");
  // a header claiming a huge array must fail on the file size, not by trying to allocate it
  EXPECT_ERROR(infer({model(), raw_npy("huge.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 2, 100000), }", 8),
                      "-o", out}), 1, "data is shorter than shape (100000, 2, 100000) needs");
  EXPECT_ERROR(infer({model(), raw_npy("overflow.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (999999999999, 999999999999, 999999999999), }", 8),
                      "-o", out}), 1, "is too large");
  EXPECT_ERROR(infer({model(), raw_npy("neg.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, -2, 100), }", 8),
                      "-o", out}), 1, "bad shape (1, -2, 100)");
  EXPECT_ERROR(infer({model(), raw_npy("nodescr.npy", "{'fortran_order': False, 'shape': (1, 2, 100), }", 800),
                      "-o", out}), 1, "header has no 'descr'");
  CHECK(!fs::exists(out));
}

TEST(input_of_the_wrong_dtype) {
  const std::string out = dir + "/x.npy";
  EXPECT_ERROR(infer({model(), raw_npy("f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 100), }", 1600),
                      "-o", out}), 1, "dtype '<f8' is not supported: only little-endian float32 '<f4'");
  EXPECT_ERROR(infer({model(), raw_npy("i4.npy", "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2, 100), }", 800),
                      "-o", out}), 1, "x.astype('<f4')");
  EXPECT_ERROR(infer({model(), raw_npy("u1.npy", "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 100), }", 200),
                      "-o", out}), 1, "dtype '|u1' is not supported");
  EXPECT_ERROR(infer({model(), raw_npy("be.npy", "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2, 100), }", 800),
                      "-o", out}), 1, "dtype '>f4' is not supported");
  EXPECT_ERROR(infer({model(), raw_npy("obj.npy", "{'descr': '|O', 'fortran_order': False, 'shape': (1, 2, 100), }", 1600),
                      "-o", out}), 1, "object arrays are not supported");
  EXPECT_ERROR(infer({model(), raw_npy("rec.npy", "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (1, 2, 100), }", 1600),
                      "-o", out}), 1, "structured arrays are not supported");
  EXPECT_ERROR(infer({model(), raw_npy("fo.npy", "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2, 100), }", 800),
                      "-o", out}), 1, "Fortran order");
  CHECK(!fs::exists(out));
}

TEST(complex_input) {
  EXPECT_ERROR(infer({model(), raw_npy("c8.npy", "{'descr': '<c8', 'fortran_order': False, 'shape': (1, 2, 100), }", 1600),
                      "-o", dir + "/x.npy"}), 1, "complex values are not supported");
  EXPECT_ERROR(bench({model(), raw_npy("c16.npy", "{'descr': '<c16', 'fortran_order': False, 'shape': (1, 2, 100), }", 3200)}),
               1, "save the real part: numpy.save(path, x.real.astype('<f4'))");
  CHECK(!fs::exists(dir + "/x.npy"));
}

TEST(input_of_the_wrong_rank_or_channels) {
  EXPECT_ERROR(infer({model(), signal("r2.npy", {2, 100}), "-o", dir + "/x.npy"}), 1,
               "signal has shape (2, 100) but this 1d model takes (batch, channels, length); reshape it to rank 3");
  EXPECT_ERROR(infer({model(), signal("r4.npy", {1, 2, 10, 10}), "-o", dir + "/x.npy"}), 1, "reshape it to rank 3");
  EXPECT_ERROR(infer({model_2d(), signal("r3.npy", {1, 1, 100}), "-o", dir + "/x.npy"}), 1,
               "(batch, channels, height, width); reshape it to rank 4");
  EXPECT_ERROR(infer({model(), signal("c3.npy", {1, 3, 100}), "-o", dir + "/x.npy"}), 1, "signal has 3 channels");
  EXPECT_ERROR(infer({model(), signal("b0.npy", {0, 2, 100}), "-o", dir + "/x.npy"}), 1, "batch 0");
  EXPECT_ERROR(infer({model(), signal("s0.npy", {}), "-o", dir + "/x.npy"}), 1, "signal has shape ()");
  CHECK(!fs::exists(dir + "/x.npy"));
}

TEST(input_too_small) {
  EXPECT_ERROR(infer({model(), signal("short.npy", {1, 2, 4}), "-o", dir + "/x.npy"}), 1,
               "signal size 4 is smaller than 5, the least this model takes; pass longer signals or larger images");
  EXPECT_ERROR(infer({model_2d(), signal("small.npy", {1, 1, 4, 40}), "-o", dir + "/x.npy"}), 1,
               "signal size 4x40 is smaller than 5, the least this model takes");
  EXPECT_ERROR(bench({model(), signal("short.npy", {1, 2, 4})}), 1, "signal size 4 is smaller than 5");
  CHECK(!fs::exists(dir + "/x.npy"));
}

TEST(input_with_nan_or_inf) {
  crsae::Tensor t{{1, 2, 100}, std::vector<float>(200, 0.5f)};
  t.data[17] = NAN;
  crsae::write_npy(dir + "/nan.npy", t);
  EXPECT_ERROR(infer({model(), dir + "/nan.npy", "-o", dir + "/x.npy"}), 1, "at flat index 17; replace NaN/Inf values");
  t.data[17] = -INFINITY;
  crsae::write_npy(dir + "/inf.npy", t);
  EXPECT_ERROR(infer({model(), dir + "/inf.npy", "-o", dir + "/x.npy", "--chunk", "10"}), 1, "-inf at flat index 17");
  CHECK(!fs::exists(dir + "/x.npy"));
}

TEST(unwritable_output_folder) {
  const std::string folder = unwritable_folder();
  const std::string in = signal("in.npy", {1, 2, 100});
  EXPECT_ERROR(infer({model(), in, "-o", folder + "/x.npy"}), 1,
               "output folder " + folder + " is not writable");
  CHECK(!fs::exists(folder + "/x.npy"));
  ::chmod((dir + "/readonly").c_str(), 0755);
}

TEST(output_whose_parent_is_a_file) {
  const std::string in = signal("in.npy", {1, 2, 100});
  EXPECT_ERROR(infer({model(), in, "-o", in + "/x.npy"}), 1, "output folder " + in + " is a file, not a folder");
  EXPECT_ERROR(infer({model(), in, "-o", in + "/deeper/x.npy"}), 1, "does not exist; create it or choose another path");
  CHECK(crsae::read_npy(in).shape == (std::vector<int64_t>{1, 2, 100}));  // the input is untouched
}

TEST(output_folder_missing) {
  const std::string in = signal("in.npy", {1, 2, 100});
  EXPECT_ERROR(infer({model(), in, "-o", dir + "/nowhere/x.npy"}), 1,
               "output folder " + dir + "/nowhere does not exist; create it or choose another path");
  CHECK(!fs::exists(dir + "/nowhere"));
}

TEST(output_that_is_a_folder) {
  const std::string in = signal("in.npy", {1, 2, 100});
  fs::create_directories(dir + "/outdir");
  EXPECT_ERROR(infer({model(), in, "-o", dir + "/outdir"}), 1, "output " + dir + "/outdir is a folder; pass a file path");
  EXPECT_ERROR(infer({model(), in, "-o", dir + "/outdir/"}), 1, "is a folder; pass a file path");
  CHECK(fs::is_empty(dir + "/outdir"));
}

TEST(failure_keeps_an_existing_output) {
  std::ofstream(dir + "/keep.npy") << "old";
  const auto before = listing();
  EXPECT_ERROR(infer({model(), signal("short.npy", {1, 2, 3}), "-o", dir + "/keep.npy"}), 1, "signal size 3 is smaller than 5");
  EXPECT_ERROR(infer({model(), dir + "/none.npy", "-o", dir + "/keep.npy"}), 1, "does not exist");
  EXPECT_ERROR(infer({dir + "/none.onnx", dir + "/short.npy", "-o", dir + "/keep.npy"}), 1, "does not exist");
  EXPECT_ERROR(infer({model_2d(), signal("img.npy", {1, 1, 20, 20}), "-o", dir + "/keep.npy", "--chunk", "5"}), 1,
               "chunking applies to 1-D models only");
  EXPECT_ERROR(infer({model(), signal("in.npy", {1, 2, 100}), "-o", dir + "/keep.npy", "--output", "codes", "--chunk",
                      "99999999999999999999"}), 2, "--chunk must be a whole number");
  CHECK_EQ(slurp(dir + "/keep.npy"), "old");
}

TEST(model_without_the_requested_output) {
  tiny_onnx::Spec spec;
  spec.outputs = {"codes"};
  auto meta = tiny_onnx::crsae_metadata(spec);
  const std::string codes_only = tiny_onnx::write_model(dir + "/codes_only.onnx", spec, meta);
  EXPECT_ERROR(infer({codes_only, signal("in.npy", {1, 2, 100}), "-o", dir + "/x.npy", "--output", "reconstruction"}), 1,
               "has no output 'reconstruction' (it has [\"codes\"])");
  CHECK(!fs::exists(dir + "/x.npy"));
}

TEST(usage_errors_exit_2) {
  const std::string in = signal("in.npy", {1, 2, 100});
  const std::string out = dir + "/x.npy";
  EXPECT_ERROR(infer({model(), in}), 2, "missing -o OUT.npy; run crsae-infer --help for usage");
  EXPECT_ERROR(infer({}), 2, "expected MODEL and INPUT.npy, got 0 paths");
  EXPECT_ERROR(infer({model(), in, "extra", "-o", out}), 2, "got 3 paths");
  EXPECT_ERROR(infer({model(), in, "-o"}), 2, "-o needs a value");
  EXPECT_ERROR(infer({model(), in, "-o", out, "--chunk"}), 2, "--chunk needs a value");
  EXPECT_ERROR(infer({model(), in, "-o", out, "--chunk", "0"}), 2, "--chunk must be a whole number from 1 up, got '0'");
  EXPECT_ERROR(infer({model(), in, "-o", out, "--chunk", "ten"}), 2, "got 'ten'");
  EXPECT_ERROR(infer({model(), in, "-o", out, "--chunk", "5x"}), 2, "got '5x'");
  EXPECT_ERROR(infer({model(), in, "-o", out, "--threads", "-1"}), 2, "--threads must be a whole number");
  EXPECT_ERROR(infer({model(), in, "-o", out, "--output", "sparse"}), 2,
               "--output must be 'codes' or 'reconstruction', got 'sparse'");
  EXPECT_ERROR(infer({model(), in, "-o", out, "--frobnicate"}), 2, "unknown option --frobnicate");
  EXPECT_ERROR(infer({model(), in, "-o", out, "--noise-sigma", "-1"}), 2,
               "--noise-sigma must be a number >= 0 or auto, got '-1'");
  EXPECT_ERROR(infer({model(), in, "-o", out, "--noise-sigma", "loud"}), 2, "got 'loud'");
  EXPECT_ERROR(infer({model(), in, "-o", out, "--noise-sigma", "0.1"}), 1,
               "has its noise level frozen at sigma 1 (exported without --noise-input)");
  EXPECT_ERROR(bench({model()}), 2, "expected MODEL and INPUT.npy, got 1 paths; run crsae-bench --help for usage");
  EXPECT_ERROR(bench({model(), in, "--repeat", "0"}), 2, "--repeat must be a whole number from 1");
  EXPECT_ERROR(bench({model(), in, "--warmup", "-3"}), 2, "--warmup must be a whole number from 0");
  EXPECT_ERROR(bench({model(), in, "--threads", "many"}), 2, "--threads must be a whole number");
  EXPECT_ERROR(bench({model(), in, "--output", "x"}), 2, "--output must be 'codes' or 'reconstruction'");
  EXPECT_ERROR(bench({model(), in, "--repeat"}), 2, "--repeat needs a value");
  EXPECT_ERROR(bench({model(), in, "--frobnicate"}), 2, "unknown option --frobnicate");
  CHECK(!fs::exists(out));
}

TEST(help_exits_0) {
  Run help = infer({"--help"});
  CHECK_EQ(help.code, 0);
  CHECK(help.out.rfind("usage: crsae-infer MODEL INPUT.npy -o OUT.npy", 0) == 0);
  CHECK_EQ(help.err, "");
  help = bench({"-h"});
  CHECK_EQ(help.code, 0);
  CHECK(help.out.rfind("usage: crsae-bench MODEL INPUT.npy", 0) == 0);
}

TEST(bench_times_a_model) {
  Run r = bench({model(), signal("in.npy", {2, 2, 200}), "--warmup", "1", "--repeat", "3", "--threads", "1",
                 "--output", "reconstruction", "--chunk", "50"});
  CHECK_EQ(r.code, 0);
  CHECK_EQ(r.err, "");
  CHECK(r.out.find("reconstruction (2, 2, 200) chunk=50: mean ") != std::string::npos);
  CHECK(r.out.find("over 3 runs (1 warmup); onnxruntime ") != std::string::npos);
}

TEST(paths_after_double_dash_are_positional) {
  signal("-odd.npy", {1, 2, 100});
  Run r = infer({"-o", "-out.npy", "--", model(), "-odd.npy"}, dir);
  CHECK_EQ(r.code, 0);
  CHECK(fs::exists(dir + "/-out.npy"));
  // a bare relative name writes into the working folder
  r = infer({model(), "-o", "plain.npy", "--", "-odd.npy"}, dir);
  CHECK_EQ(r.code, 0);
  CHECK(fs::exists(dir + "/plain.npy"));
  CHECK(!leftover_temp());
}

TEST(output_through_a_link_or_into_a_pipe) {
  const std::string in = signal("in.npy", {1, 2, 100});
  fs::create_directories(dir + "/real");
  fs::create_symlink("real/target.npy", dir + "/link.npy");  // dangling until written
  Run r = infer({model(), in, "-o", dir + "/link.npy"});
  CHECK_EQ(r.code, 0);
  CHECK(fs::is_symlink(dir + "/link.npy"));
  CHECK(crsae::read_npy(dir + "/real/target.npy").shape == (std::vector<int64_t>{1, 3, 96}));

  // a pipe (as /dev/null or /dev/stdout would be) is written directly
  const std::string fifo = dir + "/pipe";
  CHECK_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] {
    std::ifstream pipe(fifo, std::ios::binary);
    received.assign(std::istreambuf_iterator<char>(pipe), std::istreambuf_iterator<char>());
  });
  r = infer({model(), in, "-o", fifo});
  release_reader(fifo);
  reader.join();
  CHECK_EQ(r.code, 0);
  CHECK(fs::status(fifo).type() == fs::file_type::fifo);
  std::ofstream(dir + "/from_pipe.npy", std::ios::binary) << received;
  CHECK(crsae::read_npy(dir + "/from_pipe.npy").data == crsae::read_npy(dir + "/real/target.npy").data);
  CHECK(!leftover_temp());
}

TEST(an_interrupted_run_leaves_no_temporary_file) {
  // SIGTERM (or Ctrl-C) while the model runs: the temporary output is removed, the old output kept.
  const std::string model_path = std::string(CRSAE_EXPORT_DIR) + "/models/spikes1d.onnx";
  std::ofstream(dir + "/kept.npy") << "old";
  for (int64_t length = 300000; length <= 30000000; length *= 10) {
    signal("long.npy", {1, 1, length});
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::freopen("/dev/null", "w", stdout);
      ::execl(CRSAE_INFER, CRSAE_INFER, model_path.c_str(), (dir + "/long.npy").c_str(), "-o",
              (dir + "/kept.npy").c_str(), "--threads", "1", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    CHECK(pid > 0);
    bool seen = false;  // wait for the temporary file: the run has started
    for (auto t0 = std::chrono::steady_clock::now(); !seen && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60);) {
      seen = leftover_temp();
      if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (seen) ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(seen);
    CHECK(!leftover_temp());
    if (WIFSIGNALED(status)) {
      CHECK_EQ(WTERMSIG(status), SIGTERM);
      CHECK_EQ(slurp(dir + "/kept.npy"), "old");
      return;
    }
    CHECK_EQ(WEXITSTATUS(status), 0);  // finished before the signal landed: try a longer signal
    std::ofstream(dir + "/kept.npy") << "old";
  }
  check::fail(__FILE__, __LINE__, "every run finished before SIGTERM reached it");
}

// --- a closed stdout (crsae-infer ... | head -1) ends quietly, as the Python CLI's does ------------------------
namespace {

enum class Stdout { gone_reader, closed, full };

// Run `binary args` in a fresh process whose stdout is a pipe with no reader (`... | head -1` once head has
// exited), a closed descriptor (`>&-`) or /dev/full; stderr is captured. A process ended by a signal gives
// -signal, so that a SIGPIPE death cannot pass for exit 141.
Run run_stdout(const std::string& binary, const std::vector<std::string>& args, Stdout how) {
  int fds[2];
  CHECK_EQ(::pipe(fds), 0);
  ::close(fds[0]);  // the reader is gone before the tool writes a byte
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int err = ::open((logs + "/stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(err, 2);
    if (how == Stdout::gone_reader) ::dup2(fds[1], 1);
    else if (how == Stdout::full) ::dup2(::open("/dev/full", O_WRONLY), 1);
    else ::close(1);
    ::close(fds[1]);
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status), "", slurp(logs + "/stderr")};
}

}  // namespace

TEST(a_closed_stdout_ends_quietly_with_status_141) {
  const std::string in = signal("in.npy", {1, 2, 100});
  CHECK_EQ(infer({model(), in, "-o", dir + "/expected.npy"}).code, 0);
  const auto expected = crsae::read_npy(dir + "/expected.npy").data;
  // the output was complete before the result line failed: it is there, whole, and no temporary file is left
  Run r = run_stdout(CRSAE_INFER, {model(), in, "-o", dir + "/gone.npy"}, Stdout::gone_reader);
  CHECK_EQ(r.code, 141);
  CHECK_EQ(r.err, "");
  CHECK(crsae::read_npy(dir + "/gone.npy").data == expected);
  CHECK(!leftover_temp());
  for (const auto& argv : {std::vector<std::string>{CRSAE_INFER, "--help"}, {CRSAE_BENCH, "--help"},
                           {CRSAE_BENCH, model(), in, "--warmup", "0", "--repeat", "1", "--threads", "1"}}) {
    r = run_stdout(argv[0], {argv.begin() + 1, argv.end()}, Stdout::gone_reader);
    CHECK_EQ(r.code, 141);
    CHECK_EQ(r.err, "");
  }
  // an error is still an error: its line on stderr, exit 1
  r = run_stdout(CRSAE_INFER, {model(), dir + "/none.npy", "-o", dir + "/none_out.npy"}, Stdout::gone_reader);
  CHECK_EQ(r.code, 1);
  CHECK(r.err.rfind("error: input file " + dir + "/none.npy does not exist", 0) == 0);
}

TEST(a_closed_stdout_descriptor_is_an_error_before_any_work) {
  // `>&-`: the result line would be lost, so exit 1 with one line, as the Python CLI, and write no output file
  const std::string in = signal("in.npy", {1, 2, 100});
  const std::string closed = "error: cannot write to stdout (Bad file descriptor: it is closed); run ";
  Run r = run_stdout(CRSAE_INFER, {model(), in, "-o", dir + "/closed.npy"}, Stdout::closed);
  CHECK_EQ(r.code, 1);
  CHECK_EQ(r.err, closed + "crsae-infer with stdout open, e.g. '> out.txt' or '> /dev/null'\n");
  CHECK(!fs::exists(dir + "/closed.npy"));
  CHECK(!leftover_temp());
  r = run_stdout(CRSAE_INFER, {"--help"}, Stdout::closed);
  CHECK_EQ(r.code, 1);
  CHECK(r.err.rfind(closed, 0) == 0);
  r = run_stdout(CRSAE_BENCH, {model(), in, "--warmup", "0", "--repeat", "1", "--threads", "1"}, Stdout::closed);
  CHECK_EQ(r.code, 1);
  CHECK_EQ(r.err, closed + "crsae-bench with stdout open, e.g. '> out.txt' or '> /dev/null'\n");
}

TEST(a_full_stdout_is_an_error) {
  if (!fs::exists("/dev/full")) return;
  Run r = run_stdout(CRSAE_INFER, {"--help"}, Stdout::full);
  CHECK_EQ(r.code, 1);
  CHECK_EQ(r.err, "error: cannot write to stdout (No space left on device)\n");
  r = run_stdout(CRSAE_BENCH, {model(), signal("in.npy", {1, 2, 100}), "--warmup", "0", "--repeat", "1"},
                 Stdout::full);
  CHECK_EQ(r.code, 1);
  CHECK_EQ(r.err, "error: cannot write to stdout (No space left on device)\n");
}
