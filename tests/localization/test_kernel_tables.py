"""The compiled kernel's lookup tables and neighbour masks against their definitions (numba only)."""
import numpy as np
import pytest

from wsol.localization.threshold import HAVE_NUMBA

pytestmark = pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed")

# ring bit -> (dx, dy): NW, N, NE, E, SE, S, SW, W
RING = ((-1, -1), (0, -1), (1, -1), (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0))


def _bits(*names):
    index = {"NW": 0, "N": 1, "NE": 2, "E": 3, "SE": 4, "S": 5, "SW": 6, "W": 7}
    return sum(1 << index[n] for n in names)


def test_group_tables_hand_cases():
    from wsol.localization._kernel import TABLES
    n8, rep8, n4, rep4, gain_fg, gain_bg = TABLES
    assert n8[0] == 0 and n4[0] == 0
    assert n8[0xFF] == 1 and n4[0xFF] == 1
    assert n8[_bits("NW", "NE", "SE", "SW")] == 4           # four lone corners
    assert n8[_bits("N", "E")] == 1                           # diagonal neighbours touch (8-connectivity)
    assert n8[_bits("N", "S")] == 2
    assert n4[_bits("N", "E")] == 2                           # ... but not 4-connected without the corner
    assert n4[_bits("N", "NE", "E")] == 1
    assert n4[_bits("NW", "NE", "SE", "SW")] == 0             # corners are not 4-neighbours
    assert n4[_bits("N", "E", "S", "W")] == 4
    assert list(rep8[_bits("NW", "SE")][:2]) == [0, 4]
    # twice-area gains: a pixel completing all four cells (fg) / opening all four (bg)
    assert gain_fg[0xFF] == 4 and gain_fg[0] == 0
    assert gain_bg[0] == 4 and gain_bg[0xFF] == 0
    assert gain_fg[_bits("W", "NW")] == 1 and gain_bg[_bits("W", "NW")] == 3   # up-left cell gets its 3rd corner


def test_group_tables_against_brute_force():
    from wsol.localization._kernel import TABLES
    n8, rep8, n4, rep4, _, _ = TABLES
    for m in range(256):
        on = {RING[i] for i in range(8) if m >> i & 1}
        for conn, table_n, table_rep in ((8, n8, rep8), (4, n4, rep4)):
            members = on if conn == 8 else {d for d in on if 0 in d}
            steps = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)
                     and (conn == 8 or 0 in (a, b))]
            # groups: connected through present ring neighbours only (the centre is not there yet)
            label = {}
            for start in members:
                if start in label:
                    continue
                label[start] = start
                stack = [start]
                while stack:
                    cx, cy = stack.pop()
                    for a, b in steps:
                        nb = (cx + a, cy + b)
                        if nb in on and nb not in label:
                            label[nb] = start
                            stack.append(nb)
            groups = {label[d] for d in members}
            assert table_n[m] == len(groups), (m, conn)
            reps = [RING[i] for i in table_rep[m, :table_n[m]]]
            assert {label[r] for r in reps} == groups, (m, conn)


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (5, 1), (7, 9), (12, 5)])
def test_neighbour_masks_follow_the_visiting_order(shape):
    from wsol.localization._kernel import _neighbour_masks
    rng = np.random.default_rng(3)
    h, w = shape
    q = rng.integers(0, 4, shape).astype(np.uint8)        # few values: many ties
    mf, mb = _neighbour_masks(q)
    flat = q.ravel().astype(int)
    n = h * w
    # visiting orders: fg by decreasing value, raster order within a value; bg exactly the reverse
    rank_f = np.empty(n, int)
    rank_f[sorted(range(n), key=lambda p: (-flat[p], p))] = np.arange(n)
    rank_b = n - 1 - rank_f
    for p in range(n):
        y, x = divmod(p, w)
        want_f = want_b = 0
        for i, (dx, dy) in enumerate(RING):
            nx, ny = x + dx, y + dy
            if 0 <= nx < w and 0 <= ny < h:
                nb = ny * w + nx
                want_f |= int(rank_f[nb] < rank_f[p]) << i
                want_b |= int(rank_b[nb] < rank_b[p]) << i
        assert mf[p] == want_f and mb[p] == want_b, (p, mf[p], want_f, mb[p], want_b)


def _exact_fill(q):
    """Smallest, over 4-connected paths from the image border, of the largest value on the path (Dijkstra-like)."""
    import heapq
    h, w = q.shape
    fill = np.full((h, w), 256, int)
    heap = []
    for y in range(h):
        for x in range(w):
            if y in (0, h - 1) or x in (0, w - 1):
                fill[y, x] = int(q[y, x])
                heap.append((fill[y, x], y, x))
    heapq.heapify(heap)
    while heap:
        f, y, x = heapq.heappop(heap)
        if f > fill[y, x]:
            continue
        for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= ny < h and 0 <= nx < w:
                g = max(f, int(q[ny, nx]))
                if g < fill[ny, nx]:
                    fill[ny, nx] = g
                    heapq.heappush(heap, (g, ny, nx))
    return fill


@pytest.mark.parametrize("seed", range(6))
def test_fill_bound_and_hole_candidates(seed):
    """J >= fill (exact on the border); every pixel of every cv2 hole is a candidate, visited without the out flag."""
    import cv2

    from wsol.localization._kernel import _OUT, _fg_masks, _fill_bound, _hole_candidates
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    q = rng.integers(0, 6, (h, w)).astype(np.uint8) * 40     # speckle: many holes and islands
    if seed % 2:
        q = np.clip(q.astype(int) + np.arange(w)[None, :] * 3, 0, 255).astype(np.uint8)
    J = _fill_bound(q).astype(int)
    fill = _exact_fill(q)
    assert (J >= fill).all()
    assert (J[0] == q[0]).all() and (J[-1] == q[-1]).all() and (J[:, 0] == q[:, 0]).all()
    order, vstart = _hole_candidates(q, _fg_masks(q), _fill_bound(q))
    p = order >> 32
    cand = set(p[((order >> _OUT) & 1) == 0].tolist())
    assert len(set(p.tolist())) == len(p)
    vals = q.ravel()[p]
    assert (np.diff(vals) >= 0).all()                        # by value, reverse raster order within a value
    for v in range(256):
        seg = p[vstart[v]:vstart[v + 1]]
        assert (vals[vstart[v]:vstart[v + 1]] == v).all() and (np.diff(seg) < 0).all()
    for level in np.unique(q):
        bg = (q <= level).astype(np.uint8)
        n, lab = cv2.connectedComponents(bg, connectivity=4)
        border = set(np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])).tolist())
        holes = (lab > 0) & ~np.isin(lab, list(border))
        assert ((fill > level) == (holes | (q > level))).all()
        assert set(np.flatnonzero(holes).tolist()) <= cand
