import pytest
import torch
from torch import nn

from wsol.methods import KeepAugment, region_scores, saliency_map, select_regions
from wsol.methods.regions import box_area, intersection_area, union_masks

H = W = 32
QUADRANT = torch.tensor([0, 0, 16, 16])  # top-left, xyxy half-open


class QuadrantModel(nn.Module):
    """BatchNorm (identity with fresh running stats in eval mode) then a linear layer that only reads the top-left
    quadrant: the logit gradient w.r.t. the input is non-zero exactly there (in eval mode)."""

    def __init__(self, k=3):
        super().__init__()
        self.bn = nn.BatchNorm2d(3)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(3 * H * W, k)
        with torch.no_grad():
            g = torch.Generator().manual_seed(0)
            weight = torch.randn(k, 3, H, W, generator=g) + 2.0
            weight[:, :, 16:, :] = 0
            weight[:, :, :, 16:] = 0
            self.fc.weight.copy_(weight.flatten(1))

    def forward(self, x):
        if x.shape[-1] != W:  # low-resolution pass
            x = nn.functional.interpolate(x, size=(H, W), mode="nearest")
        return self.fc(self.drop(self.bn(x)).flatten(1))


def _batch(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, H, W, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_saliency_is_in_the_quadrant():
    images, labels = _batch()
    sal = saliency_map(QuadrantModel(), images, labels)
    assert sal.shape == (24, H, W) and sal.dtype == torch.float32
    assert bool((sal[:, :16, :16] > 0).all())
    assert float(sal[:, 16:].max()) == 0 and float(sal[:, :, 16:].max()) == 0


@pytest.mark.parametrize("low_res_factor", [1, 2])
def test_selective_cut_avoids_salient_quadrant(low_res_factor):
    images, labels = _batch()
    before = images.clone()
    method = KeepAugment(mode="cut", size=8, tau=0.5, low_res_factor=low_res_factor)
    batch = method(images, labels, generator=torch.Generator().manual_seed(0), model=QuadrantModel())
    assert torch.equal(images, before)
    boxes = batch.boxes[:, 0]
    assert int(intersection_area(boxes, QUADRANT).max()) == 0
    assert bool((box_area(boxes) > 0).all())
    mask = union_masks(batch.boxes, height=H, width=W)[:, None].expand_as(images)
    assert bool((batch.images[mask] == 0).all()) and torch.equal(batch.images[~mask], images[~mask])
    assert batch.labels_b is None


def test_plain_cutout_would_hit_the_quadrant_often():
    # contrast for the test above: tau = 1 accepts every region, i.e. plain random Cutout
    images, labels = _batch(n=200)
    batch = KeepAugment(mode="cut", size=8, tau=1.0)(images, labels, generator=torch.Generator().manual_seed(0),
                                                     model=QuadrantModel())
    hits = (intersection_area(batch.boxes[:, 0], QUADRANT) > 0).double().mean()
    assert 0.25 < float(hits) < 0.55  # 400 / 1024 of the centres touch the quadrant


@pytest.mark.parametrize("other", ["cutmix", "mixup"])
def test_selective_paste_keeps_salient_region_and_recomputes_lambda(other):
    images, labels = _batch()
    method = KeepAugment(mode="paste", size=8, other=other, tau=0.5)
    batch = method(images, labels, generator=torch.Generator().manual_seed(1), model=QuadrantModel())
    paste = batch.boxes[:, 1]
    assert bool((intersection_area(paste, QUADRANT) > 0).all())
    mask = union_masks(batch.boxes[:, 1:], height=H, width=W)[:, None].expand_as(images)
    assert torch.equal(batch.images[mask], images[mask])
    # λ from the definition: per-pixel weight of the original image, averaged
    ref_lam = []
    for i in range(images.shape[0]):
        if other == "cutmix":
            weight = torch.ones(H, W)
            x0, y0, x1, y1 = batch.boxes[i, 0].tolist()
            weight[y0:y1, x0:x1] = 0
        else:
            lam0 = method.other(images, labels, generator=torch.Generator().manual_seed(1)).lam[i]
            weight = torch.full((H, W), float(lam0))
        x0, y0, x1, y1 = paste[i].tolist()
        weight[y0:y1, x0:x1] = 1
        ref_lam.append(float(weight.mean()))
    torch.testing.assert_close(batch.lam, torch.tensor(ref_lam), atol=1e-6, rtol=0)


def test_model_state_is_restored():
    model = QuadrantModel()
    model.train()
    model.drop.eval()  # mixed flags must come back exactly
    model.bn.weight.requires_grad_(False)
    model.fc.bias.grad = torch.full_like(model.fc.bias, 7.0)
    stats = (model.bn.running_mean.clone(), model.bn.running_var.clone(), int(model.bn.num_batches_tracked))
    images, labels = _batch()
    KeepAugment(mode="cut", size=8)(images, labels, generator=torch.Generator().manual_seed(0), model=model)
    assert model.training and model.bn.training and model.fc.training and not model.drop.training
    assert not model.bn.weight.requires_grad and model.bn.bias.requires_grad and model.fc.weight.requires_grad
    assert model.bn.weight.grad is None and model.fc.weight.grad is None
    assert torch.equal(model.fc.bias.grad, torch.full_like(model.fc.bias, 7.0))
    assert torch.equal(model.bn.running_mean, stats[0]) and torch.equal(model.bn.running_var, stats[1])
    assert int(model.bn.num_batches_tracked) == stats[2]


def test_model_state_is_restored_on_exception():
    class Broken(QuadrantModel):
        def forward(self, x):
            raise RuntimeError("boom")

    model = Broken().train()
    images, labels = _batch(n=2)
    with pytest.raises(RuntimeError, match="boom"):
        saliency_map(model, images, labels)
    assert all(m.training for m in model.modules())


def test_region_scores_match_brute_force_with_clipping():
    sal = torch.rand(2, 7, 9, generator=torch.Generator().manual_seed(0))
    scores = region_scores(sal, box_h=4, box_w=3)
    for n in range(2):
        for cy in range(7):
            for cx in range(9):
                y0, x0 = max(cy - 2, 0), max(cx - 1, 0)
                ref = sal[n, y0:max(cy + 2, 0), x0:max(cx + 2, 0)].double().sum()
                assert float(scores[n, cy, cx]) == pytest.approx(float(ref), abs=1e-12)


def test_select_regions_threshold_ties_and_fallback():
    scores = torch.tensor([[[0.0, 0.0], [1.0, 2.0]]], dtype=torch.float64)  # positions 0..3 -> 0, 0, 1, 2
    cy, cx = torch.tensor([[1, 1, 0]]), torch.tensor([[1, 0, 1]])  # candidates scored 2, 1, 0
    # lower median of (0, 0, 1, 2) = 0; nothing is < 0, so the test becomes <= 0: the third candidate
    idx, ok = select_regions(scores, cy, cx, tau=0.5, keep="low")
    assert idx.tolist() == [2] and ok.tolist() == [True]
    # higher median = 1; strictly greater exists (2): the first candidate (score 2) passes, score 1 would not
    idx, ok = select_regions(scores, cy, cx, tau=0.5, keep="high")
    assert idx.tolist() == [0] and ok.tolist() == [True]
    idx, ok = select_regions(scores, cy[:, 1:], cx[:, 1:], tau=0.5, keep="high")  # scores 1, 0: none passes
    assert idx.tolist() == [0] and ok.tolist() == [False]
    # tau = 1 for paste: threshold = max = 2, nothing is > 2, so >= 2 is used
    idx, ok = select_regions(scores, cy, cx, tau=1.0, keep="high")
    assert idx.tolist() == [0] and ok.tolist() == [True]
    idx, ok = select_regions(scores, cy[:, :2], cx[:, :2], tau=0.0, keep="low")  # only score 0 passes: fallback
    assert idx.tolist() == [0] and ok.tolist() == [False]


def test_keepaugment_options_and_model_required():
    images, labels = _batch(n=2)
    with pytest.raises(ValueError, match="needs the model"):
        KeepAugment()(images, labels, generator=torch.Generator())
    for kwargs, text in [({"tau": 1.5}, "1.5"), ({"mode": "swap"}, "'swap'"), ({"other": "cutout"}, "'cutout'"),
                         ({"num_candidates": 0}, "num_candidates"), ({"low_res_factor": 0}, "low_res_factor"),
                         ({"other_options": {"in_place": True}}, "in_place=True")]:
        with pytest.raises(ValueError, match=text):
            KeepAugment(**kwargs)
    with pytest.raises(ValueError, match="too large"):
        saliency_map(QuadrantModel(), images[:, :, :4, :4], labels, low_res_factor=8)
    assert KeepAugment.needs_model
