"""Compiled (numba) kernel of the fast box engine: all components and holes of a uint8 map at all levels at once.

Imported lazily by :mod:`wsol.localization.threshold`; when numba is missing the engine falls back to an exact
OpenCV path. The mathematics (why the areas are exactly ``cv2.contourArea``, which pixels can be in a hole) is
explained in :mod:`wsol.localization.threshold`; this file only implements it.

Pixel ``p = y * W + x``. "Cells" are the (H-1) x (W-1) squares between four neighbouring pixel centres.

Visiting orders. The foreground pass visits pixels by decreasing value, in raster order within a value; the
background pass visits them in exactly the reverse order (increasing value, reverse raster order within a value).
So a neighbour inside the image is present when a pixel enters the background pass iff it is *not* present when
that pixel enters the foreground pass, and one 8-bit mask per pixel (:func:`_fg_masks`) serves both passes.

Per-pixel work is cut to table look-ups: from the 8-bit mask of present neighbours, tables built once
(:func:`_neighbour_tables`) give the neighbours to ``find`` (neighbours already connected to each other are found
once) and the twice-area the pixel adds (the cells it makes the 3rd or 4th foreground corner of, or the 1st or 2nd
background corner of), so no per-cell counters are kept. Both passes run the same loop (:func:`_advance`) on one
table layout; the pixels of a pass are packed with their mask into one int64 per pixel, sorted by a counting sort.

The background pass only visits the pixels that can lie in a hole at their own level: those with
``J > q`` for an upper bound ``J`` of the hole-filling function (:func:`_fill_bound`). Every other pixel belongs
to the component touching the image border as soon as it is background; it is represented by component 0 (the
"outside"), which every pixel's background label starts as.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# Columns of the component tables (one int32 row per component, so that a union touches one cache line).
_PAR = 0    # union-find parent (path halving)
_A2 = 1     # twice the area of the region pieces (cell counting)
_PMIN = 2   # raster-first pixel; its row is the top row of the component
_PMAX = 3   # raster-last pixel; its row is the bottom row
_XMIN = 4
_XMAX = 5
_UP = 6     # parent in the same forest without path compression
_ATT = 7    # value at which the component got a parent (_NEVER: not yet)
_NEVER = 1 << 30
_OUT = 31    # entry bit: a background pixel outside every hole (see _hole_candidates)


@njit(cache=True, nogil=True)
def _iou(ax0, ay0, ax1, ay1, gts):
    best = 0.0
    area_a = (ax1 - ax0 + 1) * (ay1 - ay0 + 1)
    for g in range(gts.shape[0]):
        bx0 = gts[g, 0]
        by0 = gts[g, 1]
        bx1 = gts[g, 2]
        by1 = gts[g, 3]
        iw = min(ax1, bx1) - max(ax0, bx0) + 1
        ih = min(ay1, by1) - max(ay0, by0) + 1
        if iw < 0:
            iw = 0
        if ih < 0:
            ih = 0
        inter = iw * ih
        union = area_a + (bx1 - bx0 + 1) * (by1 - by0 + 1) - inter
        if union <= 0:
            v = 0.0
        else:
            v = inter / union
        if v > best:
            best = v
    return best


@njit(inline="always")
def _imin(a, b):
    """Branch-free minimum of two int64 (noisy maps make the comparison unpredictable)."""
    d = a - b
    return b + (d & (d >> 63))


@njit(inline="always")
def _imax(a, b):
    """Branch-free maximum of two int64."""
    d = a - b
    return a - (d & (d >> 63))


@njit(cache=True, nogil=True)
def _consider(out, k, best, bx0, by0, bx1, by1, gts):
    """Keep the box as ``out[k]`` when its best IoU with ``gts`` beats ``best`` (the first wins ties); the new best."""
    s = _iou(bx0, by0, bx1, by1, gts)
    if s > best:
        out[k, 0] = bx0
        out[k, 1] = by0
        out[k, 2] = bx1
        out[k, 3] = by1
        return s
    return best


@njit(inline="always")
def _find(tab, x):
    while tab[x, _PAR] != x:
        tab[x, _PAR] = tab[tab[x, _PAR], _PAR]
        x = tab[x, _PAR]
    return x


# Neighbour bits of a pixel, in ring order: bit i is the neighbour at _RING[i] = (dx, dy).
_RING = ((-1, -1), (0, -1), (1, -1), (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0))
# The four cells around a pixel, each as the three ring bits of its other corners (up-left, up-right, down-right,
# down-left).
_CELLS = ((7, 0, 1), (1, 2, 3), (3, 4, 5), (5, 6, 7))


def _neighbour_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per 8-bit mask of already-present neighbours: the neighbours to union with, and the area gained.

    When a pixel enters, its present neighbours that are already connected to one another (without the pixel)
    need only one ``find``: for 8-connectivity two ring neighbours within one step of each other are connected;
    for 4-connectivity (background) two edge neighbours are connected when the corner between them is present.

    Returns:
        ``(n8, rep8, n4, rep4, gain_fg, gain_bg)``: number of groups (0..4) and one ring bit per group, for the
        8-connected foreground and the 4-connected background; and the twice-area gained by the entering pixel's
        component: one per cell that it makes the 3rd or 4th present corner of (foreground), or the 1st or 2nd
        (background). Every (256,) or (256, 4) int8.
    """
    n8 = np.zeros(256, np.int8)
    rep8 = np.zeros((256, 4), np.int8)
    n4 = np.zeros(256, np.int8)
    rep4 = np.zeros((256, 4), np.int8)
    gain_fg = np.zeros(256, np.int8)
    gain_bg = np.zeros(256, np.int8)
    for m in range(256):
        present = [i for i in range(8) if m >> i & 1]

        def linked8(a: int, b: int) -> bool:
            return max(abs(_RING[a][0] - _RING[b][0]), abs(_RING[a][1] - _RING[b][1])) <= 1

        def linked4(a: int, b: int, m: int = m) -> bool:  # edge neighbours a, b: via the corner between them
            if (b - a) % 8 == 2:
                return (m >> (a + 1) % 8 & 1) == 1
            if (a - b) % 8 == 2:
                return (m >> (b + 1) % 8 & 1) == 1
            return False

        for table_n, table_rep, members, linked in ((n8, rep8, present, linked8),
                                                    (n4, rep4, [i for i in present if i % 2 == 1], linked4)):
            seen: set[int] = set()
            groups = []
            for i in members:
                if i in seen:
                    continue
                groups.append(i)
                seen.add(i)
                stack = [i]
                while stack:
                    a = stack.pop()
                    for b in members:
                        if b not in seen and linked(a, b):
                            seen.add(b)
                            stack.append(b)
            table_n[m] = len(groups)
            table_rep[m, :len(groups)] = groups
        for cell in _CELLS:
            k = sum(m >> i & 1 for i in cell)
            gain_fg[m] += k >= 2
            gain_bg[m] += k < 2
    return n8, rep8, n4, rep4, gain_fg, gain_bg


