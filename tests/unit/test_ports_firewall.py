"""host_firewall: rendering, validation, and the real module in network namespaces of our own.

The live tests build two namespaces joined by a veth pair: "node" (10.77.0.2, fd77::2) runs stand-in
listeners on 10250 and 10255, "peer" holds the other hosts' addresses: 10.77.0.1 (control plane),
10.77.0.3 (anyone else), 10.77.0.5 (the Ansible SSH client). No traffic leaves these namespaces.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils import _firewall

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NFT = "/usr/sbin/nft"
COMMANDS = {"nft": NFT, "iptables": "/usr/sbin/iptables", "ip6tables": "/usr/sbin/ip6tables",
            "iptables-restore": "/usr/sbin/iptables-restore", "ip6tables-restore": "/usr/sbin/ip6tables-restore"}
PORTS = [{"port": 10250, "sources": ["10.77.0.1"], "comment": "kubelet API"}, {"port": 10255, "comment": "read-only"}]
SSH = "10.77.0.5 40022 10.77.0.2 22"
NETNS = pytest.mark.root(reason="creates network namespaces")


# ---- rendering and validation ---------------------------------------------------------------------

def policies(ports=None, common=(), protected=()):
    return _firewall.parse_policies(PORTS if ports is None else ports, common, protected)


@pytest.mark.root(reason="nft -c needs CAP_NET_ADMIN")
def test_nft_ruleset_is_valid_and_limited_to_our_table(tmp_path):
    text = _firewall.render_nft(policies(common=["169.254.20.10", "fd00::/64"]), ["10.77.0.5/32"])
    path = tmp_path / "rules.nft"
    path.write_text(text)
    subprocess.run([NFT, "-c", "-f", str(path)], check=True, capture_output=True)
    tables = set(re.findall(r"^(?:delete )?table (\S+ \S+)", text, re.M))
    assert tables == {"inet kubefort"}
    assert "flush ruleset" not in text
    assert "tcp dport { 10250, 10255 } reject with tcp reset" in text
    assert "tcp dport 10250 ip6 saddr { fd00::/64 } accept" in text


def test_fingerprint_follows_the_input():
    base = _firewall.fingerprint(policies(), ["10.77.0.5/32"], "nftables")
    assert base == _firewall.fingerprint(policies(), ["10.77.0.5/32"], "nftables")
    assert base != _firewall.fingerprint(policies(), ["10.77.0.6/32"], "nftables")
    assert base != _firewall.fingerprint(policies(common=["10.0.0.0/8"]), ["10.77.0.5/32"], "nftables")
    assert re.fullmatch(r"kubefort:[0-9a-f]{16}", base)


@pytest.mark.parametrize(
    "ports, protected, message",
    [
        ([{"port": 0}], (), "port must be a number"),
        ([{"port": "10250"}], (), "port must be a number"),
        ([{"port": 10250}, {"port": 10250}], (), "listed twice"),
        ([{"port": 10250, "sources": ["10.0.0.300"]}], (), "not an IP address or CIDR"),
        ([{"port": 22}], (22,), "SSH connection Ansible uses"),
    ],
)
def test_bad_policies(ports, protected, message):
    with pytest.raises(_firewall.FirewallError, match=message):
        _firewall.parse_policies(ports, [], protected)


def test_ssh_client_from_environment():
    assert _firewall.ssh_client_address({"SSH_CONNECTION": SSH}) == ("10.77.0.5", 22)
    assert _firewall.ssh_client_address({"SSH_CONNECTION": "garbage"}) == (None, None)


def test_ssh_client_from_an_ancestor_after_become(tmp_path):
    # sudo dropped SSH_CONNECTION from the module's environment; its grandparent (the SSH session) has it
    for pid, ppid, env in ((300, 200, "SUDO_USER=x"), (200, 100, "SSH_CONNECTION=" + SSH), (100, 1, "")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text("%d (sh) S %d 1 1 0" % (pid, ppid))
        (tmp_path / str(pid) / "environ").write_text(env + "\0PATH=/bin\0")
    assert _firewall.ssh_client_address({}, str(tmp_path), pid=300) == ("10.77.0.5", 22)
    assert _firewall.ssh_client_address({}, str(tmp_path), pid=100) == (None, None)


def test_unit_orders_after_nftables_and_cleans_up():
    unit = _firewall.render_unit("nftables", COMMANDS)
    assert "ExecStart=/usr/sbin/nft -f /etc/kubefort/firewall.nft" in unit
    assert "ExecStop=-/usr/sbin/nft delete table inet kubefort" in unit
    assert "After=nftables.service" in unit and "WantedBy=sysinit.target" in unit


# ---- the real module in namespaces ----------------------------------------------------------------

def sh(*argv, check=True, **kwargs):
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, **kwargs)


CLIENT = r"""
import socket, sys
src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(2)
s.bind((src, 0))
try:
    s.connect((dst, port))
