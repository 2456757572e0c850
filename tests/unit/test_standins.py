"""The test stand-ins behave like the real components for what the podman scenarios rely on.

They run here as plain local processes (no systemd, no static pods): configuration precedence and
defaults, refusal to start, what each port answers to an anonymous request, and that /proc shows the
real binary's command line.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import typing as t
import urllib.error
import urllib.request

import pytest

STANDINS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "standins")
sys.path.insert(0, STANDINS)

import apiserver_standin as apiserver
import kubelet_standin as kubelet
from standin_common import StartupError

KUBEADM_CONFIG = """\
apiVersion: kubelet.config.k8s.io/v1beta1
authentication:
  anonymous:
    enabled: false
  webhook:
    cacheTTL: 0s
    enabled: true
authorization:
  mode: Webhook
healthzBindAddress: 127.0.0.1
healthzPort: 10248
kind: KubeletConfiguration
staticPodPath: /etc/kubernetes/manifests
streamingConnectionIdleTimeout: 0s
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write(path: t.Any, text: str) -> str:
    path.write_text(text)
    return str(path)


# --- kubelet: effective settings ------------------------------------------------------------------


def settings(tmp_path: t.Any, args: list[str], config: str | None = None,
             dropins: dict[str, str] | None = None) -> dict[str, t.Any]:
    if config is not None:
        args = [f"--config={write(tmp_path / 'config.yaml', config)}", *args]
    if dropins is not None:
        (tmp_path / "conf.d").mkdir()
        for name, text in dropins.items():
            write(tmp_path / "conf.d" / name, text)
        args = [f"--config-dir={tmp_path / 'conf.d'}", *args]
    flags = kubelet.common.parse_flags(args, kubelet.BOOL_FLAGS, kubelet.VALUE_FLAGS | kubelet.BOOL_FLAGS)
    return kubelet.validate(kubelet.effective_config(flags))


DROPIN_HEAD = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"


@pytest.mark.parametrize(
    ("args", "config", "dropins", "expected"),
    [
        ([], None, None, (True, "AlwaysAllow", 10255)),
        ([], KUBEADM_CONFIG, None, (False, "Webhook", 0)),
        ([], "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n", None,
         (False, "Webhook", 0)),
        (["--anonymous-auth", "--authorization-mode=AlwaysAllow", "--read-only-port", "10255"], KUBEADM_CONFIG,
         None, (True, "AlwaysAllow", 10255)),
        (["--read-only-port=10255", "--read-only-port=0"], None, None, (True, "AlwaysAllow", 0)),
        ([], KUBEADM_CONFIG, {"20-b.conf": DROPIN_HEAD + "readOnlyPort: 0\n",
                              "10-a.conf": DROPIN_HEAD + "readOnlyPort: 10255\nauthorization:\n  mode: AlwaysAllow\n",
                              "99-ignored.yaml": DROPIN_HEAD + "readOnlyPort: 1\n"},
         (False, "AlwaysAllow", 0)),
        (["--read-only-port=10255"], KUBEADM_CONFIG, {"10-a.conf": DROPIN_HEAD + "readOnlyPort: 0\n"},
         (False, "Webhook", 10255)),
    ],
    ids=["flags-only-defaults", "kubeadm-config", "config-defaults", "flags-override-config",
         "last-flag-wins", "dropins-in-name-order", "flags-override-dropins"],
)
def test_kubelet_effective_settings(tmp_path: t.Any, args: list[str], config: str | None,
                                    dropins: dict[str, str] | None, expected: tuple) -> None:
    got = settings(tmp_path, args, config, dropins)
    assert (got["anonymous"], got["mode"], got["read_only_port"]) == expected


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        ([], "kind: [unclosed\n", "invalid YAML"),
        ([], "apiVersion: v1\nkind: Pod\n", 'no kind "Pod"'),
        ([], KUBEADM_CONFIG.replace("mode: Webhook", "mode: RBAC"), "unknown authorization mode"),
        (["--authorization-mode=Bogus"], KUBEADM_CONFIG, "unknown authorization mode"),
        ([], KUBEADM_CONFIG + "readOnlyPort: 70000\n", "between 0 and 65535"),
        (["--port=0"], KUBEADM_CONFIG, "between 1 and 65535"),
        ([], KUBEADM_CONFIG.replace("cacheTTL: 0s", "cacheTTL: 5 minutes"), "invalid duration"),
        ([], KUBEADM_CONFIG + "tlsCipherSuites: [TLS_NOT_A_SUITE]\n", "unsupported cipher suite"),
        (["--anonymous-auth=maybe"], KUBEADM_CONFIG, "ParseBool"),
        (["--no-such-flag=1"], KUBEADM_CONFIG, "unknown flag: --no-such-flag"),
    ],
    ids=["bad-yaml", "wrong-kind", "unknown-mode-config", "unknown-mode-flag", "read-only-port-range",
         "port-zero", "bad-duration", "bad-cipher", "bad-bool", "unknown-flag"],
)
def test_kubelet_refuses_invalid_configuration(tmp_path: t.Any, args: list[str], config: str, message: str) -> None:
    with pytest.raises(StartupError, match=message):
        settings(tmp_path, args, config)


