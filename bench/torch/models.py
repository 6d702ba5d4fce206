"""The three benchmark architectures, mirroring what slim builds in tfjs.

Keras/tfjs semantics are copied where they change the maths:
- BatchNormalization defaults: epsilon 1e-3, momentum 0.99 (torch momentum = 1 - 0.99).
- 'same' padding with stride 2 pads only bottom/right (TF rule), done with ZeroPad2d.
- MaxPooling2D(2) has stride 2 and 'valid' padding.
Layout is NCHW here and NHWC in tfjs; the arithmetic is the same.
"""
import torch
from torch import nn

# ---- Architecture configs: slim's bench side mirrors these literally. ----
# quickstart: input 28x28x1. Number = Conv3x3 'same' (no bias) -> BN -> ReLU; 'M' = MaxPool 2x2.
QUICKSTART_CFG = [32, 'M', 64, 'M', 128]
# vgg-small: input 32x32x3, same blocks.
VGG_SMALL_CFG = [32, 32, 'M', 64, 64, 'M', 128, 128, 'M']
# mobilenetv2: input 32x32x3. Stem Conv3x3 32 s1 + BN + ReLU6, then inverted residual
# stages (t = expansion, c = output channels, n = repeats, s = stride of the first repeat),
# then Conv1x1 128 + BN + ReLU6, GAP, Dense(10).
MOBILENETV2_STEM = 32
MOBILENETV2_STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2)]  # (t, c, n, s)
MOBILENETV2_HEAD = 128
NUM_CLASSES = 10

INPUT_SHAPES = {  # (channels, height, width)
    'quickstart': (1, 28, 28),
    'vgg-small': (3, 32, 32),
    'mobilenetv2': (3, 32, 32),
}
ARCHS = tuple(INPUT_SHAPES)


def batch_norm(channels):
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


def conv_bn(in_ch, out_ch, kernel, stride=1, groups=1, act=nn.ReLU):
    """Conv (no bias, TF 'same' padding) -> BN -> optional activation."""
    layers = []
    if kernel > 1 and stride == 1:
        conv = nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False)
    else:
        if kernel > 1:  # TF 'same' with stride 2 on even input: pad 0 before, 1 after
            layers.append(nn.ZeroPad2d((0, 1, 0, 1)))
        conv = nn.Conv2d(in_ch, out_ch, kernel, stride, 0, groups=groups, bias=False)
    layers += [conv, batch_norm(out_ch)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class Classifier(nn.Module):
    """features -> global average pooling -> Linear (softmax lives in the loss)."""

    def __init__(self, features, feature_channels):
        super().__init__()
        self.features = features
        self.fc = nn.Linear(feature_channels, NUM_CLASSES)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


def default_widths(arch):
    """The channel counts that --widths replaces, in build order.

    quickstart / vgg-small: one number per conv (the cfg numbers without 'M').
    mobilenetv2: stem, then per block [expanded width (only when t != 1), output width], then head.
    The depthwise conv has no entry: its width is tied to the expansion before it.
    """
    if arch == 'quickstart':
        return [v for v in QUICKSTART_CFG if v != 'M']
    if arch == 'vgg-small':
        return [v for v in VGG_SMALL_CFG if v != 'M']
    widths, in_ch = [MOBILENETV2_STEM], MOBILENETV2_STEM
    for t, c, n, _ in MOBILENETV2_STAGES:
        for _ in range(n):
            if t != 1:
                widths.append(in_ch * t)
            widths.append(c)
            in_ch = c
    return widths + [MOBILENETV2_HEAD]


def build_vgg(cfg, widths, in_ch):
    widths = iter(widths)
    layers = []
    for item in cfg:
        if item == 'M':
            layers.append(nn.MaxPool2d(2))
        else:
            out_ch = next(widths)
            layers.append(conv_bn(in_ch, out_ch, 3))
            in_ch = out_ch
    return Classifier(nn.Sequential(*layers), in_ch)


class InvertedResidual(nn.Module):
    def __init__(self, in_ch, hidden, out_ch, stride, expand, residual):
        super().__init__()
        layers = [conv_bn(in_ch, hidden, 1, act=nn.ReLU6)] if expand else []
        layers += [
            conv_bn(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),  # depthwise
            conv_bn(hidden, out_ch, 1, act=None),  # linear projection
        ]
        self.body = nn.Sequential(*layers)
        self.residual = residual

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


def build_mobilenetv2(widths, in_ch):
    widths = iter(widths)
    stem = next(widths)
    layers = [conv_bn(in_ch, stem, 3, act=nn.ReLU6)]
    in_ch, nominal_in = stem, MOBILENETV2_STEM
    for t, c, n, s in MOBILENETV2_STAGES:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = next(widths) if t != 1 else in_ch
            out_ch = next(widths)
            # The Add exists in the (unpruned) topology; pruning keeps its inputs tied.
            residual = stride == 1 and nominal_in == c
            if residual and out_ch != in_ch:
                raise ValueError(f'mobilenetv2 widths: residual block needs output {out_ch} == input {in_ch}')
            layers.append(InvertedResidual(in_ch, hidden, out_ch, stride, t != 1, residual))
            in_ch, nominal_in = out_ch, c
    head = next(widths)
    layers.append(conv_bn(in_ch, head, 1, act=nn.ReLU6))
    return Classifier(nn.Sequential(*layers), head)


def build_model(arch, widths=None):
    """Build `arch`; `widths` (see default_widths) replaces its channel counts."""
    expected = default_widths(arch)
    widths = expected if widths is None else list(widths)
    if len(widths) != len(expected) or any(int(w) < 1 for w in widths):
        raise ValueError(f'{arch} needs {len(expected)} positive widths like {expected}, got {widths}')
    in_ch = INPUT_SHAPES[arch][0]
    if arch == 'quickstart':
        return build_vgg(QUICKSTART_CFG, widths, in_ch)
    if arch == 'vgg-small':
        return build_vgg(VGG_SMALL_CFG, widths, in_ch)
    return build_mobilenetv2(widths, in_ch)


def set_threads(threads):
    """Intra-op and inter-op thread counts (inter-op may only be set once per process)."""
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)


def count_params(model):
    return sum(p.numel() for p in model.parameters())