TABLES = _neighbour_tables()  #: (n8, rep8, n4, rep4, gain_fg, gain_bg), passed to :func:`scan_levels`
_RING_DX = np.array([d[0] for d in _RING], np.int64)
_RING_DY = np.array([d[1] for d in _RING], np.int64)


@njit(cache=True, nogil=True)
def _fg_masks(q):
    """Ring bits (see ``_RING``) of the neighbours already present when each pixel enters the foreground pass.

    The foreground pass visits pixels by decreasing value, in raster order within a value; so a neighbour before
    the pixel in raster order is present when its value is ``>=``, one after it when ``>``. Outside the image:
    never. (In the background pass, which visits in the reverse order, the present neighbours inside the image are
    exactly the others.)

    Returns:
        (H * W,) uint8.
    """
    H, W = q.shape
    mf = np.zeros(H * W, np.uint8)
    for y in range(1, H - 1):  # interior: no bounds, written so that the row loop vectorises
        up = q[y - 1]
        row = q[y]
        dn = q[y + 1]
        out = mf[y * W:(y + 1) * W]
        for x in range(1, W - 1):
            c = row[x]
            out[x] = ((np.uint8(up[x - 1] >= c)) | (np.uint8(up[x] >= c) << 1) | (np.uint8(up[x + 1] >= c) << 2)
                      | (np.uint8(row[x + 1] > c) << 3) | (np.uint8(dn[x + 1] > c) << 4)
                      | (np.uint8(dn[x] > c) << 5) | (np.uint8(dn[x - 1] > c) << 6)
                      | (np.uint8(row[x - 1] >= c) << 7))
    for y in range(H):  # the image border, with bounds
        step = 1 if (y == 0 or y == H - 1) else max(W - 1, 1)
        for x in range(0, W, step):
            c = q[y, x]
            f = 0
            for i in range(8):
                nx = x + _RING_DX[i]
                ny = y + _RING_DY[i]
                if nx < 0 or ny < 0 or nx >= W or ny >= H:
                    continue
                a = q[ny, nx]
                before = ny < y or (ny == y and nx < x)
                if a > c or (before and a == c):
                    f |= 1 << i
            mf[y * W + x] = f
    return mf


