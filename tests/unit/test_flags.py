"""Command lines are read the way pflag reads them."""

from __future__ import annotations

import pytest

from ansible_collections.kubefort.hardening.plugins.module_utils._flags import parse_args, parse_bool


@pytest.mark.parametrize(
    ("component", "argv", "flag", "expected"),
    [
        # The last occurrence of a single-value flag wins.
        ("kubelet", ["--read-only-port=0", "--read-only-port=10255"], "read-only-port", "10255"),
        ("kube-apiserver", ["--anonymous-auth=false", "--anonymous-auth=true"], "anonymous-auth", "true"),
        # List flags accumulate over repeated occurrences.
        ("kube-apiserver", ["--authorization-mode=AlwaysAllow", "--authorization-mode=Node,RBAC"], "authorization-mode",
         "AlwaysAllow,Node,RBAC"),
        ("kube-apiserver", ["--enable-admission-plugins=NodeRestriction", "--enable-admission-plugins", "AlwaysPullImages"],
         "enable-admission-plugins", "NodeRestriction,AlwaysPullImages"),
        # The kubelet's --authorization-mode is one string, not a list.
        ("kubelet", ["--authorization-mode=AlwaysAllow", "--authorization-mode=Webhook"], "authorization-mode", "Webhook"),
        # A value in the next word.
        ("kubelet", ["--read-only-port", "10255"], "read-only-port", "10255"),
        # A bare boolean flag is true, and does not take the next word.
        ("kube-apiserver", ["--anonymous-auth", "false"], "anonymous-auth", "true"),
        ("kube-apiserver", ["-anonymous-auth=false"], "anonymous-auth", "false"),
        # Map flags merge keys, later ones winning.
        ("kubelet", ["--feature-gates=A=true,B=false", "--feature-gates=A=false"], "feature-gates", "A=false,B=false"),
        # Absent.
        ("kubelet", ["--config=/x"], "read-only-port", None),
    ],
)
def test_effective_value(component, argv, flag, expected):
    assert parse_args(component, argv).value(flag) == expected


def test_positional_words_and_double_dash():
    flags = parse_args("kube-apiserver", ["--anonymous-auth", "false", "--", "--read-only-port=1"])
    assert flags.positional == ["false", "--read-only-port=1"]
    assert not flags.has("read-only-port")


def test_sources_follow_the_winning_occurrence():
    flags = parse_args("kubelet", ["--read-only-port=0", "--read-only-port=10255"], [{"path": "a", "line": 1}, {"path": "b", "line": 7}])
    assert flags.sources("read-only-port") == [{"path": "b", "line": 7}]
    lists = parse_args("kube-apiserver", ["--authorization-mode=A", "--authorization-mode=B"], [{"path": "m", "line": 3}, {"path": "m", "line": 9}])
    assert [s["line"] for s in lists.sources("authorization-mode")] == [3, 9]


@pytest.mark.parametrize(("text", "value"), [("true", True), ("1", True), ("T", True), ("False", False), ("0", False), ("yes", None), (None, None)])
def test_parse_bool_is_go_strconv(text, value):
    assert parse_bool(text) is value
