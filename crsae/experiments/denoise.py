"""Image denoising (2-D), the paper's BSD experiment: ``crsae experiment denoise``.

Train CRsAE supervised (input noisy, target clean) on random grayscale crops of CBSD432 and denoise BSD68 with its
reconstruction (the stride trick averages the s^2 shifted copies). Four variants differ only in the threshold and
the tying of the filters: ``em-tied`` (EM lambda), ``bias-tied`` (free bias learned by backprop, the conventional
baseline), ``fixed-tied`` (lambda held at lam_init) and ``em-untied`` (EM lambda, separate analysis and synthesis
filters). All variants start from the same random dictionary (same seed; the untied ones copy it into We and Wd)
and see the same crops and training noise, so the comparison is paired.

Noise std is given on 0-255 images (sigma 25 is 25/255 on the [0, 1] images the model sees). The test noise is drawn
once per test sigma from a fixed seed and shared by all variants. PSNR is reported with peak 255 (1 on [0, 1]) and
with the original code's peak, the maximum of each clean image; the denoised image is not clipped.

Training noise: either one model per variant trained at ``train_sigma`` and tested at every test sigma (quick runs),
or, with ``train_sigma=None``, one model per variant and test sigma, trained at that sigma (the paper).

For the EM variants the learned lambda_c are compared with the closed-form M-step value
lambda_c = (Ne + r - 1) / (||x_c||_1 + delta) computed from the codes x of the test images: per image over its s^2
shifted copies' codes (``CRsAE.closed_form_lambda``), then averaged over the images; reported is the Pearson
correlation over the C filters.

Outputs: results.json; filters.png (the learned filters of every variant); examples.png (clean / noisy / denoised
for a few test images); loss.png (training loss per variant).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from enum import Enum
from typing import Annotated, Optional

import numpy as np
import typer

from crsae.errors import ConfigError, DataError

VARIANTS = {"em-tied": ("em", True), "bias-tied": ("bias", True), "fixed-tied": ("fixed", True),
            "em-untied": ("em", False)}                         # name -> (threshold_mode, tied)
Variant = Enum("Variant", {v.replace("-", "_"): v for v in VARIANTS}, type=str)     # the CLI's choices
TRAIN_FOLDER, TEST_FOLDER = "CBSD432", "BSD68"


@dataclass(frozen=True)
class Settings:
    """One denoising experiment; the defaults are the quick run (about 2 minutes on 2 cores)."""

    data: str = "../shared/data"                    # folder holding CBSD432 (training) and BSD68 (test)
    variants: tuple[str, ...] = tuple(VARIANTS)     # among em-tied, bias-tied, fixed-tied, em-untied
    num_filters: int = 16                           # C
    kernel_size: int = 7                            # K (K x K filters)
    stride: int = 5                                 # s, code-grid stride (stride trick with s^2 shifts)
    num_layers: int = 12                            # T unrolled FISTA steps
    crop_size: int = 64                             # side of the random training crops
    crops_per_epoch: int = 150                      # training crops (= steps, batch 1) per epoch
    epochs: int = 1
    train_images: Optional[int] = 100               # first n CBSD432 images by name; None: all 432
    train_sigma: Optional[float] = 25.0             # training noise std (0-255); None: one model per test sigma
    test_sigmas: tuple[float, ...] = (15.0, 25.0)   # test noise stds (0-255)
    test_images: Optional[int] = 8                  # first n BSD68 images by name; None: all 68
    test_crop: Optional[int] = 96                   # side of the centre crop of each test image; None: whole image
    model_sigma: float = 0.078                      # the model's sigma in b_c = lam_c sigma^2 / L (paper: 20/255)
    L: float = 10.0                                 # step constant (paper's images)
    lam_init: float = 20.0                          # initial lambda_c, also the Gamma prior mean
    delta: float = 100.0                            # Gamma prior rate
    lr: float = 1e-2                                # Adam learning rate of the dictionary (and free bias)
    adam_eps: float = 1e-3                          # Adam epsilon of the dictionary
    lam_lr: float = 0.1                             # Adam learning rate of lambda (EM variants)
    lr_decay: float = 0.7                           # dictionary learning rate times this ...
    lr_step: int = 10                               # ... every lr_step epochs
    batch_size: int = 1                             # crops per step
    example_images: int = 3                         # test images in examples.png
    seed: int = 0                                   # initial dictionary, crops, training and test noise

    @classmethod
    def full(cls, **changes) -> "Settings":
        """The paper's sizes: 64 filters 7x7, stride 5, T = 30, 128x128 crops (432 a epoch, 30 epochs) from all 432
        training images, all 68 test images whole, sigma 15, 25 and 50, one model per variant and sigma."""
        return dataclasses.replace(cls(num_filters=64, num_layers=30, crop_size=128, crops_per_epoch=432,
                                       epochs=30, train_images=None, train_sigma=None,
                                       test_sigmas=(15.0, 25.0, 50.0), test_images=None, test_crop=None),
                                   **changes)

    def __post_init__(self):
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown or not self.variants:
            raise ConfigError(f"variants must be among {', '.join(VARIANTS)}, got {list(self.variants)}; "
                              "pass e.g. --variant em-tied --variant bias-tied")
        if len(set(self.variants)) != len(self.variants):
            raise ConfigError(f"variants {list(self.variants)} repeat a name; pass each variant once")
        if not self.test_sigmas:
            raise ConfigError("test_sigmas is empty; pass at least one noise level, e.g. --test-sigma 25")
        for name in ("crop_size", "crops_per_epoch", "example_images"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        for name in ("train_images", "test_images", "test_crop"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer or None (all / whole), got {value!r}")
        sigmas = self.test_sigmas + (() if self.train_sigma is None else (self.train_sigma,))
        if any(not 0 < s < 255 for s in sigmas):
            raise ConfigError(f"noise stds are on 0-255 images and must lie in (0, 255), got {list(sigmas)}; "
                              "pass e.g. --test-sigma 25")
        if self.test_images is not None and self.example_images > self.test_images:
            raise ConfigError(f"example_images {self.example_images} exceeds test_images {self.test_images}; "
                              "show fewer examples or test more images")
        config = self.model_config("em", True)                   # checks the model's fields
        self.train_config()                                      # checks the optimiser's fields
        for name in ("crop_size", "test_crop"):
            value = getattr(self, name)
            if value is not None and value < config.min_size:
                flag = name.replace("_", "-")
                raise ConfigError(f"{name} {value} is smaller than {config.min_size}, the least a {self.kernel_size}"
                                  f"x{self.kernel_size} stride-{self.stride} model takes; pass a larger --{flag}")

    def model_config(self, threshold_mode: str, tied: bool):
        """The ModelConfig of one variant."""
        from crsae.config import ModelConfig
        return ModelConfig(kind="2d", channels=1, num_filters=self.num_filters, kernel_size=self.kernel_size,
                           stride=self.stride, num_layers=self.num_layers, L=self.L, sigma=self.model_sigma,
                           threshold_mode=threshold_mode, lam_init=self.lam_init, delta=self.delta, tied=tied,
                           input_scaling="unit_interval")

    def train_config(self):
        """The TrainConfig shared by all variants (supervised)."""
        from crsae.config import TrainConfig
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, adam_eps=self.adam_eps,
                           lr_decay=self.lr_decay, lr_step=self.lr_step, lam_lr=self.lam_lr, supervised=True,
                           seed=self.seed)

    def training_sigmas(self) -> tuple[float, ...]:
        """Noise stds (0-255) models are trained at."""
        return self.test_sigmas if self.train_sigma is None else (self.train_sigma,)

    def trained_at(self, test_sigma: float) -> float:
        """The training noise std of the models tested at ``test_sigma``."""
        return test_sigma if self.train_sigma is None else self.train_sigma

    def training_plan(self) -> str:
        """One sentence saying which models are trained at which noise level."""
        if self.train_sigma is None:
            return "one model per variant and test sigma, trained at that sigma (as the paper)"
        return (f"one model per variant, trained at sigma {self.train_sigma:g} and tested at every test sigma "
                f"({', '.join(f'{s:g}' for s in self.test_sigmas)})")


def load_data(settings: Settings) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Training images (CBSD432 as grayscale) and test images (BSD68), each a list of (1, Hh, Ww) in [0, 1]."""
    from crsae.readers import load_images
    root = Path(settings.data)
    missing = [name for name in (TRAIN_FOLDER, TEST_FOLDER) if not (root / name).is_dir()]
    if missing:
        raise DataError(f"{root} lacks {' and '.join(missing)}; pass --data the folder holding the "
                        f"{TRAIN_FOLDER} (training) and {TEST_FOLDER} (test) image folders")
    train = load_images(root / TRAIN_FOLDER, channels=1, limit=settings.train_images)
    test = load_images(root / TEST_FOLDER, channels=1, limit=settings.test_images)
    if settings.test_crop is not None:
        small = [im.shape[1:] for im in test if min(im.shape[1:]) < settings.test_crop]
        if small:
            raise DataError(f"{len(small)} test images are smaller than test_crop {settings.test_crop} "
                            f"(e.g. {small[0]}); pass a smaller --test-crop")
        test = [_centre_crop(im, settings.test_crop) for im in test]
    return train, test