@njit(cache=True, nogil=True)
def _inside_ring(x, y, W, H):
    """Ring bits of the neighbours of (x, y) that lie inside the W x H image."""
    inside = 0
    for i in range(8):
        nx = x + _RING_DX[i]
        ny = y + _RING_DY[i]
        if 0 <= nx < W and 0 <= ny < H:
            inside |= 1 << i
    return inside


@njit(cache=True, nogil=True)
def _neighbour_masks(q):
    """Ring bits of the present neighbours when each pixel enters, for both passes (the test oracle's view).

    Returns:
        ``(mask_fg, mask_bg)``, (H * W,) uint8 each; ``mask_bg`` is the complement of ``mask_fg`` within the image.
    """
    H, W = q.shape
    mf = _fg_masks(q)
    mb = np.empty(H * W, np.uint8)
    for y in range(H):
        for x in range(W):
            mb[y * W + x] = ~mf[y * W + x] & _inside_ring(x, y, W, H)
    return mf, mb


@njit(cache=True, nogil=True)
def _fill_bound(q):
    """An upper bound ``J >= fill`` of the hole-filling function, exact on the image border.

    ``fill[p]`` is the smallest, over the 4-connected paths from the image border to ``p``, of the largest value on
    the path; pixel ``p`` lies in a hole at level ``T`` iff ``q[p] <= T < fill[p]``. One forward and one backward
    raster scan of the reconstruction by erosion (Vincent's scans, without the final queue) only ever lower ``J``
    from 255 towards ``fill`` along such paths, so ``J >= fill``; where ``J == q`` the pixel is in no hole at its
    own level.

    Returns:
        (H, W) uint8.
    """
    H, W = q.shape
    J = np.empty((H, W), np.uint8)
    J[0, :] = q[0, :]
    J[H - 1, :] = q[H - 1, :]
    for y in range(1, H - 1):
        up = J[y - 1]
        row = q[y]
        out = J[y]
        prev = np.int64(row[0])
        out[0] = row[0]
        out[W - 1] = row[W - 1]
        for x in range(1, W - 1):
            prev = _imax(_imin(np.int64(up[x]), prev), np.int64(row[x]))
            out[x] = prev
    for y in range(H - 2, 0, -1):
        dn = J[y + 1]
        row = q[y]
        out = J[y]
        prev = np.int64(row[W - 1])
        for x in range(W - 2, 0, -1):
            prev = _imax(_imin(_imin(np.int64(dn[x]), prev), np.int64(out[x])), np.int64(row[x]))
            out[x] = prev
    return J


@njit(inline="always")
def _flush(tab, cur, ca, cp0, cp1, cx0, cx1):
    """Write the register statistics into component ``cur``'s row; returns the reset registers."""
    tab[cur, _A2] += ca
    tab[cur, _PMIN] = min(tab[cur, _PMIN], cp0)
    tab[cur, _PMAX] = max(tab[cur, _PMAX], cp1)
    tab[cur, _XMIN] = min(tab[cur, _XMIN], cx0)
    tab[cur, _XMAX] = max(tab[cur, _XMAX], cx1)
    return 0, _NEVER, -1, _NEVER, -1


