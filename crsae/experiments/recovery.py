"""Simulated dictionary recovery (1-D), the paper's simulation experiment: ``crsae experiment recovery``.

For every SNR, simulate windows y = sum_c h_c * x_c + v (a few events per filter per window, random signs), start
from the true dictionary perturbed to a recovery error in [0.4, 0.5], and train CRsAE unsupervised (target = the noisy
input) with the EM lambda and with lambda fixed at its initial value. Both variants start from the same filters and
see the same batches, so they differ only in the threshold. Reported: docs/math.md's recovery error
err = sqrt(1 - max_shift <h, h_hat>^2) after the best sign-invariant permutation, per filter, after every epoch,
also in dB (20 log10 err).

Outputs: results.json; recovery_curves.png (max error vs epoch, one line per SNR and variant); filters.png (true,
initial and learned filters at the lowest and highest SNR, EM lambda).
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from enum import Enum
from typing import Annotated, Optional

import numpy as np
import typer

from crsae.errors import ConfigError

VARIANTS = ("em", "fixed")
Variant = Enum("Variant", {v: v for v in VARIANTS}, type=str)            # the CLI's choices


@dataclass(frozen=True)
class Settings:
    """One recovery experiment; the defaults are the quick run (about 2 minutes on 2 cores)."""

    snrs: tuple[float, ...] = (7.0, 9.0, 12.0, 16.0)   # dB, one simulation and two trainings each
    variants: tuple[str, ...] = VARIANTS                # "em" (EM lambda) and/or "fixed" (lambda not learned)
    num_filters: int = 4                                # C
    kernel_size: int = 20                               # K taps
    num_signals: int = 256                              # training windows
    length: int = 500                                   # samples per window
    events_per_filter: int = 3                          # events of each filter in each window
    num_layers: int = 50                                # T unrolled FISTA steps
    epochs: int = 8
    batch_size: int = 32
    seed: int = 0                                       # data, perturbation and batch order

    @classmethod
    def full(cls, **changes) -> "Settings":
        """The full-size run: 6 filters of 30 taps, 512 windows of 1000 samples, T = 50, 20 epochs (about 25 min
        on one core)."""
        return dataclasses.replace(cls(num_filters=6, kernel_size=30, num_signals=512, length=1000, epochs=20),
                                   **changes)

    def __post_init__(self):
        if not self.snrs:
            raise ConfigError("snrs is empty; pass at least one SNR, e.g. --snr-db 12")
        if not all(isinstance(snr, (int, float)) and math.isfinite(snr) for snr in self.snrs):
            raise ConfigError(f"--snr-db must be finite numbers of dB, got {list(self.snrs)}")
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown or not self.variants:
            raise ConfigError(f"variants must be among {', '.join(VARIANTS)}, got {list(self.variants)}; "
                              "pass e.g. --variant em --variant fixed")
        for name in ("num_filters", "kernel_size", "num_signals", "length", "events_per_filter", "num_layers",
                     "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.length < 2 * self.kernel_size:
            raise ConfigError(f"length {self.length} is shorter than twice kernel_size {self.kernel_size}; "
                              "pass a longer --length")


def to_db(error: float) -> float:
    """20 log10(err), the paper's scale for recovery errors (floored at -200 dB)."""
    return 20 * math.log10(max(float(error), 1e-10))


def train_variant(settings: Settings, snr: float, variant: str, log=print) -> dict:
    """Simulate at ``snr`` dB and train one variant; returns the initial error, errors per epoch and the filters."""
    from crsae.metrics import filter_errors
    from crsae.training.run import start_run
    with tempfile.TemporaryDirectory() as scratch:
        run = start_run(
            output=Path(scratch) / "run.pt", seed=settings.seed,
            model=dict(num_filters=settings.num_filters, kernel_size=settings.kernel_size,
                       num_layers=settings.num_layers, threshold_mode=variant),
            train=dict(epochs=settings.epochs, batch_size=settings.batch_size, supervised=False),
            source=dict(num_signals=settings.num_signals, length=settings.length,
                        events_per_filter=settings.events_per_filter, snr_db=snr))
        truth, initial = run.source.truth, run.trainer.model.H.detach().cpu().numpy().copy()
        errors = []

        def on_epoch(record):
            errors.append(filter_errors(truth, run.trainer.model.H.detach().cpu().numpy()).tolist())
            log(f"  snr {snr:g} dB {variant:<5} epoch {record.epoch:>3}: loss {record.loss:.4g}  "
                f"max error {max(errors[-1]):.4f}")

        start = time.perf_counter()
        run.fit(on_epoch_done=on_epoch)
        seconds = time.perf_counter() - start
    model = run.trainer.model
    final = np.asarray(errors[-1])
    return {"snr_db": snr, "variant": variant, "seconds": seconds, "sigma": float(model.config.sigma),
            "L": float(model.config.L), "lam_init": float(model.config.lam_init),
            "lam_final": model.lam.detach().cpu().numpy().tolist(),
            "initial_error": run.initial_error.tolist(), "errors_per_epoch": errors,
            "max_error_per_epoch": [max(e) for e in errors],
            "final_max_error": float(final.max()), "final_max_error_db": to_db(final.max()),
            "final_mean_error_db": float(np.mean([to_db(e) for e in final])),
            "filters": {"true": truth, "initial": initial, "learned": model.H.detach().cpu().numpy()}}


