"""Writing evaluation reports: the JSON file (the contract) and a markdown table beside it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from polyseek.errors import InvalidInputError

ReportT = TypeVar("ReportT", bound=Mapping[str, Any])  # a renderer may ask for the report's own type (a dict)

TABLE_COLUMNS = [
    ("recall@1", "R@1"), ("recall@5", "R@5"), ("recall@10", "R@10"), ("ndcg@10", "nDCG@10"),
    ("mrr@10", "MRR@10"), ("map@50", "mAP@50"), ("mean_rank", "mean rank"), ("median_rank", "median rank"),
]
NON_TASK_KEYS = {"dataset", "config", "definitions", "details", "timing", "created", "per_query"}


def task_names(report: Mapping[str, Any]) -> list[str]:
    """The retrieval directions in a report: the top-level keys that hold a metrics dict."""
    return [k for k, v in report.items() if k not in NON_TASK_KEYS and isinstance(v, Mapping) and "recall@1" in v]


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def to_markdown(report: Mapping[str, Any]) -> str:
    """A human summary of one report: metrics per direction, definitions, configuration and timing."""
    config = report.get("config", {})
    dataset = report.get("dataset", {})
    details = report.get("details", {})
    lines = [f"# polyseek eval: {dataset.get('name', '?')} ({dataset.get('kind', '?')})", ""]
    lines.append(f"Encoders: image `{config.get('image_encoder_resolved', config.get('image_encoder'))}`, "
                 f"text `{config.get('text_encoder_resolved', config.get('text_encoder'))}`; "
                 f"store {config.get('store', '?')}; fusion {config.get('fusion', '?')} over {', '.join(config.get('signals', []))}.")
    counts = {k: v for k, v in report.items() if k.startswith("n_") and isinstance(v, int)}
    if counts:
        lines.append("Counts: " + ", ".join(f"{k[2:]} {v}" for k, v in counts.items()) + ".")
    lines += ["", "| task | " + " | ".join(label for _, label in TABLE_COLUMNS) + " | queries | queries/s |",
              "|---|" + "---:|" * (len(TABLE_COLUMNS) + 2)]
    for name in task_names(report):
        metrics, info = report[name], details.get(name, {})
        cells = [_fmt(metrics.get(key), 1 if "rank" in key else 3) for key, _ in TABLE_COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_fmt(info.get('n_queries'))} | {_fmt(info.get('queries_per_second'), 1)} |")
    fractions = [n for n in task_names(report) if any(report[n].get(f"recall_frac@{k}") != report[n].get(f"recall@{k}") for k in (1, 5, 10))]
    if fractions:
        lines += ["", "Fraction-of-relevant recall (differs where a query has several relevant items):", "",
                  "| task | R_frac@1 | R_frac@5 | R_frac@10 |", "|---|---:|---:|---:|"]
        for name in fractions:
            lines.append(f"| {name} | " + " | ".join(_fmt(report[name].get(f"recall_frac@{k}")) for k in (1, 5, 10)) + " |")
    lines += ["", "Relevance and ties:", ""]
    for name in task_names(report):
        info = details.get(name, {})
        lines.append(f"- {name}: relevant = {info.get('relevance', '?')}; candidates {info.get('n_candidate_items', '?')} items; "
                     f"first relevant item tied with a non-relevant one in {info.get('tied_at_first_relevant', '?')} queries; "
                     f"relevant never retrieved in {info.get('censored_queries', '?')}.")
    definitions = report.get("definitions", {})
    if definitions:
        lines += ["", "Definitions:", ""] + [f"- `{k}`: {v}" for k, v in definitions.items()]
    timing = report.get("timing", {}).get("indexing", {})
    if timing:
        parts = [f"{k} {v['files']} files / {v['items']} items in {v['seconds']:.1f}s" for k, v in timing.items() if isinstance(v, Mapping)]
        lines += ["", "Indexing: " + "; ".join(parts) + "."]
    for note in dataset.get("notes", []):
        lines.append(f"Note: {note}")
    return "\n".join(lines) + "\n"


def write_report(report: ReportT, output: str | Path, markdown: str | Path | None = None,
                 render: Callable[[ReportT], str] | None = None) -> tuple[Path, Path]:
    """Write ``output`` (JSON) and the markdown summary (default: same name with ``.md``); returns both paths.

    ``render`` turns the report into markdown (default: :func:`to_markdown`, the retrieval tasks' table).
    """
    output = Path(output).expanduser()
    md_path = Path(markdown).expanduser() if markdown else output.with_suffix(".md")
    if md_path == output:
        raise InvalidInputError(f"the markdown file would overwrite the JSON output {output}", hint="give --output a .json name")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text((render or to_markdown)(report), encoding="utf-8")
    return output, md_path


def read_report(path: str | Path) -> dict[str, Any]:
    """Load a report written by :func:`write_report`, refusing files that are not one."""
    path = Path(path).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"no such report {path}") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not task_names(data):
        raise InvalidInputError(f"{path} is not a polyseek eval report (no task with metrics)")
    return data
