"""Measure the text weight of a composed query (photo + text that changes it) on composed data built from eval photos.

The data, built here from a Flickr8k-layout folder (no labels beyond its captions): for each reference photo A,
the target B is one of A's 2nd..20th nearest photos in the image space (seeded draw: alike, but not the same
picture), and the modifying text is B's first caption. The query is ``image_weight × A + text_weight × text``
in the image space, as the search pipeline composes it (``pipeline.embed_text``), ranked over every picture in
the store but A itself (the composed convention; ``policies/exclusion.py``). Recall of B at 1/5/10 is reported
for each text:image ratio, on the dev photos (sha1 rule of ``polyseek eval universal``) where the ratio is
chosen, and on the test photos where it is reported. Image alone and text alone are the baselines.

    python scripts/measure_composed_weight.py --captions /work/shared/eval/flickr8k --store /tmp/universal/base-work/store
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from polyseek.engine import Engine
from polyseek.eval.datasets import load_captions
from polyseek.eval.universal import split_of_photo
from polyseek.types import Filters, Modality

RATIOS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, float("inf"))  # text weight : image weight


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=Path, required=True)
    parser.add_argument("--store", required=True, help="a store holding the folder's photos (indexed here if not)")
    parser.add_argument("--max-queries", type=int, default=400, help="reference photos per split")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    dataset = load_captions(args.captions)
    images = {str(c.image.expanduser().absolute()): c.id for c in dataset.candidates if c.image is not None}
    captions = {}
    for record in json.loads((args.captions / "captions.json").read_text(encoding="utf-8")):
        captions[record["image"]] = record["captions"][0]
    engine = Engine(args.store)
    try:
        engine.index(sorted(images))  # incremental: an indexed photo is left as it is
        encoder = engine.encoder("image")
        probe = np.zeros(len(encoder.encode_queries(["a photo"])[0]), dtype=np.float32)
        probe[0] = 1.0
        pictures = engine.store.search("image", probe, 100_000, Filters(modalities=(Modality.IMAGE,)))
        ids = [i for i, _ in pictures]
        rows = {row.id: row for row in engine.store.get(ids)}
        vectors = engine.store.get_vectors("image", ids)
        ids = [i for i in ids if i in vectors]
        matrix = np.stack([vectors[i] for i in ids]).astype(np.float32)
        paths = [rows[i].path for i in ids]
        photo_rows = [n for n, p in enumerate(paths) if p in images]
        rng = np.random.default_rng(0)
        triplets: dict[str, list[tuple[int, int, str]]] = {"dev": [], "test": []}
        for n in photo_rows:
            name = images[paths[n]]
            split = split_of_photo(name)
            if len(triplets[split]) >= args.max_queries:
                continue
            similarity = matrix[photo_rows] @ matrix[n]
            order = [photo_rows[j] for j in np.argsort(-similarity) if photo_rows[j] != n]
            target = order[int(rng.integers(1, 20))]
            triplets[split].append((n, target, captions[images[paths[target]]]))
        report: dict = {"data": "reference photo A + first caption of B, B drawn from A's 2nd..20th nearest photos; "
                                "ranked over all image items of the store but A",
                        "pictures": len(ids), "ratios": {}}
        for split, rows_ in triplets.items():
            texts = encoder.encode_queries([t for _, _, t in rows_])
            for ratio in RATIOS:
                ranks = []
                for (reference, target, _), text in zip(rows_, texts):
                    if ratio == float("inf"):
                        query = text
                    else:
                        query = matrix[reference] + ratio * text
                    query = query / np.linalg.norm(query)
                    scores = matrix @ query
                    scores[reference] = -np.inf
                    ranks.append(int((scores > scores[target]).sum()) + 1)
                ranks_ = np.array(ranks)
                report["ratios"].setdefault(str(ratio), {})[split] = {
                    "n": len(ranks), **{f"recall@{k}": round(float((ranks_ <= k).mean()), 4) for k in (1, 5, 10)}}
        dev = {r: v["dev"] for r, v in report["ratios"].items()}
        chosen = max(dev, key=lambda r: (dev[r]["recall@1"] + dev[r]["recall@5"] + dev[r]["recall@10"], -float(r)))
        report["chosen_on_dev"] = {"ratio": chosen, "rule": "best mean of R@1, R@5, R@10 on dev",
                                   "test": report["ratios"][chosen]["test"]}
        text = json.dumps(report, indent=1)
        if args.output:
            args.output.write_text(text + "\n", encoding="utf-8")
        print(text)
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
