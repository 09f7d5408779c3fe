"""BLEU and chrF (sacrebleu) of detokenized translations against all their references."""

from __future__ import annotations

import json
from pathlib import Path

import sacrebleu

from translator.core.errors import UserError
from translator.core.files import atomic_write_text


def score(hypotheses: list[str], references: list[list[str]]) -> dict:
    """Corpus BLEU and chrF; ``references[i]`` lists every reference of sentence i."""
    if len(hypotheses) != len(references):
        raise ValueError("one list of references per hypothesis is needed")
    if not hypotheses:
        return {
            "bleu": 0.0,
            "chrf": 0.0,
            "sentences": 0,
            "bleu_signature": "",
            "chrf_signature": "",
        }
    width = max(len(r) for r in references)
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(width)]
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    bleu_score = bleu.corpus_score(hypotheses, streams)
    chrf_score = chrf.corpus_score(hypotheses, streams)
    return {
        "bleu": round(bleu_score.score, 2),
        "chrf": round(chrf_score.score, 2),
        "sentences": len(hypotheses),
        "references": sum(len(r) for r in references),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "bleu_detail": str(bleu_score),
    }


def write_report(directory: Path, name: str, report: dict, hypotheses: list[str]) -> Path:
    """``eval-NAME.json``, ``eval-NAME.md`` and ``eval-NAME.hyp.txt`` in ``directory``."""
    atomic_write_text(directory / f"eval-{name}.hyp.txt", "".join(h + "\n" for h in hypotheses))
    atomic_write_text(
        directory / f"eval-{name}.json", json.dumps(report, indent=1, ensure_ascii=False)
    )
    table = (
        f"| split | sentences | references | BLEU | chrF |\n|---|---|---|---|---|\n"
        f"| {name} | {report['sentences']} | {report.get('references', '')} | {report['bleu']} "
        f"| {report['chrf']} |\n\n"
        f"BLEU: `{report['bleu_signature']}`  \nchrF: `{report['chrf_signature']}`\n"
    )
    atomic_write_text(directory / f"eval-{name}.md", table)
    return directory / f"eval-{name}.md"


def evaluate_split(run, frame, name: str) -> dict:
    """Translate every distinct source of ``frame`` and score it against all its references."""
    from translator.data.corpus import references_by_source
    from translator.decoding.decode import translate_run

    refs = references_by_source(frame)
    hypotheses = [r.text for r in translate_run(run, list(refs["source_tokens"]))]
    report = {
        "split": name,
        "checkpoint": run.checkpoint.name,
        **score(hypotheses, list(refs["references"])),
    }
    write_report(run.directory, name, report, hypotheses)
    return report


def sample_scores(run, frame, sample: int = 0) -> tuple[dict, list[tuple[str, str, str]]]:
    """Scores on up to ``sample`` distinct sources of ``frame`` (0: all), a fixed sample.

    Also returns (source, first reference, translation) examples.
    """
    from translator.data.corpus import references_by_source
    from translator.decoding.decode import translate_run

    refs = references_by_source(frame)
    if sample and len(refs) > sample:
        refs = refs.sample(n=sample, random_state=0)
    hypotheses = [r.text for r in translate_run(run, list(refs["source_tokens"]))]
    examples = [(s, r[0], h) for s, r, h in zip(refs["source"], refs["references"], hypotheses)]
    return score(hypotheses, list(refs["references"])), examples


def evaluate_run_split(run, split: str) -> dict:
    """Score a loaded run on its own ``test`` or ``valid`` split."""
    from translator.data.corpus import load_corpus

    frame = load_corpus(run.config.data).split(split)
    if frame.empty:
        raise UserError(f"the {split} split of {run.config.data.corpus} is empty")
    return evaluate_split(run, frame, split)


def _read_lines(path: str | Path) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None


def evaluate_files(run, input_path: str | Path, ref_paths: list[str | Path]) -> dict:
    """Score a loaded run on a source file against parallel reference files (``eval-input``)."""
    from translator.decoding.decode import translate_sentences

    sources = _read_lines(input_path)
    references = [_read_lines(path) for path in ref_paths]
    for path, lines in zip(ref_paths, references):
        if len(lines) != len(sources):
            raise UserError(
                f"reference file {path} has {len(lines)} lines, {input_path} has {len(sources)}"
            )
    hypotheses = [r.text for r in translate_sentences(run, sources)]
    report = {
        "split": "input",
        "source": str(input_path),
        "checkpoint": run.checkpoint.name,
        **score(hypotheses, [list(refs) for refs in zip(*references)]),
    }
    write_report(run.directory, "input", report, hypotheses)
    return report
