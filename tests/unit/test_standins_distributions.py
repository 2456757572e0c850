"""The RKE2 and microk8s stand-ins and etcd's --config-file behave as the real programs do for what the
live_services scenario relies on (run here as plain local processes or functions; the services themselves
run in the podman scenario)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import typing as t
import urllib.request

import pytest

STANDINS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "standins")
sys.path.insert(0, STANDINS)

import apiserver_standin as apiserver  # noqa: E402
import microk8s_standin as microk8s  # noqa: E402
import rke2_standin as rke2  # noqa: E402


# --- RKE2 (k3s' GetArgs): -arg entries over a component's default flags ------------------------------------

DEFAULTS = {"anonymous-auth": "false", "enable-admission-plugins": "NodeRestriction", "profiling": "false"}


@pytest.mark.parametrize("entries, expected", [
    ([], ["--anonymous-auth=false", "--enable-admission-plugins=NodeRestriction", "--profiling=false"]),
    # an entry replaces the default of its flag
    (["anonymous-auth=true"], ["--anonymous-auth=true", "--enable-admission-plugins=NodeRestriction", "--profiling=false"]),
    # name+= appends to the default, name-= prepends: repeated flags (the component's own rule applies)
    (["enable-admission-plugins+=AlwaysPullImages"],
     ["--anonymous-auth=false", "--enable-admission-plugins=NodeRestriction", "--enable-admission-plugins=AlwaysPullImages",
      "--profiling=false"]),
    (["enable-admission-plugins-=EventRateLimit"],
     ["--anonymous-auth=false", "--enable-admission-plugins=EventRateLimit", "--enable-admission-plugins=NodeRestriction",
      "--profiling=false"]),
    # repeated entries stay repeated, in order; a bare name is "true"; new flags sort in by name
    (["audit-log-maxage=30", "audit-log-maxage=7", "--contention-profiling"],
     ["--anonymous-auth=false", "--audit-log-maxage=30", "--audit-log-maxage=7", "--contention-profiling=true",
      "--enable-admission-plugins=NodeRestriction", "--profiling=false"]),
])
def test_rke2_applies_arg_entries_over_its_defaults_as_getargs_does(entries: list[str], expected: list[str]) -> None:
    assert rke2.get_args(dict(DEFAULTS), entries) == expected


def test_rke2_reads_config_yaml_then_its_drop_ins(tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text('kube-apiserver-arg: ["anonymous-auth=true"]\nkubelet-arg: "read-only-port=10255"\n')
    (tmp_path / "config.yaml.d").mkdir()
    (tmp_path / "config.yaml.d" / "50-more.yaml").write_text('kube-apiserver-arg+: ["profiling=true"]\n')
    monkeypatch.setattr(rke2, "CONFIG", str(config))
    assert rke2.k3s_standin.arg_entries(str(config), "kube-apiserver-arg", []) == ["anonymous-auth=true", "profiling=true"]
    assert rke2.k3s_standin.arg_entries(str(config), "kubelet-arg", ["--kubelet-arg=v=2"]) == ["read-only-port=10255", "v=2"]
    (tmp_path / "config.yaml.d" / "60-broken.yaml").write_text("kubelet-arg: [\n")
    with pytest.raises(rke2.StartupError, match="failed to load config file .*60-broken.yaml"):
        rke2.load_config()


# --- microk8s: kubelite's args files ------------------------------------------------------------------------


def test_kubelite_reads_args_files_as_kubelite_does(tmp_path: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAP_DATA", "/var/snap/microk8s/7964")
    args = tmp_path / "kube-apiserver"
    args.write_text('--cert-dir=${SNAP_DATA}/certs\n\n# a comment\n--etcd-servers="unix://${SNAP_DATA}/kine.sock:12379"\n'
                    "--service-account-issuer='https://kubernetes.default.svc'\n--v 2\n#~end\n")
    assert microk8s.read_args_file(str(args)) == [
        "--cert-dir=/var/snap/microk8s/7964/certs", "--etcd-servers=unix:///var/snap/microk8s/7964/kine.sock:12379",
        "--service-account-issuer=https://kubernetes.default.svc", "--v", "2"]
    with pytest.raises(microk8s.StartupError, match="Failed to open arguments file"):
        microk8s.read_args_file(str(tmp_path / "absent"))


def test_the_api_server_is_ready_only_when_kines_socket_answers(tmp_path: t.Any) -> None:
    path = str(tmp_path / "kine.sock:12379")
    server = apiserver.ApiServer({"etcd": "unix://" + path}, "v1.33.4")
    assert not server.etcd_reachable()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        assert server.etcd_reachable()


# --- etcd --config-file (k3s and RKE2 start etcd so) -------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_etcd(tmp_path: t.Any, config: str, *flags: str, **env: str) -> subprocess.Popen:
    path = tmp_path / "etcd-config"
    path.write_text(config)
    environ = dict(os.environ, KUBEFORT_STANDIN_ARGV0="etcd", **env)
    return subprocess.Popen([sys.executable, os.path.join(STANDINS, "components_standin.py"), "--config-file=%s" % path,
                             *flags], env=environ, stderr=subprocess.PIPE, text=True)


def wait_for_health(process: subprocess.Popen, port: int) -> None:
    """Until etcd's /health answers 200 on ``port``; fails with its stderr when it exits or 20 s pass."""
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=2) as answer:
                assert answer.status == 200
            return
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read() if process.stderr else ""
            time.sleep(0.2)


