// Minimal .npy reader/writer: float32, little-endian, C order, format 1.0 or 2.0 headers.
// Anything else (float64, complex, integers, big-endian, Fortran order, format 3.0, object or structured arrays)
// is refused with the fix. Files are written atomically: to a temporary name in the same folder, then renamed.
#pragma once
#include <string>

#include "crsae/tensor.hpp"

namespace crsae {

// Read PATH; throws crsae::DataError naming the file, the problem and the fix.
Tensor read_npy(const std::string& path);

// Write PATH (format 1.0, '<f4', C order) as numpy.save would, atomically (see NpyOutput); throws
// crsae::ConfigError for a tensor whose data does not fill its shape, crsae::DataError if it cannot write.
void write_npy(const std::string& path, const Tensor& tensor);

// One .npy output written atomically. The constructor checks PATH's folder (exists, is a folder, writable) and
// makes a temporary file beside PATH, ".NAME.XXXXXX.tmp", so a bad output path fails before any work is done;
// commit() writes the tensor there and renames it onto PATH. Destroyed without a commit (an error on the way),
// it removes the temporary file, so PATH is either the complete new file or, if it existed, untouched.
// PATH a symbolic link: the file it points to is replaced (the link stays), as numpy.save writes through it.
// PATH an existing device or pipe (/dev/null, /dev/stdout, a FIFO): written directly, nothing renamed.
// Throws crsae::DataError naming the problem and the fix.
class NpyOutput {
 public:
  explicit NpyOutput(std::string path);
  ~NpyOutput();
  NpyOutput(const NpyOutput&) = delete;
  NpyOutput& operator=(const NpyOutput&) = delete;

  void commit(const Tensor& tensor);
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }  // empty once committed, or when writing directly

 private:
  std::string path_, target_, temp_;
  bool direct_ = false, done_ = false;
};

}  // namespace crsae
