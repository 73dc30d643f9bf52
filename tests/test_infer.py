"""crsae/serving/infer.py: ``infer`` runs an export over a file and writes codes, reconstructions, denoised
images and events, each output equal to what Encoder gives."""

import csv

import numpy as np
import pytest
from PIL import Image

from crsae.errors import DataError
from crsae.serving.infer import infer
from crsae.serving.runtime import Encoder


@pytest.fixture(scope="module")
def m1(tiny_exports):
    return tiny_exports["m1"].onnx


def test_codes_to_npy_equal_the_encoders(m1, tmp_path, rng):
    y = rng.standard_normal((3, 1, 120)).astype(np.float32)
    np.save(tmp_path / "y.npy", y)
    summary = infer(m1, tmp_path / "y.npy", tmp_path / "codes.npy", device="cpu")
    assert summary.provider == "CPUExecutionProvider" and summary.fallback_reason is None
    assert summary.items == 1 and summary.written == [str(tmp_path / "codes.npy")] and summary.events == 0
    np.testing.assert_array_equal(np.load(tmp_path / "codes.npy"), Encoder(m1, device="cpu").encode(y))


def test_both_outputs_of_several_arrays_to_npz(m1, tmp_path, rng):
    a, b = rng.standard_normal((2, 1, 50)).astype(np.float32), rng.standard_normal(70).astype(np.float32)
    np.savez(tmp_path / "in.npz", a=a, b=b)
    infer(m1, tmp_path / "in.npz", tmp_path / "out.npz", outputs="both", device="cpu")
    encoder = Encoder(m1, device="cpu")
    with np.load(tmp_path / "out.npz") as z:
        assert sorted(z.files) == ["a.codes", "a.reconstruction", "b.codes", "b.reconstruction"]
        expected = encoder.run(a)
        np.testing.assert_array_equal(z["a.codes"], expected["codes"])
        np.testing.assert_array_equal(z["a.reconstruction"], expected["reconstruction"])
        assert z["b.codes"].shape == (1, 2, 65) and z["b.reconstruction"].shape == (1, 1, 70)


def test_long_recording_in_chunks_equals_the_whole_signal(m1, tmp_path, rng):
    y = rng.standard_normal((1, 1, 3000)).astype(np.float32)
    np.save(tmp_path / "long.npy", y)
    infer(m1, tmp_path / "long.npy", tmp_path / "codes.npy", device="cpu", chunk=400)
    whole = Encoder(m1, device="cpu").encode(y)[0]
    got = np.load(tmp_path / "codes.npy")
    assert got.shape == whole.shape == (2, 2995)
    assert np.abs(got - whole).max() <= 1e-5 * max(1.0, np.abs(whole).max())


def test_events_csv_has_one_row_per_peak(m1, tmp_path, rng):
    y = rng.standard_normal((2, 1, 150)).astype(np.float32)
    np.save(tmp_path / "y.npy", y)
    summary = infer(m1, tmp_path / "y.npy", tmp_path / "codes.npy", events=tmp_path / "ev.csv", sampling_rate=100.0,
                    device="cpu")
    rows = list(csv.DictReader(open(tmp_path / "ev.csv")))
    assert summary.events == len(rows) > 0
    assert summary.written == [str(tmp_path / "codes.npy"), str(tmp_path / "ev.csv")]
    assert {r["signal"] for r in rows} == {"y[0]", "y[1]"}
    codes = np.load(tmp_path / "codes.npy")
    for r in rows:
        s, n, c = int(r["signal"][2]), int(r["sample"]), int(r["filter"])
        assert float(r["time_s"]) == pytest.approx(n / 100.0)
        assert float(r["amplitude"]) == pytest.approx(float(codes[s, c, n]), rel=1e-5)


