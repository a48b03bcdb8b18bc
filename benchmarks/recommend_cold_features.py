"""Which content lets a content → collaborative map place a new film: a dev-targets-only probe for issue 15.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/recommend_cold_features.py \\
        ../shared/eval/movielens --workdir /tmp/rec-work

Reads the index that ``polyseek eval recommend --workdir DIR`` built (films with a poster), holds out items as
its cold-item protocol does (seed 0, 20 %) and scores the **dev** targets only (each user's last rating of a
dev-cold film), so nothing here touches the test targets. For each content representation it fits the ridge map
into the SVD item space (128 dimensions, history half-life 3, ridge 0.1/0.3/1: the best on dev is shown) and
reports dev NDCG@10 over all unrated films and over the cold films only. Representations:

- text as indexed (title, genres, user tags, plot line), and re-encoded without user tags (title, genres, plot)
  and with title and genres only: what a catalogue has for a film nobody has seen yet;
- the poster: the aligner's image vector (what the index holds), and the aligner backbone's own pooled features
  (EfficientNet-Lite0, 1,280-d mean pool) and its 1,000 ImageNet logits, each standardised;
- each text with each poster representation side by side (poster weight 0.25/0.5/1).

Encoded features are cached in the workdir (``probe-*.npz``). Results: ``benchmarks/results/recommend_cold_features``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import write  # noqa: E402

from polyseek.engine import Engine  # noqa: E402
from polyseek.eval.recommend import tie_aware_metrics, write_catalogue  # noqa: E402
from polyseek.eval.recommend_cold import cold_targets, hold_out  # noqa: E402
from polyseek.ingest.catalogue import record_item_id, record_text  # noqa: E402
from polyseek.recommend.base import SPACES, Pool  # noqa: E402
from polyseek.recommend.content_cf import ContentToCF, collaborative_space, history_vector  # noqa: E402
from polyseek.recommend.training import read_interactions  # noqa: E402


def load_pool(folder: Path, workdir: Path) -> tuple[Pool, list[str], str]:
    catalogue = workdir / "catalogue-posters.jsonl"
    record_ids = list(write_catalogue(folder, catalogue, posters_only=True))
    engine = Engine(str(workdir / "store"))
    try:
        ids = [record_item_id(str(catalogue.absolute()), rid) for rid in record_ids]
        dims = {s: int(v["dim"]) for s, v in engine.catalog.get_meta("index")["spaces"].items() if s in SPACES}
        pool = Pool.from_vectors(ids, {s: engine.store.get_vectors(s, ids) for s in SPACES}, dims)
        text_encoder = engine.encoder_names()["text"]
    finally:
        engine.close()
    return pool, record_ids, text_encoder


def cached(path: Path, make) -> dict[str, np.ndarray]:
    if not path.is_file():
        np.savez(path, **make())
    return dict(np.load(path))


def texts_without(catalogue: Path, record_ids: list[str], drop: tuple[str, ...]) -> list[str]:
    records = {}
    for line in catalogue.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        records[record["id"]] = {k: v for k, v in record.items() if k not in (*drop, "id", "image", "metadata")}
    return [record_text(records[rid]) for rid in record_ids]


def standardised(x: np.ndarray, warm: np.ndarray) -> np.ndarray:
    x = (x - x[warm].mean(0)) / (x[warm].std(0) + 1e-6)
    return (x / np.sqrt(x.shape[1])).astype(np.float32)  # rows of about unit length, like the stored vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--workdir", type=Path, required=True, help="the --workdir of a polyseek eval recommend run")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    pool, record_ids, text_encoder = load_pool(args.folder, args.workdir)
    row = {rid: i for i, rid in enumerate(record_ids)}
    dev_cold, test_cold = hold_out(len(record_ids), 0.2, 0)
    warm = ~(dev_cold | test_cold)

    def posters() -> dict[str, np.ndarray]:
        from PIL import Image

        from polyseek.align.features import extract

        images = [Image.open(args.folder / "posters" / f"{rid}.jpg").convert("RGB") for rid in record_ids]
        return extract("lite0", images, ("mean", "logits"))

    def texts() -> dict[str, np.ndarray]:
        from polyseek.encoders.base import load_encoder

        encoder = load_encoder(text_encoder)
        catalogue = args.workdir / "catalogue-posters.jsonl"
        return {name: encoder.encode_documents(texts_without(catalogue, record_ids, drop))
                for name, drop in (("no user tags", ("tags",)), ("title + genres", ("tags", "plot")))}

    backbone = cached(args.workdir / "probe-posters.npz", posters)
    text_variants = cached(args.workdir / "probe-texts.npz", texts)
    text_sets = {"as indexed (with user tags)": pool.vectors["text"], **text_variants}
    poster_sets = {"aligner image vector": pool.vectors["image"],
                   "backbone mean pool": standardised(backbone["mean"], warm),
                   "backbone logits": standardised(backbone["logits"], warm)}

    events, _problems = read_interactions(args.folder / "ratings.csv", user="userId", item="movieId", rating="rating")
    events = [e for e in events if e.item in row]
    users = sorted({e.user for e in events})
    user_row = {u: i for i, u in enumerate(users)}
    matrix = np.zeros((len(users), len(record_ids)), dtype=np.float32)
    for e in events:
        if warm[row[e.item]]:
            matrix[user_row[e.user], row[e.item]] = 1.0
    targets = cold_targets(events, row, dev_cold, warm)
    space = collaborative_space(matrix, 128)
    histories = {u: history_vector(space, [row[e.item] for e in t.history], 3.0) for u, t in targets.items()}

    def dev_ndcg(features: np.ndarray) -> tuple[float, float, float]:
        best = (-1.0, -1.0, 0.0)
        for ridge in (0.1, 0.3, 1.0):
            predicted = ContentToCF.fit(features, space, warm, ridge).predict(features)
            every, cold = [], []
            for user, target in targets.items():
                scores = predicted @ histories[user]
                every.append(tie_aware_metrics(scores, target.row, ~target.rated)[1])
                cold.append(tie_aware_metrics(scores, target.row, dev_cold & ~target.rated)[1])
            result = (float(np.mean(every)), float(np.mean(cold)), ridge)
            best = max(best, result, key=lambda r: r[1])
        return best

    rows = []
    for name, text in text_sets.items():
        rows.append({"text": name, "poster": "none", "poster_weight": 0.0})
    for name, poster in poster_sets.items():
        rows.append({"text": "none", "poster": name, "poster_weight": 1.0})
    for text_name in text_sets:
        for poster_name in poster_sets:
            for weight in (0.25, 0.5, 1.0):
                rows.append({"text": text_name, "poster": poster_name, "poster_weight": weight})
    for n, spec in enumerate(rows):
        blocks = ([text_sets[spec["text"]]] if spec["text"] != "none" else []) + \
                 ([poster_sets[spec["poster"]] * spec["poster_weight"]] if spec["poster"] != "none" else [])
        every, cold, ridge = dev_ndcg(np.hstack(blocks).astype(np.float32))
        spec.update({"dev_ndcg@10_all_unrated": every, "dev_ndcg@10_cold_only": cold, "ridge": ridge})
        print(f"{n + 1}/{len(rows)}", spec, flush=True)
    write("recommend_cold_features", {"dev_users": len(targets), "hold_out_seed": 0, "share": 0.2, "dim": 128,
                                      "half_life": 3.0, "chosen_by": "dev cold-only NDCG@10 over ridge 0.1/0.3/1"},
          rows, ["text", "poster", "poster_weight", "ridge", "dev_ndcg@10_all_unrated", "dev_ndcg@10_cold_only"], args.out)


if __name__ == "__main__":
    main()
