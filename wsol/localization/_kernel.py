"""Compiled (numba) kernel of the fast box engine: all components and holes of a uint8 map at all levels at once.

Imported lazily by :mod:`wsol.localization.threshold`; when numba is missing the engine falls back to an exact
OpenCV path. The mathematics (why the areas are exactly ``cv2.contourArea``) is explained in
:mod:`wsol.localization.threshold`; this file only implements it.

Pixel ``p = y * W + x``. "Cells" are the (H-1) x (W-1) squares between four neighbouring pixel centres; cell
``c = cy * (W-1) + cx`` has corners (cx, cy), (cx+1, cy), (cx, cy+1), (cx+1, cy+1).

Per-pixel work is cut to table look-ups: one raster pass (:func:`_neighbour_masks`) records, for every pixel and
each pass, which of its 8 neighbours are already present when it enters (a function of the values and the raster
order only). From that 8-bit mask, tables built once (:func:`_neighbour_tables`) give the neighbours to ``find``
(neighbours already connected to each other are found once) and the twice-area the pixel adds (the cells it makes
the 3rd or 4th foreground corner of, or the 1st or 2nd background corner of), so no per-cell counters are kept.
"""
from __future__ import annotations

import numpy as np
from numba import njit


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


@njit(cache=True, nogil=True)
def _find_halving(par, x):
    while par[x] != x:
        par[x] = par[par[x]]
        x = par[x]
    return x


@njit(cache=True, nogil=True)
def _find_plain(par, x):
    while par[x] != x:
        x = par[x]
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
def _neighbour_masks(q):
    """Ring bits (see ``_RING``) of the neighbours already present when each pixel enters, for both passes.

    The foreground pass visits pixels by decreasing value, the background pass by increasing value, both in
    raster order within a value; so a neighbour before the pixel in raster order is present when its value is
    ``>=`` (foreground) or ``<=`` (background), one after it when ``>`` or ``<``. Outside the image: never.

    Returns:
        ``(mask_fg, mask_bg)``, (H * W,) uint8 each.
    """
    H, W = q.shape
    Wp = W + 2
    pad = np.full((H + 2) * Wp, -1, np.int16)
    for y in range(H):
        for x in range(W):
            pad[(y + 1) * Wp + x + 1] = q[y, x]
    mf = np.empty(H * W, np.uint8)
    mb = np.empty(H * W, np.uint8)
    for y in range(H):
        row = (y + 1) * Wp + 1
        for x in range(W):
            i = row + x
            c = pad[i]
            a0 = pad[i - Wp - 1]
            a1 = pad[i - Wp]
            a2 = pad[i - Wp + 1]
            a3 = pad[i + 1]
            a4 = pad[i + Wp + 1]
            a5 = pad[i + Wp]
            a6 = pad[i + Wp - 1]
            a7 = pad[i - 1]
            f = ((a0 >= c) | ((a1 >= c) << 1) | ((a2 >= c) << 2) | ((a3 > c) << 3) | ((a4 > c) << 4)
                 | ((a5 > c) << 5) | ((a6 > c) << 6) | ((a7 >= c) << 7))
            b = (((a0 >= 0) & (a0 <= c)) | (((a1 >= 0) & (a1 <= c)) << 1) | (((a2 >= 0) & (a2 <= c)) << 2)
                 | (((a3 >= 0) & (a3 < c)) << 3) | (((a4 >= 0) & (a4 < c)) << 4) | (((a5 >= 0) & (a5 < c)) << 5)
                 | (((a6 >= 0) & (a6 < c)) << 6) | (((a7 >= 0) & (a7 <= c)) << 7))
            mf[y * W + x] = f
            mb[y * W + x] = b
    return mf, mb


