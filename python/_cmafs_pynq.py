# SPDX-License-Identifier: MIT
"""The pynq names of cmafs, for when PYNQ is not installed.

cmafs-pynq.pth (installed next to this file) runs install() at every python3
start.  It appends a finder to the end of sys.meta_path, after the normal
one: Python asks it about "pynq" only when no "pynq" was found anywhere on
sys.path, so it never shadows a PYNQ installation, in any directory or
order.  It then serves cmafs/_pynq/pynq (allocate, PynqBuffer, Xlnk,
ContiguousArray, pynq.drivers.xlnk), so that PYNQ code such as the CMA
notebook's ``from pynq.drivers import xlnk`` runs unchanged on cmafs.
Set CMAFS_NO_PYNQ=1 to turn it off.  Kept tiny: no imports beyond the
standard library's import machinery (it runs at every start).
"""

import os
import sys
from importlib.machinery import PathFinder

_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cmafs",
                    "_pynq")


class PynqFallbackFinder:
    """Finds cmafs's "pynq" package, asked only after the path finder."""

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname != "pynq":
            return None     # submodules come from the package's __path__
        return PathFinder.find_spec(fullname, [_DIR])

    @classmethod
    def invalidate_caches(cls):
        pass


def install():
    if os.environ.get("CMAFS_NO_PYNQ"):
        return
    if not any(f is PynqFallbackFinder for f in sys.meta_path):
        sys.meta_path.append(PynqFallbackFinder)
