"""Recordings in: any spikeinterface ``BaseRecording``, checked, scaled to microvolts and preprocessed.

The preprocessing is what CRsAE's generative model needs (docs/math.md: ``y = H x + v`` with white Gaussian ``v``
of one std ``sigma`` on every channel):

1. ``scale_to_uV``: the recording's gains and offsets (int16 Open Ephys / SpikeGLX / NWB data become microvolts);
   a recording without gains is used as it is, in its own units.
2. band-pass ``freq_min``-``freq_max`` Hz (300-6000 by default): removes the LFP and the DC offsets, which the
   sparse code cannot explain and which would otherwise be fitted by spike templates;
3. common median reference over all channels: removes the noise every channel shares (movement, line pickup),
   which whitening alone would keep as one strong spatial component;
4. whitening (spatial, ZCA, from random chunks: spikeinterface's ``whiten``): makes the noise white and of unit
   variance across channels, so the lasso's single ``sigma = 1`` holds on every channel and the l2 data term
   weighs channels by their noise, as the model assumes. It is kept as a matrix from ``fit`` and reapplied by
   ``sort``, so a recording sorted later is coded in the space the templates were learned in. Temporal whitening
   is not done: the band-pass leaves the noise coloured in time, which the model ignores (measured in
   bench/spike_sorting.py by the accuracy it gives).

Optionally, between steps 3 and 4, motion correction (``motion``: a preset of spikeinterface's
``correct_motion``, e.g. ``"dredge_fast"``; needs the probe geometry): the probe's drift along its length is
estimated from the localized peaks of the filtered recording and the traces are interpolated back to a fixed
position (kriging), so a unit keeps one template for the whole recording. CRsAE's dictionary is fixed, so without
it a drifting unit leaves its template and is lost (README: 0.23 mean accuracy on a +-20 um drift). The
interpolation keeps every channel (``border_mode="force_extrapolate"``) so the fitted whitening still applies.
``estimate_motion`` is the expensive part; ``motion_corrected`` applies an estimate.

``attach_probe`` gives a recording without geometry (raw binary) the probe of a probeinterface file.

``read_recording`` opens a path: a folder or file saved by spikeinterface (``si.load``), a raw binary file
(``.bin``, ``.dat``, ``.raw`` with ``sampling_frequency``, ``num_channels`` and ``dtype``) or any format
spikeinterface's extractors read (``format="openephys"``, ``"spikeglx"``, ``"nwb"``, ... : ``read_<format>``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crsae import extras
from crsae.errors import ConfigError, DataError

RAW_SUFFIXES = (".bin", ".dat", ".raw")


def spikeinterface():
    """The spikeinterface package, or a one-line MissingDependencyError naming the ``spikes`` extra."""
    extras.require("spikeinterface", what="spike sorting")
    import spikeinterface
    return spikeinterface


def check_recording(recording, *, min_seconds: float = 0.0, what: str = "recording") -> None:
    """Raise DataError (one line) unless ``recording`` is a spikeinterface recording crsae can sort.

    Refused: anything that is not a ``BaseRecording``; no channels; no samples; a sample type that is not an
    integer or a real float (complex, bool, object); a sampling rate that is not positive; a segment shorter than
    ``min_seconds``."""
    si = spikeinterface()
    from spikeinterface.core import BaseRecording
    if not isinstance(recording, BaseRecording):
        raise DataError(f"{what} is a {type(recording).__name__}, not a spikeinterface recording; open it with "
                        "spikeinterface (e.g. spikeinterface.extractors.read_openephys) or crsae's read_recording")
    del si
    channels = recording.get_num_channels()
    if channels < 1:
        raise DataError(f"{what} has no channels; pass a recording with at least one channel")
    dtype = np.dtype(recording.get_dtype())
    if dtype.kind not in "iuf":
        raise DataError(f"{what} holds {dtype} samples; crsae sorts integer or float recordings "
                        "(cast it with spikeinterface.preprocessing.astype)")
    fs = float(recording.get_sampling_frequency())
    if not np.isfinite(fs) or fs <= 0:
        raise DataError(f"{what} has sampling frequency {fs}; it must be positive")
    if recording.get_num_segments() < 1:
        raise DataError(f"{what} has no segments; pass a recording with samples")
    for segment in range(recording.get_num_segments()):
        n = recording.get_num_samples(segment)
        if n < 1 or n < min_seconds * fs:
            raise DataError(f"{what} segment {segment} is too short: {n} samples ({n / fs:.3g} s) at {fs:g} Hz, "
                            f"need at least {min_seconds:g} s")


def filtered(recording, *, freq_min: float, freq_max: float, reference: str):
    """Steps 1-3: microvolts, band-pass, common reference ('median', 'average' or 'none'), float32."""
    spikeinterface()
    import spikeinterface.preprocessing as spre
    fs = recording.get_sampling_frequency()
    if not 0 < freq_min < freq_max:
        raise ConfigError(f"band-pass {freq_min}-{freq_max} Hz: need 0 < freq_min < freq_max")
    if freq_max >= fs / 2:
        raise ConfigError(f"band-pass upper edge {freq_max:g} Hz is at or above the Nyquist frequency {fs / 2:g} Hz "
                          f"of this {fs:g} Hz recording; lower freq_max")
    if reference not in ("median", "average", "none"):
        raise ConfigError(f"reference must be 'median', 'average' or 'none', got {reference!r}")
    if recording.has_scaleable_traces():
        recording = spre.scale_to_uV(recording)
    recording = spre.bandpass_filter(recording, freq_min=freq_min, freq_max=freq_max, dtype="float32")
    if reference != "none" and recording.get_num_channels() > 2:
        recording = spre.common_reference(recording, reference="global", operator=reference)
    return recording


def motion_presets() -> tuple[str, ...]:
    """The names of spikeinterface's ``correct_motion`` presets (``motion`` values)."""
    spikeinterface()
    from spikeinterface.preprocessing.motion import motion_options_preset
    return tuple(name for name in motion_options_preset if name)