@njit(cache=True, nogil=True)
def _advance(order, start, stop, lab, tab, nc, live, lpos, nlive, off, ntab, reptab, gain, value):
    """Let the pixels ``order[start:stop]`` (all of one value) enter; the common loop of both passes.

    Each entry is ``p << 32 | out << 31 | x << 8 | mask`` (see :func:`_sorted_entries`, :func:`_hole_candidates`).
    A pixel joins the component of its present neighbours, merging them (the smaller id stays the root, so the
    background's component 0 stays the outside; an ``out`` pixel joins component 0 too); the statistics of the
    component being extended are kept in registers and written back when the component changes.

    Returns:
        ``(nc, nlive)``: number of component ids handed out, number of live (root) components in ``live``.
    """
    cur = tab.shape[0] - 1          # the scratch row: statistics written there are never read
    ca = 0
    cp0 = _NEVER
    cp1 = -1
    cx0 = _NEVER
    cx1 = -1
    for idx in range(start, stop):
        e = order[idx]
        p = e >> 32
        x = (e >> 8) & 0x7FFFFF
        m = e & 255
        g = ntab[m] | ((e >> _OUT) & 1) << 3     # an outside pixel takes the general path (g >= 8)
        if g == 1:
            r = tab[lab[p + off[reptab[m, 0]]], _PAR]
            if tab[r, _PAR] != r:
                r = _find(tab, r)
        elif g == 0:
            r = nc
            nc += 1
            tab[r, _PAR] = r
            tab[r, _A2] = 0
            tab[r, _PMIN] = _NEVER
            tab[r, _PMAX] = -1
            tab[r, _XMIN] = _NEVER
            tab[r, _XMAX] = -1
            tab[r, _UP] = r
            tab[r, _ATT] = _NEVER
            live[nlive] = r
            lpos[r] = nlive
            nlive += 1
        else:
            ca, cp0, cp1, cx0, cx1 = _flush(tab, cur, ca, cp0, cp1, cx0, cx1)
            r = -((e >> _OUT) & 1 ^ 1)          # outside pixel: joins component 0; else -1 (none yet)
            for t in range(g & 7):
                rb = _find(tab, lab[p + off[reptab[m, t]]])
                if r < 0:
                    r = rb
                    continue
                if rb == r:
                    continue
                if rb < r:
                    r, rb = rb, r
                tab[rb, _PAR] = r
                tab[rb, _UP] = r
                tab[rb, _ATT] = value
                tab[r, _A2] += tab[rb, _A2]
                tab[r, _PMIN] = min(tab[r, _PMIN], tab[rb, _PMIN])
                tab[r, _PMAX] = max(tab[r, _PMAX], tab[rb, _PMAX])
                tab[r, _XMIN] = min(tab[r, _XMIN], tab[rb, _XMIN])
                tab[r, _XMAX] = max(tab[r, _XMAX], tab[rb, _XMAX])
                if lpos[rb] >= 0:
                    last = live[nlive - 1]
                    live[lpos[rb]] = last
                    lpos[last] = lpos[rb]
                    nlive -= 1
                    lpos[rb] = -1
            cur = r
        if r != cur:
            ca, cp0, cp1, cx0, cx1 = _flush(tab, cur, ca, cp0, cp1, cx0, cx1)
            cur = r
        lab[p] = r
        ca += gain[m]
        cp0 = _imin(cp0, p)
        cp1 = _imax(cp1, p)
        cx0 = _imin(cx0, x)
        cx1 = _imax(cx1, x)
    _flush(tab, cur, ca, cp0, cp1, cx0, cx1)
    return nc, nlive


@njit(cache=True, nogil=True)
def _sorted_entries(q, mf):
    """Foreground visiting order, stored by value: ``order[vstart[v]:vstart[v + 1]]`` are the pixels of value
    ``v`` in raster order, each as ``p << 32 | x << 8 | mask`` (the pass reads the values from the top down).

    Returns:
        ``(order (H*W,) int64, vstart (257,) int64)``.
    """
    H, W = q.shape
    n = H * W
    h0 = H // 2                                 # two interleaved halves: two independent store chains
    cnt = np.zeros((2, 256), np.int64)
    for y in range(H):
        k = 0 if y < h0 else 1
        for x in range(W):
            cnt[k, q[y, x]] += 1
    vstart = np.zeros(257, np.int64)
    pos0 = np.empty(256, np.int64)
    pos1 = np.empty(256, np.int64)
    acc = 0
    for v in range(256):
        vstart[v] = acc
        pos0[v] = acc
        pos1[v] = acc + cnt[0, v]
        acc += cnt[0, v] + cnt[1, v]
    vstart[256] = acc
    order = np.empty(n, np.int64)
    for yy in range(H - h0):
        y0 = yy
        y1 = yy + h0
        for x in range(W):
            if y0 < h0:
                p = y0 * W + x
                v = q[y0, x]
                order[pos0[v]] = (p << 32) | (x << 8) | np.int64(mf[p])
                pos0[v] += 1
            p = y1 * W + x
            v = q[y1, x]
            order[pos1[v]] = (p << 32) | (x << 8) | np.int64(mf[p])
            pos1[v] += 1
    return order, vstart