def test_kubelet_protect_kernel_defaults_reads_written_sysctls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubelet, "written_sysctls", lambda: {k: str(v) for k, v in kubelet.KERNEL_DEFAULTS.items()})
    kubelet.check_kernel_defaults()
    monkeypatch.setattr(kubelet, "written_sysctls", lambda: {"vm.overcommit_memory": "0"})
    with pytest.raises(StartupError, match="invalid kernel flag: vm/overcommit_memory"):
        kubelet.check_kernel_defaults()


def test_kubelet_static_pods_ignore_dotfiles_and_read_every_other_file(tmp_path: t.Any) -> None:
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: kube-system}\n" \
          "spec:\n  containers:\n  - name: c\n    command: [kube-apiserver, --secure-port=6443]\n"
    write(tmp_path / "kube-apiserver.yaml", pod % "kube-apiserver")
    write(tmp_path / ".kube-apiserver.yaml.swp", pod % "hidden")
    write(tmp_path / "kube-apiserver.yaml.bak", pod % "backup-copy")
    write(tmp_path / "notes.txt", "not a pod")
    names = sorted(p["name"] for p in kubelet.desired_pods(str(tmp_path)).values())
    assert names == ["backup-copy", "kube-apiserver"]


# --- apiserver: flags -----------------------------------------------------------------------------------


AUTHN_ANONYMOUS = """\
apiVersion: apiserver.config.k8s.io/v1beta1
kind: AuthenticationConfiguration
anonymous:
  enabled: true
  conditions:
  - path: /livez
  - path: /readyz
  - path: /healthz
"""


@pytest.mark.parametrize(
    ("args", "version", "message"),
    [
        (["--authorization-mode=Node,RBAC,Bogus"], "v1.28.7", "'Bogus' is not a valid mode"),
        (["--authorization-mode=RBAC,RBAC"], "v1.28.7", "more than once"),
        (["--authorization-mode=ABAC"], "v1.28.7", "ABAC's authorization policy file"),
        (["--insecure-port=0"], "v1.28.7", "unknown flag: --insecure-port"),
        (["--client-ca-file=/nonexistent/ca.crt"], "v1.28.7", "no such file"),
        (["--anonymous-auth=false", "--authentication-config={authn}"], "v1.32.0", "cannot be set"),
        (["--authentication-config={authn}"], "v1.28.7", "unknown flag: --authentication-config"),
        (["--authentication-config={authn}"], "v1.30.0", "feature gate is disabled"),
        (["--secure-port=99999"], "v1.28.7", "between 1 and 65535"),
        (["--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_BOGUS"], "v1.28.7", "TLS_BOGUS not supported"),
    ],
    ids=["unknown-mode", "repeated-mode", "abac-without-file", "removed-flag", "missing-file",
         "anonymous-flag-and-config", "authn-config-before-1.29", "anonymous-config-before-1.32", "port-range", "unknown-cipher"],
)
def test_apiserver_refuses_what_the_real_one_rejects(tmp_path: t.Any, args: list[str], version: str,
                                                     message: str) -> None:
    authn = write(tmp_path / "authn.yaml", AUTHN_ANONYMOUS)
    args = [a.format(authn=authn) for a in args]
    with pytest.raises(StartupError, match=message):
        flags = apiserver.common.parse_flags(args, apiserver.BOOL_FLAGS, apiserver.VALUE_FLAGS | apiserver.BOOL_FLAGS)
        apiserver.settings_from(flags, apiserver.version_tuple(version))


# --- live processes -------------------------------------------------------------------------------------


def get(url: str) -> int:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"stand-in exited: {process.stderr.read() if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"port {port} never opened")