def check_motion(preset: str, recording=None) -> None:
    """Raise ConfigError (one line) unless ``preset`` is a ``correct_motion`` preset and ``recording`` (when given)
    has the probe geometry motion correction needs."""
    names = motion_presets()
    if preset not in names:
        raise ConfigError(f"motion must be one of spikeinterface's correct_motion presets {list(names)}, got "
                          f"{preset!r}")
    if recording is not None and not recording.has_probe():
        raise ConfigError("motion correction needs the probe geometry and this recording has none; attach a probe "
                          "(recording.set_probe, or crsae sort --probe FILE) or sort without motion correction")


def estimate_motion(recording, preset: str, *, seed: int = 0):
    """The drift of a filtered recording (a spikeinterface ``Motion``: displacement in um per time bin and depth
    window) by ``correct_motion``'s ``preset``, one job, no progress bar; ``seed`` picks the chunks the noise level
    (the peak detection's threshold) is measured on, so the estimate is the same on every run. dredge_fast took 4-9 s
    for 60 s of 32 channels on a 2-core VM."""
    import warnings
    check_motion(preset, recording)
    import spikeinterface.preprocessing as spre
    from spikeinterface.core import get_noise_levels
    # computed here from seeded chunks (correct_motion's own pick is unseeded: the estimate varied from run to run)
    # and without its progress bar, and kept on the recording, where correct_motion finds it
    get_noise_levels(recording, return_in_uV=False, random_slices_kwargs=dict(seed=seed), progress_bar=False)
    with warnings.catch_warnings():
        # its notice that a short probe gets rigid motion instead of non-rigid windows is kept; these are not
        warnings.filterwarnings("ignore", message="The extractor is not serializable", category=UserWarning)
        _, motion = spre.correct_motion(recording, preset=preset, output_motion=True, n_jobs=1, progress_bar=False,
                                        interpolate_motion_kwargs=_interpolation(preset))
    return motion


def motion_corrected(recording, motion, preset: str, *, sigma_um: float | None = None):
    """A filtered recording interpolated to the probe's fixed position by ``motion`` (``estimate_motion``), with
    the preset's interpolation (its kriging kernel ``sigma_um`` wide when given), every channel kept, float32."""
    spikeinterface()
    from spikeinterface.sortingcomponents.motion import InterpolateMotionRecording
    kwargs = _interpolation(preset)
    if sigma_um is not None and kwargs.get("spatial_interpolation_method", "kriging") == "kriging":
        kwargs["sigma_um"] = float(sigma_um)
    return InterpolateMotionRecording(recording, motion, dtype="float32", **kwargs)


def _interpolation(preset: str) -> dict:
    """The preset's ``interpolate_motion`` settings, with ``border_mode="force_extrapolate"``: channels that drift
    past the probe's ends are extrapolated, not removed, so the channel count (and the whitening) stays."""
    from spikeinterface.preprocessing.motion import motion_options_preset
    return {**motion_options_preset[preset]["interpolate_motion_kwargs"], "border_mode": "force_extrapolate"}


def whitening_matrix(recording, *, seed: int = 0) -> np.ndarray:
    """Step 4's ZCA matrix W (channels, channels) of a filtered recording: ``whitened = traces @ W``."""
    spikeinterface()
    import spikeinterface.preprocessing as spre
    rec = spre.whiten(recording, dtype="float32", mode="global", apply_mean=False, seed=seed)
    return np.asarray(rec._kwargs["W"], dtype=np.float32)


def whitened(recording, W: np.ndarray, *, decimate: int = 1):
    """A filtered recording through a fixed whitening matrix, and every ``decimate``-th sample (the band-pass
    is the anti-aliasing filter: the sorter decimates only while fs / decimate >= 2.4 freq_max). Decimation comes
    first: the whitening acts on each sample alone, so the result is the same and it whitens 1 / decimate of the
    samples."""
    spikeinterface()
    import spikeinterface.preprocessing as spre
    if decimate > 1:
        recording = spre.decimate(recording, decimate, antialias=False)
    return spre.whiten(recording, dtype="float32", W=np.asarray(W, dtype=np.float32), M=None)


