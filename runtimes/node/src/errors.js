// Named errors of the crsae JS runtimes, mirroring crsae/errors.py.
// A message is one sentence that states the bad value and the fix.

/** Base class: every error the runtime raises on purpose. */
export class CrsaeError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** A bad option (chunk size, output name, provider). */
export class ConfigError extends CrsaeError {}

/** A model that is not a crsae export this runtime can run (format, contract_version, dtype, names). */
export class ModelFormatError extends CrsaeError {}

/** A signal whose shape, dtype or values break the contract. */
export class ShapeError extends CrsaeError {}

/** A data file or folder that is missing, unreadable or unwritable (an input .npy, the output's folder). */
export class DataError extends CrsaeError {}

/** A .npy file this runtime cannot read (only float32, little-endian, C order). */
export class NpyError extends DataError {}

/** An execution provider (cuda, webgpu, ...) that was asked for but cannot run here; never silently CPU. */
export class ProviderUnavailableError extends CrsaeError {}
