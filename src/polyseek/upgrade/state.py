"""An upgrade's state as data in the catalog: ``meta["index"]["upgrade"]``, the projection, the backfill journal.

While an upgrade of space S runs, the index's description still names the old encoder for S (its vectors are
what S holds); ``meta["index"]["upgrade"][S]`` names the new one, the store space that receives its vectors
(``S__next``) and the phase. The projection NEW → OLD lives in the catalog's meta too (``upgrade_projection:S``,
safetensors bytes in base64), so an upgrade is one consistent record whatever the store is. The backfill journal
is a table ``upgrade_done`` (space, file key) in the catalog's SQLite file, written in the same transaction-per-batch
style as the indexing journal.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from polyseek.encoders.projection import Projection, ProjectionConfig
from polyseek.errors import InvalidInputError

PHASES = ("backfill", "switching")


@dataclass(frozen=True)
class UpgradeState:
    """One space's upgrade in progress."""

    space: str
    old_encoder: str
    new_encoder: str
    new_space: str  # store space holding the new model's vectors during the backfill
    dim: int
    new_revision: str | None = None
    phase: str = "backfill"
    started: float = field(default_factory=time.time)
    fit: dict[str, Any] = field(default_factory=dict)  # held-out figures of the projection
    total_files: int = 0
    total_items: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> UpgradeState:
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


def next_space(space: str) -> str:
    return f"{space}__next"


def index_meta(catalog) -> dict[str, Any]:
    meta = catalog.get_meta("index")
    if meta is None:
        raise InvalidInputError("the index is empty: there is nothing to upgrade", hint="index files first")
    return meta


def states(catalog) -> dict[str, UpgradeState]:
    meta = catalog.get_meta("index") or {}
    return {space: UpgradeState.from_dict(value) for space, value in (meta.get("upgrade") or {}).items()}


def state(catalog, space: str) -> UpgradeState | None:
    return states(catalog).get(space)


def put_state(catalog, value: UpgradeState | None, space: str | None = None, *, spaces_update: dict[str, Any] | None = None) -> None:
    """Write (or with ``None`` remove) one space's upgrade, and optionally the space's own description, in one write."""
    meta = index_meta(catalog)
    upgrades = dict(meta.get("upgrade") or {})
    name = value.space if value is not None else space
    if value is None:
        upgrades.pop(name, None)
    else:
        upgrades[name] = value.to_dict()
    meta = {**meta, "upgrade": upgrades}
    if not upgrades:
        meta.pop("upgrade")
    if spaces_update is not None:
        meta["spaces"] = {**meta["spaces"], name: spaces_update}
    catalog.set_meta("index", meta)


def with_phase(value: UpgradeState, phase: str) -> UpgradeState:
    return replace(value, phase=phase)


# ---- the projection, stored in the catalog -----------------------------------------------------------
def _projection_key(space: str) -> str:
    return f"upgrade_projection:{space}"


def put_projection(catalog, space: str, projection: Projection | None) -> None:
    if projection is None:
        catalog.set_meta(_projection_key(space), None)
        return
    from safetensors.numpy import save

    blob = save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in projection.tensors().items()})
    catalog.set_meta(_projection_key(space), {"config": asdict(projection.config), "tensors": base64.b64encode(blob).decode("ascii")})


def get_projection(catalog, space: str) -> Projection | None:
    from safetensors.numpy import load

    value = catalog.get_meta(_projection_key(space))
    if not value:
        return None
    tensors = load(base64.b64decode(value["tensors"]))
    return Projection(ProjectionConfig.from_dict(value["config"]), tensors["weight"], tensors["bias"],
                      tensors.get("hidden_in"), tensors.get("hidden_bias"), tensors.get("hidden_out"))


# ---- the backfill journal (SQL in polyseek.catalog) -------------------------------------------------------
def mark_done(catalog, space: str, items: dict[str, int]) -> None:
    """Record files whose items hold new vectors (after the store write: a crash in between redoes them)."""
    catalog.mark_upgraded(space, items)


def done_files(catalog, space: str) -> dict[str, int]:
    return catalog.upgraded(space)


def clear_journal(catalog, space: str) -> None:
    catalog.clear_upgraded(space)


def describe(value: UpgradeState, done: dict[str, int]) -> dict[str, Any]:
    """What ``polyseek status`` shows for one space's upgrade."""
    items = sum(done.values())
    total = max(value.total_items, 1)
    return {"space": value.space, "from": value.old_encoder, "to": value.new_encoder, "phase": value.phase,
            "files_done": len(done), "files_total": value.total_files, "items_done": items, "items_total": value.total_items,
            "percent": round(100.0 * items / total, 1), "fit": value.fit,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(value.started))}


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def done_count(catalog, space: str) -> tuple[int, int]:
    """(files, items) journaled as backfilled, counted without reading the journal's rows."""
    row = catalog.db.execute("SELECT COUNT(*), COALESCE(SUM(items), 0) FROM upgrade_done WHERE space = ?", (space,)).fetchone()
    return int(row[0]), int(row[1])
