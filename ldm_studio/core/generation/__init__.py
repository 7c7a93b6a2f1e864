"""Making images: requests and their condition types, samplers, THE sampling loop, the engine on its
device, the out-of-memory policy, previews and the denoising timeline (trajectory, resume).
"""