@pytest.fixture
def run() -> t.Iterator[t.Callable[..., subprocess.Popen]]:
    processes: list[subprocess.Popen] = []

    def start(script: str, args: list[str], argv0: str, **env: str) -> subprocess.Popen:
        environ = dict(os.environ, KUBEFORT_STANDIN_ARGV0=argv0, KUBEFORT_STANDIN_STATE="/nonexistent", **env)
        process = subprocess.Popen([sys.executable, os.path.join(STANDINS, script), *args], env=environ,
                                   stderr=subprocess.PIPE, text=True)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize(
    ("config", "pods_code", "read_only_open"),
    [
        ("authentication: {anonymous: {enabled: false}}\nauthorization: {mode: Webhook}\n", 401, False),
        ("authentication: {anonymous: {enabled: true}}\nauthorization: {mode: Webhook}\n", 403, False),
        ("authentication: {anonymous: {enabled: true}}\nauthorization: {mode: AlwaysAllow}\nreadOnlyPort: {ro}\n",
         200, True),
    ],
    ids=["anonymous-off", "anonymous-on-webhook", "anonymous-on-always-allow"],
)
def test_kubelet_ports_answer_like_the_real_kubelet(tmp_path: t.Any, run: t.Callable, config: str, pods_code: int,
                                                    read_only_open: bool) -> None:
    port, healthz, read_only = free_port(), free_port(), free_port()
    text = DROPIN_HEAD + f"port: {port}\nhealthzPort: {healthz}\n" + config.replace("{ro}", str(read_only))
    process = run("kubelet_standin.py",
                  [f"--config={write(tmp_path / 'config.yaml', text)}", f"--cert-dir={tmp_path / 'pki'}"],
                  "/usr/bin/kubelet")
    wait_port(port, process)
    assert get(f"http://127.0.0.1:{healthz}/healthz") == 200
    assert get(f"https://127.0.0.1:{port}/pods") == pods_code
    if read_only_open:
        assert get(f"http://127.0.0.1:{read_only}/pods") == 200
    else:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", read_only), timeout=1).close()
    with open(f"/proc/{process.pid}/cmdline", "rb") as handle:
        assert handle.read().split(b"\0")[0] == b"/usr/bin/kubelet"


def test_kubelet_exits_1_with_a_clear_line_on_invalid_config(tmp_path: t.Any, run: t.Callable) -> None:
    text = DROPIN_HEAD + "authorization: {mode: Bogus}\n"
    process = run("kubelet_standin.py", [f"--config={write(tmp_path / 'config.yaml', text)}"], "/usr/bin/kubelet")
    assert process.wait(20) == 1
    assert "startup failed: invalid configuration: authorization.mode" in process.stderr.read()


@pytest.mark.parametrize(
    ("args", "codes"),
    [
        (["--authorization-mode=Node,RBAC"], {"/readyz": 200, "/livez": 200, "/version": 200, "/api": 403}),
        (["--authorization-mode=Node,RBAC", "--anonymous-auth=false"], {"/readyz": 401, "/api": 401}),
        # The real API server turns anonymous auth off under AlwaysAllow (tests/real/test_real_standins.py).
        (["--authorization-mode=AlwaysAllow"], {"/readyz": 401, "/api": 401}),
        (["--authorization-mode=Node,RBAC", "--authentication-config={authn}"],
         {"/readyz": 200, "/livez": 200, "/version": 401, "/api": 401}),
    ],
    ids=["kubeadm-default", "anonymous-off", "always-allow", "anonymous-limited-to-health"],
)
def test_apiserver_answers_anonymous_requests_like_the_real_one(tmp_path: t.Any, run: t.Callable,
                                                                args: list[str], codes: dict[str, int]) -> None:
    port = free_port()
    authn = write(tmp_path / "authn.yaml", AUTHN_ANONYMOUS)
    args = [a.format(authn=authn) for a in args]
    process = run("apiserver_standin.py",
                  [f"--secure-port={port}", "--bind-address=127.0.0.1", f"--etcd-servers=https://127.0.0.1:{port}",
                   *args], "kube-apiserver", KUBEFORT_STANDIN_VERSION="v1.32.0")
    wait_port(port, process)
    assert {path: get(f"https://127.0.0.1:{port}{path}") for path in codes} == codes
    with open(f"/proc/{process.pid}/cmdline", "rb") as handle:
        assert handle.read() == b"\0".join([b"kube-apiserver", *(a.encode() for a in process.args[2:])]) + b"\0"
    with open(f"/proc/{process.pid}/comm", "rb") as handle:
        assert handle.read().strip() == b"kube-apiserver"
