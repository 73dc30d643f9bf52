"""crsae.sorting: spikeinterface recordings in, a Sorting and a Phy folder out (the ``spikes`` extra).

Fast tests: bad recordings and bad paths give one-line errors, a Phy export parses, importing crsae.sorting loads
neither spikeinterface nor torch. Slow tests (one fit, shared): a generated ground-truth recording round-trips
through fit + sort above a stated accuracy; sort runs with torch unimportable; save/load; ``crsae sort``.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

si = pytest.importorskip("spikeinterface")
pytest.importorskip("sklearn")

from spikeinterface.core import NumpyRecording, generate_ground_truth_recording  # noqa: E402

from crsae.errors import ConfigError, DataError  # noqa: E402
from crsae.sorting import CRsAESorter, SorterParams, export_phy  # noqa: E402
from crsae.sorting.recording import attach_probe, check_recording, read_recording  # noqa: E402
from crsae.sorting.templates import local_groups  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BLOCK_TORCH = "import sys; sys.modules['torch'] = None\n"
# for runs that reach scipy: its array-API helpers look torch up in sys.modules, so a None entry breaks them;
# a finder that refuses torch keeps it out of sys.modules instead
REFUSE_TORCH = ("import sys\n"
                "class _RefuseTorch:\n"
                "    def find_spec(self, name, path=None, target=None):\n"
                "        if name == 'torch' or name.startswith('torch.'):\n"
                "            raise ImportError('torch is blocked in this test')\n"
                "sys.meta_path.insert(0, _RefuseTorch())\n")
FS = 30000.0
# the round trip's bar: mean accuracy over the ground-truth units that are visible at all (template peak at least
# 4x the noise std); measured 0.98-1.0 on these recordings
MIN_ACCURACY = 0.9


def small_recording(seconds=8.0, channels=4, units=3, seed=0):
    return generate_ground_truth_recording(durations=[seconds], sampling_frequency=FS, num_channels=channels,
                                           num_units=units, seed=seed,
                                           generate_templates_kwargs=dict(unit_params=dict(alpha=(150.0, 250.0))),
                                           noise_kwargs=dict(noise_levels=5.0, strategy="on_the_fly"))


def one_line(err: Exception) -> str:
    text = str(err)
    assert "\n" not in text and text
    return text


# --- bad recordings -----------------------------------------------------------------------------------------------
def test_not_a_recording_is_refused_in_one_line():
    with pytest.raises(DataError) as err:
        check_recording(np.zeros((100, 4)))
    assert "not a spikeinterface recording" in one_line(err.value)


def test_no_channels_is_refused():
    rec = NumpyRecording([np.zeros((3000, 0), np.float32)], sampling_frequency=FS)
    with pytest.raises(DataError) as err:
        CRsAESorter().fit(rec)
    assert "no channels" in one_line(err.value)


def test_wrong_dtype_is_refused():
    rec = NumpyRecording([np.zeros((3000, 2), np.complex64)], sampling_frequency=FS)
    with pytest.raises(DataError) as err:
        check_recording(rec)
    assert "complex64" in one_line(err.value)


def test_too_short_is_refused():
    rec = NumpyRecording([np.zeros((50, 4), np.float32)], sampling_frequency=FS)
    with pytest.raises(DataError) as err:
        CRsAESorter().fit(rec)
    assert "too short" in one_line(err.value)


def test_silent_recording_is_refused_before_training():
    rec = NumpyRecording([np.random.default_rng(0).standard_normal((30000, 4)).astype(np.float32)],
                         sampling_frequency=FS)
    with pytest.raises(DataError) as err:
        CRsAESorter(epochs=0, detect_threshold=8.0).fit(rec)
    assert "troughs" in one_line(err.value)


def test_unfitted_sorter_and_bad_params():
    with pytest.raises(ConfigError):
        CRsAESorter().sort(small_recording(1.0))
    with pytest.raises(ConfigError) as err:
        SorterParams(num_layers=0)
    assert "num_layers" in one_line(err.value)
    with pytest.raises(ConfigError):
        CRsAESorter(no_such_setting=1)


@pytest.mark.parametrize("rank", [0, -1, 1.5, True, "2"])
def test_bad_ranks_are_one_line_errors(rank):
    with pytest.raises(ConfigError) as err:
        SorterParams(rank=rank)
    assert f"rank must be a positive integer or None, got {rank!r}" == one_line(err.value)


def test_rank_at_or_above_the_filters_rank_codes_with_the_trained_filters():
    """A rank of at least min(channels, K) truncates nothing: the encoder is the trained filters' (no factored
    graph, no truncation error), so the default rank 3 works on recordings of one or two channels too."""
    rec, _ = small_recording(2.0)                                       # 4 channels
    lines = []
    sorter = CRsAESorter(rank=5, epochs=0).fit(rec, log=lines.append)
    assert sorter.info["rank_error"] is None
    assert "rank" not in json.loads((sorter.folder / "model.json").read_text())
    assert any("codes with the trained filters (exact)" in line for line in lines)


def test_read_recording_errors(tmp_path):
    with pytest.raises(DataError) as err:
        read_recording(tmp_path / "missing.bin")
    assert "does not exist" in one_line(err.value)
    raw = tmp_path / "rec.bin"
    np.zeros((100, 3), np.int16).tofile(raw)
    with pytest.raises(DataError) as err:
        read_recording(raw)
    assert "sampling_frequency" in one_line(err.value)
    with pytest.raises(DataError) as err:
        read_recording(raw, sampling_frequency=FS, num_channels=7, dtype="int16")
    assert "whole number" in one_line(err.value)
    with pytest.raises(DataError) as err:
        read_recording(raw, format="no_such_format")
    assert "unknown recording format" in one_line(err.value)
    rec = read_recording(raw, sampling_frequency=FS, num_channels=3, dtype="int16", gain_to_uV=0.195,
                         offset_to_uV=0.0)
    assert rec.get_num_channels() == 3 and rec.get_num_samples() == 100
    (tmp_path / "junk").mkdir()
    with pytest.raises(DataError):
        read_recording(tmp_path / "junk")


def write_probe(path, channels):
    from probeinterface import generate_linear_probe, write_probeinterface
    probe = generate_linear_probe(num_elec=channels, ypitch=20)
    write_probeinterface(path, probe)
    return path


def test_attach_probe_gives_geometry_and_refuses_bad_probes_in_one_line(tmp_path):
    rec = NumpyRecording([np.zeros((3000, 4), np.float32)], sampling_frequency=FS)
    assert not rec.has_probe()
    with_probe = attach_probe(rec, write_probe(tmp_path / "p4.json", 4))
    assert with_probe.has_probe() and not rec.has_probe()
    np.testing.assert_allclose(with_probe.get_channel_locations()[:, 1], [0, 20, 40, 60])
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "empty.json").write_text("{}")
    for path, message in [(tmp_path / "missing.json", "does not exist"),
                          (tmp_path / "junk.json", "cannot read"), (tmp_path / "empty.json", "cannot read"),
                          (write_probe(tmp_path / "p6.json", 6), "has 6 contacts but the recording has 4")]:
        with pytest.raises(DataError) as err:
            attach_probe(rec, path)
        assert message in one_line(err.value)


def test_local_channels_need_a_probe():
    rec = NumpyRecording([np.random.default_rng(0).standard_normal((30000, 4)).astype(np.float32)],
                         sampling_frequency=FS)
    with pytest.raises(ConfigError) as err:
        CRsAESorter(channels="local").fit(rec)
    assert "needs the probe geometry" in one_line(err.value)
    with pytest.raises(ConfigError):
        SorterParams(channels="some")


def test_local_groups_follow_the_probe():
    locations = np.column_stack([np.zeros(8), 20.0 * np.arange(8)])          # a linear probe, 20 um pitch
    filters = np.zeros((3, 8, 5))
    filters[0, 1], filters[1, 6], filters[2, 4] = 1.0, 1.0, 1.0                # peaks on channels 1, 6, 4
    filters[2, 3] = 0.5
    groups = local_groups(filters, locations, radius_um=20.0, group_channels=4)
    assert groups == [{"channels": [0, 1, 2], "units": [0], "owned": 1},
                      {"channels": [3, 4, 5, 6, 7], "units": [1, 2], "owned": 2}]
    wide = local_groups(filters, locations, radius_um=60.0, group_channels=4)
    assert wide[0]["units"] == [0, 1, 2] and wide[0]["owned"] == 1        # units 1 and 2 reach channels 3-4: guests


def test_motion_correction_needs_a_preset_and_a_probe():
    with pytest.raises(ConfigError) as err:
        SorterParams(motion="sideways")
    assert "motion must be one of spikeinterface's correct_motion presets" in one_line(err.value)
    assert "'dredge_fast'" in str(err.value)
    with pytest.raises(ConfigError):
        SorterParams(motion=1)
    rec = NumpyRecording([np.random.default_rng(0).standard_normal((30000, 4)).astype(np.float32)],
                         sampling_frequency=FS)
    with pytest.raises(ConfigError) as err:
        CRsAESorter(motion="dredge_fast").fit(rec)
    assert "motion correction needs the probe geometry" in one_line(err.value)


@pytest.mark.parametrize("change", [dict(split_similarity=1.5), dict(split_similarity="high"),
                                    dict(split_cofiring=0.0), dict(split_cofiring=2.0), dict(split_cofiring=True),
                                    dict(merge_similarity=-2), dict(split_seconds=0)])
def test_bad_merge_settings_are_one_line_errors(change):
    with pytest.raises(ConfigError) as err:
        SorterParams(**change)
    assert next(iter(change)) in one_line(err.value)


def test_merge_clusters_joins_labels_and_averages_their_snippets():
    from crsae.sorting.templates import merge_clusters
    rng = np.random.default_rng(0)
    waves = rng.standard_normal((9, 6, 2))
    labels = np.array([0, 1, 2, 1, -1, 0, 2, 2, 1])
    templates, new = merge_clusters(waves, labels, [[0, 2], [1]], max_shift=0)
    assert new.tolist() == [0, 1, 0, 1, -1, 0, 0, 0, 1]
    np.testing.assert_allclose(templates[0], waves[new == 0].mean(axis=0))
    np.testing.assert_allclose(templates[1], waves[labels == 1].mean(axis=0))


def test_detection_counts_the_lasso_shrinkage():
    """A spike's amplitude is (code + lambda) / template norm: a faint unit (norm 10) whose spike coded at 2.5
    (shrunk by lambda 4) has amplitude 0.65 and is a spike at the default 0.6; a large one (norm 40) coded at 18 has
    0.55 and is not; a code of 0 is never one."""
    sorter = CRsAESorter()
    sorter.info = {"model_sampling_frequency": 15000.0, "lam": [4.0, 4.0, 4.0]}
    sorter._arrays = {"norms": np.array([10.0, 40.0, 1.0], np.float32)}
    codes = np.zeros((3, 400), np.float32)
    codes[0, 100], codes[1, 200], codes[1, 300] = 2.5, 18.0, 25.0
    rows, amplitudes = sorter.detect(codes)
    assert rows.tolist() == [[100, 0], [300, 1]]
    np.testing.assert_allclose(amplitudes, [0.65, 29 / 40], rtol=1e-6)
    rows, _ = sorter.detect(codes, 0.5)
    assert rows.tolist() == [[100, 0], [200, 1], [300, 1]]
    # a group model's rows are other units: their lambdas
    sorter.info["lam"] = [4.0, 1.0, 4.0]
    rows, amplitudes = sorter.detect(codes[1:2], norms=np.array([40.0]), units=[1])
    assert rows.tolist() == [[300, 0]] and np.allclose(amplitudes, [26 / 40])


def test_a_sorter_of_another_format_is_refused_in_one_line(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"")
    (folder / "sorter.json").write_text(json.dumps({"format_version": 1, "params": {}}))
    np.savez(folder / "sorter.npz", W=np.eye(2))
    with pytest.raises(DataError) as err:
        CRsAESorter.load(folder)
    assert "format 1" in one_line(err.value) and "fit it again" in str(err.value)


def split_unit_traces(seed=0):
    """Whitened traces (90000, 4) at 15 kHz (K = 30, the default 2 ms templates) of three units, and k-means-like
    templates (4, 30, 4): A and A' (similarity 0.88) both of one unit, whose spikes have their mean shape (so the
    lasso splits each over the two atoms), and B and B' (similarity 0.88 too), two units firing independently,
    each spike exactly its own template."""
    from crsae.sorting.templates import shift_similarity
    rng = np.random.default_rng(seed)
    K, channels, N = 30, 4, 90000
    t = np.arange(K)
    wave = -np.exp(-0.5 * ((t - 12) / 2.0) ** 2) + 0.4 * np.exp(-0.5 * ((t - 18) / 4.0) ** 2)
    def template(gains, delay=0.0):
        shifted = np.interp(t - delay, t, wave)
        return 40.0 * np.outer(shifted, gains) / np.linalg.norm(np.outer(shifted, gains))
    A, A2 = template([1.0, 0.5, 0.1, 0.0]), template([0.7, 1.0, 0.3, 0.0])
    B, B2 = template([0.0, 0.1, 0.5, 1.0], 2.0), template([0.0, 0.3, 1.0, 0.7], 2.0)
    assert 0.8 < shift_similarity(A, A2, 3) < 0.9 and 0.8 < shift_similarity(B, B2, 3) < 0.9
    assert shift_similarity(A, B, 3) < 0.5
    traces = rng.standard_normal((N, channels))
    for shape in ((A + A2) / np.linalg.norm(A + A2) * 40.0, B, B2):
        times = np.sort(rng.choice(np.arange(100, N - 100, 150), size=60, replace=False))
        for time in times + rng.integers(0, 40, size=60):
            traces[time:time + K] += shape
    return traces.astype(np.float32), np.stack([A, A2, B, B2]).astype(np.float32)


def test_cofiring_joins_the_atoms_the_lasso_splits_and_keeps_similar_units():
    from crsae.sorting.sorter import _cofiring_groups
    traces, means = split_unit_traces()
    params = SorterParams(num_layers=20)
    for rank in (None, 2):
        groups, merges = _cofiring_groups(traces, means, params, rank, 15000.0, 3)
        assert groups == [[0, 1], [2], [3]], (rank, merges)
        assert [m["units"] for m in merges] == [[0, 1]]
        assert merges[0]["cofiring"] > 0.5 and 0.8 < merges[0]["similarity"] < 0.9
        assert min(merges[0]["spikes"]) >= 10
    # a bar above every pair's co-firing joins nothing
    groups, merges = _cofiring_groups(traces, means, params.replace(split_cofiring=1.0), None, 15000.0, 3)
    assert groups == [[0], [1], [2], [3]] and merges == []


def drifting_recording(seconds=20.0, units=8, seed=0):
    """16 channels (2 x 8, 20 um), a zigzag drift of +-20 um (period seconds / 2, from 1 s): the recording, its
    ground truth and the true displacement along the probe, (times,) um at 5 Hz."""
    from spikeinterface.generation import generate_drifting_recording
    probe = dict(num_columns=2, num_contact_per_column=8, xpitch=20, ypitch=20, contact_shapes="circle",
                 contact_shape_params={"radius": 6})
    drift = dict(displacement_sampling_frequency=5.0, drift_start_um=[0, 20], drift_stop_um=[0, -20], drift_step_um=1,
                 motion_list=[dict(drift_mode="zigzag", non_rigid_gradient=None, t_start_drift=1.0, t_end_drift=None,
                                   period_s=seconds / 2)])
    _, rec, gt, extra = generate_drifting_recording(
        num_units=units, duration=seconds, sampling_frequency=FS, probe_name=None, generate_probe_kwargs=probe,
        generate_displacement_vector_kwargs=drift, generate_noise_kwargs=dict(noise_levels=(5.0, 5.0),
                                                                              spatial_decay=25.0),
        extra_outputs=True, seed=seed)
    return rec, gt, np.asarray(extra["displacement_vectors"])[:, 1, 0]


@pytest.mark.slow
def test_motion_correction_follows_the_drift_with_one_estimate_and_every_channel(monkeypatch):
    """fit, sort and preprocess of one recording share one motion estimate, which follows the true drift; the
    corrected recording keeps every channel (the whitening applies) and differs from the uncorrected one."""
    from crsae.sorting import recording as rec_mod
    rec, _, true_um = drifting_recording()
    calls = []
    estimate = rec_mod.estimate_motion
    monkeypatch.setattr(rec_mod, "estimate_motion",
                        lambda r, preset, seed: calls.append(preset) or estimate(r, preset, seed=seed))
    lines = []
    sorter = CRsAESorter(epochs=0, fit_seconds=20.0, motion="dredge_fast").fit(rec, log=lines.append)
    sorting = sorter.sort(rec)
    corrected = sorter.preprocess(rec, whiten=False)
    assert calls == ["dredge_fast"]
    assert any(line.startswith("motion (dredge_fast): drift") for line in lines)
    assert "motion" in sorter.info["fit"]["stages"] and sorting.get_num_units() == len(sorter.unit_ids)
    assert corrected.get_num_channels() == rec.get_num_channels() == 16
    plain = sorter.params.replace(motion=None)
    uncorrected = CRsAESorter(plain)
    uncorrected.info, uncorrected._arrays = sorter.info, sorter._arrays
    a = corrected.get_traces(start_frame=150000, end_frame=153000)
    b = uncorrected.preprocess(rec, whiten=False).get_traces(start_frame=150000, end_frame=153000)
    assert a.shape == b.shape and a.dtype == np.float32 and not np.allclose(a, b, atol=1.0)
    (motion,) = sorter._motions.values()
    shift = motion.displacement[0].mean(axis=1)
    truth = np.interp(motion.temporal_bins_s[0], np.arange(len(true_um)) / 5.0, true_um)
    again = estimate(rec_mod.filtered(rec, freq_min=300.0, freq_max=6000.0, reference="median"), "dredge_fast", seed=0)
    np.testing.assert_array_equal(again.displacement[0], motion.displacement[0])       # seeded: the same every run
    assert np.corrcoef(shift, truth)[0, 1] > 0.7        # measured 0.98; seed 1: 0.23 (20 s can be too little)
    # another recording gets its own estimate
    other, _, _ = drifting_recording(seed=1)
    sorter.sort(other)
    assert calls == ["dredge_fast", "dredge_fast"]


@pytest.mark.parametrize("case", ["missing", "no channels", "too short", "bad probe", "probe size", "rank",
                                  "rank with sorter", "motion", "motion sigma", "motion sigma alone"])
def test_cli_sort_bad_input_is_one_line(tmp_path, case):
    raw = tmp_path / "rec.bin"
    np.zeros((20 if case == "too short" else 30000, 4), np.float32).tofile(raw)
    args = [str(tmp_path / "nothing.bin") if case == "missing" else str(raw), "-o", str(tmp_path / "out"),
            "--sampling-rate", str(FS), "--num-channels", "0" if case == "no channels" else "4", "--dtype", "float32"]
    if case == "bad probe":
        (tmp_path / "probe.json").write_text("[1, 2")
        args += ["--probe", str(tmp_path / "probe.json")]
    if case == "probe size":
        args += ["--probe", str(write_probe(tmp_path / "probe.json", 8))]
    if case == "rank":
        args += ["--rank", "-1"]
    if case == "motion":
        args += ["--motion", "sideways"]
    if case == "motion sigma":
        args += ["--motion", "dredge_fast", "--motion-sigma-um", "0"]
    if case == "motion sigma alone":
        args += ["--motion-sigma-um", "25"]
    if case == "rank with sorter":
        (tmp_path / "sorter").mkdir()
        args += ["--rank", "2", "--sorter", str(tmp_path / "sorter")]
    done = subprocess.run([sys.executable, "-m", "crsae.cli", "sort", *args], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    expected = {"missing": "does not exist", "no channels": "num_channels must be at least 1",
                "too short": "too short", "bad probe": "cannot read", "probe size": "has 8 contacts",
                "rank": "--rank must be 0 (the trained filters) or a positive integer, got -1",
                "rank with sorter": "a --sorter keeps the rank it was fitted with",
                "motion": "motion must be one of spikeinterface's correct_motion presets",
                "motion sigma": "--motion-sigma-um must be a positive number of micrometres, got 0.0",
                "motion sigma alone": "add --motion PRESET"}[case]
    assert expected in lines[0]
    assert not (tmp_path / "out").exists()


def test_importing_crsae_sorting_loads_neither_torch_nor_spikeinterface(tmp_path):
    code = ("import crsae, crsae.cli, crsae.sorting, crsae.sorting.command\n"
            "assert sys.modules['torch'] is None\n"
            "assert not any(m == 'spikeinterface' or m.startswith('spikeinterface.') for m in sys.modules)\n"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


# --- Phy ----------------------------------------------------------------------------------------------------------
def parse_phy(folder: Path) -> dict:
    """What Phy's template-gui reads: params.py (Python), the .npy arrays and the .tsv tables, checked for
    mutual consistency."""
    params = {}
    exec((folder / "params.py").read_text(), params)
    times = np.load(folder / "spike_times.npy").ravel()
    clusters = np.load(folder / "spike_clusters.npy").ravel()
    templates = np.load(folder / "templates.npy")
    amplitudes = np.load(folder / "amplitudes.npy").ravel()
    spike_templates = np.load(folder / "spike_templates.npy").ravel()
    positions = np.load(folder / "channel_positions.npy")
    channel_map = np.load(folder / "channel_map.npy").ravel()
    assert params["n_channels_dat"] == len(channel_map) == len(positions)
    assert len(times) == len(clusters) == len(amplitudes) == len(spike_templates)
    assert np.all(np.diff(times) >= 0)
    assert clusters.max() < len(templates)
    assert np.all(np.isfinite(amplitudes))
    if params["dat_path"] is not None:
        dat = folder / params["dat_path"]
        itemsize = np.dtype(params["dtype"]).itemsize
        assert dat.stat().st_size % (itemsize * params["n_channels_dat"]) == 0
    group = (folder / "cluster_group.tsv").read_text().strip().splitlines()
    assert group[0].split("\t") == ["cluster_id", "group"] and len(group) == len(templates) + 1
    return {"params": params, "times": times, "clusters": clusters, "amplitudes": amplitudes}


def test_phy_export_of_a_sorting_parses(tmp_path):
    rec, gt = small_recording(3.0)
    phy = parse_phy(export_phy(gt, rec, tmp_path / "phy"))
    assert len(phy["times"]) == gt.to_spike_vector().size
    with pytest.raises(DataError):
        export_phy(gt, rec, tmp_path / "phy2", amplitudes=np.ones(3))


def test_phy_folder_opens_in_phylib(tmp_path):
    """Phy's own loader (phylib's TemplateModel, what ``phy template-gui`` opens): spikes, templates, channel
    positions and waveforms read from the copied binary. phylib is in the test extra (``make setup``, CI), not a
    dependency of crsae itself: skipped where it is missing."""
    pytest.importorskip("phylib")
    from phylib.io.model import load_model
    rec, gt = small_recording(3.0)
    folder = export_phy(gt, rec, tmp_path / "phy")
    model = load_model(folder / "params.py")
    try:
        assert model.n_spikes == gt.to_spike_vector().size and model.n_channels == 4
        assert model.sample_rate == FS and model.channel_positions.shape == (4, 2)
        np.testing.assert_allclose(model.spike_times, np.sort(gt.to_spike_vector()["sample_index"]) / FS)
        channels = model.get_template(0).channel_ids
        assert model.get_waveforms(np.arange(3), channels).shape[::2] == (3, len(channels))
    finally:
        model.close()


# --- fit and sort (one fit, shared) -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sorter")
    rec, gt = small_recording(8.0)
    # local channels, 2 blocks of 2 channels, neighbourhoods of the peak channel and its two 20 um neighbours:
    # every test below runs the group models; the round trip also the all-channel one
    sorter = CRsAESorter(epochs=1, max_windows=8, num_layers=20, fit_seconds=8.0, channels="local", radius_um=20.0,
                         group_channels=2).fit(rec, folder / "sorter")
    return rec, gt, sorter, folder


def visible_units(rec, gt):
    from spikeinterface.core import create_sorting_analyzer
    analyzer = create_sorting_analyzer(gt, rec, sparse=False, format="memory")
    analyzer.compute(["random_spikes", "templates"])
    peaks = np.abs(analyzer.get_extension("templates").get_data()).max(axis=(1, 2))
    return [u for u, peak in zip(gt.unit_ids, peaks) if peak >= 4 * 5.0]


@pytest.mark.slow
def test_ground_truth_round_trip(fitted):
    from spikeinterface.comparison import compare_sorter_to_ground_truth
    rec, gt, sorter, _ = fitted
    groups = sorter.info["groups"]
    assert len(groups) == 2 and sum(g["owned"] for g in groups) == len(sorter.unit_ids)
    assert sorted(u for g in groups for u in g["units"][:g["owned"]]) == list(range(len(sorter.unit_ids)))
    visible = visible_units(rec, gt)
    assert visible, "the generated recording should have visible units"
    everywhere = CRsAESorter.load(sorter.folder)
    everywhere.params = everywhere.params.replace(channels="all")
    for model in (sorter, everywhere):
        sorting, amplitudes = model.sort(rec, threads=1, return_amplitudes=True)
        assert sorting.get_sampling_frequency() == FS
        assert len(amplitudes) == sorting.to_spike_vector().size
        perf = compare_sorter_to_ground_truth(gt, sorting, exhaustive_gt=True).get_performance()
        accuracy = perf.loc[visible, "accuracy"].astype(float)
        assert accuracy.mean() >= MIN_ACCURACY, (model.params.channels, perf)
        # amplitudes are the scaling of each unit's mean waveform: about 1
        assert 0.6 < float(np.median(amplitudes)) < 1.5


@pytest.mark.slow
def test_rank_three_by_default_and_with_rank_reexports_without_fitting(fitted, tmp_path):
    """The default dictionary is the rank-3 truncation of the trained filters, which model.onnx codes through
    its factors; with_rank(None) gives the trained filters back (full convolutions), from the same fit, and both
    sort the generated recording above the bar."""
    from spikeinterface.comparison import compare_sorter_to_ground_truth
    rec, gt, sorter, _ = fitted
    C = len(sorter.unit_ids)
    assert sorter.params.rank == 3 and json.loads((sorter.folder / "model.json").read_text())["rank"] == 3
    assert len(sorter.info["rank_error"]) == C and all(0 <= e < 1 for e in sorter.info["rank_error"])
    assert all(np.linalg.matrix_rank(h, tol=1e-4) <= 3 for h in sorter.dictionary)
    with pytest.raises(ConfigError, match="re-exports the all-channel model"):
        sorter.with_rank(None)                                          # a local sorter
    everywhere = CRsAESorter.load(sorter.folder)
    everywhere.params = everywhere.params.replace(channels="all")
    full = everywhere.with_rank(None, tmp_path / "full")
    assert "rank" not in json.loads((tmp_path / "full" / "model.json").read_text())
    assert full.info["rank_error"] is None and CRsAESorter.load(tmp_path / "full").params.rank is None
    np.testing.assert_allclose(full.dictionary, everywhere._arrays["filters_trained"], atol=1e-5)
    visible = visible_units(rec, gt)
    for model in (everywhere, full):
        perf = compare_sorter_to_ground_truth(gt, model.sort(rec, threads=1), exhaustive_gt=True).get_performance()
        assert perf.loc[visible, "accuracy"].astype(float).mean() >= MIN_ACCURACY, (model.params.rank, perf)


@pytest.mark.slow
def test_model_is_what_model_onnx_exports_and_saves_as_a_crsae_checkpoint(fitted, tmp_path):
    """model() rebuilds the CRsAE of model.onnx (rank 3, factored): saved with save_checkpoint and loaded back as
    any crsae checkpoint, its torch codes of the whitened recording are the sorter's encoder's, within the
    contract (how export/models/spikes32.pt is made)."""
    import torch
    from crsae import contract
    from crsae.model.checkpoint import load_model, save_checkpoint
    rec, _, sorter, _ = fitted
    save_checkpoint(tmp_path / "m.pt", sorter.model())
    model = load_model(tmp_path / "m.pt")
    assert (model.config.channels, model.config.num_filters) == (4, len(sorter.unit_ids))
    assert not model.config.two_sided and float(model.L) == sorter.info["L"]
    np.testing.assert_allclose(model.H.detach().numpy(), sorter.dictionary, atol=1e-5)
    traces = np.ascontiguousarray(sorter.preprocess(rec).get_traces(start_frame=0, end_frame=4000).T[None],
                                  dtype=np.float32)                                   # (1, channels, N)
    with torch.no_grad():
        want = model.encode(torch.from_numpy(traces)).numpy()
    got = sorter.encoder(1).run(traces, ["codes"])["codes"]
    assert (want > 0.1).sum() >= len(sorter.unit_ids)                  # spikes coded, not only zeros
    assert np.abs(got - want).max() <= contract.atol(want, model.config.num_layers)


@pytest.mark.slow
def test_sort_needs_no_torch_and_save_load_gives_the_same_spikes(fitted, tmp_path):
    rec, gt, sorter, folder = fitted
    saved = sorter.save(tmp_path / "copy")
    rec.save(folder=tmp_path / "rec")
    code = ("import numpy as np, spikeinterface\n"
            "from crsae.sorting import CRsAESorter\n"
            f"rec = spikeinterface.load({str(tmp_path / 'rec')!r})\n"
            f"sorting = CRsAESorter.load({str(saved)!r}).sort(rec, threads=1)\n"
            "assert 'torch' not in sys.modules\n"
            f"np.save({str(tmp_path / 'spikes.npy')!r}, sorting.to_spike_vector())\n")
    done = subprocess.run([sys.executable, "-c", REFUSE_TORCH + code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    here = sorter.sort(rec, threads=1).to_spike_vector()
    np.testing.assert_array_equal(np.load(tmp_path / "spikes.npy"), here)


@pytest.mark.slow
def test_sort_in_blocks_equals_one_block(fitted):
    rec, _, sorter, _ = fitted
    whole = sorter.sort(rec, threads=1).to_spike_vector()
    blocks = CRsAESorter.load(sorter.folder)
    blocks.params = blocks.params.replace(block_seconds=0.7)
    np.testing.assert_array_equal(blocks.sort(rec, threads=2).to_spike_vector(), whole)


@pytest.mark.slow
def test_phy_export_with_crsae_amplitudes_and_channel_mismatch(fitted, tmp_path):
    rec, _, sorter, _ = fitted
    sorting, amplitudes = sorter.sort(rec, threads=1, return_amplitudes=True)
    phy = parse_phy(export_phy(sorting, rec, tmp_path / "phy", sorter=sorter, amplitudes=amplitudes))
    fired = [u for u in sorting.unit_ids if len(sorting.get_unit_spike_train(u))]
    assert len(np.unique(phy["clusters"])) == len(fired)
    np.testing.assert_allclose(np.sort(phy["amplitudes"]), np.sort(amplitudes), rtol=1e-6)
    other, _ = small_recording(1.0, channels=6)
    with pytest.raises(DataError) as err:
        sorter.sort(other)
    assert "channels" in one_line(err.value)


@pytest.mark.slow
def test_cli_sort_reuses_a_sorter_and_writes_sorting_and_phy(fitted, tmp_path):
    rec, gt, sorter, folder = fitted
    raw = tmp_path / "rec.bin"
    rec.get_traces().astype(np.float32).tofile(raw)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "crsae.cli", "sort", str(raw), "-o", str(out), "--sampling-rate",
                           str(FS), "--num-channels", "4", "--dtype", "float32", "--sorter", str(sorter.folder),
                           "--quiet", "--threads", "1"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr       # spikeinterface's raw provenance UserWarning, no more
    summary = json.loads((out / "summary.json").read_text())
    assert summary["units"] == len(sorter.unit_ids) and summary["spikes"] > 0
    loaded = si.load(out / "sorting")
    assert loaded.to_spike_vector().size == summary["spikes"] == len(np.load(out / "amplitudes.npy"))
    parse_phy(out / "phy")


@pytest.mark.slow
def test_padded_group_models_code_as_their_own_dictionaries(tmp_path):
    """Group models share one traced graph at the largest group's shape: the padding (zero channels, padding
    units) must leave every real unit's codes those of its group's own, unpadded lasso."""
    import torch
    from crsae.config import ModelConfig
    from crsae.model.autoencoder import CRsAE
    from crsae.model.fista import unrolled_fista
    from crsae.serving.runtime import Encoder
    from crsae.model.fista import norm_bound
    rng = np.random.default_rng(0)
    locations = np.column_stack([np.zeros(8), 20.0 * np.arange(8)])
    filters = 0.05 * rng.standard_normal((3, 8, 6))
    for unit, channel in enumerate((1, 6, 4)):
        filters[unit, channel] += np.hanning(6)
    config = ModelConfig(kind="1d", channels=8, num_filters=3, kernel_size=6, num_layers=15, sigma=1.0,
                         threshold_mode="em", lam_init=0.5, two_sided=False,
                         L=1.05 * norm_bound(torch.from_numpy(filters)))
    model = CRsAE(config, filters.astype(np.float32))
    sorter = CRsAESorter(channels="local", radius_um=20.0, group_channels=4)
    groups = sorter._export_groups(model, locations, np.ones(3), tmp_path)
    assert [(len(g["channels"]), len(g["units"])) for g in groups] == [(3, 1), (5, 2)]     # both padded to (5, 2)
    H = model.H.detach().numpy().astype(np.float64)
    y = rng.standard_normal((8, 300))
    for group in groups:
        encoder = Encoder(tmp_path / group["file"], device="cpu", threads=1)
        window = np.zeros((encoder.metadata["channels"], 300), np.float32)
        window[:len(group["channels"])] = y[group["channels"]]
        got = encoder.run(window[None], ["codes"])["codes"][0][:len(group["units"])]
        sub = H[group["units"]][:, group["channels"]]
        sub /= np.linalg.norm(sub.reshape(len(sub), -1), axis=1)[:, None, None]
        L = 1.05 * norm_bound(torch.from_numpy(sub))
        b = torch.tensor(0.5 / L * np.ones(len(sub)))
        want = unrolled_fista(torch.tensor(y[group["channels"]])[None], torch.tensor(sub), torch.tensor(sub), b, L,
                              15, two_sided=False)[0].numpy()
        np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("value", [0, -5.0, float("inf"), True, "wide"])
def test_motion_sigma_must_be_a_positive_width(value):
    assert SorterParams().motion_sigma_um == 30.0
    with pytest.raises(ConfigError) as err:
        SorterParams(motion_sigma_um=value)
    assert "motion_sigma_um must be a positive number of micrometres" in one_line(err.value)


def test_motion_interpolation_takes_the_kriging_width():
    """The corrected traces are interpolated with the given kernel width (the presets' is 20 um): at zero
    displacement both widths give the traces back, at half a contact pitch they differ."""
    import spikeinterface.full as si
    from spikeinterface.core.motion import Motion
    from crsae.sorting import recording as rec_mod
    rec, _ = si.generate_ground_truth_recording(durations=[1.0], sampling_frequency=FS, num_channels=8, num_units=3,
                                                seed=0)
    bins = np.arange(0.5, 1.0, 1.0)

    def corrected(shift_um, sigma_um):
        motion = Motion([np.full((len(bins), 1), shift_um)], [bins], np.array([0.0]))
        out = rec_mod.motion_corrected(rec, motion, "dredge_fast", sigma_um=sigma_um)
        return out, out.get_traces(start_frame=0, end_frame=3000)
    out, still20 = corrected(0.0, None)
    assert out._kwargs["sigma_um"] == 20.0
    out, still40 = corrected(0.0, 40.0)
    assert out._kwargs["sigma_um"] == 40.0
    raw = rec.get_traces(start_frame=0, end_frame=3000)
    np.testing.assert_allclose(still20, raw, atol=1e-2 * np.abs(raw).max())
    np.testing.assert_allclose(still40, raw, atol=1e-2 * np.abs(raw).max())
    _, half20 = corrected(10.0, 20.0)
    _, half40 = corrected(10.0, 40.0)
    assert not np.allclose(half20, half40, atol=1e-3 * np.abs(raw).max())


def test_cli_sort_passes_the_kriging_width_to_the_sorter(fitted, tmp_path, monkeypatch):
    """--motion-sigma-um reaches the sorter that sorts, fitted or reused, and the summary records it; a reused
    sorter that corrects no motion refuses it in one line, before any work."""
    from typer.testing import CliRunner
    from crsae import cli
    from crsae.sorting import command as sort_command
    _, _, sorter, _ = fitted
    used = []

    def fake_sort(rec, model, folder, **kwargs):
        used.append(model.params)
        return {"seconds": 1.0, "units": 0, "spikes": 0, "sort_s": 1.0, "times_real_time": 1.0,
                "motion": model.params.motion, "motion_sigma_um": model.params.motion_sigma_um}
    monkeypatch.setattr(sort_command, "_sort", fake_sort)
    raw = tmp_path / "rec.bin"
    np.zeros((30000, 4), np.float32).tofile(raw)
    base = ["sort", str(raw), "--sampling-rate", str(FS), "--num-channels", "4", "--dtype", "float32", "--quiet"]
    runner = CliRunner()
    done = runner.invoke(cli.app, [*base, "-o", str(tmp_path / "fit"), "--motion", "dredge_fast",
                                   "--motion-sigma-um", "25"])
    assert done.exit_code == 0, done.output
    assert (used[-1].motion, used[-1].motion_sigma_um) == ("dredge_fast", 25.0)
    assert json.loads((tmp_path / "fit" / "summary.json").read_text())["motion_sigma_um"] == 25.0
    done = runner.invoke(cli.app, [*base, "-o", str(tmp_path / "reuse"), "--sorter", str(sorter.folder),
                                   "--motion", "rigid_fast", "--motion-sigma-um", "40"])
    assert done.exit_code == 0, done.output
    assert (used[-1].motion, used[-1].motion_sigma_um) == ("rigid_fast", 40.0)
    done = runner.invoke(cli.app, [*base, "-o", str(tmp_path / "plain"), "--sorter", str(sorter.folder),
                                   "--motion-sigma-um", "40"])
    assert done.exit_code == 1 and len(used) == 2
    assert "corrects no motion; add --motion PRESET" in done.output and not (tmp_path / "plain").exists()


def test_a_sorter_saved_before_motion_sigma_keeps_the_presets_width(fitted, tmp_path):
    _, _, sorter, _ = fitted
    saved = sorter.save(tmp_path / "old")
    info = json.loads((saved / "sorter.json").read_text())
    del info["params"]["motion_sigma_um"]
    (saved / "sorter.json").write_text(json.dumps(info))
    assert CRsAESorter.load(saved).params.motion_sigma_um == 20.0
    assert CRsAESorter.load(sorter.folder).params.motion_sigma_um == 30.0