def _centre_crop(image: np.ndarray, side: int) -> np.ndarray:
    """(ch, Hh, Ww) -> (ch, side, side), the centre."""
    top, left = (image.shape[1] - side) // 2, (image.shape[2] - side) // 2
    return np.ascontiguousarray(image[:, top:top + side, left:left + side])


def train_variant(settings: Settings, variant: str, sigma: float, images: list[np.ndarray], log=print):
    """Train one variant supervised at noise std ``sigma`` (0-255); returns (model, per-step losses, seconds)."""
    from crsae.training.datasets import ImageCropData
    from crsae.model.autoencoder import CRsAE
    from crsae.training.mstep import Trainer
    mode, tied = VARIANTS[variant]
    model = CRsAE(settings.model_config(mode, tied), seed=settings.seed)
    data = ImageCropData(images, crop_size=settings.crop_size, crops_per_epoch=settings.crops_per_epoch,
                         noise_sigma=sigma / 255)
    trainer = Trainer(model, settings.train_config())
    losses: list[float] = []
    start = time.perf_counter()

    def on_epoch(record):
        log(f"  {variant:<10} sigma {sigma:g} epoch {record.epoch:>3}: loss {record.loss:.4g}  "
            f"({time.perf_counter() - start:.0f} s)")

    trainer.fit(data, on_batch=lambda epoch, batch, n, loss: losses.append(loss), on_epoch=on_epoch)
    return model, losses, time.perf_counter() - start


