import pytest
import torch
from torch import nn

from wsol.methods import FeatureCutMix, feature_box, forward_with_feature_mix, mix_features
from wsol.methods.base import FeatureMix


class ToyModel(nn.Module):
    """Three conv stages (strides 1, 2, 2) and a GAP + linear head: 32x32 -> 32, 16, 8."""

    def __init__(self, k=5):
        super().__init__()
        torch.manual_seed(0)
        self._stages = nn.ModuleList([nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 6, 3, stride=2, padding=1),
                                      nn.Conv2d(6, 8, 3, stride=2, padding=1)])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, k))

    def stages(self):
        return list(self._stages)


@pytest.mark.parametrize("size, box, lam", [
    (16, (4, 8, 12, 16), 0.75),
    (8, (2, 4, 6, 8), 0.75),
    (32, (8, 16, 24, 32), 0.75),
    (10, (3, 1, 7, 6), 0.8),   # rel (0.3, 0.1, 0.7, 0.55): floor(r*10 + 0.5)
    (7, (2, 1, 5, 4), 1 - 9 / 49),
])
def test_feature_box_and_lambda_at_several_resolutions(size, box, lam):
    rel = torch.tensor([0.25, 0.5, 0.75, 1.0]) if size in (16, 8, 32) else torch.tensor([0.3, 0.1, 0.7, 0.55])
    assert feature_box(rel, height=size, width=size).tolist() == list(box)
    feats = torch.randn(3, 2, size, size, generator=torch.Generator().manual_seed(0))
    mixed, lam_t = mix_features(feats, rel, torch.tensor([2, 0, 1]))
    assert mixed.shape == feats.shape
    torch.testing.assert_close(lam_t, torch.full((3,), lam, dtype=torch.float32))
    changed = (mixed != feats).any(1).sum((1, 2)).double() / size ** 2
    torch.testing.assert_close(changed, 1 - lam_t.double(), atol=1e-7, rtol=0)


def test_non_square_feature_and_per_sample_boxes():
    feats = torch.randn(2, 3, 5, 11, generator=torch.Generator().manual_seed(1))
    rel = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.5, 0.2, 1.0, 1.0]])
    mixed, lam = mix_features(feats, rel, torch.tensor([1, 0]))
    # (0,0,6,3) -> 18 px; (6,1,11,5) -> 20 px, of 55
    torch.testing.assert_close(lam, torch.tensor([1 - 18 / 55, 1 - 20 / 55]))
    ref = feats.clone()
    ref[0, :, 0:3, 0:6] = feats[1, :, 0:3, 0:6]
    ref[1, :, 1:5, 6:11] = feats[0, :, 1:5, 6:11]
    assert torch.equal(mixed, ref)


@pytest.mark.parametrize("stage, res", [(0, 32), (1, 16), (2, 8)])
def test_forward_with_feature_mix_shapes_and_manual_equivalence(stage, res):
    model = ToyModel()
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    spec = FeatureMix(stage=stage, rel_box=torch.tensor([0.25, 0.25, 0.75, 0.5]), perm=torch.tensor([1, 2, 3, 0]))
    logits, lam = forward_with_feature_mix(model.stages(), model.head, images, spec)
    assert logits.shape == (4, 5) and lam.shape == (4,)
    torch.testing.assert_close(lam, torch.full((4,), 1 - (res // 2) * (res // 4) / res ** 2))
    x = images
    for k, s in enumerate(model.stages()):
        x = s(x)
        if k == stage:
            x, _ = mix_features(x, spec.rel_box, spec.perm)
    torch.testing.assert_close(logits, model.head(x))
    logits.sum().backward()  # differentiable through the mix
    assert model._stages[0].weight.grad is not None
    plain, ones = forward_with_feature_mix(model.stages(), model.head, images, None)
    assert bool((ones == 1).all()) and plain.shape == (4, 5)
    with pytest.raises(ValueError, match="stage 3 out of range"):
        forward_with_feature_mix(model.stages(), model.head, images, FeatureMix(3, spec.rel_box, spec.perm))


def test_feature_cutmix_method_leaves_images_and_draws_stages():
    images = torch.randn(4, 3, 32, 32)
    labels = torch.arange(4)
    method = FeatureCutMix(stages=(0, 1, 2))
    seen = set()
    for seed in range(30):
        batch = method(images, labels, generator=torch.Generator().manual_seed(seed))
        assert batch.images is images and batch.feature_mix is not None
        seen.add(batch.feature_mix.stage)
        assert torch.equal(batch.labels_b, labels[batch.feature_mix.perm])
        assert float(batch.feature_mix.rel_box.min()) >= 0 and float(batch.feature_mix.rel_box.max()) <= 1
    assert seen == {0, 1, 2}
    off = FeatureCutMix(prob=0.0)(images, labels, generator=torch.Generator())
    assert off.feature_mix is None and off.labels_b is None
    for bad, text in [((), r"\(\)"), ((0, 0), r"\(0, 0\)"), ((-1,), r"\(-1,\)")]:
        with pytest.raises(ValueError, match=text):
            FeatureCutMix(stages=bad)