@njit(cache=True, nogil=True)
def _hole_candidates(q, mf, J):
    """Background visiting order of the pixels the background pass must see, entries with the background mask.

    Those are the pixels that can lie in a hole at their own level (``J > q``) and their 4-neighbours. A
    neighbour that is not a candidate itself is flagged (bit ``_OUT``): it belongs to the outside component as
    soon as it is background, and it is visited only to merge the candidates next to it into the outside.

    Returns:
        ``(order (N,) int64, vstart (257,) int64)``: ``order[vstart[v]:vstart[v + 1]]`` are the visited pixels of
        value ``v`` in reverse raster order, each ``p << 32 | out << 31 | x << 8 | background mask``.
    """
    H, W = q.shape
    cand = np.zeros((H, W), np.uint8)
    for y in range(1, H - 1):
        row = q[y]
        jrow = J[y]
        out = cand[y]
        for x in range(1, W - 1):
            out[x] = jrow[x] > row[x]
    visit = cand.copy()                         # candidates and their 4-neighbours (branch-free row loops)
    for y in range(H):
        out = visit[y]
        row = cand[y]
        if y > 0:
            up = cand[y - 1]
            for x in range(W):
                out[x] |= up[x]
        if y < H - 1:
            dn = cand[y + 1]
            for x in range(W):
                out[x] |= dn[x]
        for x in range(1, W):
            out[x] |= row[x - 1]
        for x in range(W - 1):
            out[x] |= row[x + 1]
    cnt = np.zeros(257, np.int64)
    for y in range(H):
        for x in range(W):
            if visit[y, x]:
                cnt[q[y, x] + 1] += 1
    for v in range(256):
        cnt[v + 1] += cnt[v]
    vstart = cnt.copy()
    pos = cnt[:256].copy()
    order = np.empty(cnt[256], np.int64)
    for y in range(H - 1, -1, -1):
        for x in range(W - 1, -1, -1):
            if visit[y, x]:
                v = q[y, x]
                p = y * W + x
                inside = 255
                if y == 0 or x == 0 or y == H - 1 or x == W - 1:
                    inside = _inside_ring(x, y, W, H)
                out = 0 if cand[y, x] else 1
                order[pos[v]] = (p << 32) | (out << _OUT) | (x << 8) | (~np.int64(mf[p]) & inside)
                pos[v] += 1
    return order, vstart


