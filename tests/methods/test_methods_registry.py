import pytest
import torch
from torch import nn

from wsol.methods import METHODS, Method, MixedBatch, mixed_cross_entropy

ALL = ["cutmix", "cutout", "feature_cutmix", "keepaugment", "mixup", "random_erasing", "vanilla"]

#: options that make every method do something on tiny images
VARIANTS = {
    "vanilla": [{}],
    "cutmix": [{}, {"mode": "sample", "prob": 0.5}, {"in_place": True}, {"beta": 0.5, "prob": 0.5}],
    "feature_cutmix": [{}, {"stages": (0, 1)}],
    "mixup": [{}, {"alpha": 0.2}],
    "cutout": [{"size": 4}, {"size": 0.5, "num_holes": 2}],
    "random_erasing": [{"prob": 1.0}, {"prob": 1.0, "fill": "mean"}, {"fill": 0.5}],
    "keepaugment": [{"size": 4}, {"size": 0.5, "low_res_factor": 2}, {"mode": "paste", "size": 4},
                    {"mode": "paste", "other": "mixup", "size": 0.25}],
}


def _model(k=4):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, k))


def test_registry_lists_all_methods():
    assert METHODS.names() == ALL and set(VARIANTS) == set(ALL)
    with pytest.raises(ValueError, match="unknown method 'cutmixx'"):
        METHODS.get("cutmixx")
    assert [n for n in ALL if METHODS.get(n).needs_model] == ["keepaugment"]


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (3, 3, 17, 23)])
@pytest.mark.parametrize("name", ALL)
def test_every_method_runs_and_is_deterministic(name, shape):
    n = shape[0]
    model = _model()
    for options in VARIANTS[name]:
        method = METHODS.get(name)(**options)
        assert isinstance(method, Method)
        images = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
        labels = torch.arange(n) % 4
        results = []
        for _ in range(2):
            x = images.clone()
            batch = method(x, labels, generator=torch.Generator().manual_seed(7), model=model)
            if not options.get("in_place"):
                assert torch.equal(x, images), (name, options)
            results.append(batch)
        a, b = results
        assert isinstance(a, MixedBatch)
        assert a.images.shape == shape and a.images.dtype == images.dtype
        assert torch.equal(a.images, b.images) and torch.equal(a.lam, b.lam)
        assert a.lam.shape == (n,) and a.lam.dtype == torch.float32
        assert float(a.lam.min()) >= 0 and float(a.lam.max()) <= 1
        assert torch.equal(a.labels_a, labels)
        if a.labels_b is not None:
            assert torch.equal(a.labels_b, b.labels_b) and a.labels_b.shape == (n,)
        if a.boxes is not None:
            assert a.boxes.dim() == 3 and a.boxes.shape[0] == n and a.boxes.shape[2] == 4
        loss = mixed_cross_entropy(torch.randn(n, 4), a)
        assert torch.isfinite(loss)
        # another seed gives another draw (vanilla aside)
        other = method(images.clone(), labels, generator=torch.Generator().manual_seed(8), model=model)
        if name != "vanilla" and not (name == "feature_cutmix"):
            assert not torch.equal(other.images, a.images) or not torch.equal(other.lam, a.lam), (name, options)


@pytest.mark.parametrize("name, options, text", [
    ("cutmix", {"beta": -1.0}, "-1.0"), ("cutmix", {"prob": 2}, "2"), ("cutmix", {"mode": "x"}, "'x'"),
    ("mixup", {"alpha": 0}, "0"), ("cutout", {"size": 0}, "0"), ("cutout", {"num_holes": 2.5}, "2.5"),
    ("random_erasing", {"fill": "blue"}, "'blue'"), ("random_erasing", {"prob": "0.5"}, "'0.5'"),
    ("feature_cutmix", {"stages": [1, 1]}, r"\(1, 1\)"), ("keepaugment", {"tau": -0.2}, "-0.2"),
    ("keepaugment", {"size": 2.0}, "2.0"),
])
def test_invalid_options_raise_value_error_naming_the_value(name, options, text):
    with pytest.raises(ValueError, match=text):
        METHODS.get(name)(**options)


def test_options_are_keyword_only():
    with pytest.raises(TypeError):
        METHODS.get("cutmix")(1.0)


@pytest.mark.parametrize("images, labels, text", [
    (torch.zeros(2, 8, 8), torch.zeros(2, dtype=torch.long), "images must be"),
    (torch.zeros(2, 3, 8, 8, dtype=torch.long), torch.zeros(2, dtype=torch.long), "images must be"),
    (torch.zeros(2, 3, 8, 8), torch.zeros(2, dtype=torch.int32), "labels must be"),
    (torch.zeros(2, 3, 8, 8), torch.zeros(3, dtype=torch.long), "3 entries for 2 images"),
])
def test_bad_batches(images, labels, text):
    for name in ALL:
        with pytest.raises(ValueError, match=text):
            METHODS.get(name)()(images, labels, generator=torch.Generator(), model=_model())


def test_generator_is_required():
    with pytest.raises(ValueError, match="generator must be a torch.Generator, got 0"):
        METHODS.get("mixup")()(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long), generator=0)