def run(settings: Settings, output: Path, *, log=print) -> dict:
    """Train every (SNR, variant) pair; write output/results.json, recovery_curves.png and filters.png.

    Returns the results dict: settings, environment, and per pair the initial error, the per-filter errors after
    every epoch (C values each), the final max error (also in dB), the learned lambda and the wall time.
    """
    from crsae.experiments.report import environment, output_folder, write_results
    folder = output_folder(output)
    runs = [train_variant(settings, snr, variant, log) for snr in settings.snrs for variant in settings.variants]
    results = {"experiment": "recovery", "settings": dataclasses.asdict(settings), "environment": environment(),
               "runs": [{k: v for k, v in r.items() if k != "filters"} for r in runs]}
    _plot_curves(runs, folder)
    _plot_filters(runs, folder)
    write_results(folder, results)
    return results


def summary_table(results: dict) -> str:
    """Markdown table: final max error (and dB) per SNR and variant."""
    lines = ["| SNR (dB) | variant | initial max err | final max err | final max err (dB) | mean err (dB) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in results["runs"]:
        lines.append(f"| {r['snr_db']:g} | {r['variant']} | {max(r['initial_error']):.3f} | "
                     f"{r['final_max_error']:.4f} | {r['final_max_error_db']:.1f} | {r['final_mean_error_db']:.1f} |")
    return "\n".join(lines)


def _plot_curves(runs: list[dict], folder: Path) -> None:
    from crsae.experiments.report import pyplot, save_figure
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    snrs = sorted({r["snr_db"] for r in runs})
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(snrs)))
    for r in runs:
        colour = colours[snrs.index(r["snr_db"])]
        curve = [max(r["initial_error"])] + r["max_error_per_epoch"]
        ax.plot(range(len(curve)), [to_db(e) for e in curve], color=colour,
                linestyle="-" if r["variant"] == "em" else "--", label=f"{r['snr_db']:g} dB, {r['variant']} lambda")
    ax.set_xlabel("epoch")
    ax.set_ylabel("max recovery error (dB)")
    ax.set_title("Dictionary recovery from a perturbed start")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, folder, "recovery_curves.png")


def _plot_filters(runs: list[dict], folder: Path) -> None:
    """True (black), initial (grey) and learned (colour) filters, matched and sign/shift aligned, for the lowest
    and highest SNR of the first variant."""
    from crsae.metrics import align_filter
    from crsae.experiments.report import pyplot, save_figure
    plt = pyplot()
    variant = runs[0]["variant"]
    chosen = [r for r in runs if r["variant"] == variant]
    chosen = [chosen[0]] if len(chosen) == 1 else [min(chosen, key=lambda r: r["snr_db"]),
                                                    max(chosen, key=lambda r: r["snr_db"])]
    C = len(chosen[0]["filters"]["true"])
    fig, axes = plt.subplots(len(chosen), C, figsize=(2.2 * C, 1.8 * len(chosen)), squeeze=False)
    for row, r in zip(axes, chosen):
        true = r["filters"]["true"][:, 0]
        for c, ax in enumerate(row):
            ax.plot(true[c], color="black", lw=2, label="true")
            for name, colour in (("initial", "0.6"), ("learned", "tab:red")):
                ax.plot(align_filter(true[c], _closest(true[c], r["filters"][name][:, 0])), color=colour, lw=1,
                        label=name)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"{r['snr_db']:g} dB", fontsize=8)
    axes[0, -1].legend(fontsize=6)
    fig.suptitle(f"true / initial / learned filters ({variant} lambda)", fontsize=9)
    save_figure(fig, folder, "filters.png")


def _closest(target: np.ndarray, filters: np.ndarray) -> np.ndarray:
    """The filter of ``filters`` (C, K) with the largest shift-invariant |correlation| with ``target`` (K,)."""
    return max(filters, key=lambda f: np.abs(np.correlate(target, f / np.linalg.norm(f), mode="full")).max())


def command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for results.json and the figures.")]
    = Path("runs/experiment-recovery"),
    full: Annotated[bool, typer.Option(help="Full-size run (6 filters x 30 taps, 512 x 1000 windows, T 50, "
                                            "20 epochs) instead of the quick default.")] = False,
    snr_db: Annotated[Optional[list[float]], typer.Option(help="SNR in dB (repeat; default 7, 9, 12, 16).")] = None,
    snr: Annotated[Optional[list[float]], typer.Option(hidden=True, help="Old name of --snr-db.")] = None,
    variant: Annotated[Optional[list[Variant]], typer.Option(help="EM lambda and/or lambda fixed (repeat; default "
                                                                  "both).")] = None,
    num_filters: Annotated[Optional[int], typer.Option(help="C filters.")] = None,
    kernel_size: Annotated[Optional[int], typer.Option(help="K taps.")] = None,
    num_signals: Annotated[Optional[int], typer.Option(help="Training windows.")] = None,
    length: Annotated[Optional[int], typer.Option(help="Samples per window.")] = None,
    num_layers: Annotated[Optional[int], typer.Option(help="T unrolled FISTA steps.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs per training.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of data, perturbation and order.")] = 0,
    quiet: Annotated[bool, typer.Option(help="No per-epoch progress lines.")] = False,
):
    """Simulated 1-D dictionary recovery at several SNRs, EM lambda vs fixed lambda (the paper's simulations)."""
    changes = {k: v for k, v in dict(num_filters=num_filters, kernel_size=kernel_size, num_signals=num_signals,
                                     length=length, num_layers=num_layers, epochs=epochs).items() if v is not None}
    if snr_db or snr:
        changes["snrs"] = tuple(snr_db or snr)
    if variant:
        changes["variants"] = tuple(v.value for v in variant)
    settings = Settings.full(seed=seed, **changes) if full else Settings(seed=seed, **changes)
    results = run(settings, output, log=(lambda line: None) if quiet else lambda line: typer.echo(line, err=True))
    typer.echo(summary_table(results))
    typer.echo(f"wrote {Path(output) / 'results.json'} and figures")
