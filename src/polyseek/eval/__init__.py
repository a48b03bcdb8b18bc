"""Evaluation through the product path: dataset adapters, metrics, runner, reports and paired comparison."""

from __future__ import annotations

from polyseek.eval.metrics import DEFINITIONS, Evaluation, QueryResult, evaluate, rank

__all__ = ["DEFINITIONS", "Evaluation", "QueryResult", "evaluate", "rank"]
