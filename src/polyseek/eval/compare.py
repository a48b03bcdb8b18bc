"""Comparing two evaluation reports query by query, with paired significance tests.

For each task and metric the per-query values of A and B are aligned by query id. Two paired tests:
a randomisation (sign-flip permutation) test on the mean difference, which assumes nothing about
the distribution and suits 0/1 metrics such as recall@k, and scipy's Wilcoxon signed-rank test.
Both are two-sided. No correction for the many metrics is applied: read p-values of correlated
metrics (R@5 and R@10) together, not as independent evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from polyseek.errors import InvalidInputError
from polyseek.eval.metrics import ordered_metrics, per_query_vectors
from polyseek.eval.report import task_names

COMPARED = ("recall@1", "recall@5", "recall@10", "ndcg@10", "mrr@10", "map@50", "mean_rank")


@dataclass(frozen=True)
class Comparison:
    task: str
    metric: str
    n: int  # queries present in both reports
    mean_a: float
    mean_b: float
    mean_diff: float  # B - A
    p_randomization: float
    p_wilcoxon: float


def randomization_test(a: np.ndarray, b: np.ndarray, *, permutations: int = 10_000, seed: int = 0) -> float:
    """Two-sided paired randomisation test of mean(b - a) = 0, flipping the sign of each pair's difference.

    Returns ``(extreme + 1) / (permutations + 1)`` so a p-value is never 0. Equal vectors give 1.0.
    """
    diff = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    if diff.shape[0] == 0:
        raise InvalidInputError("no paired values to test")
    observed = abs(diff.mean())
    if not np.any(diff):
        return 1.0
    rng = np.random.default_rng(seed)
    extreme, done = 0, 0
    tolerance = 1e-12 * max(1.0, observed)  # equal means must count as "as extreme" despite rounding
    while done < permutations:
        batch = min(2_000, permutations - done)
        signs = rng.integers(0, 2, size=(batch, diff.shape[0]), dtype=np.int8) * 2 - 1
        means = np.abs(signs @ diff) / diff.shape[0]
        extreme += int(np.count_nonzero(means >= observed - tolerance))
        done += batch
    return (extreme + 1) / (permutations + 1)


def wilcoxon_test(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value (zero differences dropped); 1.0 when every pair is equal."""
    from scipy.stats import wilcoxon

    diff = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    if not np.any(diff):
        return 1.0
    return float(wilcoxon(diff, zero_method="wilcox", alternative="two-sided").pvalue)


def compare_reports(a: Mapping[str, Any], b: Mapping[str, Any], *, metrics: tuple[str, ...] = COMPARED,
                    permutations: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Paired comparison of reports ``a`` and ``b`` over their shared tasks and queries."""
    shared = [t for t in task_names(a) if t in task_names(b)]
    if not shared:
        raise InvalidInputError("the two reports share no task", hint=f"A has {task_names(a)}, B has {task_names(b)}")
    rows: list[Comparison] = []
    warnings: list[str] = []
    for task in shared:
        per_a = a.get("per_query", {}).get(task)
        per_b = b.get("per_query", {}).get(task)
        if not per_a or not per_b:
            raise InvalidInputError(f"task {task!r} has no per-query results in one report", hint="re-run the evaluation")
        common = sorted(set(per_a) & set(per_b))
        if not common:
            raise InvalidInputError(f"task {task!r}: the reports share no query id")
        if len(common) != len(per_a) or len(common) != len(per_b):
            warnings.append(f"{task}: {len(per_a)} vs {len(per_b)} queries; compared on the {len(common)} in both")
        for metric in ordered_metrics(m for m in metrics if m in a[task] and m in b[task]):
            va, vb = per_query_vectors(per_a, metric), per_query_vectors(per_b, metric)
            ids = [q for q in common if q in va and q in vb]
            if not ids:
                continue
            xa = np.array([va[q] for q in ids])
            xb = np.array([vb[q] for q in ids])
            rows.append(Comparison(task, metric, len(ids), float(xa.mean()), float(xb.mean()), float((xb - xa).mean()),
                                   randomization_test(xa, xb, permutations=permutations, seed=seed), wilcoxon_test(xa, xb)))
    return {
        "a": _label(a), "b": _label(b), "permutations": permutations, "seed": seed,
        "rows": [asdict(r) for r in rows], "warnings": warnings,
    }


def _label(report: Mapping[str, Any]) -> dict[str, Any]:
    config = report.get("config", {})
    return {"dataset": report.get("dataset", {}).get("name"), "image_encoder": config.get("image_encoder_resolved"),
            "text_encoder": config.get("text_encoder_resolved"), "created": report.get("created")}


def comparison_markdown(result: Mapping[str, Any]) -> str:
    """The comparison as a markdown table (B − A; lower is better for mean rank)."""
    a, b = result["a"], result["b"]
    lines = [f"A: {a.get('dataset')} image `{a.get('image_encoder')}` text `{a.get('text_encoder')}` ({a.get('created')})",
             f"B: {b.get('dataset')} image `{b.get('image_encoder')}` text `{b.get('text_encoder')}` ({b.get('created')})", "",
             "| task | metric | n | A | B | B − A | p (randomisation) | p (Wilcoxon) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for row in result["rows"]:
        digits = 1 if row["metric"] == "mean_rank" else 3
        lines.append(f"| {row['task']} | {row['metric']} | {row['n']} | {row['mean_a']:.{digits}f} | {row['mean_b']:.{digits}f} | "
                     f"{row['mean_diff']:+.{digits}f} | {row['p_randomization']:.4f} | {row['p_wilcoxon']:.4g} |")
    lines += ["", f"Two-sided paired tests over queries present in both; {result['permutations']} sign flips (seed {result['seed']}); "
              "no multiple-comparison correction."]
    lines += [f"Warning: {w}" for w in result.get("warnings", [])]
    return "\n".join(lines) + "\n"
