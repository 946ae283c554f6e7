# SPDX-License-Identifier: MIT
"""pynq.drivers: only xlnk (PYNQ 1.x's spelling of pynq.xlnk)."""
