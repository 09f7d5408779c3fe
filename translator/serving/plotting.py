"""Alignment heatmaps: a matrix and token labels in, a matplotlib Figure out (drawn off-screen).

Source tokens run along x, target tokens along y, one tick per token, with a colorbar. The
figure grows with the sentence so long sentences stay readable; DejaVu Sans (matplotlib's
default font) draws accented letters.
"""

from __future__ import annotations

import random
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

CELL_INCHES = 0.42


def _draw(
    ax, matrix: np.ndarray, source_tokens: list[str], target_tokens: list[str], title: str | None
):
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (len(target_tokens), len(source_tokens)):
        raise ValueError(
            f"matrix shape {matrix.shape} does not match {len(target_tokens)} target x "
            f"{len(source_tokens)} source tokens"
        )
    image = ax.imshow(
        matrix, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest"
    )
    ax.set_xticks(
        range(len(source_tokens)),
        labels=source_tokens,
        rotation=60,
        ha="right",
        rotation_mode="anchor",
    )
    ax.set_yticks(range(len(target_tokens)), labels=target_tokens)
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    if title:
        ax.set_title(title, fontsize=10)
    return image


def heatmap(
    matrix, source_tokens: list[str], target_tokens: list[str], title: str | None = None
) -> Figure:
    """One sentence's attention matrix (len(target) x len(source)) as a Figure."""
    width = max(4.0, 1.8 + CELL_INCHES * len(source_tokens))
    height = max(3.0, 1.6 + CELL_INCHES * len(target_tokens))
    figure = Figure(figsize=(width + 1.0, height), layout="constrained")
    ax = figure.add_subplot()
    image = _draw(ax, matrix, source_tokens, target_tokens, title)
    figure.colorbar(image, ax=ax, label="attention weight")
    return figure


def heatmap_grid(items: list[tuple], columns: int = 2) -> Figure:
    """Several sentences on one Figure.

    ``items`` are (matrix, source_tokens, target_tokens, title) tuples.
    """
    if not items:
        raise ValueError("heatmap_grid needs at least one sentence")
    rows = -(-len(items) // columns)
    longest = max(max(len(i[1]), len(i[2])) for i in items)
    side = max(3.5, 1.8 + CELL_INCHES * longest)
    figure = Figure(
        figsize=(side * min(columns, len(items)) + 1.0, side * rows), layout="constrained"
    )
    axes = figure.subplots(rows, min(columns, len(items)), squeeze=False).ravel()
    image = None
    for ax, (matrix, source_tokens, target_tokens, title) in zip(axes, items):
        image = _draw(ax, matrix, source_tokens, target_tokens, title)
    for ax in axes[len(items) :]:
        ax.set_visible(False)
    figure.colorbar(image, ax=list(axes[: len(items)]), label="attention weight", shrink=0.8)
    return figure


def save_heatmap(
    matrix, source_tokens, target_tokens, path: Path, title: str | None = None
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure = heatmap(matrix, source_tokens, target_tokens, title)
    figure.savefig(path, dpi=120)
    return path


def plot_validation(run, count: int, out_dir: Path, file_format: str = "png") -> int:
    """Heatmaps of ``count`` validation sentences of a loaded run, one file each and a grid.

    Returns how many heatmaps were written (sentences translated to nothing get none).
    """
    from translator.core.errors import UserError
    from translator.data.corpus import load_corpus, references_by_source
    from translator.decoding.decode import translate_run

    if count < 1:
        raise UserError("--count must be at least 1")
    refs = references_by_source(load_corpus(run.config.data).split("valid"))
    if refs.empty:
        raise UserError(f"the corpus of {run.directory} has no validation sentences to plot")
    picked = random.Random(0).sample(range(len(refs)), min(count, len(refs)))
    results = translate_run(run, [refs["source_tokens"].iloc[i] for i in picked])
    out_dir = Path(out_dir)
    if file_format == "html":  # the interactive viewer, every sentence in one file
        from translator.serving.viewer import save_viewer

        items = [r.to_dict(refs["source"].iloc[i]) for i, r in zip(picked, results)]
        save_viewer(out_dir / "attention.html", items, f"translator: {run.directory}")
        return sum(bool(r.target_tokens) for r in results)
    items = []
    for number, (i, result) in enumerate(zip(picked, results), 1):
        title = f"{refs['source'].iloc[i]} → {result.text}"
        if not result.target_tokens:
            continue
        path = out_dir / f"valid-{number}.{file_format}"
        save_heatmap(result.attention, result.source_tokens, result.target_tokens, path, title)
        items.append((result.attention, result.source_tokens, result.target_tokens, title))
    heatmap_grid(items).savefig(out_dir / f"grid.{file_format}", dpi=100)
    return len(items)
