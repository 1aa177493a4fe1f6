"""Feature-map sizes, forward == classify(forward_features), stages composition, interface attributes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from wsol.models import MODELS, WSOLModel

NUM_CLASSES = 7  # as in conftest.built_models

# (fixture key, input (H, W), expected feature map (h, w), feature_dim); one forward_features pass each
SIZES = [
    ("resnet50", (224, 224), (14, 14), 2048),
    ("resnet50_large", (224, 224), (28, 28), 2048),
    ("resnet50", (96, 128), (6, 8), 2048),
    ("resnet18", (160, 224), (10, 14), 512),
    ("resnet18", (96, 64), (6, 4), 512),
    ("vgg16", (224, 224), (14, 14), 1024),
    ("vgg16_large", (224, 224), (28, 28), 1024),
    ("vgg16", (96, 128), (6, 8), 1024),
    ("inception_v3", (224, 224), (14, 14), 1024),
    ("inception_v3_large", (224, 224), (28, 28), 1024),
    ("inception_v3", (96, 128), (6, 8), 1024),
    ("digits_cnn", (64, 64), (16, 16), 128),
    ("digits_cnn", (48, 64), (12, 16), 128),
    ("digits_locnet", (64, 64), (16, 16), 64),
    ("digits_locnet", (48, 64), (12, 16), 64),
]


@pytest.mark.parametrize("key,size,expected,channels", SIZES)
@torch.no_grad()
def test_feature_map_size(built_models, key, size, expected, channels):
    model = built_models[key]
    features = model.forward_features(torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(1)))
    assert features.shape == (1, channels, *expected)
    assert model.feature_dim == channels and model.num_classes == NUM_CLASSES


# small inputs: the equalities do not depend on the size
@pytest.mark.parametrize("key,size", [("resnet50", (64, 96)), ("resnet50_large", (64, 64)), ("resnet18", (64, 64)),
                                      ("vgg16", (64, 96)), ("vgg16_large", (64, 64)), ("inception_v3", (64, 96)),
                                      ("inception_v3_large", (64, 64)), ("digits_cnn", (64, 64)),
                                      ("digits_locnet", (64, 48))])
@torch.no_grad()
def test_forward_equals_classify_features_and_stages_compose(built_models, key, size):
    model = built_models[key]
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(2))
    features = model.forward_features(x)
    logits = model(x)
    assert logits.shape == (2, NUM_CLASSES)
    torch.testing.assert_close(logits, model.classify(features), rtol=0, atol=1e-6)
    staged = x
    for stage in model.stages():
        staged = stage(staged)
    torch.testing.assert_close(staged, features, rtol=0, atol=1e-6)


@pytest.mark.parametrize("key", ["resnet50", "resnet18", "vgg16", "inception_v3", "digits_cnn", "digits_locnet"])
def test_interface_attributes(built_models, key):
    model = built_models[key]
    assert isinstance(model, WSOLModel)
    assert isinstance(model.classifier, nn.Linear) and model.classifier is model.fc
    assert model.classifier.in_features == model.feature_dim and model.classifier.out_features == NUM_CLASSES
    modules = dict(model.named_modules())
    assert model.cam_layer_name in modules
    # stages share the model's parameters (nothing copied) and cover every feature parameter
    model_params = {id(p) for p in model.parameters()}
    stage_params = {id(p) for stage in model.stages() for p in stage.parameters()}
    assert stage_params <= model_params
    assert model_params - stage_params == {id(p) for p in model.fc.parameters()}


@torch.no_grad()
def test_cam_layer_output_is_the_feature_map(built_models):
    model = built_models["resnet18"]
    seen = []
    handle = dict(model.named_modules())[model.cam_layer_name].register_forward_hook(lambda m, i, o: seen.append(o))
    try:
        x = torch.randn(1, 3, 64, 64)
        features = model.forward_features(x)
    finally:
        handle.remove()
    torch.testing.assert_close(seen[-1], features, rtol=0, atol=0)


def test_cam_from_features_and_classifier_matches_logits(built_models):
    """GAP commutes with the linear map: mean over (h, w) of the CAM + bias equals the logits."""
    model = built_models["digits_cnn"]
    with torch.no_grad():
        x = torch.randn(2, 3, 64, 64)
        features = model.forward_features(x)
        cams = torch.einsum("kc,nchw->nkhw", model.classifier.weight, features)
        torch.testing.assert_close(cams.mean(dim=(2, 3)) + model.classifier.bias, model(x), rtol=1e-5, atol=1e-5)


def test_stride_one_stages_follow_wsolevaluation(built_models):
    """layer4 (and layer3 with large_feature_map) stride 1 on the 3x3 conv and on the 1x1 shortcut."""
    normal, large, r18 = built_models["resnet50"], built_models["resnet50_large"], built_models["resnet18"]
    assert normal.layer4[0].conv2.stride == (1, 1) and normal.layer4[0].downsample[0].stride == (1, 1)
    assert normal.layer3[0].conv2.stride == (2, 2) and normal.layer3[0].downsample[0].stride == (2, 2)
    assert large.layer3[0].conv2.stride == (1, 1) and large.layer3[0].downsample[0].stride == (1, 1)
    assert r18.layer4[0].conv1.stride == (1, 1) and r18.layer4[0].downsample[0].stride == (1, 1)


def test_vgg_layer_list(built_models):
    vgg, large = built_models["vgg16"], built_models["vgg16_large"]
    assert vgg.conv_indices() == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert len(vgg.features) == 30 and sum(isinstance(m, nn.MaxPool2d) for m in vgg.features) == 4
    assert large.conv_indices()[-3:] == [23, 25, 27] and sum(isinstance(m, nn.MaxPool2d) for m in large.features) == 3
    assert vgg.conv6.kernel_size == (3, 3) and vgg.conv6.padding == (1, 1) and vgg.conv6.out_channels == 1024


def test_inception_dropout_option():
    model = MODELS.get("inception_v3")(num_classes=3, dropout=0.5)
    assert model.head_dropout.p == 0.5 and model.dropout1.p == 0.5
    with pytest.raises(ValueError, match="dropout"):
        MODELS.get("inception_v3")(num_classes=3, dropout=1.5)


def test_digits_cnn_trains_one_step():
    model = MODELS.get("digits_cnn")(num_classes=10)
    opt = torch.optim.SGD(model.parameter_groups(lr=0.1, classifier_lr_mult=1.0), momentum=0.9)
    x, y = torch.randn(8, 3, 64, 64), torch.arange(8)
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters())


@torch.no_grad()
def test_digits_cnn_plain_variant_and_receptive_field():
    plain = MODELS.get("digits_cnn")(num_classes=10, dilated=False).eval()
    assert plain.forward_features(torch.zeros(1, 3, 64, 64)).shape == (1, 128, 16, 16)
    dilated = MODELS.get("digits_cnn")(num_classes=10).eval()
    assert dilated.block3[0].dilation == (2, 2) and dilated.block4[0].dilation == (4, 4)
    # receptive field: perturb one pixel, count the centre cells that change
    for model, expected_rf in ((plain, 26), (dilated, 58)):
        x = torch.zeros(1, 3, 64, 64)
        base = model.forward_features(x)
        x[0, :, 32, 32] = 10.0
        changed = (model.forward_features(x) - base).abs().sum(dim=1)[0] > 0
        cols = changed.any(dim=0).nonzero().flatten()
        span_cells = int(cols.max() - cols.min() + 1)
        assert span_cells * 4 <= expected_rf + 4 and span_cells * 4 >= expected_rf // 2
