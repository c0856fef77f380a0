"""The three sample architectures (all take N x 1 x 28 x 28, return N x 10)."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------------
# fashion-resnet: Conv/BN/ReLU, MaxPool, residual Add, GlobalAveragePool, Gemm
# --------------------------------------------------------------------------

class BasicBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.shortcut is None else self.shortcut(x)
        return F.relu(y + s)


class FashionResNet(nn.Module):
    """stem conv3x3(1->c1)@28 -> maxpool -> block(c1)@14 -> maxpool
    -> block(c1->c2, 1x1 projection shortcut)@7 -> GAP -> Linear."""

    def __init__(self, c1=24, c2=64, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1),
            nn.ReLU(inplace=True))
        self.pool1 = nn.MaxPool2d(2)
        self.layer1 = BasicBlock(c1, c1)
        self.pool2 = nn.MaxPool2d(2)
        self.layer2 = BasicBlock(c1, c2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c2, num_classes)

    def forward(self, x):
        x = self.pool1(self.stem(x))
        x = self.pool2(self.layer1(x))
        x = self.layer2(x)
        x = torch.flatten(self.gap(x), 1)
        return self.fc(x)


# --------------------------------------------------------------------------
# fashion-mobilenet: MobileNetV2-style inverted residuals, ReLU6 (Clip)
# --------------------------------------------------------------------------

def conv_bn(cin, cout, k, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hid = cin * expand
        layers = []
        if expand != 1:
            layers += conv_bn(cin, hid, 1)                       # 1x1 expand
        layers += conv_bn(hid, hid, 3, stride, groups=hid)       # 3x3 depthwise
        layers += conv_bn(hid, cout, 1, act=False)               # 1x1 project (linear)
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class FashionMobileNet(nn.Module):
    # (expand t, out channels c, repeats n, first stride s)
    CFG = [(1, 16, 1, 1),
           (4, 24, 1, 1),
           (4, 32, 1, 2),    # 14 -> 7
           (4, 32, 1, 1),
           (4, 48, 1, 1)]

    def __init__(self, stem=16, last=128, num_classes=10, cfg=None, stem_stride=2):
        super().__init__()
        layers = conv_bn(1, stem, 3, stem_stride)                # 28 -> 14
        cin = stem
        for t, c, n, s in (cfg or self.CFG):
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += conv_bn(cin, last, 1)
        self.features = nn.Sequential(*layers)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.1)
        self.fc = nn.Linear(last, num_classes)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(self.gap(x), 1)
        return self.fc(self.dropout(x))


# --------------------------------------------------------------------------
# fashion-vit: patch-embedding Conv, explicit multi-head attention
# --------------------------------------------------------------------------

class Attention(nn.Module):
    """Multi-head self-attention from Linear/MatMul/Softmax. Shapes use Python
    constants (and -1 for the batch) so the export has constant Reshape
    shapes instead of Shape/Gather/Concat chains."""

    def __init__(self, dim, heads, tokens):
        super().__init__()
        self.dim, self.heads, self.tokens = dim, heads, tokens
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):                                  # B x N x D
        n, h, hd = self.tokens, self.heads, self.head_dim
        q = self.q(x).reshape(-1, n, h, hd).transpose(1, 2)   # B x H x N x hd
        k = self.k(x).reshape(-1, n, h, hd).transpose(1, 2)
        v = self.v(x).reshape(-1, n, h, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * self.scale           # B x H x N x N
        att = att.softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(-1, n, self.dim)
        return self.proj(y)


class Block(nn.Module):
    def __init__(self, dim, heads, tokens, mlp_ratio):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, tokens)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim * mlp_ratio)
        self.fc2 = nn.Linear(dim * mlp_ratio, dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.fc2(F.gelu(self.fc1(self.norm2(x))))   # exact (erf) GELU
        return x


class FashionViT(nn.Module):
    """4x4 patches (stride 4) -> 49 tokens of width dim, learned position
    embedding, pre-norm transformer blocks, final LayerNorm, mean pooling
    over tokens, Linear head."""

    def __init__(self, dim=48, depth=4, heads=3, mlp_ratio=2, patch=4,
                 num_classes=10):
        super().__init__()
        self.dim = dim
        self.tokens = (28 // patch) ** 2
        self.patch_embed = nn.Conv2d(1, dim, patch, stride=patch)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.tokens, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.ModuleList(
            [Block(dim, heads, self.tokens, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        # PyTorch's default Linear init: the usual ViT trunc_normal(std=0.02)
        # learned much more slowly at this tiny width.

    def forward(self, x):
        x = self.patch_embed(x)                                # B x D x 7 x 7
        x = x.reshape(-1, self.dim, self.tokens).transpose(1, 2)  # B x N x D
        x = x + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x).mean(dim=1)                           # B x D
        return self.head(x)
