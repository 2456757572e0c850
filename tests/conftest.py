"""Make the collection importable as ansible_collections.kubefort.hardening for pytest."""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(REPO, ".build")

if not os.path.islink(os.path.join(BUILD, "ansible_collections", "kubefort", "hardening")):
    subprocess.run([os.path.join(REPO, "scripts", "bootstrap")], check=True)
if BUILD not in sys.path:
    sys.path.insert(0, BUILD)
