"""Commands the docs tell a user to type, run exactly as written (the fenced ``sh`` block of a section).

A docs page that shows a command that does not work is a bug a user meets first: each test here takes the
block from the page itself, so the page and the test cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit"))
from kubefort_testlib import REPO, demo_node  # noqa: E402

pytestmark = pytest.mark.integration


def sh_block(page: str, heading: str) -> str:
    """The first ```sh block after a heading of a docs page."""
    with open(os.path.join(REPO, "docs", page)) as handle:
        text = handle.read()
    start = text.index(heading)
    found = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert found, "no sh block after %r in docs/%s" % (heading, page)
    return found.group(1)


def test_awx_page_runs_the_playbook_with_ansible_runner(tmp_path) -> None:
    """docs/awx.md '7. Same thing without AWX': the job runs and its stats event holds the artifacts."""
    block = sh_block("awx.md", "## 7. Same thing without AWX")
    demo_node(tmp_path, "worker3")
    shutil.copytree(os.path.join(REPO, "playbooks"), str(tmp_path / "playbooks"))
    (tmp_path / "my-inventory.yml").write_text(
        "all:\n  vars:\n    ansible_connection: local\n    ansible_python_interpreter: %s\n"
        "    kubefort_root: %s/nodes/{{ inventory_hostname }}\n    kubefort_report_dir: %s/report\n"
        "  children:\n    kube_node:\n      hosts:\n        worker3:\n" % (sys.executable, tmp_path, tmp_path))
    env = dict(os.environ, PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ["PATH"],
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, ".build"), ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (block, proc.stdout[-3000:], proc.stderr[-3000:])
    # the last command prints the artifacts: kubefort_report with the host's counts
    artifacts = json.loads(proc.stdout[proc.stdout.index("{\n  \"kubefort_report\""):])
    assert artifacts["kubefort_report"]["mode"] == "check"
    assert list(artifacts["kubefort_report"]["hosts"]) == ["worker3"]
    with open(tmp_path / "report" / "report.json") as handle:
        assert [host["name"] for host in json.load(handle)["hosts"]] == ["worker3"]


def test_user_guide_install_block_installs_and_runs_the_collection(tmp_path) -> None:
    """docs/user-guide.md 'Install', typed in the checkout: the tarball is built, installed under ~/.ansible and
    the installed kubefort.hardening.harden audits an inventory (a fresh HOME stands for the user's)."""
    block = sh_block("user-guide.md", "## Install")
    home = tmp_path / "home"
    home.mkdir()
    demo_node(tmp_path, "worker3")
    (home / "inventory.yml").write_text(
        "all:\n  vars:\n    ansible_connection: local\n    ansible_python_interpreter: %s\n"
        "    kubefort_root: %s/nodes/{{ inventory_hostname }}\n    kubefort_report_dir: %s/report\n"
        "  children:\n    kube_node:\n      hosts:\n        worker3:\n" % (sys.executable, tmp_path, tmp_path))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "KUBEFORT_"))}
    env.update(HOME=str(home), PATH=os.path.join(REPO, ".venv", "bin") + os.pathsep + os.environ["PATH"],
               ANSIBLE_NOCOLOR="1", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, (block, output[-4000:])
    assert "Nothing to do" not in output, output[-4000:]
    installed = home / ".ansible" / "collections" / "ansible_collections" / "kubefort" / "hardening"
    assert (installed / "MANIFEST.json").is_file() and not (installed / "tests").exists()
    with open(tmp_path / "report" / "report.json") as handle:
        assert [host["name"] for host in json.load(handle)["hosts"]] == ["worker3"]
    assert not [name for name in os.listdir(REPO) if name.endswith(".tar.gz")], "the tarball was left in the checkout"
