import pytest
import torch
import torch.nn.functional as F

from wsol.methods import MixedBatch, mixed_cross_entropy, soft_cross_entropy, soft_targets
from wsol.methods.base import unmixed


def _batch(n=16, k=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels_a = torch.randint(0, k, (n,), generator=g)
    labels_b = torch.randint(0, k, (n,), generator=g)
    lam = torch.rand(n, generator=g).to(torch.float32)
    logits = torch.randn(n, k, generator=g, dtype=torch.float64) * 3
    return MixedBatch(images=torch.zeros(n, 1, 1, 1), labels_a=labels_a, labels_b=labels_b, lam=lam), logits


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_target_equals_soft_target(seed):
    batch, logits = _batch(seed=seed)
    two = mixed_cross_entropy(logits, batch)
    soft = soft_cross_entropy(logits, soft_targets(batch, 7))
    assert abs(float(two) - float(soft)) < 1e-6
    # and equals the definition written out
    ref = sum(float(batch.lam[i]) * float(F.cross_entropy(logits[i:i + 1], batch.labels_a[i:i + 1]))
              + (1 - float(batch.lam[i])) * float(F.cross_entropy(logits[i:i + 1], batch.labels_b[i:i + 1]))
              for i in range(16)) / 16
    assert abs(float(two) - ref) < 1e-9


def test_soft_targets_rows_and_unmixed():
    batch, logits = _batch()
    t = soft_targets(batch, 7)
    assert t.shape == (16, 7) and t.dtype == torch.float32
    torch.testing.assert_close(t.sum(1), torch.ones(16))
    plain = unmixed(batch.images, batch.labels_a)
    assert float(mixed_cross_entropy(logits, plain)) == pytest.approx(float(F.cross_entropy(logits, batch.labels_a)))
    assert float(soft_cross_entropy(logits, soft_targets(plain, 7))) == pytest.approx(
        float(F.cross_entropy(logits, batch.labels_a)))


def test_same_label_mix_is_plain_ce():
    batch, logits = _batch()
    same = batch.replace(labels_b=batch.labels_a)
    assert float(mixed_cross_entropy(logits, same)) == pytest.approx(float(F.cross_entropy(logits, batch.labels_a)))


def test_loss_errors():
    batch, logits = _batch()
    with pytest.raises(ValueError, match="num_classes"):
        soft_targets(batch, 0)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        soft_targets(batch, 3)
    with pytest.raises(ValueError, match="logits"):
        mixed_cross_entropy(logits[:3], batch)
    with pytest.raises(ValueError, match="targets shape"):
        soft_cross_entropy(logits, torch.zeros(16, 3))