def test_image_to_denoised_png(tiny_exports, tmp_path, rng):
    m2 = tiny_exports["m2"].onnx
    pixels = (rng.random((21, 23)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "im.png")
    infer(m2, tmp_path / "im.png", tmp_path / "out.png", outputs="reconstruction", device="cpu")
    got = np.asarray(Image.open(tmp_path / "out.png"))
    denoised = Encoder(m2, device="cpu").reconstruct((pixels / 255.0).astype(np.float32)[None, None])[0, 0]
    expected = np.clip(np.rint(denoised.astype(np.float64) * 255), 0, 255).astype(np.uint8)
    assert got.shape == (21, 23) and np.abs(got.astype(int) - expected).max() <= 1


def test_a_npy_output_holds_one_output_and_nothing_is_written(m1, tmp_path):
    np.save(tmp_path / "y.npy", np.zeros((1, 1, 40), np.float32))
    with pytest.raises(DataError, match="a .npy file holds one output"):
        infer(m1, tmp_path / "y.npy", tmp_path / "o.npy", outputs="both", device="cpu")
    with pytest.raises(DataError, match="must be one of codes, reconstruction, both"):
        infer(m1, tmp_path / "y.npy", tmp_path / "o.npy", outputs="latent", device="cpu")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["y.npy"]


def _events(path):
    return [(r["signal"], int(r["sample"]), int(r["filter"]), r["amplitude"]) for r in csv.DictReader(open(path))]


@pytest.mark.parametrize("source", ["npy", "npz", "npz-fortran", "raw"])
def test_long_outputs_and_events_stream_in_chunks_exactly(m1, tmp_path, rng, source):
    """A long signal (read in windows from an .npy, a stored .npz member or a raw file) into .npz and .npy
    outputs, with --events, in chunks of 300: both files hold the same codes, equal to the whole-signal run, and
    the events (found chunk by chunk, some straddling chunk boundaries) are exactly detect_events on the codes."""
    from crsae.readers import Recording, read_input
    from crsae.serving.events import detect_events
    y = (rng.standard_normal((1, 1, 4000)) * (rng.random((1, 1, 4000)) < 0.05) * 20).astype(np.float32)
    y += 0.1 * rng.standard_normal(y.shape).astype(np.float32)
    path = {"npy": tmp_path / "y.npy", "npz": tmp_path / "y.npz", "npz-fortran": tmp_path / "y.npz",
            "raw": tmp_path / "y.raw"}[source]
    if source == "npy":
        np.save(path, y)
    elif source == "npz":
        np.savez(path, y=y[0, 0])
    elif source == "npz-fortran":
        np.savez(path, y=np.asfortranarray(y))
    else:
        y[0, 0].tofile(path)
    raw = {"raw_dtype": "float32"} if source == "raw" else {}
    items = read_input(path, kind="1d", channels=1, long_from=300, **raw)
    assert len(items) == 1 and items[0].long and isinstance(items[0].array, Recording)       # windowed, not loaded
    whole = Encoder(m1, device="cpu").encode(y)[0]
    for out in ("out.npz", "out.npy"):
        infer(m1, path, tmp_path / out, outputs="codes", events=tmp_path / f"{out}.csv", chunk=300, device="cpu",
              **raw)
    with np.load(tmp_path / "out.npz") as z:
        assert z.files == ["codes"]
        codes = z["codes"]
    np.testing.assert_array_equal(codes, np.load(tmp_path / "out.npy"))
    assert np.abs(codes - whole).max() <= 1e-5 * max(1.0, np.abs(whole).max())
    events = _events(tmp_path / "out.npz.csv")
    assert events == _events(tmp_path / "out.npy.csv")
    label = path.stem if source != "npz" and source != "npz-fortran" else "y"
    want = [(label, int(n), int(c), f"{a:.6g}") for n, c, a in detect_events(codes, min_distance=3)]
    assert events == want and len(events) > 20
    assert any(abs(n % 300 - 150) > 145 for _, n, _, _ in events)     # some within 5 samples of a boundary


def test_npz_output_of_a_long_signal_with_reconstruction_and_events(m1, tmp_path, rng):
    """--outputs both into an .npz: both long members streamed (Fortran order, as numpy.load reads them back),
    the events from the codes member; reconstruction-only into .npy still gives the events."""
    y = rng.standard_normal((1, 1, 2500)).astype(np.float32)
    np.save(tmp_path / "y.npy", y)
    infer(m1, tmp_path / "y.npy", tmp_path / "o.npz", outputs="both", events=tmp_path / "a.csv", chunk=256,
          device="cpu")
    infer(m1, tmp_path / "y.npy", tmp_path / "r.npy", outputs="reconstruction", events=tmp_path / "b.csv",
          chunk=256, device="cpu")
    with np.load(tmp_path / "o.npz") as z:
        assert sorted(z.files) == ["codes", "reconstruction"]
        assert z["codes"].shape == (2, 2495) and z["reconstruction"].shape == (1, 2500)
        np.testing.assert_array_equal(z["reconstruction"], np.load(tmp_path / "r.npy"))
    assert _events(tmp_path / "a.csv") == _events(tmp_path / "b.csv") != []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv", "o.npz", "r.npy", "y.npy"]


def test_both_outputs_of_a_long_signal_come_from_one_pass(m1, tmp_path, rng, monkeypatch):
    """--outputs both of a long recording runs the model once per chunk for both outputs (it ran every chunk
    twice, once per output): the codes are exactly the codes-alone run's, the reconstruction the
    reconstruction-alone run's up to float rounding (its windows are the codes', K - 1 samples longer on the
    right); the same from run_long with two threads."""
    from crsae import contract
    from crsae.serving.chunking import plan_chunks
    y = rng.standard_normal((1, 1, 2500)).astype(np.float32)
    np.save(tmp_path / "y.npy", y)
    alone = Encoder(m1, device="cpu", threads=1)
    codes, recon = (alone.run_long(y[0], name, chunk=256) for name in ("codes", "reconstruction"))
    atol = contract.atol(recon, alone.metadata["num_layers"])
    calls, original = [], Encoder._call

    def counted(self, batch, names, noise=None):
        calls.append(list(names))
        return original(self, batch, names, noise)

    monkeypatch.setattr(Encoder, "_call", counted)
    infer(m1, tmp_path / "y.npy", tmp_path / "o.npz", outputs="both", chunk=256, device="cpu", threads=1)
    pieces = len(list(plan_chunks(2500, alone.kernel_size, alone.metadata["chunk_halo"], 256, "codes")))
    assert calls == [["codes", "reconstruction"]] * pieces
    with np.load(tmp_path / "o.npz") as z:
        assert z.files == ["codes", "reconstruction"]
        np.testing.assert_array_equal(z["codes"], codes)
        np.testing.assert_allclose(z["reconstruction"], recon, rtol=0, atol=atol)
    both = Encoder(m1, device="cpu", threads=2).run_long(y[0], ["codes", "reconstruction"], chunk=256)
    np.testing.assert_array_equal(both["codes"], codes)
    np.testing.assert_allclose(both["reconstruction"], recon, rtol=0, atol=atol)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.npz", "y.npy"]        # no spill file left


def test_infer_refuses_to_chunk_an_accelerated_model_before_writing(tiny_exports, tmp_path, rng):
    """An accelerated-encoder export (per-example safeguard) is not chunkable: a recording longer than --chunk is
    refused up front, with the --chunk that runs it whole; with that --chunk it runs, equal to Encoder.run."""
    from crsae import contract
    tiny = tiny_exports["spikes_accelerated"]
    y = np.abs(rng.standard_normal((1, 900))).astype(np.float32)
    np.save(tmp_path / "rec.npy", y)
    with pytest.raises(DataError, match=r"runs the accelerated encoder, .* \(--chunk 900 or more runs"):
        infer(tiny.onnx, tmp_path / "rec.npy", tmp_path / "codes.npy", chunk=300)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.npy"]
    infer(tiny.onnx, tmp_path / "rec.npy", tmp_path / "codes.npy", chunk=900)
    whole = Encoder(tiny.onnx, device="cpu").run(y[None], ["codes"])["codes"]        # (1, C, M)
    got = np.load(tmp_path / "codes.npy")
    assert got.shape == whole.shape and np.abs(got - whole).max() <= contract.atol(whole, 12)
