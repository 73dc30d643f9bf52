// crsae-infer MODEL INPUT.npy -o OUT.npy [--output codes|reconstruction] [--chunk N] [--threads T]
//             [--noise-sigma S|auto]
// Runs a crsae ONNX export on a float32 .npy array and writes one output as .npy: to a temporary name in the
// same folder, renamed onto OUT.npy once complete, so OUT.npy is never half-written and an existing one is left
// as it was when anything fails. Exit 0 on success, 1 on a bad input ("error: <message>", one line on stderr),
// 2 on bad usage, 141 when stdout's reader has gone (`| head -1`; the output file is then complete).
#include <signal.h>
#include <unistd.h>

#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "crsae/contract.hpp"
#include "crsae/model.hpp"
#include "crsae/npy.hpp"

namespace {

const char* kUsage =
    "usage: crsae-infer MODEL INPUT.npy -o OUT.npy [--output codes|reconstruction] [--chunk N] [--threads T]\n"
    "  MODEL      a crsae ONNX export (NAME.onnx)\n"
    "  INPUT.npy  float32 signal: (batch, channels, length) for 1-D, (batch, channels, height, width) for 2-D\n"
    "  -o OUT.npy where to write the output (float32 .npy); its folder must exist\n"
    "  --output   which output to write: codes (default) or reconstruction\n"
    "  --chunk N  1-D only: process in cores of N output samples (the contract's chunking rule)\n"
    "  --threads T  ONNX Runtime intra-op threads (default 0: one per core)\n"
    "  --noise-sigma S  noise std the thresholds are set for, in the input's units, or auto (estimated per\n"
    "             signal); for models exported with crsae export --noise-input (default: their sigma)\n";

struct Args {
  std::string model, input, out, output = "codes";
  std::optional<int64_t> chunk;
  int threads = 0;
  crsae::NoiseSigma noise_sigma;
};

// The arguments, or nothing when --help was asked for (the usage is then printed).
std::optional<Args> parse_args(int argc, char** argv) {
  using crsae::cli::UsageError;
  Args a;
  std::vector<std::string> positional;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const std::string& flag) -> std::string {
      if (i + 1 >= argc) throw UsageError(flag + " needs a value");
      return argv[++i];
    };
    if (options_done || arg == "-" || arg.empty() || arg[0] != '-') {
      positional.push_back(arg);
    } else if (arg == "--") {
      options_done = true;
    } else if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      return std::nullopt;
    } else if (arg == "-o" || arg == "--out") {
      a.out = value(arg);
    } else if (arg == "--output") {
      a.output = value(arg);
      if (!crsae::contract::is_output(a.output))
        throw UsageError("--output must be " + crsae::contract::outputs_text() + ", got '" + a.output + "'");
    } else if (arg == "--chunk") {
      a.chunk = crsae::cli::parse_int(arg, value(arg), 1, INT64_MAX);
    } else if (arg == "--noise-sigma") {
      const std::string text = value(arg);
      char* end = nullptr;
      const double v = text == "auto" ? crsae::auto_noise_sigma : std::strtod(text.c_str(), &end);
      if (text != "auto" && (text.empty() || *end != '\0' || !(v >= 0) || !std::isfinite(v)))
        throw UsageError("--noise-sigma must be a number >= 0 or auto, got '" + text + "'");
      a.noise_sigma = std::vector<float>{float(v)};
    } else if (arg == "--threads") {
      a.threads = int(crsae::cli::parse_int(arg, value(arg), 0, 4096));
    } else {
      throw UsageError("unknown option " + arg);
    }
  }
  if (positional.size() != 2)
    throw UsageError("expected MODEL and INPUT.npy, got " + std::to_string(positional.size()) + " paths");
  if (a.out.empty()) throw UsageError("missing -o OUT.npy");
  a.model = positional[0];
  a.input = positional[1];
  return a;
}

// The temporary output file, removed by a fatal signal (Ctrl-C, kill, or a crash) before the process ends.
char g_temp[PATH_MAX + 1] = "";

void remove_temp_and_reraise(int sig) {
  if (g_temp[0]) ::unlink(g_temp);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void watch_temp(const std::string& temp) {
  if (temp.size() > PATH_MAX) return;
  std::memcpy(g_temp, temp.c_str(), temp.size() + 1);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV, SIGBUS, SIGABRT, SIGFPE}) ::signal(sig, remove_temp_and_reraise);
}

}  // namespace

int main(int argc, char** argv) {
  return crsae::cli::guarded("crsae-infer", [&] {
    const std::optional<Args> parsed = parse_args(argc, argv);
    if (!parsed) return 0;
    const Args& args = *parsed;
    crsae::Model model(args.model, crsae::Model::Options{args.threads});
    const crsae::Tensor signal = crsae::read_npy(args.input);
    // Fatal signals wait while the temporary file is made and registered: one arriving in between would leave it.
    sigset_t fatal, previous;
    sigemptyset(&fatal);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&fatal, sig);
    ::sigprocmask(SIG_BLOCK, &fatal, &previous);
    crsae::NpyOutput out(args.out);  // checks the folder and reserves the temporary file, before the run
    watch_temp(out.temp_path());
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);
    const crsae::Tensor result = model.run(signal, args.output, args.chunk, args.noise_sigma);
    out.commit(result);
    g_temp[0] = '\0';
    std::cout << "wrote " << args.output << " " << crsae::shape_str(result.shape) << " to " << args.out << "\n";
    return 0;
  });
}
