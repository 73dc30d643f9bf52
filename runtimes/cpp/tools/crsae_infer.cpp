// crsae-infer MODEL INPUT.npy -o OUT.npy [--output codes|reconstruction] [--chunk N]
// Runs a crsae ONNX export on a float32 .npy array and writes one output as .npy (to a temporary name in the
// same folder, then renamed, so OUT.npy is never half-written). Exit 0 on success, 1 on a crsae error
// ("error: <message>" on stderr), 2 on bad usage.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <unistd.h>

#include "crsae/errors.hpp"
#include "crsae/model.hpp"
#include "crsae/npy.hpp"

namespace {

const char* kUsage =
    "usage: crsae-infer MODEL INPUT.npy -o OUT.npy [--output codes|reconstruction] [--chunk N]\n"
    "  MODEL      a crsae ONNX export (NAME.onnx)\n"
    "  INPUT.npy  float32 signal: (batch, channels, length) for 1-D, (batch, channels, height, width) for 2-D\n"
    "  -o OUT.npy where to write the output (float32 .npy)\n"
    "  --output   which output to write: codes (default) or reconstruction\n"
    "  --chunk N  1-D only: process in cores of N output samples (the contract's chunking rule)\n";

struct Args {
  std::string model, input, out, output = "codes";
  std::optional<int64_t> chunk;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "error: " << what << "\n" << kUsage;
  std::exit(2);
}

int64_t parse_chunk(const std::string& text) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || v < 1) usage_error("--chunk must be a whole number >= 1, got '" + text + "'");
  return v;
}

Args parse_args(int argc, char** argv) {
  Args a;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const std::string& flag) -> std::string {
      if (i + 1 >= argc) usage_error(flag + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (arg == "-o" || arg == "--out") {
      a.out = value(arg);
    } else if (arg == "--output") {
      a.output = value(arg);
      if (a.output != "codes" && a.output != "reconstruction")
        usage_error("--output must be codes or reconstruction, got '" + a.output + "'");
    } else if (arg == "--chunk") {
      a.chunk = parse_chunk(value(arg));
    } else if (arg.size() > 1 && arg[0] == '-') {
      usage_error("unknown option " + arg);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 2) usage_error("expected MODEL and INPUT.npy, got " + std::to_string(positional.size()) + " paths");
  if (a.out.empty()) usage_error("missing -o OUT.npy");
  a.model = positional[0];
  a.input = positional[1];
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse_args(argc, argv);
  std::string tmp = args.out + ".tmp-" + std::to_string(getpid());
  try {
    crsae::Model model(args.model);
    crsae::Tensor signal = crsae::read_npy(args.input);
    crsae::Tensor result = model.run(signal, args.output, args.chunk);
    crsae::write_npy(tmp, result);
    if (std::rename(tmp.c_str(), args.out.c_str()) != 0)
      throw crsae::DataError("cannot rename " + tmp + " to " + args.out + "; check that the folder is writable");
    std::cout << "wrote " << args.output << " " << crsae::shape_str(result.shape) << " to " << args.out << "\n";
    return 0;
  } catch (const crsae::Error& e) {
    std::remove(tmp.c_str());
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
