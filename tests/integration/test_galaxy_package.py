"""The collection as users get it: built with ansible-galaxy, checked by galaxy-importer, installed from
the tarball into an empty collections path (offline), and run from there against the demo nodes.
Also the EE image definition (ee/execution-environment.yml): its build context and the galaxy step it
runs install the same tarball, and ansible-builder's introspection finds the collection's requirements.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "unit"))
from kubefort_testlib import REPO, demo_node  # noqa: E402
import test_report_formats as formats  # noqa: E402

pytestmark = pytest.mark.integration
BIN = os.path.join(REPO, ".venv", "bin")
NODES = ["cp1", "cp2", "cp3", "worker1", "worker2", "worker3"]
# Only what a user of the collection needs (galaxy.yml build_ignore says why the rest stays out).
SHIPPED_TOP = {"MANIFEST.json", "FILES.json", "README.md", "requirements.txt", "changelogs", "docs", "meta", "playbooks", "plugins", "roles"}


def version() -> str:
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        return str(yaml.safe_load(handle)["version"])


def run(command: list, cwd: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    base = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"], ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    base.pop("ANSIBLE_CONFIG", None)
    base.pop("ANSIBLE_COLLECTIONS_PATH", None)
    return subprocess.run(command, cwd=cwd, env=dict(base, **(env or {})), capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> str:
    out = str(tmp_path_factory.mktemp("dist"))
    proc = run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", out, REPO], cwd=out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    path = os.path.join(out, "kubefort-hardening-%s.tar.gz" % version())
    assert os.path.isfile(path), os.listdir(out)
    return path


def test_tarball_holds_what_a_user_needs_and_nothing_else(tarball: str) -> None:
    with tarfile.open(tarball) as archive:
        names = archive.getnames()
    assert {name.split("/")[0] for name in names} == SHIPPED_TOP
    for needed in ("plugins/action/report.py", "plugins/modules/node_harden.py", "playbooks/harden.yml",
                   "meta/runtime.yml", "meta/execution-environment.yml", "meta/ee-requirements.txt", "docs/reports.md"):
        assert needed in names, needed
    for role in ("cluster", "common", "control_plane", "node", "ports", "report"):
        assert "roles/%s/README.md" % role in names
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".tar.gz")) or "/fragments/" in n]


def test_galaxy_importer_accepts_it(tarball: str, tmp_path) -> None:
    config = tmp_path / "galaxy-importer.cfg"
    # ansible-test sanity runs in scripts/test on the checkout; ansible-lint is the lint gate there too.
    config.write_text("[galaxy-importer]\nRUN_ANSIBLE_TEST = False\nRUN_ANSIBLE_LINT = False\n")
    proc = run([os.path.join(BIN, "python"), "-m", "galaxy_importer.main", tarball], cwd=str(tmp_path),
               env={"GALAXY_IMPORTER_CONFIG": str(config)}, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert "Importer processing completed successfully" in output
    problems = [line for line in output.splitlines() if "WARNING" in line or "ERROR" in line]
    assert not problems, problems


def test_installed_from_the_tarball_audits_the_demo_nodes(tarball: str, tmp_path) -> None:
    collections = tmp_path / "collections"
    proc = run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline", "-p", str(collections), tarball], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    installed = collections / "ansible_collections" / "kubefort" / "hardening"
    assert (installed / "MANIFEST.json").is_file() and not (installed / "tests").exists()

    for name in NODES:
        demo_node(tmp_path, name)
    # No ansible.cfg of the checkout, no .build link: only the installed copy can be found.
    (tmp_path / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = false\n")
    env = {"ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": str(collections),
           "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false", "KUBEFORT_DEMO_DIR": str(tmp_path / "nodes")}
    every_format = '{"kubefort_report_formats": ["json", "kube_bench", "junit", "markdown", "html", "prometheus", "policy_report", "oscal", "sarif"]}'
    proc = run([os.path.join(BIN, "ansible-playbook"), "kubefort.hardening.harden", "--check",
                "-i", os.path.join(REPO, "demo", "inventory.yml"), "-e", "kubefort_report_dir=%s" % (tmp_path / "report"), "-e", every_format],
               cwd=str(tmp_path), env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    # A normal run prints no warning (no etcd group in the demo inventory, among others).
    assert "[WARNING]" not in output, [line for line in output.splitlines() if "WARNING" in line]
    with open(tmp_path / "report" / "report.json", encoding="utf-8") as handle:
        report = json.load(handle)
    assert [h["name"] for h in report["hosts"]] == NODES + ["cluster"]
    assert report["run"]["mode"] == "check" and report["run"]["hosts_without_results"] == []
    by_host = {h["name"]: {r["cis"]: r["status"] for r in h["results"] if r["cis"]} for h in report["hosts"]}
    assert by_host["cp1"]["1.2.6"] == "would_fix" and by_host["worker3"]["4.2.1"] == "pass"
    # the summary lists every output with the absolute directory it was given
    shown = " ".join(proc.stdout.split())  # the YAML callback folds long lines
    for name in ("report.json", "kube-bench/ (7 files)", "report.xml", "report.md", "report.html", "kubefort.prom",
                 "policy-reports.json", "oscal-assessment-results.json", "report.sarif"):
        assert "%s/%s" % (tmp_path / "report", name) in shown, name
    # no controller checkout path in the page (the cluster rows used to show the snapshot's full path)
    assert REPO not in (tmp_path / "report" / "report.html").read_text()

    # every other format of this real run, checked as its consumers read it, with the same fingerprints
    fingerprints = {r["fingerprint"] for h in report["hosts"] for r in h["results"]}
    families = formats.parse_prometheus((tmp_path / "report" / "kubefort.prom").read_text())
    assert {s.labels["fingerprint"] for s in families["kubefort_finding"].samples} <= fingerprints
    items = formats.check_policy_reports(json.loads((tmp_path / "report" / "policy-reports.json").read_text()))
    assert {r["properties"]["fingerprint"] for i in items for r in i["results"]} == fingerprints
    sarif = json.loads((tmp_path / "report" / "report.sarif").read_text())
    formats.check_sarif(sarif)
    assert {r["partialFingerprints"]["kubefortFinding/v1"] for r in sarif["runs"][0]["results"]} <= fingerprints
    oscal = json.loads((tmp_path / "report" / "oscal-assessment-results.json").read_text())
    formats.check_oscal(oscal)
    assert len(oscal["assessment-results"]["results"][0]["observations"]) == len(fingerprints)


def test_ee_definition_installs_the_built_collection(tarball: str, tmp_path) -> None:
    with open(os.path.join(REPO, "ee", "execution-environment.yml"), encoding="utf-8") as handle:
        definition = yaml.safe_load(handle)
    name = os.path.basename(tarball)
    assert definition["additional_build_files"] == [{"src": name, "dest": "collections"}]
    assert definition["dependencies"]["galaxy"]["collections"] == [{"name": "collections/" + name, "type": "file"}]

    ee = tmp_path / "ee"
    ee.mkdir()
    shutil.copy(os.path.join(REPO, "ee", "execution-environment.yml"), ee)
    shutil.copy(tarball, ee)
    proc = run([os.path.join(BIN, "ansible-builder"), "create", "-f", str(ee / "execution-environment.yml"), "--context", str(tmp_path / "ctx")],
               cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    build = tmp_path / "ctx" / "_build"
    assert (build / "collections" / name).is_file()
    containerfile = (tmp_path / "ctx" / "Containerfile").read_text()
    assert "COPY _build /build" in containerfile and "ansible-galaxy collection install" in containerfile
    # the galaxy stage's own command, in the build directory as the Containerfile runs it (offline)
    proc = run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--offline", "-r", "requirements.yml",
                "--collections-path", str(tmp_path / "image")], cwd=str(build))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # ansible-builder's introspection of the installed collection: its Python and system packages
    proc = run([os.path.join(BIN, "python"), str(build / "scripts" / "introspect.py"), "introspect", str(tmp_path / "image")], cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = yaml.safe_load(proc.stdout)
    assert any(line.startswith("kubernetes>=") for line in found["python"])
    assert any(line.startswith("openssh-client ") for line in found["system"])
