# SPDX-License-Identifier: MIT
"""pynq.buffer: allocate and PynqBuffer, from cmafs."""

from cmafs import PynqBuffer, allocate  # noqa: F401

__all__ = ["allocate", "PynqBuffer"]
