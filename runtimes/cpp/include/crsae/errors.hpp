// Named errors, as in crsae/errors.py. Every message is one sentence naming the bad value and the fix.
#pragma once
#include <stdexcept>
#include <string>

namespace crsae {

// Base class of every error crsae throws on purpose; the CLI prints "error: <what()>" and exits 1.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A chunk size, output name or other argument is out of range.
struct ConfigError : Error {
  using Error::Error;
};

// An input array has the wrong rank, channel count or size, or holds NaN/Inf.
struct ShapeError : Error {
  using Error::Error;
};

// A file (.npy, .json, model path) is missing, unreadable or of an unsupported type.
struct DataError : Error {
  using Error::Error;
};

// An ONNX file is corrupt, or not a crsae export of a contract version we know.
struct ModelFormatError : Error {
  using Error::Error;
};

}  // namespace crsae
