"""LDM Studio: a desktop application for Latent Diffusion Models."""

__version__ = "0.1.0"