@njit(cache=True, nogil=True, error_model="numpy")
def scan_levels(q, levels, gts, want_all, n8, rep8, n4, rep4, gain_fg, gain_bg):
    """Boxes of every 8-connected component and every hole of ``q > T`` for each ``T`` in ``levels``.

    Args:
        q: (H, W) uint8 quantised map, C-contiguous.
        levels: (K,) int64 distinct levels, ascending, each in 0..254.
        gts: (G, 4) int64 GT boxes in map pixels (G >= 1).
        want_all: also score all candidates (components and holes) for the all-contour curves.

    Returns:
        ``(v1_box (K, 4) int64, v1_iou (K,) float64, all_iou (K,) float64, all_box (K, 4) int64)``; a level
        without foreground keeps the box (0, 0, 0, 0) and IoU 0 (callers handle the empty map themselves).

    Layout (what makes it fast): a pixel only stores the id of the component it joined (``lab``, int32, -1 while
    absent); everything else -- union-find parents, sizes, boxes, areas, first pixels, the live list -- lives in
    tables indexed by component id. Ids are handed out in creation order and few components are ever created
    (about one per regional extremum), so the tables touched stay in L1/L2 cache while the pixels are visited in
    level order, which is spatially random.
    """
    H, W = q.shape
    n = H * W
    K = levels.shape[0]
    flat = q.ravel()

    level_k = np.full(256, -1, np.int64)
    for k in range(K):
        level_k[levels[k]] = k

    # counting sort, ascending values (stable: raster order within a value)
    cnt = np.zeros(257, np.int64)
    for p in range(n):
        cnt[flat[p] + 1] += 1
    for v in range(256):
        cnt[v + 1] += cnt[v]
    vstart = cnt.copy()
    order = np.empty(n, np.int64)               # (y << 32) | x: no division per visited pixel
    pos = cnt[:256].copy()
    for y in range(H):
        for x in range(W):
            v = flat[y * W + x]
            order[pos[v]] = (y << 32) | x
            pos[v] += 1

    mf, mb = _neighbour_masks(q)
    off = np.empty(8, np.int64)                 # flat offset of each ring neighbour
    for i in range(8):
        off[i] = _RING_DY[i] * W + _RING_DX[i]

    # ---------------- pass 1: background (q <= T), 4-connectivity, ascending; holes per level -------------------
    lab_b = np.full(n, -1, np.int32)            # pixel -> component id it joined (-1: not yet background)
    cp_b = np.empty(n, np.int32)                # component parent, path halving (fast finds during the pass)
    up_b = np.empty(n, np.int32)                # the same forest without path compression
    att_b = np.empty(n, np.int32)               # level at which a component got a parent (1000: never)
    sz_b = np.empty(n, np.int32)
    x0_b = np.empty(n, np.int32)
    y0_b = np.empty(n, np.int32)
    x1_b = np.empty(n, np.int32)
    y1_b = np.empty(n, np.int32)
    a2_b = np.empty(n, np.int64)                # twice the area of the background region pieces
    rf_b = np.empty(n, np.int32)                # raster-first pixel (smallest index) of the component
    border_b = np.empty(n, np.bool_)
    live_b = np.empty(n, np.int32)
    lpos_b = np.empty(n, np.int32)
    nlive_b = 0
    nc_b = 0

    cap = 64
    h_root = np.empty(cap, np.int32)
    h_box = np.empty((cap, 4), np.int32)
    h_a2 = np.empty(cap, np.int64)
    h_rf = np.empty(cap, np.int32)
    nh = 0
    h_start = np.zeros(K + 1, np.int64)

    for v in range(256):
        for idx in range(vstart[v], vstart[v + 1]):
            yx = order[idx]
            y = yx >> 32
            x = yx & 0xFFFFFFFF
            p = y * W + x
            m = mb[p]
            r = -1
            for t in range(n4[m]):
                rb = _find_halving(cp_b, lab_b[p + off[rep4[m, t]]])
                if r < 0:
                    r = rb
                    continue
                if rb == r:
                    continue
                ra = r
                if sz_b[ra] < sz_b[rb]:
                    ra, rb = rb, ra
                # attach rb under ra
                cp_b[rb] = ra
                up_b[rb] = ra
                att_b[rb] = v
                sz_b[ra] += sz_b[rb]
                x0_b[ra] = min(x0_b[ra], x0_b[rb])
                y0_b[ra] = min(y0_b[ra], y0_b[rb])
                x1_b[ra] = max(x1_b[ra], x1_b[rb])
                y1_b[ra] = max(y1_b[ra], y1_b[rb])
                a2_b[ra] += a2_b[rb]
                rf_b[ra] = min(rf_b[ra], rf_b[rb])
                border_b[ra] = border_b[ra] or border_b[rb]
                # remove rb from the live list
                last = live_b[nlive_b - 1]
                live_b[lpos_b[rb]] = last
                lpos_b[last] = lpos_b[rb]
                nlive_b -= 1
                r = ra
            on_border = x == 0 or y == 0 or x == W - 1 or y == H - 1
            if r < 0:
                r = nc_b
                nc_b += 1
                cp_b[r] = r
                up_b[r] = r
                att_b[r] = 1000
                sz_b[r] = 1
                x0_b[r] = x
                x1_b[r] = x
                y0_b[r] = y
                y1_b[r] = y
                a2_b[r] = 0
                rf_b[r] = p
                border_b[r] = on_border
                live_b[nlive_b] = r
                lpos_b[r] = nlive_b
                nlive_b += 1
            else:
                sz_b[r] += 1
                if x < x0_b[r]:
                    x0_b[r] = x
                if x > x1_b[r]:
                    x1_b[r] = x
                if y < y0_b[r]:
                    y0_b[r] = y
                if y > y1_b[r]:
                    y1_b[r] = y
                if p < rf_b[r]:
                    rf_b[r] = p
                if on_border:
                    border_b[r] = True
            lab_b[p] = r
            # cells made to have 1 or 2 background corners (border cells: only border components, never holes)
            a2_b[r] += gain_bg[m]
        k = level_k[v]
        if k >= 0:
            h_start[k] = nh
            for i in range(nlive_b):
                r = live_b[i]
                if border_b[r]:
                    continue
                if nh == cap:
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
                h_root[nh] = r
                h_box[nh, 0] = x0_b[r]
                h_box[nh, 1] = y0_b[r]
                h_box[nh, 2] = x1_b[r]
                h_box[nh, 3] = y1_b[r]
                h_a2[nh] = a2_b[r]
                h_rf[nh] = rf_b[r]
                nh += 1
            h_start[k + 1] = nh

    # ---------------- pass 2: foreground (q > T), 8-connectivity, descending -------------------------------------
    lab_f = np.full(n, -1, np.int32)
    cp_f = np.empty(n, np.int32)
    sz_f = np.empty(n, np.int32)
    x0_f = np.empty(n, np.int32)
    y0_f = np.empty(n, np.int32)
    x1_f = np.empty(n, np.int32)
    y1_f = np.empty(n, np.int32)
    w2_f = np.empty(n, np.int64)
    rf_f = np.empty(n, np.int32)
    live_f = np.empty(n, np.int32)
    lpos_f = np.empty(n, np.int32)
    nlive_f = 0
    nc_f = 0
    node_of = np.full(n, -1, np.int32)          # fg component -> index in this level's node table
    hole_of = np.full(nc_b, -1, np.int32)       # bg component -> hole record index (this level only)

    v1_box = np.zeros((K, 4), np.int64)
    v1_iou = np.zeros(K, np.float64)
    all_iou = np.zeros(K, np.float64)
    all_box = np.zeros((K, 4), np.int64)

    for v in range(255, 0, -1):
        for idx in range(vstart[v], vstart[v + 1]):
            yx = order[idx]
            y = yx >> 32
            x = yx & 0xFFFFFFFF
            p = y * W + x
            m = mf[p]
            r = -1
            for t in range(n8[m]):
                rb = _find_halving(cp_f, lab_f[p + off[rep8[m, t]]])
                if r < 0:
                    r = rb
                    continue
                if rb == r:
                    continue
                ra = r
                if sz_f[ra] < sz_f[rb]:
                    ra, rb = rb, ra
                cp_f[rb] = ra
                sz_f[ra] += sz_f[rb]
                x0_f[ra] = min(x0_f[ra], x0_f[rb])
                y0_f[ra] = min(y0_f[ra], y0_f[rb])
                x1_f[ra] = max(x1_f[ra], x1_f[rb])
                y1_f[ra] = max(y1_f[ra], y1_f[rb])
                w2_f[ra] += w2_f[rb]
                rf_f[ra] = min(rf_f[ra], rf_f[rb])
                last = live_f[nlive_f - 1]
                live_f[lpos_f[rb]] = last
                lpos_f[last] = lpos_f[rb]
                nlive_f -= 1
                r = ra
            if r < 0:
                r = nc_f
                nc_f += 1
                cp_f[r] = r
                sz_f[r] = 1
                x0_f[r] = x
                x1_f[r] = x
                y0_f[r] = y
                y1_f[r] = y
                w2_f[r] = 0
                rf_f[r] = p
                live_f[nlive_f] = r
                lpos_f[r] = nlive_f
                nlive_f += 1
            else:
                sz_f[r] += 1
                if x < x0_f[r]:
                    x0_f[r] = x
                if x > x1_f[r]:
                    x1_f[r] = x
                if y < y0_f[r]:
                    y0_f[r] = y
                if y > y1_f[r]:
                    y1_f[r] = y
                if p < rf_f[r]:
                    rf_f[r] = p
            lab_f[p] = r
            # cells made to have 3 or 4 foreground corners (cells outside the image never reach 3)
            w2_f[r] += gain_fg[m]
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
            filled[i] = w2_f[r]
        if nhk > 0:
            hole_parent = np.empty(nhk, np.int64)
            for j in range(nhk):
                rec = hs + j
                hole_of[h_root[rec]] = j
                filled[nf + j] = h_a2[rec]
                # the pixel above a hole's first pixel is foreground and belongs to the enclosing component
                hole_parent[j] = node_of[_find_halving(cp_f, lab_f[h_rf[rec] - W])]
            # islands: a component whose first pixel has a hole pixel above it
            fg_parent = np.full(nf, -1, np.int64)
            n_islands = 0
            for i in range(nf):
                r = live_f[i]
                u = rf_f[r] - W
                if u < 0 or flat[u] > T:
                    continue
                # the background component holding u at level T: climb the unflattened forest while the links
                # already existed at level T
                xb = lab_b[u]
                while up_b[xb] != xb and att_b[xb] <= T:
                    xb = up_b[xb]
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
                    keys[i] = rf_f[live_f[i]]
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
            if a > best_a or (a == best_a and rf_f[r] > best_rf):
                best_a = a
                best_rf = rf_f[r]
                best_i = i
        if best_i >= 0:
            r = live_f[best_i]
            bx0 = x0_f[r]
            by0 = y0_f[r]
            bx1 = min(x1_f[r] + 1, W - 1)
            by1 = min(y1_f[r] + 1, H - 1)
            v1_box[k, 0] = bx0
            v1_box[k, 1] = by0
            v1_box[k, 2] = bx1
            v1_box[k, 3] = by1
            v1_iou[k] = _iou(bx0, by0, bx1, by1, gts)
        if want_all:
            best = -1.0
            for i in range(nf):
                r = live_f[i]
                bx0 = x0_f[r]
                by0 = y0_f[r]
                bx1 = min(x1_f[r] + 1, W - 1)
                by1 = min(y1_f[r] + 1, H - 1)
                s = _iou(bx0, by0, bx1, by1, gts)
                if s > best:
                    best = s
                    all_box[k, 0] = bx0
                    all_box[k, 1] = by0
                    all_box[k, 2] = bx1
                    all_box[k, 3] = by1
            for j in range(nhk):
                rec = hs + j
                # the hole border runs through the foreground pixels around the hole: its bbox is the hole's + 1
                bx0 = h_box[rec, 0] - 1
                by0 = h_box[rec, 1] - 1
                bx1 = min(h_box[rec, 2] + 2, W - 1)
                by1 = min(h_box[rec, 3] + 2, H - 1)
                s = _iou(bx0, by0, bx1, by1, gts)
                if s > best:
                    best = s
                    all_box[k, 0] = bx0
                    all_box[k, 1] = by0
                    all_box[k, 2] = bx1
                    all_box[k, 3] = by1
            all_iou[k] = best
        for i in range(nf):
            node_of[live_f[i]] = -1
    return v1_box, v1_iou, all_iou, all_box
