"""
# Where one branch looks in the other: CrossViT's cross-attention

In CrossViT each branch's CLS token is the only query over the other branch's patch tokens.
`cross_attention_maps` returns that attention per branch as (batch, heads, h, w) over the other
branch's patch grid. Here a small two-branch CrossViT (patches of 4 and 7 px) sees one handwritten
digit; the model is untrained, so the maps show the mechanism, not learned behaviour — the HTML report
of a trained run overlays the same maps on its test images.
"""

import matplotlib.pyplot as plt
import torch
from sklearn.datasets import load_digits

import dualbranch

torch.manual_seed(0)
image = torch.tensor(load_digits().images[0], dtype=torch.float32) / 16  # (8, 8)
image = torch.nn.functional.interpolate(image[None, None], size=(28, 28), mode="bilinear")  # (1, 1, 28, 28)
model = dualbranch.create_model(
    "crossvit_9_240", img_size=28, in_chans=1, num_classes=10, patch_size=(4, 7), img_scale=(1.0, 1.0),
    embed_dim=(64, 96), num_heads=(4, 4), mlp_ratio=(2, 2), depth=((1, 2),) * 2,
).eval()  # fmt: skip
with torch.no_grad():
    maps = model.cross_attention_maps(image)
for branch, attention in enumerate(maps):
    share = attention[0, 0].sum()  # the rest of the CLS query's attention is on the CLS token itself
    print(f"branch {branch}: attention {tuple(attention.shape)} (batch, heads, h, w); on patches: {share:.3f}")

# %%
fig, axes = plt.subplots(1, 1 + len(maps), figsize=(9, 3))
axes[0].imshow(image[0, 0], cmap="gray")
axes[0].set_title("input")
for branch, attention in enumerate(maps):
    axes[branch + 1].imshow(attention[0].mean(0), cmap="magma")
    axes[branch + 1].set_title(f"branch {branch}'s CLS over\nthe other branch (mean of heads)", fontsize=9)
for ax in axes:
    ax.axis("off")
plt.show()
