"""Fixtures of the robustness tests: a toy colour-square dataset and a small conv net trained on it (CPU, ~1 s)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from wsol.robustness import PixelSpaceModel

#: Colour of the square of each class (RGB in [0, 1]).
CLASS_COLOURS = ((1.0, 0.1, 0.1), (0.1, 1.0, 0.1), (0.1, 0.1, 1.0), (1.0, 1.0, 0.1))


def toy_images(n: int, *, generator: torch.Generator, side: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images ``(n, 3, side, side)`` in [0, 1]: grey noise with a 5x5 square coloured by the class."""
    labels = torch.randint(0, len(CLASS_COLOURS), (n,), generator=generator)
    images = 0.3 + 0.2 * torch.rand(n, 3, side, side, generator=generator)
    corners = torch.randint(0, side - 5, (n, 2), generator=generator)
    colours = torch.tensor(CLASS_COLOURS)
    for i in range(n):
        y, x = corners[i].tolist()
        images[i, :, y:y + 5, x:x + 5] = colours[labels[i]].view(3, 1, 1)
    return images, labels


class ToyNet(nn.Module):
    """conv-BN-ReLU, strided conv-ReLU, dropout, GAP, linear: has BatchNorm and Dropout to test mode handling."""

    def __init__(self, num_classes: int = len(CLASS_COLOURS)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv2(torch.relu(self.bn(self.conv1(x)))))
        return self.fc(self.drop(x).mean(dim=(2, 3)))


@pytest.fixture(scope="session")
def toy_data() -> tuple[torch.Tensor, torch.Tensor]:
    """128 held-out toy images and labels (do not modify)."""
    return toy_images(128, generator=torch.Generator().manual_seed(123))


@pytest.fixture(scope="session")
def trained_toy() -> PixelSpaceModel:
    """A pixel-space :class:`ToyNet` trained to ~100 % on the toy task, in eval mode (do not modify)."""
    torch.manual_seed(0)
    model = PixelSpaceModel(ToyNet())
    images, labels = toy_images(512, generator=torch.Generator().manual_seed(7))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(8)
    model.train()
    for _ in range(150):
        idx = torch.randint(0, 512, (64,), generator=gen)
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(images[idx]), labels[idx]).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model.eval()


@pytest.fixture(scope="session")
def make_toy():
    """Factory ``make_toy(seed) -> PixelSpaceModel(ToyNet())`` (untrained, eval mode, fresh each call)."""
    def make(seed: int = 0) -> PixelSpaceModel:
        torch.manual_seed(seed)
        return PixelSpaceModel(ToyNet()).eval()
    return make