def noisy_test_images(images: list[np.ndarray], sigma: float, seed: int) -> list[np.ndarray]:
    """Each (1, Hh, Ww) image plus N(0, (sigma/255)^2) noise, from a generator fixed by (seed, sigma)."""
    import torch
    generator = torch.Generator().manual_seed(seed * 1_000_003 + int(round(sigma * 100)))
    return [image + (sigma / 255) * torch.randn(image.shape, generator=generator).numpy() for image in images]


def evaluate(model, clean: list[np.ndarray], noisy: list[np.ndarray], *, keep: int = 0) -> dict:
    """Denoise every image; per-image PSNRs (peak 1 and peak max(clean)), the first ``keep`` denoised images and,
    for EM models, the mean over images of the closed-form M-step lambda (C,) from each image's codes (its s^2
    shifted copies)."""
    import torch
    from crsae.metrics import psnr
    model.eval()
    psnrs, psnrs_max, closed, denoised = [], [], [], []
    with torch.no_grad():
        for image, y in zip(clean, noisy):
            y_hat, x = model(torch.as_tensor(y)[None])             # (1, 1, Hh, Ww), (s^2, C, Hc, Wc)
            estimate = y_hat[0].numpy()
            if len(denoised) < keep:
                denoised.append(estimate)
            psnrs.append(psnr(image, estimate))
            psnrs_max.append(psnr(image, estimate, peak=float(image.max())))
            if model.config.threshold_mode == "em":
                closed.append(model.closed_form_lambda(x).numpy())
    out = {"psnr": psnrs, "psnr_maxpeak": psnrs_max, "denoised": denoised}
    if closed:
        out["closed_form_lam"] = np.mean(closed, axis=0)
    return out