def test_etcd_with_a_config_file_runs_its_settings_and_ignores_its_flags(tmp_path: t.Any) -> None:
    port = free_port()
    ignored = free_port()
    process = start_etcd(tmp_path, "data-dir: %s\nlisten-client-urls: http://127.0.0.1:%d\nclient-transport-security:\n"
                         "  client-cert-auth: false\n" % (tmp_path / "data", port),
                         "--listen-client-urls=http://127.0.0.1:%d" % ignored)
    try:
        wait_for_health(process, port)
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", ignored), timeout=1).close()
    finally:
        process.terminate()
        process.wait(10)
    assert "Other configuration command line flags and environment variables will be ignored" in (process.stderr.read() or "")


def test_etcd_refuses_a_config_file_with_a_boolean_that_is_not_one(tmp_path: t.Any) -> None:
    process = start_etcd(tmp_path, "listen-client-urls: http://127.0.0.1:%d\nclient-transport-security:\n"
                         "  client-cert-auth: maybe\n" % free_port())
    assert process.wait(20) == 1
    assert ("json: cannot unmarshal string into Go struct field securityConfig.client-transport-security.client-cert-auth "
            "of type bool") in (process.stderr.read() or "")


@pytest.mark.parametrize("fault, refused", [("peer-client-cert-auth=true", True), ("peer-client-cert-auth=TRUE", True),
                                            ("peer-client-cert-auth=false", False), ("", False)])
def test_etcd_test_fault_refuses_only_the_named_setting(tmp_path: t.Any, fault: str, refused: bool) -> None:
    # the fault live_services uses to make etcd refuse a fix kubefort writes (tests/standins/components_standin.py)
    port = free_port()
    process = start_etcd(tmp_path, "data-dir: %s\nlisten-client-urls: http://127.0.0.1:%d\npeer-transport-security:\n"
                         "  client-cert-auth: true\n" % (tmp_path / "data", port), KUBEFORT_STANDIN_REFUSE=fault)
    try:
        if refused:
            assert process.wait(20) == 1
            assert "test fault: this stand-in refuses --peer-client-cert-auth=true" in (process.stderr.read() or "")
            return
        wait_for_health(process, port)  # serving: the fault names another value, or nothing
    finally:
        process.terminate()
        process.wait(10)
