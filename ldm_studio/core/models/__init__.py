"""Model folders and where they come from: the on-disk format and its hash, the catalogue, the shipped demo
model, the original conditioning stages and U-Net heads, safe checkpoint loading, conversion of original
CompVis checkpoints (`convert/`) and the model manager (`manager/`).
"""
