"""How image tiles rank: an image and its tiles are one result, scored as its best member, with the box carried.

A large image is indexed whole and as overlapping tiles (:mod:`polyseek.ingest.tiles`). After fusion, every
tile candidate stands for its image: the image's score is the best of its own score and its tiles' scores,
so a query for a small thing inside a poster lifts the poster without its tiles filling the result list. When a
tile scores at least as well as the whole image, the hit carries that tile as ``best_region`` (its box, in the
image's pixels, and ``scores["region"]``), as a PDF page hit carries its best region. A query that asks for
regions only (``--modality region``) gets the tiles themselves; one that asks for images (``--modality image``)
still searches the tiles (they are part of their images, stored as regions) and gets their images.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from polyseek.ingest.tiles import is_tile
from polyseek.search.context import SearchContext
from polyseek.search.policies.base import BasePolicy
from polyseek.types import DENSE_SIGNALS, Item, Modality, item_id

MAX_DEEPEN = 16  # a tiled collection is searched at most this many times deeper than the search's depth
_REGION = Modality.REGION.value  # (is_tile builds a Modality: ~2 us, for each of a query's ~300 candidates)


@dataclass(frozen=True)
class _Best:
    tile: str  # id of the image's best tile
    score: float  # its fused score
    beats_image: bool  # the tile scored at least as well as the image itself


def tile_parent(row) -> str | None:
    """The id of the image a tile row belongs to, or None when the row is not a tile."""
    if row.modality != _REGION or not is_tile(row.modality, row.locator, row.metadata):  # most rows: one compare
        return None
    parent = row.metadata.get("parent_item")
    return item_id(row.doc, int(parent)) if isinstance(parent, int) and not isinstance(parent, bool) else None


class TilesPolicy(BasePolicy):
    name = "tiles"

    def before_fusion(self, ctx: SearchContext) -> None:
        """A dense list whose candidates are mostly tiles of a few images holds fewer images than the search
        wanted: it is retrieved again deeper (up to :data:`MAX_DEEPEN` times) until it holds enough images."""
        depth = ctx.config.depth(ctx.query.k)
        self._add_tiles_of_images(ctx, depth)
        ctx.rows.get([i for space in DENSE_SIGNALS for i, _ in ctx.lists.get(space, [])])  # one read for both lists
        for space in DENSE_SIGNALS:
            ranked = ctx.lists.get(space)
            vector = ctx.vectors.get(space)
            if not ranked or vector is None or len(ranked) < depth:
                continue
            factor = 1
            while True:
                rows = ctx.rows.by_id([i for i, _ in ranked])
                groups = {tile_parent(rows[i]) or i if i in rows else i for i, _ in ranked}
                if len(groups) >= depth or len(groups) == len(ranked) or factor >= MAX_DEEPEN or len(ranked) < depth * factor:
                    break
                factor *= 4
                ranked = ctx.rescore(space, ctx.rows.search(space.value, vector, depth * factor, ctx.query.filters))
            ctx.lists[space] = ranked

    def _add_tiles_of_images(self, ctx: SearchContext, depth: int) -> None:
        """A search restricted to images: the store's filter left the tiles out (they are regions); each dense
        list gets the best tiles too, so a small thing inside a large image still finds the image."""
        filters = ctx.query.filters
        if Modality.IMAGE not in filters.modalities or Modality.REGION in filters.modalities:
            return
        from polyseek.ingest.images import ImageIngestor  # here: pillow-heif is not imported for every search

        image_types = ImageIngestor.extensions  # a tile's file is an image file (a PDF's regions are not tiles)
        types = tuple(t for t in filters.file_types if t in image_types) if filters.file_types else tuple(sorted(image_types))
        if not types:
            return
        tile_filters = replace(filters, modalities=(Modality.REGION,), file_types=types)  # regions of image files
        for space in DENSE_SIGNALS:
            vector = ctx.vectors.get(space)
            if vector is None or space not in ctx.lists:
                continue
            found = ctx.rescore(space, ctx.rows.search(space.value, vector, depth, tile_filters))
            rows = ctx.rows.by_id([i for i, _ in found])
            tiles = [(i, s) for i, s in found if i in rows and tile_parent(rows[i]) is not None]
            if tiles:
                merged = dict(ctx.lists[space]) | dict(tiles)
                ctx.lists[space] = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))

    def after_fusion(self, ctx: SearchContext) -> None:
        modalities = ctx.query.filters.modalities
        if modalities and Modality.IMAGE not in modalities:
            return  # regions (or other kinds) asked for as such: tiles stay themselves
        fused = ctx.fused
        rows = ctx.rows.by_id([i for i, _ in fused])
        parents = {i: p for i, _ in fused if i in rows and (p := tile_parent(rows[i])) is not None}
        if not parents:
            return
        own = {i: s for i, s in fused if i not in parents}
        best: dict[str, _Best] = {}
        merged: dict[str, float] = {}
        order: list[str] = []
        for candidate, score in fused:
            parent = parents.get(candidate)
            key = parent or candidate
            if key in ctx.excluded:
                continue
            if key not in merged:
                merged[key] = score
                order.append(key)
            else:
                merged[key] = max(merged[key], score)
            if parent is not None and (parent not in best or score > best[parent].score):
                best[parent] = _Best(candidate, score, score >= own.get(parent, float("-inf")))
        ctx.fused = sorted(((k, merged[k]) for k in order), key=lambda pair: -pair[1])  # stable: ties keep order
        ctx.state[self.name] = best

    def finish(self, ctx: SearchContext) -> None:
        best: dict[str, _Best] | None = ctx.state.get(self.name)
        if not best:
            return
        wanted = {b.tile for hit in ctx.hits if (b := best.get(hit.item.id)) is not None and b.beats_image}
        tiles: dict[str, Item] = {row.id: row.to_item() for row in ctx.rows.get(list(wanted))} if wanted else {}
        hits = []
        for hit in ctx.hits:
            chosen = best.get(hit.item.id)
            if chosen is not None and chosen.tile in tiles and hit.best_region is None:
                hit = replace(hit, best_region=tiles[chosen.tile], scores={**hit.scores, "region": chosen.score})
            hits.append(hit)
        ctx.hits = hits
