"""The execution environment: the image definition (ee/execution-environment.yml, ansible-builder schema 3)
and the collection's own EE metadata (meta/execution-environment.yml, read by ansible-builder from every
collection it installs; paths relative to the collection root)."""

from __future__ import annotations

import os
import re

import yaml
from packaging.requirements import Requirement
from packaging.version import Version

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
META = os.path.join(REPO, "meta")
EE = os.path.join(REPO, "ee")
TOP_LEVEL = {"version", "images", "dependencies", "options", "additional_build_files", "additional_build_steps", "build_arg_defaults"}
DEPENDENCIES = {"python_interpreter", "ansible_core", "ansible_runner", "python", "system", "galaxy", "exclude"}


def definition() -> dict:
    with open(os.path.join(EE, "execution-environment.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def collection_metadata() -> dict:
    with open(os.path.join(META, "execution-environment.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def requirements(path: str) -> dict:
    found = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line:
                req = Requirement(line)
                found[req.name.lower()] = req
    return found


def test_schema_version_3_and_known_sections() -> None:
    ee = definition()
    assert ee["version"] == 3
    assert set(ee) <= TOP_LEVEL
    assert set(ee["dependencies"]) <= DEPENDENCIES
    assert ee["images"]["base_image"]["name"]


def test_collection_metadata_names_its_requirement_files_from_the_collection_root() -> None:
    meta = collection_metadata()
    assert meta["version"] == 1
    assert meta["dependencies"] == {"python": "meta/ee-requirements.txt", "system": "meta/bindep.txt"}
    for path in meta["dependencies"].values():
        assert os.path.isfile(os.path.join(REPO, path)), path


def test_controller_python_and_ansible_core_fit_the_collection() -> None:
    deps = definition()["dependencies"]
    match = re.search(r"python3\.(\d+)$", deps["python_interpreter"]["python_path"])
    assert match and int(match.group(1)) >= 11, "ansible-core 2.19 needs Python 3.11 or newer"
    core = Requirement(deps["ansible_core"]["package_pip"])
    assert core.name == "ansible-core"
    pinned = requirements(os.path.join(REPO, "requirements-dev.txt"))["ansible-core"]
    tested = Version(next(iter(pinned.specifier)).version)
    assert core.specifier.contains(tested), "the EE must allow the ansible-core the tests run with"
    with open(os.path.join(META, "runtime.yml"), encoding="utf-8") as handle:
        minimum = yaml.safe_load(handle)["requires_ansible"]
    assert core.specifier.contains(Version(minimum.lstrip(">="))), "the EE range starts at requires_ansible"


def test_python_requirements_cover_the_collection() -> None:
    needed = requirements(os.path.join(REPO, "requirements.txt"))
    have = requirements(os.path.join(META, "ee-requirements.txt"))
    assert set(needed) <= set(have)


def test_bindep_lines_are_well_formed() -> None:
    with open(os.path.join(META, "bindep.txt"), encoding="utf-8") as handle:
        lines = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    assert lines
    for line in lines:
        assert re.match(r"^[A-Za-z0-9][A-Za-z0-9.+_-]*( \[[a-z0-9:!_ -]+\])?$", line), line


def test_the_image_installs_the_tarball_of_this_version() -> None:
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        version = yaml.safe_load(handle)["version"]
    tarball = "kubefort-hardening-%s.tar.gz" % version
    ee = definition()
    assert ee["additional_build_files"] == [{"src": tarball, "dest": "collections"}]
    assert ee["dependencies"]["galaxy"]["collections"] == [{"name": "collections/" + tarball, "type": "file"}]
