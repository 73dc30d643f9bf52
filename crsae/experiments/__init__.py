"""The paper's experiments as commands (``crsae experiment <name>``): dictionary recovery, image denoising and
spike sorting.

Each experiment is one module with a frozen ``Settings`` dataclass whose defaults are the quick run (a few minutes
on 2 CPU cores; ``Settings.full()`` gives the full-size run), a ``run(settings, output, log=print) -> dict`` that
writes ``output/results.json`` and PNG figures (through :mod:`crsae.experiments.report`) and returns the results,
and a typer ``command`` that the CLI registers under ``crsae experiment``.
"""
