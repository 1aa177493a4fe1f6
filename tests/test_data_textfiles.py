"""The one text-line reader and JSON reader of the data layer, and the shared converter helpers."""
from __future__ import annotations

import pytest

from wsol.data.metadata import box_problem, require_image_id
from wsol.data.prepare import probe_split, read_class_names, select_per_class
from wsol.data.textfiles import read_json, text_lines
from wsol.errors import InputError


def test_text_lines_endings_blanks_and_strip(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"one \r\n\n  \r\ntwo\rthree\n\tfour\t")
    assert list(text_lines(path)) == [(1, "one "), (4, "two"), (5, "three"), (6, "\tfour\t")]
    assert list(text_lines(path, strip=True)) == [(1, "one"), (4, "two"), (5, "three"), (6, "four")]


def test_text_lines_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfImageId,PredictionString\n")
    assert list(text_lines(path, encoding="utf-8-sig")) == [(1, "ImageId,PredictionString")]
    assert list(text_lines(path))[0][1].startswith("\ufeff")


@pytest.mark.parametrize("data,line,column", [
    (b"a\nb\n\xffc\n", 3, 1),
    (b"ok\n" * 5000 + b"x\xc3(\n", 5001, 2),  # far beyond the first read buffer
    (b"a\nb\xe2\x82", 2, 2),  # truncated sequence at the end of the file
])
def test_text_lines_undecodable_names_file_and_line(tmp_path, data, line, column):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(InputError) as info:
        list(text_lines(path))
    assert info.value.path == str(path) and info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: file is not UTF-8 text: ")
    assert f"at byte {column} of the line" in str(info.value) and len(str(info.value).splitlines()) == 1


def test_text_lines_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nope.txt: file not found"):
        list(text_lines(tmp_path / "nope.txt"))


def test_read_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"a": [1, 2]}')
    assert read_json(path) == {"a": [1, 2]}
    path.write_text('{"a":\n oops}')
    with pytest.raises(InputError, match=r"x.json:2: invalid JSON"):
        read_json(path)
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(InputError, match=r"x.json:1: file is not UTF-8 text"):
        read_json(path)


def test_read_class_names_goes_through_the_line_reader(tmp_path):
    (tmp_path / "class_names.txt").write_bytes(b"0,cat\r\n\n1,dog\n")
    assert read_class_names(tmp_path) == ["cat", "dog"]
    (tmp_path / "class_names.txt").write_bytes(b"0,cat\n1,d\xffg\n")
    with pytest.raises(InputError, match=r"class_names.txt:2: file is not UTF-8"):
        read_class_names(tmp_path)


def _reference_carve(ids, labels, per_class, seed):
    """The CUB carving as written before the selectors were merged (the reference for the RNG draws)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    by_class = {}
    for i in ids:
        by_class.setdefault(labels[i], []).append(i)
    carved = set()
    for label in sorted(by_class):
        members = by_class[label]
        k = min(per_class, max(len(members) - 1, 0))
        chosen = rng.choice(len(members), size=k, replace=False) if k else []
        carved.update(members[j] for j in chosen)
    return [i for i in ids if i in carved]


def _reference_proxy(ids, labels, per_class, seed):
    """The ImageNet train proxy as written before the selectors were merged."""
    import numpy as np

    rng = np.random.default_rng(seed)
    by_class = {}
    for i in ids:
        by_class.setdefault(labels[i], []).append(i)
    chosen = set()
    for label in sorted(by_class):
        members = by_class[label]
        if len(members) <= per_class:
            chosen.update(members)
        else:
            chosen.update(members[j] for j in rng.choice(len(members), size=per_class, replace=False))
    return [i for i in ids if i in chosen]


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("per_class", [1, 2, 3, 5])
def test_select_per_class_matches_both_former_selectors(seed, per_class):
    sizes = {0: 1, 1: 2, 2: 3, 3: 7, 4: 4}  # classes smaller than, equal to and larger than per_class
    ids = [f"c{c}/{k}" for c, n in sizes.items() for k in range(n)]
    ids = ids[::2] + ids[1::2]  # classes interleaved; output keeps this order
    labels = {i: int(i[1]) for i in ids}
    carved = select_per_class(ids, labels, per_class, seed=seed, keep_one=True)
    assert carved == _reference_carve(ids, labels, per_class, seed)
    assert all(sum(labels[i] == c for i in carved) == min(per_class, n - 1) for c, n in sizes.items())
    proxy = select_per_class(ids, labels, per_class, seed=seed)
    assert proxy == _reference_proxy(ids, labels, per_class, seed)
    assert all(sum(labels[i] == c for i in proxy) == min(per_class, n) for c, n in sizes.items())


def test_probe_split_keys_and_skips(tmp_path):
    from fixtures_data import write_image

    good = write_image(tmp_path / "a.png", 7, 5)
    bad = tmp_path / "b.png"
    bad.write_bytes(b"")
    skipped = []
    kept, sizes = probe_split([(1, good), (2, bad)], split="train", skip_bad=True, progress=False, skipped=skipped,
                              image_id=lambda k: f"id{k}")
    assert kept == [1] and sizes == {1: (7, 5)}
    assert [(s.split, s.image_id) for s in skipped] == [("train", "id2")] and "empty" in skipped[0].reason
    with pytest.raises(InputError, match="b.png: image file is empty"):
        probe_split([(1, good), (2, bad)], split="train", skip_bad=False, progress=False, skipped=[])


def test_box_rule_and_image_id():
    assert box_problem((0, 0, 10, 5), (10, 5)) is None
    assert box_problem((0, 0, 11, 5), (10, 5)) == "box outside the 10x5 image"
    assert box_problem((3, 0, 2, 5), (10, 5), image_id="a.jpg") == "box of a.jpg is inverted (needs x0<=x1, y0<=y1)"
    assert box_problem((-1, 0, 2, 5), (10, 5), image_id="a.jpg") == "box outside the 10x5 image a.jpg"
    assert require_image_id("a/b.jpg") == "a/b.jpg"
    with pytest.raises(InputError, match=r"f.txt:4: image id climbs out of the root with \.\. \('\.\./x'\)"):
        require_image_id("../x", path="f.txt", line=4)
