"""Lay out the bundled demo nodes as offline node trees, with the file modes their MODES files record.

git keeps neither modes nor owners, so the trees in demo/nodes/ are copied and each path listed in a
node's MODES file gets its recorded mode (and owner, when run as root).

Usage: python3 scripts/demo_nodes.py [--reset] [DEST]   (DEST defaults to .kubefort-demo/ in the checkout)
"""

from __future__ import annotations

import argparse
import grp
import os
import pwd
import shutil
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(REPO, "demo", "nodes")


def apply_modes(node_dir: str) -> None:
    modes_file = os.path.join(node_dir, "MODES")
    with open(modes_file) as handle:
        entries = [line.split() for line in handle if line.strip() and not line.startswith("#")]
    for path, mode, owner, _kind, *_origin in entries:
        target = os.path.join(node_dir, path.lstrip("/"))
        if not os.path.lexists(target):
            continue
        os.chmod(target, int(mode, 8))
        if os.geteuid() == 0:
            user, group = owner.split(":")
            os.chown(target, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dest", nargs="?", default=os.path.join(REPO, ".kubefort-demo"))
    parser.add_argument("--reset", action="store_true", help="replace existing copies with fresh ones")
    args = parser.parse_args()
    os.makedirs(args.dest, exist_ok=True)
    for name in sorted(os.listdir(SOURCE)):
        target = os.path.join(args.dest, name)
        if os.path.exists(target):
            if not args.reset:
                continue
            shutil.rmtree(target)
        shutil.copytree(os.path.join(SOURCE, name), target, symlinks=True)
        apply_modes(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
