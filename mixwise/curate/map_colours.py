"""Colours, marker shapes and label anchors for the topic map (PNG and HTML alike).

The palette is Paul Tol's "muted" qualitative scheme (nine colours chosen to
stay distinct under the common colour-vision deficiencies). Nine colours
cannot name 50 clusters on their own, so each cluster gets a *(colour,
shape)* pair:

- how much two clusters *touch* is the share of the smaller one's
  nearest-neighbour links (8 per point, on the 2-D map) that land in the
  other; they are *adjacent* when that share is at least 5%;
- clusters are coloured largest first, each taking the colour it touches
  least (ties: the least used colour); the nine largest clusters get nine
  different colours; then a few sweeps move any cluster to a better colour.
  On real maps this leaves no two adjacent clusters one colour (tested), and
  where a UMAP map is too tangled for nine colours, the pairs that share one
  touch least;
- the n-th cluster of a colour gets the n-th marker shape (circle, square,
  triangle, diamond, ...), so no two clusters share both colour and shape (up
  to 9 x 6 = 54 clusters; beyond that the shape cycles and the colour is
  lightened).
"""

from __future__ import annotations

import numpy as np

#: Paul Tol's "muted" qualitative palette (https://personal.sron.nl/~pault/), colour-blind safe.
PALETTE = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99", "#999933", "#AA4499")
#: Marker shapes in the order they are handed out (names shared by the page and matplotlib via SHAPE_MARKERS).
SHAPES = ("circle", "square", "triangle", "diamond", "triangle-down", "plus")
SHAPE_MARKERS = {"circle": "o", "square": "s", "triangle": "^", "diamond": "D", "triangle-down": "v", "plus": "P"}
NEIGHBOURS = 8
#: Two clusters are adjacent when at least this share of the smaller one's neighbour links cross into the other.
ADJACENT = 0.05


def touching(coords: np.ndarray, clusters: np.ndarray, k: int, *, max_points: int = 20_000, seed: int = 0) -> np.ndarray:
    """``k x k`` counts of nearest-neighbour point pairs between clusters on the 2-D map (diagonal zero)."""
    from scipy.spatial import cKDTree

    n = len(coords)
    idx = np.arange(n) if n <= max_points else np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    pts, cl = coords[idx], clusters[idx]
    counts = np.zeros((k, k), dtype=np.int64)
    if len(pts) < 2:
        return counts
    _, nn = cKDTree(pts).query(pts, k=min(NEIGHBOURS + 1, len(pts)))
    a = np.repeat(cl, nn.shape[1] - 1)
    b = cl[nn[:, 1:].ravel()]
    cross = a != b
    np.add.at(counts, (a[cross], b[cross]), 1)
    return counts + counts.T


def strength(pairs: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """How much two clusters touch: their neighbour pairs over the smaller cluster's neighbour links (0..1)."""
    smaller = np.maximum(np.minimum.outer(sizes, sizes), 1)
    return pairs / (NEIGHBOURS * smaller)


def assign_styles(coords: np.ndarray, clusters: np.ndarray, k: int, *, seed: int = 0) -> list[dict]:
    """Per cluster: ``colour`` (hex), ``colour_index``, ``shape`` (name) and ``light`` (bool), as described above."""
    sizes = np.bincount(clusters, minlength=k)
    touch = strength(touching(coords, clusters, k, seed=seed), sizes)
    order = np.lexsort((np.arange(k), -sizes))
    n_colours = len(PALETTE)
    big = set(order[:n_colours].tolist())
    colour = np.full(k, -1)

    def best(c: int) -> int:
        # The colour shared with the least touching (the nine largest clusters never share one).
        cost = np.array([touch[c, (colour == i) & (np.arange(k) != c)].sum() for i in range(n_colours)])
        if c in big:
            cost[[colour[o] for o in big if o != c and colour[o] >= 0]] = np.inf
        uses = np.bincount(colour[(colour >= 0) & (np.arange(k) != c)], minlength=n_colours)
        return int(min(range(n_colours), key=lambda i: (cost[i], uses[i], i)))

    for c in order:  # largest first, then a few sweeps that move a cluster to a better colour
        colour[c] = best(c)
    for _ in range(4):
        changed = False
        for c in order:
            pick = best(c)
            if pick != colour[c]:
                colour[c], changed = pick, True
        if not changed:
            break
    out: list[dict] = [{} for _ in range(k)]
    seen = np.zeros(n_colours, dtype=np.int64)
    for c in order:  # the largest cluster of each colour gets the circle
        n = int(seen[colour[c]])
        seen[colour[c]] += 1
        light = n >= len(SHAPES)
        out[c] = {"colour": lighten(PALETTE[colour[c]]) if light else PALETTE[colour[c]], "colour_index": int(colour[c]),
                  "shape": SHAPES[n % len(SHAPES)], "light": light}
    return out


def lighten(hex_colour: str, amount: float = 0.45) -> str:
    """``hex_colour`` mixed with white."""
    rgb = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(v + (255 - v) * amount):02X}" for v in rgb)


def anchors(coords: np.ndarray, clusters: np.ndarray, k: int) -> np.ndarray:
    """``k x 2``: where each cluster's label goes -- its member nearest the cluster's median point (never between lobes)."""
    out = np.full((k, 2), np.nan, dtype=np.float64)
    for c in range(k):
        pts = coords[clusters == c]
        if len(pts):
            med = np.median(pts, axis=0)
            out[c] = pts[np.argmin(((pts - med) ** 2).sum(axis=1))]
    return out


def robust_bounds(coords: np.ndarray, q: float = 0.01, margin: float = 0.06) -> tuple[float, float, float, float]:
    """``(x0, x1, y0, y1)``: the 1st-99th percentile box of the points plus a margin: the dense region, not the outliers."""
    if not len(coords):
        return (0.0, 1.0, 0.0, 1.0)
    lo, hi = np.quantile(coords, q, axis=0), np.quantile(coords, 1 - q, axis=0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - margin * span, hi + margin * span
    return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