@njit(cache=True, nogil=True, error_model="numpy")
def scan_levels(q, levels, gts, want_all, n8, rep8, n4, rep4, gain_fg, gain_bg):
    """Boxes of every 8-connected component and every hole of ``q > T`` for each ``T`` in ``levels``.

    Args:
        q: (H, W) uint8 quantised map, C-contiguous, ``H * W < 2**30``, ``W < 2**24``.
        levels: (K,) int64 distinct levels, ascending, each in 0..254.
        gts: (G, 4) int64 GT boxes in map pixels (G >= 1).
        want_all: also score all candidates (components and holes) for the all-contour curves.

    Returns:
        ``(v1_box (K, 4) int64, v1_iou (K,) float64, all_iou (K,) float64, all_box (K, 4) int64)``; a level
        without foreground keeps the box (0, 0, 0, 0) and IoU 0 (callers handle the empty map themselves).

    Layout (what makes it fast): a pixel only stores the id of the component it joined (``lab``, int32); the
    union-find parents, boxes, areas and first pixels live in one int32 row per component id. Ids are handed out
    in creation order and few components are ever created (about one per regional extremum), so the rows touched
    stay in cache while the pixels are visited in level order, which is spatially random.
    """
    H, W = q.shape
    n = H * W
    K = levels.shape[0]
    flat = q.ravel()

    level_k = np.full(256, -1, np.int64)
    for k in range(K):
        level_k[levels[k]] = k
    off = np.empty(8, np.int64)                 # flat offset of each ring neighbour
    for i in range(8):
        off[i] = _RING_DY[i] * W + _RING_DX[i]
    mf = _fg_masks(q)

    # ---------------- pass 1: background (q <= T), 4-connectivity, ascending; holes per level -------------------
    order_b, vstart_b = _hole_candidates(q, mf, _fill_bound(q))
    nb = order_b.shape[0]
    lab_b = np.zeros(n, np.int32)               # pixel -> component id it joined (0: the outside)
    tab_b = np.empty((nb + 2, 8), np.int32)     # ids 0..nb, then the scratch row
    tab_b[0, _PAR] = 0
    tab_b[0, _UP] = 0
    tab_b[0, _ATT] = _NEVER
    live_b = np.empty(nb + 1, np.int32)
    lpos_b = np.full(nb + 2, -1, np.int32)
    nlive_b = 0
    nc_b = 1

    cap = 64
    h_root = np.empty(cap, np.int32)
    h_box = np.empty((cap, 4), np.int32)
    h_a2 = np.empty(cap, np.int64)
    h_rf = np.empty(cap, np.int32)
    nh = 0
    h_start = np.zeros(K + 1, np.int64)

    for v in range(levels[K - 1] + 1):
        if vstart_b[v + 1] > vstart_b[v]:
            nc_b, nlive_b = _advance(order_b, vstart_b[v], vstart_b[v + 1], lab_b, tab_b, nc_b, live_b,
                                     lpos_b, nlive_b, off, n4, rep4, gain_bg, v)
        k = level_k[v]
        if k >= 0:
            h_start[k] = nh
            if nh + nlive_b > cap:
                while nh + nlive_b > cap:
                    cap *= 2
                t1 = np.empty(cap, np.int32)
                t1[:nh] = h_root[:nh]
                h_root = t1
                t2 = np.empty((cap, 4), np.int32)
                t2[:nh] = h_box[:nh]
                h_box = t2
                t3 = np.empty(cap, np.int64)
                t3[:nh] = h_a2[:nh]
                h_a2 = t3
                t4 = np.empty(cap, np.int32)
                t4[:nh] = h_rf[:nh]
                h_rf = t4
            for i in range(nlive_b):            # every live component other than the outside is a hole
                r = live_b[i]
                h_root[nh] = r
                h_box[nh, 0] = tab_b[r, _XMIN]
                h_box[nh, 1] = tab_b[r, _PMIN] // W
                h_box[nh, 2] = tab_b[r, _XMAX]
                h_box[nh, 3] = tab_b[r, _PMAX] // W
                h_a2[nh] = tab_b[r, _A2]
                h_rf[nh] = tab_b[r, _PMIN]
                nh += 1
            h_start[k + 1] = nh

    # ---------------- pass 2: foreground (q > T), 8-connectivity, descending -------------------------------------
    order, vstart = _sorted_entries(q, mf)
    lab_f = np.full(n, -1, np.int32)
    tab_f = np.empty((n + 1, 8), np.int32)
    live_f = np.empty(n, np.int32)
    lpos_f = np.full(n + 1, -1, np.int32)
    nlive_f = 0
    nc_f = 0
    node_of = np.full(n, -1, np.int32)          # fg component -> index in this level's node table
    hole_of = np.full(nc_b, -1, np.int32)       # bg component -> hole record index (this level only)

    v1_box = np.zeros((K, 4), np.int64)
    v1_iou = np.zeros(K, np.float64)
    all_iou = np.zeros(K, np.float64)
    all_box = np.zeros((K, 4), np.int64)

    for v in range(255, 0, -1):
        if vstart[v + 1] > vstart[v]:
            nc_f, nlive_f = _advance(order, vstart[v], vstart[v + 1], lab_f, tab_f, nc_f, live_f, lpos_f,
                                     nlive_f, off, n8, rep8, gain_fg, v)
        k = level_k[v - 1]
        if k < 0:
            continue
        T = v - 1
        nf = nlive_f
        # node table: fg components 0..nf-1, holes nf..nf+nhk-1
        hs = h_start[k]
        he = h_start[k + 1]
        nhk = he - hs
        filled = np.empty(nf + nhk, np.int64)
        for i in range(nf):
            r = live_f[i]
            node_of[r] = i
            filled[i] = tab_f[r, _A2]
        if nhk > 0:
            hole_parent = np.empty(nhk, np.int64)
            for j in range(nhk):
                rec = hs + j
                hole_of[h_root[rec]] = j
                filled[nf + j] = h_a2[rec]
                # the pixel above a hole's first pixel is foreground and belongs to the enclosing component
                hole_parent[j] = node_of[_find(tab_f, lab_f[h_rf[rec] - W])]
            # islands: a component whose first pixel has a hole pixel above it
            fg_parent = np.full(nf, -1, np.int64)
            n_islands = 0
            for i in range(nf):
                r = live_f[i]
                u = tab_f[r, _PMIN] - W
                if u < 0 or flat[u] > T:
                    continue
                # the background component holding u at level T: climb the unflattened forest while the links
                # already existed at level T (a pixel that was never a hole candidate is in the outside, 0)
                xb = lab_b[u]
                while tab_b[xb, _UP] != xb and tab_b[xb, _ATT] <= T:
                    xb = tab_b[xb, _UP]
                j = hole_of[xb]
                if j >= 0:
                    fg_parent[i] = j
                    n_islands += 1
            if n_islands == 0:
                for j in range(nhk):
                    filled[hole_parent[j]] += filled[nf + j]
            else:
                keys = np.empty(nf + nhk, np.int64)
                for i in range(nf):
                    keys[i] = tab_f[live_f[i], _PMIN]
                for j in range(nhk):
                    keys[nf + j] = h_rf[hs + j]
                srt = np.argsort(-keys)
                for t in range(nf + nhk):
                    node = srt[t]
                    if node < nf:
                        if fg_parent[node] >= 0:
                            filled[nf + fg_parent[node]] += filled[node]
                    else:
                        filled[hole_parent[node - nf]] += filled[node]
            for j in range(nhk):
                hole_of[h_root[hs + j]] = -1
        # v1: largest filled area, ties -> largest raster index of the first pixel (OpenCV's order)
        best_i = -1
        best_a = -1
        best_rf = -1
        for i in range(nf):
            r = live_f[i]
            a = filled[i]
            rf = tab_f[r, _PMIN]
            if a > best_a or (a == best_a and rf > best_rf):
                best_a = a
                best_rf = rf
                best_i = i
        if best_i >= 0:
            r = live_f[best_i]
            bx0 = tab_f[r, _XMIN]
            by0 = tab_f[r, _PMIN] // W
            bx1 = min(tab_f[r, _XMAX] + 1, W - 1)
            by1 = min(tab_f[r, _PMAX] // W + 1, H - 1)
            v1_box[k, 0] = bx0
            v1_box[k, 1] = by0
            v1_box[k, 2] = bx1
            v1_box[k, 3] = by1
            v1_iou[k] = _iou(bx0, by0, bx1, by1, gts)
        if want_all:
            best = -1.0
            for i in range(nf):
                r = live_f[i]
                bx0 = tab_f[r, _XMIN]
                by0 = tab_f[r, _PMIN] // W
                bx1 = min(tab_f[r, _XMAX] + 1, W - 1)
                by1 = min(tab_f[r, _PMAX] // W + 1, H - 1)
                best = _consider(all_box, k, best, bx0, by0, bx1, by1, gts)
            for j in range(nhk):
                rec = hs + j
                # the hole border runs through the foreground pixels around the hole: its bbox is the hole's + 1
                bx0 = h_box[rec, 0] - 1
                by0 = h_box[rec, 1] - 1
                bx1 = min(h_box[rec, 2] + 2, W - 1)
                by1 = min(h_box[rec, 3] + 2, H - 1)
                best = _consider(all_box, k, best, bx0, by0, bx1, by1, gts)
            all_iou[k] = best
        for i in range(nf):
            node_of[live_f[i]] = -1
    return v1_box, v1_iou, all_iou, all_box
