"""The sampler names the command line accepts, without importing diffusers.

`ldm-studio --help` lists them, and it must answer at once; `core.generation.samplers` maps each name to
its diffusers scheduler and is imported only to sample (a test keeps the two lists equal).
"""

from __future__ import annotations

SAMPLER_NAMES: tuple[str, ...] = (
    *("ddim", "plms", "dpmpp_2m", "dpmpp_2m_karras", "euler", "euler_a", "unipc", "heun"),
    *("euler_trailing", "euler_a_trailing", "lcm"),
)
