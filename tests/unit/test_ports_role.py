"""The ports role end to end, with ansible-playbook running inside a network namespace of our own.

"node" (10.78.0.2) runs an insecure stand-in kubelet: the read-only port 10255 (HTTP) and the API 10250
(HTTPS) both answer anonymous GET /pods with 200. The inventory host "peer" is a second namespace
(10.78.0.3) reached through a python wrapper, so delegated probes cross a real veth link and the
node's firewall. Order: check -> apply (firewall on) -> apply again; plus an offline host. Removal
(state=absent) is proven at module level in test_ports_firewall.py.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
pytestmark = [pytest.mark.integration, pytest.mark.root(reason="creates network namespaces")]

KUBELET = r"""
import http.server, socket, socketserver, ssl, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b'{"kind":"PodList"}')
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
readonly = S(("::", 10255), H)
api = S(("::", 10250), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[1], sys.argv[2])
api.socket = ctx.wrap_socket(api.socket, server_side=True)
for s in (readonly, api):
    threading.Thread(target=s.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.readline()
"""

PLAY = """
- name: Ports role under test
  hosts: nodes
  gather_facts: false
  roles:
    - role: kubefort.hardening.ports
  tasks:
    - name: Save the results
      ansible.builtin.copy:
        content: "{{ {'results': kubefort_results, 'host': kubefort_host} | to_json }}"
        dest: "{{ out_dir }}/{{ inventory_hostname }}-{{ run }}.json"
        mode: "0644"
      check_mode: false
      changed_when: false
"""


def sh(*argv, check=True, **kwargs):
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, **kwargs)


def certificate(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "standin-kubelet")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "tls.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return str(tmp_path / "tls.crt"), str(tmp_path / "tls.key")


@pytest.fixture
def lab(tmp_path):
    node, peer = "kubefort-role-%d-node" % os.getpid(), "kubefort-role-%d-peer" % os.getpid()
    for ns in (node, peer):
        sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", "kfrnode0", "netns", node, "type", "veth", "peer", "name", "kfrpeer0", "netns", peer)
        for ns, dev, addr in ((node, "kfrnode0", "10.78.0.2/24"), (peer, "kfrpeer0", "10.78.0.3/24")):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        kubelet = subprocess.Popen(["ip", "netns", "exec", node, sys.executable, "-c", KUBELET, *certificate(tmp_path)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert kubelet.stdout.readline().strip() == "ready"
        wrapper = tmp_path / "peer-python"
        wrapper.write_text('#!/bin/sh\nexec ip netns exec %s %s "$@"\n' % (peer, sys.executable))
        wrapper.chmod(0o755)
        inventory = {"all": {"children": {"nodes": {"hosts": {
            "node1": {"ansible_host": "10.78.0.2"},
            "image1": {"kubefort_root": str(tmp_path / "image")},
        }}}, "hosts": {"peer": {"ansible_python_interpreter": str(wrapper)}}, "vars": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "kubefort_ports_probe_from": ["peer"], "kubefort_ports_probe_timeout": 1,
            "kubefort_ports_control_plane_sources": ["10.78.0.1"],
            "kubefort_ports_firewall_persist": False, "out_dir": str(tmp_path),
        }}}
        (tmp_path / "inventory.json").write_text(json.dumps(inventory))
        (tmp_path / "play.yml").write_text(PLAY)
        yield {"node": node, "dir": tmp_path}
        kubelet.stdin.close()
        kubelet.wait(timeout=10)
    finally:
        for ns in (node, peer):
            sh("ip", "netns", "del", ns, check=False)


def play(lab, run, *extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["PATH"] = os.path.join(REPO, ".venv", "bin") + os.pathsep + env["PATH"]
    proc = sh("ip", "netns", "exec", lab["node"], os.path.join(REPO, ".venv", "bin", "ansible-playbook"),
              "-i", str(lab["dir"] / "inventory.json"), str(lab["dir"] / "play.yml"), "-e", "run=" + run, *extra,
              env=env, check=False, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    saved = {h: json.loads((lab["dir"] / ("%s-%s.json" % (h, run))).read_text()) for h in ("node1", "image1")}
    recap = [line for line in proc.stdout.splitlines() if line.startswith("node1 ")][-1]
    return saved, recap


def by_id(saved, host):
    return {r["id"]: r for r in saved[host]["results"]}


def test_ports_role_check_apply_idempotent(lab):
    saved, recap = play(lab, "check", "--check", "-e", "kubefort_ports_firewall=true")
    node = by_id(saved, "node1")
    assert node["ports-kubelet-readonly-closed"]["status"] == "fail"
    assert node["ports-kubelet-readonly-anonymous"]["status"] == "fail"
    assert node["ports-kubelet-readonly-anonymous"]["actual"] == "from node: HTTP 200 OK; from peer: HTTP 200 OK"
    assert node["ports-kubelet-api-anonymous"]["status"] == "fail"
    assert "changed=1" in recap  # the firewall would change
    assert saved["node1"]["host"]["roles"] == ["ports"]
    # offline image: nothing live, every rule not applicable
    assert {r["status"] for r in saved["image1"]["results"]} == {"not_applicable"}
    assert "kubefort" not in sh("ip", "netns", "exec", lab["node"], "nft", "list", "tables").stdout

    saved, recap = play(lab, "apply", "-e", "kubefort_ports_firewall=true")
    node = by_id(saved, "node1")
    # across the network the kubelet is now refused; on the node itself loopback still reaches it,
    # so the read-only port stays a finding until the node role sets readOnlyPort: 0
    assert node["ports-kubelet-readonly-anonymous"]["actual"] == "from node: HTTP 200 OK; from peer: connection refused"
    assert node["ports-kubelet-api-anonymous"]["actual"] == "from node: HTTP 200 OK; from peer: connection refused"
    assert node["ports-kubelet-readonly-closed"]["status"] == "fail"
    assert "changed=1" in recap

    saved, recap = play(lab, "again", "-e", "kubefort_ports_firewall=true")
    assert "changed=0" in recap
    assert by_id(saved, "node1")["ports-kubelet-api-anonymous"]["actual"].endswith("from peer: connection refused")


def test_firewall_refused_when_kubelet_api_has_no_source(lab):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = sh("ip", "netns", "exec", lab["node"], os.path.join(REPO, ".venv", "bin", "ansible-playbook"),
              "-i", str(lab["dir"] / "inventory.json"), str(lab["dir"] / "play.yml"), "-e", "run=nosource",
              "-e", "kubefort_ports_firewall=true", "-e", '{"kubefort_ports_control_plane_sources": []}',
              "--limit", "node1", env=env, check=False, cwd=REPO)
    assert proc.returncode != 0
    assert "port 10250 has no allowed sources" in proc.stdout
    assert "kubefort" not in sh("ip", "netns", "exec", lab["node"], "nft", "list", "tables").stdout