except ConnectionRefusedError:
    print("refused"); sys.exit()
except OSError as exc:
    print("error " + str(exc)); sys.exit()
if len(sys.argv) > 4:   # hold the connection until told to use it
    print("connected", flush=True); sys.stdin.readline()
s.sendall(b"GET /pods HTTP/1.0\r\n\r\n")
print(s.recv(100).split(b"\r\n")[0].decode() or "closed")
"""

SERVER = r"""
import http.server, socketserver, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    address_family = __import__("socket").AF_INET6
    daemon_threads = True
for port in (10250, 10255):
    s = S(("::", port), H)
    threading.Thread(target=s.serve_forever, daemon=True).start()
print("ready", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def netns():
    node, peer = "kubefort-fw-%d-node" % os.getpid(), "kubefort-fw-%d-peer" % os.getpid()
    for ns in (node, peer):
        sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", "kfnode0", "netns", node, "type", "veth", "peer", "name", "kfpeer0", "netns", peer)
        for ns, dev, addrs in ((node, "kfnode0", ["10.77.0.2/24", "fd77::2/64"]),
                               (peer, "kfpeer0", ["10.77.0.1/24", "10.77.0.3/24", "10.77.0.5/24", "fd77::3/64"])):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            for addr in addrs:
                sh("ip", "-n", ns, "addr", "add", addr, "dev", dev, "nodad")
            sh("ip", "-n", ns, "link", "set", dev, "up")
        # a Kubernetes node tracks connections (kube-proxy's rules use conntrack); so does this one
        sh("ip", "netns", "exec", node, NFT, "add table inet standin; add chain inet standin pre "
           "{ type filter hook prerouting priority 0; ct state new counter; }")
        server = subprocess.Popen(["ip", "netns", "exec", node, sys.executable, "-c", SERVER],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        yield {"node": node, "peer": peer}
        server.stdin.close()
        server.wait(timeout=10)
    finally:
        for ns in (node, peer):
            sh("ip", "netns", "del", ns, check=False)


def connect(ns, src, dst="10.77.0.2", port=10250):
    return sh("ip", "netns", "exec", ns["peer"], sys.executable, "-c", CLIENT, src, dst, str(port)).stdout.strip()


def module(ns, args, check=False, diff=True, ssh=SSH):
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, ".build"))
    env.pop("SSH_CONNECTION", None)
    if ssh:
        env["SSH_CONNECTION"] = ssh
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    proc = sh("ip", "netns", "exec", ns["node"], sys.executable, "-m",
              "ansible_collections.kubefort.hardening.plugins.modules.host_firewall",
              input=json.dumps({"ANSIBLE_MODULE_ARGS": payload}), env=env, check=False)
    return json.loads(proc.stdout)


def reachability(ns, port=10250):
    return {who: connect(ns, src, port=port) for who, src in
            (("control-plane", "10.77.0.1"), ("other", "10.77.0.3"), ("ssh-client", "10.77.0.5"))}


