"""Compiled (numba) kernel of the fast box engine: all components and holes of a uint8 map at all levels at once.

Imported lazily by :mod:`wsol.localization.threshold`; when numba is missing the engine falls back to an exact
OpenCV path. The mathematics (why the areas are exactly ``cv2.contourArea``) is explained in
:mod:`wsol.localization.threshold`; this file only implements it.

Pixel ``p = y * W + x``. "Cells" are the (H-1) x (W-1) squares between four neighbouring pixel centres; cell
``c = cy * (W-1) + cx`` has corners (cx, cy), (cx+1, cy), (cx, cy+1), (cx+1, cy+1).
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


@njit(cache=True, nogil=True)
def scan_levels(q, levels, gts, want_all):
    """Boxes of every 8-connected component and every hole of ``q > T`` for each ``T`` in ``levels``.

    Args:
        q: (H, W) uint8 quantised map, C-contiguous.
        levels: (K,) int64 distinct levels, ascending, each in 0..254.
        gts: (G, 4) int64 GT boxes in map pixels (G >= 1).
        want_all: also score all candidates (components and holes) for the all-contour curves.

    Returns:
        ``(v1_box (K, 4) int64, v1_iou (K,) float64, all_iou (K,) float64, all_box (K, 4) int64)``; a level
        without foreground keeps the box (0, 0, 0, 0) and IoU 0 (callers handle the empty map themselves).
    """
    H, W = q.shape
    n = H * W
    K = levels.shape[0]
    flat = q.ravel()
    CW = W - 1
    ncell = (H - 1) * (W - 1) if H > 1 and W > 1 else 0

    level_k = np.full(256, -1, np.int64)
    for k in range(K):
        level_k[levels[k]] = k

    # counting sort, ascending values
    cnt = np.zeros(257, np.int64)
    for p in range(n):
        cnt[flat[p] + 1] += 1
    for v in range(256):
        cnt[v + 1] += cnt[v]
    vstart = cnt.copy()
    order = np.empty(n, np.int32)
    pos = cnt[:256].copy()
    for p in range(n):
        v = flat[p]
        order[pos[v]] = p
        pos[v] += 1

    # ---------------- pass 1: background (q <= T), 4-connectivity, ascending; holes per level -------------------
    par_b = np.arange(n).astype(np.int32)
    pc_b = np.arange(n).astype(np.int32)        # same forest with path halving, for fast finds during the pass
    att_b = np.full(n, 1000, np.int32)          # level at which a node got a parent (no path compression)
    sz_b = np.ones(n, np.int32)
    x0_b = np.empty(n, np.int32)
    y0_b = np.empty(n, np.int32)
    x1_b = np.empty(n, np.int32)
    y1_b = np.empty(n, np.int32)
    a2_b = np.zeros(n, np.int64)                # twice the area of the background region pieces
    rf_b = np.empty(n, np.int32)                # raster-first pixel (smallest index) of the component
    border_b = np.zeros(n, np.bool_)
    present = np.zeros(n, np.bool_)
    live_b = np.empty(n, np.int32)
    lpos_b = np.empty(n, np.int32)
    nlive_b = 0
    ccount = np.zeros(max(ncell, 1), np.int8)

    cap = 64
    h_root = np.empty(cap, np.int32)
    h_box = np.empty((cap, 4), np.int32)
    h_a2 = np.empty(cap, np.int64)
    h_rf = np.empty(cap, np.int32)
    nh = 0
    h_start = np.zeros(K + 1, np.int64)

    for v in range(256):
        for idx in range(vstart[v], vstart[v + 1]):
            p = order[idx]
            y = p // W
            x = p - y * W
            present[p] = True
            x0_b[p] = x
            x1_b[p] = x
            y0_b[p] = y
            y1_b[p] = y
            border_b[p] = x == 0 or y == 0 or x == W - 1 or y == H - 1
            rf_b[p] = p
            live_b[nlive_b] = p
            lpos_b[p] = nlive_b
            nlive_b += 1
            ra = p
            for d in range(4):
                if d == 0:
                    if x == 0:
                        continue
                    nb = p - 1
                elif d == 1:
                    if x == W - 1:
                        continue
                    nb = p + 1
                elif d == 2:
                    if y == 0:
                        continue
                    nb = p - W
                else:
                    if y == H - 1:
                        continue
                    nb = p + W
                if not present[nb]:
                    continue
                rb = _find_halving(pc_b, nb)
                if ra == rb:
                    continue
                if sz_b[ra] < sz_b[rb]:
                    ra, rb = rb, ra
                # attach rb under ra
                par_b[rb] = ra
                pc_b[rb] = ra
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
            if ncell > 0:
                r = ra
                for dy in range(-1, 1):
                    cy = y + dy
                    if cy < 0 or cy >= H - 1:
                        continue
                    for dx in range(-1, 1):
                        cx = x + dx
                        if cx < 0 or cx >= W - 1:
                            continue
                        c = cy * CW + cx
                        if ccount[c] < 2:
                            a2_b[r] += 1
                        ccount[c] += 1
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
    par_f = np.arange(n).astype(np.int32)
    sz_f = np.ones(n, np.int32)
    x0_f = np.empty(n, np.int32)
    y0_f = np.empty(n, np.int32)
    x1_f = np.empty(n, np.int32)
    y1_f = np.empty(n, np.int32)
    w2_f = np.zeros(n, np.int64)
    rf_f = np.empty(n, np.int32)
    live_f = np.empty(n, np.int32)
    lpos_f = np.empty(n, np.int32)
    nlive_f = 0
    present[:] = False
    ccount[:] = 0
    node_of = np.full(n, -1, np.int32)          # fg root -> index in this level's node table
    hole_of = np.full(n, -1, np.int32)          # bg root -> hole record index (this level only)

    v1_box = np.zeros((K, 4), np.int64)
    v1_iou = np.zeros(K, np.float64)
    all_iou = np.zeros(K, np.float64)
    all_box = np.zeros((K, 4), np.int64)

    for v in range(255, 0, -1):
        for idx in range(vstart[v], vstart[v + 1]):
            p = order[idx]
            y = p // W
            x = p - y * W
            present[p] = True
            x0_f[p] = x
            x1_f[p] = x
            y0_f[p] = y
            y1_f[p] = y
            rf_f[p] = p
            live_f[nlive_f] = p
            lpos_f[p] = nlive_f
            nlive_f += 1
            ra0 = p
            for dy in range(-1, 2):
                ny = y + dy
                if ny < 0 or ny >= H:
                    continue
                for dx in range(-1, 2):
                    nx = x + dx
                    if nx < 0 or nx >= W or (dx == 0 and dy == 0):
                        continue
                    nb = ny * W + nx
                    if not present[nb]:
                        continue
                    ra = ra0
                    rb = _find_halving(par_f, nb)
                    if ra == rb:
                        continue
                    if sz_f[ra] < sz_f[rb]:
                        ra, rb = rb, ra
                    par_f[rb] = ra
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
                    ra0 = ra
            if ncell > 0:
                r = ra0
                for dy in range(-1, 1):
                    cy = y + dy
                    if cy < 0 or cy >= H - 1:
                        continue
                    for dx in range(-1, 1):
                        cx = x + dx
                        if cx < 0 or cx >= W - 1:
                            continue
                        c = cy * CW + cx
                        if ccount[c] >= 2:
                            w2_f[r] += 1
                        ccount[c] += 1
        k = level_k[v - 1]
        if k < 0:
            continue
        T = v - 1
        nf = nlive_f
        # node table: fg roots 0..nf-1, holes nf..nf+nhk-1
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
                hole_parent[j] = node_of[_find_halving(par_f, h_rf[rec] - W)]
            # islands: a component whose first pixel has a hole pixel above it
            fg_parent = np.full(nf, -1, np.int64)
            n_islands = 0
            for i in range(nf):
                r = live_f[i]
                u = rf_f[r] - W
                if u < 0:
                    continue
                xb = u
                while par_b[xb] != xb and att_b[xb] <= T:
                    xb = par_b[xb]
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
