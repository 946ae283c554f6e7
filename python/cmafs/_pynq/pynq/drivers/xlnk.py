# SPDX-License-Identifier: MIT
"""pynq.drivers.xlnk: PYNQ 1.x's module; xlnk.xlnk() is the Xlnk class."""

from cmafs.xlnk import ContiguousArray, Xlnk, sig_handler  # noqa: F401

xlnk = Xlnk

__all__ = ["xlnk", "Xlnk", "ContiguousArray", "sig_handler"]