@NETNS
@pytest.mark.parametrize("backend", ["nftables", "iptables"])
def test_firewall_lifecycle(netns, tmp_path, backend):
    args = {"backend": backend, "ports": PORTS, "persist_root": str(tmp_path)}
    ok, refused = "HTTP/1.0 200 OK", "refused"
    assert reachability(netns) == {"control-plane": ok, "other": ok, "ssh-client": ok}

    # a connection that is open before the change (like Ansible's own) must survive it
    held = subprocess.Popen(["ip", "netns", "exec", netns["peer"], sys.executable, "-c", CLIENT,
                             "10.77.0.3", "10.77.0.2", "10250", "hold"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert held.stdout.readline().strip() == "connected"

    predicted = module(netns, args, check=True)
    assert predicted["changed"] is True, predicted
    assert reachability(netns)["other"] == ok  # check mode changed nothing
    assert not os.path.exists(tmp_path / "etc")

    applied = module(netns, args)
    assert applied["changed"] is True, applied
    assert applied["backend"] == backend and applied["ssh_client"] == "10.77.0.5"
    assert applied["fingerprint"] in json.dumps(applied["diff"])
    assert reachability(netns) == {"control-plane": ok, "other": refused, "ssh-client": ok}
    assert reachability(netns, 10255) == {"control-plane": refused, "other": refused, "ssh-client": ok}
    assert connect(netns, "fd77::3", "fd77::2") == refused
    held.stdin.write("go\n")
    held.stdin.flush()
    assert held.stdout.readline().strip() == ok
    held.wait(timeout=5)

    again = module(netns, args)
    assert again["changed"] is False and again["diff"] == []
    assert module(netns, args, check=True)["changed"] is False

    unit = (tmp_path / "etc/systemd/system/kubefort-firewall.service").read_text()
    link = tmp_path / "etc/systemd/system/sysinit.target.wants/kubefort-firewall.service"
    assert os.readlink(link) == "/etc/systemd/system/kubefort-firewall.service"

    # "reboot": the namespace loses its rules; the unit's ExecStart lines bring them back
    sh("ip", "netns", "exec", netns["node"], NFT, "flush", "ruleset")
    assert reachability(netns)["other"] == ok
    for line in re.findall(r"^ExecStart=(.*)$", unit, re.M):
        line = line.replace("/etc/kubefort", str(tmp_path / "etc/kubefort"))
        argv = ["/bin/sh", "-c", line[len("/bin/sh -c '"):-1]] if line.startswith("/bin/sh -c") else line.split()
        sh("ip", "netns", "exec", netns["node"], *argv)
    assert reachability(netns)["other"] == refused
    assert module(netns, args)["changed"] is False

    # a changed allow-list is a change, shown by the diff of the rules file
    wider = dict(args, ports=[dict(PORTS[0], sources=["10.77.0.0/24"]), PORTS[1]])
    changed = module(netns, wider)
    assert changed["changed"] is True
    assert any("10.77.0.0/24" in d["after"] for d in changed["diff"])
    assert reachability(netns)["other"] == ok

    removed = module(netns, {"state": "absent", "backend": backend, "persist_root": str(tmp_path)})
    assert removed["changed"] is True
    assert reachability(netns)["other"] == ok
    assert not os.path.lexists(link) and not os.path.exists(tmp_path / "etc/kubefort/firewall.nft")
    assert module(netns, {"state": "absent", "backend": backend, "persist_root": str(tmp_path)})["changed"] is False


@NETNS
def test_tampered_rules_are_restored(netns, tmp_path):
    args = {"backend": "nftables", "ports": PORTS, "persist_root": str(tmp_path)}
    assert module(netns, args)["changed"] is True
    sh("ip", "netns", "exec", netns["node"], NFT, "flush", "chain", "inet", "kubefort", "input")
    assert connect(netns, "10.77.0.3") == "HTTP/1.0 200 OK"
    assert module(netns, args, check=True)["changed"] is True
    assert module(netns, args)["changed"] is True
    assert connect(netns, "10.77.0.3") == "refused"


@NETNS
def test_refuses_to_filter_the_ssh_port(netns, tmp_path):
    result = module(netns, {"ports": [{"port": 22}], "persist_root": str(tmp_path)})
    assert result["failed"] is True
    assert "SSH connection Ansible uses" in result["msg"]
    assert "kubefort" not in sh("ip", "netns", "exec", netns["node"], NFT, "list", "tables").stdout


@NETNS
def test_without_ssh_nothing_extra_is_kept(netns, tmp_path):
    args = {"ports": PORTS, "persist_root": str(tmp_path), "persist": False, "detect_ssh_client": False}
    result = module(netns, args, ssh=None)
    assert result["changed"] is True
    assert (result["kept_sources"], result["ssh_client"]) == ([], None)
    assert reachability(netns) == {"control-plane": "HTTP/1.0 200 OK", "other": "refused", "ssh-client": "refused"}
    assert not os.path.exists(tmp_path / "etc")  # persist=false writes nothing