def pearson(a: np.ndarray, b: np.ndarray) -> Optional[float]:
    """Pearson correlation of two (C,) vectors; None when either is constant."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def run(settings: Settings, output: Path, *, log=print) -> dict:
    """Train every (variant, training sigma), denoise the test images at every test sigma; write
    output/results.json, filters.png, examples.png, loss.png and each trained model as
    output/models/VARIANT_sigmaS.pt (a crsae checkpoint: ``crsae evaluate`` / ``crsae export`` take it, and the
    figures can be redrawn from it).

    Returns the results dict: settings, environment, the training plan, per variant and training sigma the loss
    curve, learned lambda / bias and wall time, and per test sigma the mean noisy and denoised PSNRs (both peaks),
    the paired EM-minus-bias difference and, for EM variants, the lambda correlation with the closed-form M-step.
    """
    from crsae.model.checkpoint import save_checkpoint
    from crsae.experiments.report import environment, output_folder, write_results
    from crsae.files import make_folder
    started = time.perf_counter()
    folder = output_folder(output)
    train_images, test_images = load_data(settings)
    log(f"denoise: {len(train_images)} training images, {len(test_images)} test images; {settings.training_plan()}")
    trained, models = [], {}
    for sigma in settings.training_sigmas():
        for variant in settings.variants:
            model, losses, seconds = train_variant(settings, variant, sigma, train_images, log)
            models[variant, sigma] = model
            checkpoint = Path("models") / f"{variant}_sigma{sigma:g}.pt"
            (make_folder(folder) / "models").mkdir(exist_ok=True)
            save_checkpoint(folder / checkpoint, model)
            trained.append({"variant": variant, "train_sigma": sigma, "seconds": seconds, "losses": losses,
                            "checkpoint": checkpoint.as_posix(),
                            "final_loss": float(np.mean(losses[-max(1, len(losses) // 10):])),
                            **_thresholds(model)})
    scores, examples = {}, {}
    for sigma in settings.test_sigmas:
        scores[f"{sigma:g}"], examples[sigma] = score_sigma(settings, models, test_images, sigma, log)
    results = {"experiment": "denoise", "settings": dataclasses.asdict(settings), "environment": environment(),
               "training_plan": settings.training_plan(),
               "peaks": "psnr: peak 255 on 8-bit (1 on [0, 1]); psnr_maxpeak: peak = max of each clean image",
               "closed_form_lambda": "mean over test images of (Ne + r - 1) / (||x_c||_1 + delta), each image's "
                                     "l1 averaged over its s^2 shifted copies' codes",
               "num_train_images": len(train_images), "num_test_images": len(test_images),
               "training": trained, "scores": scores}
    _plot_filters(models, settings, folder)
    _plot_examples(test_images, examples, settings, folder)
    _plot_losses(trained, folder)
    results["seconds"] = time.perf_counter() - started
    write_results(folder, results)
    return results


def score_sigma(settings: Settings, models: dict, clean: list[np.ndarray], sigma: float, log=print):
    """Add test noise of std ``sigma`` (0-255) and denoise with every variant. Returns (scores, examples): the
    scores dict of results.json for this sigma, and (noisy, {variant: denoised}) for the first example images."""
    from crsae.metrics import psnr
    noisy = noisy_test_images(clean, sigma, settings.seed)
    noisy_psnr = [psnr(c, n) for c, n in zip(clean, noisy)]
    noisy_max = [psnr(c, n, peak=float(c.max())) for c, n in zip(clean, noisy)]
    train_sigma = settings.trained_at(sigma)
    per_variant, per_image = {}, {}
    for variant in settings.variants:
        start = time.perf_counter()
        model = models[variant, train_sigma]
        per_image[variant] = evaluate(model, clean, noisy, keep=settings.example_images)
        per_variant[variant] = _variant_score(model, per_image[variant], train_sigma, time.perf_counter() - start)
        log(f"  test sigma {sigma:g} {variant:<10}: PSNR {per_variant[variant]['psnr']:.2f} dB "
            f"(noisy {np.mean(noisy_psnr):.2f})")
    scores = {"sigma": sigma, "train_sigma": train_sigma, "noisy_psnr": float(np.mean(noisy_psnr)),
              "noisy_psnr_maxpeak": float(np.mean(noisy_max)), "variants": per_variant, **_em_vs_bias(per_image)}
    return scores, (noisy[:settings.example_images], {v: r["denoised"] for v, r in per_image.items()})


def _thresholds(model) -> dict:
    """Learned thresholds of one model: lambda (C,) for em/fixed, bias b (C,) for bias mode."""
    if model.config.threshold_mode == "bias":
        return {"bias": model.bias.detach().numpy().tolist()}
    return {"lam": model.lam.detach().numpy().tolist()}


def _variant_score(model, result: dict, train_sigma: float, seconds: float) -> dict:
    score = {"train_sigma": train_sigma, "psnr": float(np.mean(result["psnr"])),
             "psnr_maxpeak": float(np.mean(result["psnr_maxpeak"])), "psnr_per_image": result["psnr"],
             "test_seconds": seconds}
    if "closed_form_lam" in result:
        lam, closed = model.lam.detach().numpy(), result["closed_form_lam"]
        score.update(lam_correlation=pearson(lam, closed), lam_mean=float(lam.mean()),
                     closed_form_lam_mean=float(closed.mean()), closed_form_lam=closed.tolist())
    return score


def _em_vs_bias(per_image: dict) -> dict:
    """Paired EM-minus-bias PSNR difference (tied variants), when both were run."""
    if "em-tied" not in per_image or "bias-tied" not in per_image:
        return {}
    em, bias = per_image["em-tied"], per_image["bias-tied"]
    diff = np.asarray(em["psnr"]) - np.asarray(bias["psnr"])
    diff_max = np.asarray(em["psnr_maxpeak"]) - np.asarray(bias["psnr_maxpeak"])
    return {"em_minus_bias_db": float(diff.mean()), "em_minus_bias_maxpeak_db": float(diff_max.mean()),
            "em_wins": int((diff > 0).sum())}


def summary_table(results: dict) -> str:
    """Markdown table: mean PSNR per test sigma and variant (both peaks), EM-bias gap and lambda correlation."""
    lines = ["| test sigma | trained at | variant | PSNR (dB, peak 255) | PSNR (dB, peak max) | lambda corr |",
             "| --- | --- | --- | --- | --- | --- |"]
    for key, score in results["scores"].items():
        lines.append(f"| {key} | - | noisy | {score['noisy_psnr']:.2f} | {score['noisy_psnr_maxpeak']:.2f} | |")
        for variant, v in score["variants"].items():
            corr = v.get("lam_correlation")
            lines.append(f"| {key} | {v['train_sigma']:g} | {variant} | {v['psnr']:.2f} | {v['psnr_maxpeak']:.2f} | "
                         f"{'' if corr is None else f'{corr:.3f}'} |")
        if "em_minus_bias_db" in score:
            lines.append(f"| {key} | | em-tied minus bias-tied | {score['em_minus_bias_db']:+.3f} | "
                         f"{score['em_minus_bias_maxpeak_db']:+.3f} | (EM better on {score['em_wins']} of "
                         f"{results['num_test_images']}) |")
    return "\n".join(lines)


def tile_filters(filters: np.ndarray) -> np.ndarray:
    """(C, 1, K, K) filters -> one grey image of ceil(sqrt(C)) columns, each tile scaled to [0, 1], 1-px gaps."""
    C, K = filters.shape[0], filters.shape[-1]
    cols = math.ceil(math.sqrt(C))
    rows = math.ceil(C / cols)
    canvas = np.ones((rows * (K + 1) + 1, cols * (K + 1) + 1))
    for c in range(C):
        f = filters[c, 0]
        span = f.max() - f.min()
        r, q = divmod(c, cols)
        canvas[1 + r * (K + 1):1 + r * (K + 1) + K, 1 + q * (K + 1):1 + q * (K + 1) + K] = \
            (f - f.min()) / span if span > 0 else 0.5
    return canvas


def _plot_filters(models: dict, settings: Settings, folder: Path) -> None:
    """The learned synthesis filters of every variant (at the first training sigma), one panel each."""
    from crsae.experiments.report import pyplot, save_figure
    plt = pyplot()
    sigma = settings.training_sigmas()[0]
    fig, axes = plt.subplots(1, len(settings.variants), figsize=(2.6 * len(settings.variants), 2.9), squeeze=False)
    for ax, variant in zip(axes[0], settings.variants):
        ax.imshow(tile_filters(models[variant, sigma].synthesis_filters.detach().numpy()), cmap="gray",
                  interpolation="nearest")
        ax.set_title(variant, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"learned {settings.num_filters} filters {settings.kernel_size}x{settings.kernel_size} "
                 f"(trained at sigma {sigma:g})", fontsize=9)
    save_figure(fig, folder, "filters.png")


def _plot_examples(clean: list[np.ndarray], examples: dict, settings: Settings, folder: Path) -> None:
    """Clean / noisy / denoised (every variant) for the first test images, at the middle test sigma."""
    from crsae.experiments.report import pyplot, save_figure
    from crsae.metrics import psnr
    plt = pyplot()
    sigma = sorted(settings.test_sigmas)[len(settings.test_sigmas) // 2]
    noisy, denoised = examples[sigma]
    columns = [("clean", None), ("noisy", noisy)] + [(v, denoised[v]) for v in settings.variants]
    n = settings.example_images
    fig, axes = plt.subplots(n, len(columns), figsize=(1.7 * len(columns), 1.8 * n), squeeze=False)
    for i in range(n):
        for ax, (name, images) in zip(axes[i], columns):
            image = clean[i] if images is None else images[i]
            ax.imshow(np.clip(image[0], 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(name if images is None else f"{name}\n{psnr(clean[i], image):.2f} dB", fontsize=7)
            ax.axis("off")
    fig.suptitle(f"test sigma {sigma:g} (PSNR peak 255)", fontsize=9)
    save_figure(fig, folder, "examples.png", dpi=64)


def _plot_losses(trained: list[dict], folder: Path) -> None:
    """Training loss per step (moving average over a twentieth of the steps), one line per trained model."""
    from crsae.experiments.report import pyplot, save_figure
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for t in trained:
        losses = np.asarray(t["losses"])
        width = max(1, len(losses) // 20)
        smooth = np.convolve(losses, np.ones(width) / width, mode="valid")
        ax.plot(np.arange(width, len(losses) + 1), smooth, label=f"{t['variant']} (sigma {t['train_sigma']:g})")
    ax.set_yscale("log")
    ax.set_xlabel("step (batch)")
    ax.set_ylabel("1/2 mean squared error")
    ax.set_title("Supervised training loss (moving average)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, folder, "loss.png")


def command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for results.json and the figures.")]
    = Path("runs/experiment-denoise"),
    data: Annotated[Path, typer.Option(help="Folder holding CBSD432 (training) and BSD68 (test).")]
    = Path("../shared/data"),
    full: Annotated[bool, typer.Option(help="The paper's sizes (64 filters 7x7 stride 5, T 30, 128x128 crops, all "
                                            "images, sigma 15/25/50, one model per sigma, 30 epochs): hours of CPU."
                                       )] = False,
    variant: Annotated[Optional[list[Variant]], typer.Option(
        help="EM lambda, free bias, fixed lambda (tied), EM lambda untied (repeat; default all).")] = None,
    test_sigma: Annotated[Optional[list[float]], typer.Option(help="Test noise std on 0-255 (repeat).")] = None,
    train_sigma: Annotated[Optional[float], typer.Option(
        help="Training noise std on 0-255 for every model; 0: one model per test sigma, trained at it.")] = None,
    num_filters: Annotated[Optional[int], typer.Option(help="C filters.")] = None,
    kernel_size: Annotated[Optional[int], typer.Option(help="K (K x K filters).")] = None,
    stride: Annotated[Optional[int], typer.Option(help="Code-grid stride s.")] = None,
    num_layers: Annotated[Optional[int], typer.Option(help="T unrolled FISTA steps.")] = None,
    crop_size: Annotated[Optional[int], typer.Option(help="Side of the training crops.")] = None,
    crops_per_epoch: Annotated[Optional[int], typer.Option(help="Training crops (steps) per epoch.")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs per training.")] = None,
    train_images: Annotated[Optional[int], typer.Option(help="First n CBSD432 images; 0: all.")] = None,
    test_images: Annotated[Optional[int], typer.Option(help="First n BSD68 images; 0: all.")] = None,
    test_crop: Annotated[Optional[int], typer.Option(help="Centre crop side of test images; 0: whole images.")]
    = None,
    seed: Annotated[int, typer.Option(help="Seed of the dictionary, crops and noise.")] = 0,
    quiet: Annotated[bool, typer.Option(help="No per-epoch progress lines.")] = False,
):
    """Image denoising on BSD68: EM lambda vs free bias vs fixed lambda, tied vs untied (the paper's Table)."""
    changes = {k: v for k, v in dict(num_filters=num_filters, kernel_size=kernel_size, stride=stride,
                                     num_layers=num_layers, crop_size=crop_size, crops_per_epoch=crops_per_epoch,
                                     epochs=epochs).items() if v is not None}
    for name, value in dict(train_sigma=train_sigma, train_images=train_images, test_images=test_images,
                            test_crop=test_crop).items():
        if value is not None:
            changes[name] = value or None                        # 0 means "all" / "whole" / "per test sigma"
    if variant:
        changes["variants"] = tuple(v.value for v in variant)
    if test_sigma:
        changes["test_sigmas"] = tuple(test_sigma)
    changes.update(data=str(data), seed=seed)
    settings = Settings.full(**changes) if full else Settings(**changes)
    results = run(settings, output, log=(lambda line: None) if quiet else lambda line: typer.echo(line, err=True))
    typer.echo(summary_table(results))
    typer.echo(f"wrote {Path(output) / 'results.json'} and figures")
