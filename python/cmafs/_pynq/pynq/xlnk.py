# SPDX-License-Identifier: MIT
"""pynq.xlnk: Xlnk, ContiguousArray and sig_handler, from cmafs.xlnk."""

from cmafs.xlnk import ContiguousArray, Xlnk, sig_handler  # noqa: F401

__all__ = ["Xlnk", "ContiguousArray", "sig_handler"]
