# -*- coding: utf-8 -*-
# Copyright (c) kubefort.hardening contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This module is private to the collection: its interface may change at any time.

"""A host firewall for Kubernetes ports: our own nftables table, or our own iptables chain.

Only the managed ports are filtered; everything else is left to the node's own firewall. For each
managed port, connections are accepted from its configured sources, from loopback, from the SSH client
Ansible uses, and when already established; every other new connection gets a TCP reset, so a probe
sees "connection refused". The ruleset carries a fingerprint (a hash of what we render) in a rule
comment: the live state is current exactly when that fingerprint is loaded. Persistence is a systemd
unit that loads the same file at boot (after nftables.service, whose "flush ruleset" would drop it).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import typing as t

TABLE = "kubefort"
CHAIN = "KUBEFORT-INPUT"
UNIT_NAME = "kubefort-firewall.service"
CONF_DIR = "etc/kubefort"
UNIT_DIR = "etc/systemd/system"
WANTS_DIR = "etc/systemd/system/sysinit.target.wants"
FINGERPRINT_PREFIX = "kubefort:"

Runner = t.Callable[[t.List[str], t.Optional[str]], t.Tuple[int, str, str]]


class FirewallError(Exception):
    """The firewall could not be computed or applied; the message says what to do."""


class PortPolicy(t.NamedTuple):
    port: int
    sources: t.Tuple[str, ...]
    comment: str


def _network(value: t.Any, where: str) -> str:
    try:
        return str(ipaddress.ip_network(str(value).strip(), strict=False))
    except ValueError:
        raise FirewallError("%s: %r is not an IP address or CIDR (e.g. 192.0.2.10 or 10.0.0.0/24)" % (where, value)) from None


def parse_policies(ports: t.Iterable[t.Mapping[str, t.Any]], common_sources: t.Iterable[t.Any],
                   protected_ports: t.Iterable[int]) -> t.List[PortPolicy]:
    """Validated port policies, sorted by port; raises FirewallError naming the bad entry."""
    common = [_network(s, "common_sources") for s in common_sources]
    protected = set(protected_ports)
    seen = {}
    for entry in ports:
        port = entry.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise FirewallError("ports: port must be a number from 1 to 65535, not %r" % (port,))
        if port in protected:
            raise FirewallError(
                "ports: refusing to filter port %d, which the SSH connection Ansible uses is on; "
                "remove it from the managed ports" % port
            )
        if port in seen:
            raise FirewallError("ports: port %d is listed twice; merge its sources into one entry" % port)
        sources = sorted(set(common + [_network(s, "ports[%d].sources" % port) for s in entry.get("sources") or []]),
                         key=_sort_key)
        seen[port] = PortPolicy(port, tuple(sources), str(entry.get("comment") or "").replace('"', "'"))
    return [seen[p] for p in sorted(seen)]


def _sort_key(network: str) -> t.Tuple[int, t.Any]:
    parsed = ipaddress.ip_network(network)
    return (parsed.version, parsed)


def _split(networks: t.Iterable[str]) -> t.Tuple[t.List[str], t.List[str]]:
    v4 = [n for n in networks if ipaddress.ip_network(n).version == 4]
    v6 = [n for n in networks if ipaddress.ip_network(n).version == 6]
    return v4, v6


def ssh_client_address(environ: t.Mapping[str, str], proc_path: str = "/proc", pid: t.Optional[int] = None) -> t.Tuple[t.Optional[str], t.Optional[int]]:
    """The SSH client's address and the SSH server port, from SSH_CONNECTION.

    become (sudo) usually drops SSH_CONNECTION, so the ancestors' environments are searched too.
    """
    value = environ.get("SSH_CONNECTION")
    current = os.getpid() if pid is None else pid
    for _depth in range(32):
        if value:
            break
        current = _parent(proc_path, current)
        if current is None or current <= 1:
            break
        value = _environ_var(proc_path, current, "SSH_CONNECTION")
    if not value:
        return None, None
    fields = value.split()
    if len(fields) != 4:
        return None, None
    try:
        return str(ipaddress.ip_address(fields[0])), int(fields[3])
    except ValueError:
        return None, None


def _parent(proc_path: str, pid: int) -> t.Optional[int]:
    try:
        with open(os.path.join(proc_path, str(pid), "stat"), "rb") as handle:
            stat = handle.read().decode("utf-8", "replace")
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _environ_var(proc_path: str, pid: int, name: str) -> t.Optional[str]:
    try:
        with open(os.path.join(proc_path, str(pid), "environ"), "rb") as handle:
            data = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    for item in data.split("\0"):
        if item.startswith(name + "="):
            return item[len(name) + 1:]
    return None


def fingerprint(policies: t.Sequence[PortPolicy], keep: t.Sequence[str], backend: str) -> str:
    data = repr((backend, [tuple(p) for p in policies], sorted(keep)))
    return FINGERPRINT_PREFIX + hashlib.sha256(data.encode("utf-8")).hexdigest()[:16]


# ---- nftables -------------------------------------------------------------------------------------

def render_nft(policies: t.Sequence[PortPolicy], keep: t.Sequence[str]) -> str:
    """The whole nft -f file: (re)creates our table atomically, touching no other table."""
    mark = fingerprint(policies, keep, "nftables")
    keep4, keep6 = _split(keep)
    rules = ['ct state established,related accept comment "%s"' % mark, 'iifname "lo" accept']
    rules += ['ip saddr { %s } accept comment "kept: Ansible connection"' % ", ".join(keep4)] if keep4 else []
    rules += ['ip6 saddr { %s } accept comment "kept: Ansible connection"' % ", ".join(keep6)] if keep6 else []
    for policy in policies:
        v4, v6 = _split(policy.sources)
        comment = ' comment "%s"' % policy.comment if policy.comment else ""
        if v4:
            rules.append("tcp dport %d ip saddr { %s } accept%s" % (policy.port, ", ".join(v4), comment))
        if v6:
            rules.append("tcp dport %d ip6 saddr { %s } accept%s" % (policy.port, ", ".join(v6), comment))
    if policies:
        rules.append("tcp dport { %s } reject with tcp reset" % ", ".join(str(p.port) for p in policies))
    body = "".join("\t\t%s\n" % rule for rule in rules)
    return (
        "#!/usr/sbin/nft -f\n"
        "# Managed by kubefort.hardening (host_firewall). Do not edit: the next run replaces it.\n"
        "# Remove it with host_firewall state=absent.\n"
        "table inet %s\n"
        "delete table inet %s\n"
        "table inet %s {\n"
        "\tchain input {\n"
        "\t\ttype filter hook input priority -10; policy accept;\n"
        "%s"
        "\t}\n"
        "}\n" % (TABLE, TABLE, TABLE, body)
    )


# ---- iptables -------------------------------------------------------------------------------------

def render_iptables(policies: t.Sequence[PortPolicy], keep: t.Sequence[str], version: int) -> str:
    """iptables-restore --noflush input for our chain, for IPv4 (4) or IPv6 (6)."""
    mark = fingerprint(policies, keep, "iptables")
    keep_v = _split(keep)[0 if version == 4 else 1]
    lines = ["*filter", ":%s - [0:0]" % CHAIN, "-F %s" % CHAIN,
             '-A %s -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "%s" -j ACCEPT' % (CHAIN, mark),
             "-A %s -i lo -j ACCEPT" % CHAIN]
    lines += ['-A %s -s %s -m comment --comment "kept: Ansible connection" -j ACCEPT' % (CHAIN, k) for k in keep_v]
    for policy in policies:
        sources = _split(policy.sources)[0 if version == 4 else 1]
        comment = ' -m comment --comment "%s"' % policy.comment if policy.comment else ""
        lines += ["-A %s -s %s -p tcp -m tcp --dport %d%s -j ACCEPT" % (CHAIN, s, policy.port, comment) for s in sources]
    lines += ["-A %s -p tcp -m tcp --dport %d -j REJECT --reject-with tcp-reset" % (CHAIN, p.port) for p in policies]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def iptables_start_commands(commands: t.Mapping[str, str], conf_dir: str) -> t.List[str]:
    """What the unit runs at boot, in order: load each chain, then hook it into INPUT once."""
    steps = []
    for name, restore in (("iptables", "iptables-restore"), ("ip6tables", "ip6tables-restore")):
        binary = commands[name]
        steps.append("%s --noflush %s/firewall.%s" % (commands[restore], conf_dir, name))
        steps.append("/bin/sh -c '%s -C INPUT -j %s 2>/dev/null || %s -I INPUT 1 -j %s'" % (binary, CHAIN, binary, CHAIN))
    return steps


# ---- persistence ----------------------------------------------------------------------------------

def render_unit(backend: str, commands: t.Mapping[str, str]) -> str:
    conf_dir = "/" + CONF_DIR
    if backend == "nftables":
        start = "ExecStart=%s -f %s/firewall.nft\n" % (commands["nft"], conf_dir)
        stop = "ExecStop=-%s delete table inet %s\n" % (commands["nft"], TABLE)
    else:
        start = "".join("ExecStart=%s\n" % step for step in iptables_start_commands(commands, conf_dir))
        stop = "".join(
            "ExecStop=-/bin/sh -c '%s -D INPUT -j %s; %s -F %s; %s -X %s'\n" % ((commands[b], CHAIN) * 3)
            for b in ("iptables", "ip6tables")
        )
    return (
        "# Managed by kubefort.hardening (host_firewall): loads the Kubernetes ports firewall at boot.\n"
        "[Unit]\n"
        "Description=kubefort.hardening host firewall for Kubernetes ports\n"
        "DefaultDependencies=no\n"
        "Wants=network-pre.target\n"
        # nftables.service starts with "flush ruleset": load after it, and again when it restarts.
        "After=nftables.service netfilter-persistent.service\n"
        "PartOf=nftables.service\n"
        "Before=network-pre.target shutdown.target kubelet.service\n"
        "Conflicts=shutdown.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        "%s%s"
        "\n"
        "[Install]\n"
        "WantedBy=sysinit.target\n" % (start, stop)
    )


class Plan(t.NamedTuple):
    """What the node must look like: file path (under root) -> content (None: absent), plus live state."""

    files: t.Dict[str, t.Optional[str]]
    live: t.Optional[str]  # rendered ruleset that must be loaded, or None to remove it
    mark: t.Optional[str]
    link: bool  # whether the unit is enabled (the sysinit.target.wants link)


def plan(state: str, backend: str, policies: t.Sequence[PortPolicy], keep: t.Sequence[str],
         commands: t.Mapping[str, str]) -> Plan:
    conf = {"nftables": ["firewall.nft"], "iptables": ["firewall.iptables", "firewall.ip6tables"]}
    files: t.Dict[str, t.Optional[str]] = {}
    for name in conf["nftables"] + conf["iptables"]:
        files[os.path.join(CONF_DIR, name)] = None
    files[os.path.join(UNIT_DIR, UNIT_NAME)] = None
    if state == "absent":
        return Plan(files, None, None, False)
    if backend == "nftables":
        text = render_nft(policies, keep)
        files[os.path.join(CONF_DIR, "firewall.nft")] = text
    else:
        text = render_iptables(policies, keep, 4) + render_iptables(policies, keep, 6)
        files[os.path.join(CONF_DIR, "firewall.iptables")] = render_iptables(policies, keep, 4)
        files[os.path.join(CONF_DIR, "firewall.ip6tables")] = render_iptables(policies, keep, 6)
    files[os.path.join(UNIT_DIR, UNIT_NAME)] = render_unit(backend, commands)
    return Plan(files, text, fingerprint(policies, keep, backend), True)


# ---- live state -----------------------------------------------------------------------------------

class LiveFirewall:
    """The loaded ruleset of one backend, read and changed through ``run`` (argv, stdin) -> (rc, out, err)."""

    def __init__(self, backend: str, commands: t.Mapping[str, str], run: Runner) -> None:
        self.backend = backend
        self.commands = commands
        self.run = run

    def _must(self, argv: t.List[str], data: t.Optional[str] = None) -> str:
        rc, out, err = self.run(argv, data)
        if rc != 0:
            raise FirewallError("%s failed (rc %d): %s" % (" ".join(argv), rc, (err or out).strip()))
        return out

    def loaded_mark(self) -> t.Optional[str]:
        """The fingerprint of our loaded ruleset, ``""`` when it is loaded without one, None when absent."""
        if self.backend == "nftables":
            rc, out, dummy = self.run([self.commands["nft"], "list", "table", "inet", TABLE], None)
            return _find_mark(out) if rc == 0 else None
        marks = []
        for binary in ("iptables", "ip6tables"):
            rc, out, dummy = self.run([self.commands[binary], "-S", CHAIN], None)
            if rc != 0:
                return None
            hooked = self.run([self.commands[binary], "-C", "INPUT", "-j", CHAIN], None)[0]
            marks.append(_find_mark(out) if hooked == 0 else "")
        return marks[0] if marks[0] == marks[1] else ""

    def apply(self, text: str) -> None:
        if self.backend == "nftables":
            # One transaction: the file creates, deletes and recreates our table.
            self._must([self.commands["nft"], "-f", "-"], text)
            return
        parts = text.split("COMMIT\n")  # the IPv4 part, then the IPv6 part
        for index, (binary, restore) in enumerate((("iptables", "iptables-restore"), ("ip6tables", "ip6tables-restore"))):
            self._must([self.commands[restore], "--noflush"], parts[index] + "COMMIT\n")
            if self.run([self.commands[binary], "-C", "INPUT", "-j", CHAIN], None)[0] != 0:
                self._must([self.commands[binary], "-I", "INPUT", "1", "-j", CHAIN])

    def remove(self) -> None:
        if self.backend == "nftables":
            self._must([self.commands["nft"], "delete", "table", "inet", TABLE])
            return
        for binary in ("iptables", "ip6tables"):
            cmd = self.commands[binary]
            while self.run([cmd, "-C", "INPUT", "-j", CHAIN], None)[0] == 0:
                self._must([cmd, "-D", "INPUT", "-j", CHAIN])
            if self.run([cmd, "-S", CHAIN], None)[0] == 0:
                self._must([cmd, "-F", CHAIN])
                self._must([cmd, "-X", CHAIN])


def _find_mark(listing: str) -> str:
    # nft quotes comments; iptables -S prints one without spaces bare.
    found = re.search(re.escape(FINGERPRINT_PREFIX) + "[0-9a-f]{16}", listing)
    return found.group(0) if found else ""


# ---- converge -------------------------------------------------------------------------------------

def _read_text(path: str) -> t.Optional[str]:
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise FirewallError("cannot read %s: %s" % (path, exc)) from None


def _write_atomic(path: str, text: str) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    temp = os.path.join(directory, ".%s.kubefort-tmp" % os.path.basename(path))
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temp, 0o644)
    os.replace(temp, path)


def _link_state(root: str) -> t.Tuple[str, str, bool]:
    link = os.path.join(root, WANTS_DIR, UNIT_NAME)
    target = "/" + os.path.join(UNIT_DIR, UNIT_NAME)
    return link, target, os.path.islink(link) and os.readlink(link) == target


def converge(desired: Plan, live: t.Optional[LiveFirewall], root: str, persist: bool,
             check_mode: bool) -> t.Tuple[bool, t.List[t.Dict[str, str]]]:
    """Make the node match ``desired``; returns (changed, diffs). In check mode, only predicts."""
    diffs: t.List[t.Dict[str, str]] = []
    live_change = False
    if live is not None:
        current = live.loaded_mark()
        wanted = desired.mark
        live_change = current != wanted if wanted else current is not None
        if live_change:
            diffs.append({"before_header": "loaded %s ruleset" % live.backend,
                          "after_header": "loaded %s ruleset" % live.backend,
                          "before": "%s\n" % (current or ("unmarked" if current == "" else "absent")),
                          "after": "%s\n" % (wanted or "absent")})
    file_changes = []
    for rel, text in desired.files.items():
        text = text if persist else None  # not persisted: no unit, no rules file left behind
        path = os.path.join(root, rel)
        before = _read_text(path)
        if before != text:
            file_changes.append((path, text))
            diffs.append({"before_header": path, "after_header": path, "before": before or "", "after": text or ""})
    link, target, linked = _link_state(root)
    want_link = desired.link and persist
    link_change = linked != want_link and (want_link or os.path.lexists(link))
    if link_change:
        diffs.append({"before_header": link, "after_header": link,
                      "before": "-> %s\n" % target if linked else "", "after": "-> %s\n" % target if want_link else ""})
    changed = live_change or bool(file_changes) or link_change
    if check_mode or not changed:
        return changed, diffs
    if live_change and live is not None:
        if desired.live is None:
            live.remove()
        else:
            live.apply(desired.live)
    for path, text in file_changes:
        if text is None:
            os.unlink(path)
        else:
            _write_atomic(path, text)
    if link_change:
        if os.path.lexists(link):
            os.unlink(link)
        if want_link:
            os.makedirs(os.path.dirname(link), exist_ok=True)
            os.symlink(target, link)
    return changed, diffs