def read_recording(path: str | Path, *, format: str | None = None, sampling_frequency: float | None = None,
                   num_channels: int | None = None, dtype: str | None = None, gain_to_uV: float | None = None,
                   offset_to_uV: float | None = None, stream_id: str | None = None):
    """Open a recording from disk (module docstring); DataError in one line when it cannot be read."""
    spikeinterface()
    path = Path(path)
    if not path.exists():
        raise DataError(f"recording {path} does not exist; pass a raw .bin/.dat/.raw file, a folder saved by "
                        "spikeinterface, or a file of a --format spikeinterface reads")
    if format is not None:
        import spikeinterface.extractors as se
        reader = getattr(se, f"read_{format}", None)
        if reader is None:
            known = sorted(name[5:] for name in dir(se) if name.startswith("read_"))
            raise DataError(f"unknown recording format {format!r}; spikeinterface reads {', '.join(known)}")
        kwargs = {"stream_id": stream_id} if stream_id is not None else {}
        try:
            return reader(path, **kwargs)
        except Exception as err:                         # readers raise many types; one line with the reason
            raise DataError(f"cannot read {path} as {format}: {_first_line(err)}") from None
    if path.suffix.lower() in RAW_SUFFIXES:
        missing = [name for name, value in (("sampling_frequency", sampling_frequency),
                                            ("num_channels", num_channels), ("dtype", dtype)) if value is None]
        if missing:
            raise DataError(f"{path} is a raw binary file; give its {', '.join(missing)} "
                            "(crsae sort: --sampling-rate, --num-channels, --dtype)")
        try:
            np.dtype(dtype)
        except TypeError:
            raise DataError(f"unknown sample type {dtype!r}; use e.g. int16 or float32") from None
        if num_channels < 1:
            raise DataError(f"num_channels must be at least 1, got {num_channels}")
        itemsize = np.dtype(dtype).itemsize * num_channels
        size = path.stat().st_size
        if size == 0 or size % itemsize:
            raise DataError(f"{path} holds {size} bytes, not a whole number of {num_channels}-channel {dtype} "
                            "samples; check --num-channels and --dtype")
        from spikeinterface.core import read_binary
        return read_binary(path, sampling_frequency=sampling_frequency, dtype=dtype, num_channels=num_channels,
                           gain_to_uV=gain_to_uV, offset_to_uV=offset_to_uV)
    from spikeinterface.core import BaseRecording, load
    if path.is_dir() and not any(path.iterdir()):
        raise DataError(f"recording {path} is an empty folder; pass a folder saved by spikeinterface "
                        "(recording.save(folder=...)) or a raw .bin/.dat/.raw file")
    try:
        recording = load(path)
    except Exception as err:
        raise DataError(f"cannot open {path} as a saved spikeinterface recording ({_first_line(err)}); for other "
                        "formats pass format= (crsae sort --format openephys, spikeglx, nwb, ...)") from None
    if not isinstance(recording, BaseRecording):
        raise DataError(f"{path} holds a {type(recording).__name__}, not a recording")
    return recording


def attach_probe(recording, path: str | Path):
    """``recording`` with the probe geometry of a probeinterface file (``.json``, probeinterface's format)
    attached: for formats that carry none (raw binary). The probe's contacts map to the recording's channels in
    order unless the file gives device channel indices. DataError in one line for a missing or unreadable file, a
    probe whose contact count differs from the recording's channels, or channel indices out of range."""
    spikeinterface()
    path = Path(path)
    if not path.is_file():
        raise DataError(f"probe file {path} does not exist; pass a probeinterface .json "
                        "(probeinterface.write_probeinterface)")
    from probeinterface import read_probeinterface
    try:
        group = read_probeinterface(path)
    except Exception as err:                             # json, key and format errors: one line with the reason
        raise DataError(f"cannot read {path} as a probeinterface file: {_first_line(err)}") from None
    channels = recording.get_num_channels()
    contacts = sum(probe.get_contact_count() for probe in group.probes)
    if contacts != channels:
        raise DataError(f"probe {path} has {contacts} contacts but the recording has {channels} channels; pass the "
                        "probe of this recording")
    indices = group.get_global_device_channel_indices()["device_channel_indices"]
    if (indices < 0).all():
        offset = 0
        for probe in group.probes:
            probe.set_device_channel_indices(np.arange(offset, offset + probe.get_contact_count()))
            offset += probe.get_contact_count()
    elif (indices < 0).any() or indices.max() >= channels or len(np.unique(indices)) != len(indices):
        raise DataError(f"probe {path} maps its contacts to device channels {sorted(indices.tolist())[:8]}...; "
                        f"each of the recording's {channels} channels must appear once")
    recording = recording.clone()                          # set_probegroup works in place: leave the caller's alone
    try:
        recording.set_probegroup(group)
    except Exception as err:
        raise DataError(f"cannot attach probe {path}: {_first_line(err)}") from None
    return recording


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]
