"""The broker's host policy and admission: pure logic, no daemon (the attacks are in tests/broker/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sandbox import PolicyError
from sandbox.broker.admission import admit
from sandbox.broker.host_policy import HostPolicy, HostPolicyError, TenantRule, load_host_policy
from sandbox.broker.peer import Peer

ALICE = Peer(uid=1500, gid=1500, pid=42, user="alice", groups=("alice", "gpu-users", "students"))


def _policy(text: str, tmp_path: Path) -> HostPolicy:
    path = tmp_path / "sandboxd.yaml"
    path.write_text(text)
    return load_host_policy(path)


def test_a_users_own_entry_wins_over_groups_and_groups_go_in_file_order(tmp_path: Path) -> None:
    policy = _policy("""
tenants:
  - {group: students, images: [small]}
  - {group: gpu-users, images: [big]}
  - {user: alice, images: [alice-only]}
  - {user: bob, images: [bob-only]}
""", tmp_path)
    assert policy.rule_for("alice", list(ALICE.groups)).images == ["alice-only"]
    assert policy.rule_for("carol", ["gpu-users", "students"]).images == ["small"]  # first in the file
    assert policy.rule_for("dave", ["gpu-users"]).images == ["big"]
    assert policy.rule_for("eve", ["eve", "staff"]) is None  # default deny


def test_defaults_deny_everything_not_listed(tmp_path: Path) -> None:
    entry = _policy("tenants: [{group: students}]", tmp_path).tenants[0]
    assert (entry.images, entry.networks, entry.runtimes, entry.gpus, entry.max_gpus, entry.workspace_roots) == (
        [], ["none"], ["runc"], [], 0, [])
    with pytest.raises(PolicyError, match="image avo-sandbox:cpu is not allowed for you"):
        admit(entry, {}, ALICE)


@pytest.mark.parametrize("text, message", [
    ("tenants: [{group: a, max_memory: lots}]", "tenants.0.max_memory: Value error, not a size: 'lots'"),
    ("tenants: [{user: a, group: b}]", "names exactly one of `user` or `group`"),
    ("tenants: [{group: a, networks: [host]}]", "tenants.0.networks.0: Input should be 'none' or 'bridge'"),
    ("tenants: [{group: a, workspace_roots: [home]}]", "must be an absolute, normalised path"),
    ("tenants: [{group: a, privileged: true}]", "tenants.0.privileged: Extra inputs are not permitted"),
    ("gpus: [{index: 0, uuid: GPU-a}, {index: 0, uuid: GPU-b}]", "two GPUs share the index"),
    ("tenants: [{group: a}\n", "cannot read the host policy"),
])
def test_a_bad_policy_is_one_line_naming_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(HostPolicyError) as caught:
        _policy(text, tmp_path)
    assert message in str(caught.value) and str(tmp_path / "sandboxd.yaml") in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_missing_policy_says_what_to_write(tmp_path: Path) -> None:
    with pytest.raises(HostPolicyError, match="no host policy.*docs/multi-tenant.md"):
        load_host_policy(tmp_path / "absent.yaml")


RULE = TenantRule(group="students", images=["avo-sandbox:cpu"], runtimes=["runc", "runsc"], max_memory="2g",
                  max_cpus=4, max_pool=1, workspace_roots=["/srv/avo/{user}"])


def test_admission_forces_uid_tenant_and_backend_and_clamps_the_pool() -> None:
    admitted = admit(RULE, {"memory": "1g", "pool_size": 4, "tenant": "someone-else", "backend": "broker"}, ALICE)
    assert (admitted.user, admitted.tenant, admitted.backend, admitted.pool_size) == ("1500:1500", "alice", "docker", 1)
    assert RULE.roots_for("alice") == ["/srv/avo/alice"]


def test_admission_names_every_refusal_at_once() -> None:
    with pytest.raises(PolicyError) as caught:
        admit(RULE, {"memory": "8g", "cpus": 16, "network": "bridge", "user": "0:0"}, ALICE)
    message = str(caught.value)
    for part in ("memory 8g is over your limit of 2g", "cpus 16 is over your limit of 4",
                 "network bridge is not allowed", "runs your containers as you (1500:1500)"):
        assert part in message


def test_tmpfs_shm_and_packages_are_the_host_policys_call() -> None:
    with pytest.raises(PolicyError) as caught:
        admit(RULE, {"memory": "1g", "tmpfs_size": "4g", "shm_size": "2g", "packages": ["scipy"]}, ALICE)
    message = str(caught.value)
    for part in ("tmpfs_size 4g is over your limit of 1g", "shm_size 2g is over your limit of 1g",
                 "the broker builds no images"):
        assert part in message
    roomy = RULE.model_copy(update={"max_tmpfs": "4g", "max_shm": "2g"})
    assert admit(roomy, {"memory": "1g", "tmpfs_size": "4g", "shm_size": "2g"}, ALICE).shm_size == "2g"


def test_root_is_never_a_tenant() -> None:
    root = Peer(uid=0, gid=0, pid=1, user="root", groups=("root",))
    with pytest.raises(PolicyError, match="root is never a tenant"):
        admit(TenantRule(user="root", images=["avo-sandbox:cpu"]), {"memory": "1g"}, root)


def test_the_harness_and_library_come_from_the_broker(tmp_path: Path) -> None:
    sources = HostPolicy().harness_sources()
    assert sources["/opt/avo/harness"].joinpath("call_harness.py").is_file()
    assert sources["/opt/avo/lib/orchestrator"].joinpath("core", "scoring.py").is_file()


@pytest.mark.parametrize(("asked", "reason"), [
    ({"nofile": 5000}, "nofile 5000 is over your limit of 4096 (max_nofile"),
    ({"max_file_size": "1t"}, "max_file_size 1t is over your limit of 2g (max_file_size"),
    ({"read_only_mounts": [{"host": "/d", "container": f"/d{i}"} for i in range(17)]},
     "read_only_mounts (count) 17 is over your limit of 16"),
    ({"env": {f"V{i}": "" for i in range(65)}}, "env (count) 65 is over your limit of 64"),
    ({"env": {"V": "x" * 65536}}, "env (bytes) 65537 is over your limit of 65536"),
])
def test_every_numeric_option_and_list_has_a_host_cap(asked: dict, reason: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(reason)):
        admit(RULE, {"memory": "1g", **asked}, ALICE)


@pytest.mark.parametrize(("asked", "overlapped"), [
    ({"read_only_mounts": [{"host": "/d", "container": "/opt/avo/harness/sub"}]}, "/opt/avo/harness"),
    ({"read_only_mounts": [{"host": "/d", "container": "/opt/avo/"}]}, "/opt/avo/harness"),
    ({"read_only_mounts": [{"host": "/d", "container": "/"}]}, "/opt/avo/harness"),
    ({"read_only_mounts": [{"host": "/d", "container": "/workspace/x"}]}, "/workspace"),
    ({"read_only_mounts": [{"host": "/d", "container": "/tmp"}]}, "/tmp"),
    ({"workdir": "/opt/avo/harness/"}, "/opt/avo/harness"),
    ({"workdir": "/opt"}, "/opt/avo/harness"),
    ({"workdir": "/dev"}, "/dev/shm"),
])
def test_targets_on_above_or_below_the_brokers_mounts_are_refused(asked: dict, overlapped: str) -> None:
    with pytest.raises(PolicyError, match=f"broker mounts|{overlapped}"):
        admit(RULE, {"memory": "1g", **asked}, ALICE)


def test_a_mount_on_a_supplied_path_in_any_spelling_is_admitted_as_that_path() -> None:
    asked = [{"host": "/d", "container": "//opt/avo/./harness/"}, {"host": "/e", "container": "/opt/avo/scorer"}]
    admitted = admit(RULE, {"memory": "1g", "read_only_mounts": asked}, ALICE)
    assert [m.container for m in admitted.read_only_mounts] == ["/opt/avo/harness", "/opt/avo/scorer"]
    with pytest.raises(PolicyError, match="two share the container path /opt/avo/harness"):
        admit(RULE, {"memory": "1g", "read_only_mounts": [*asked, {"host": "/f", "container": "/opt/avo/harness"}]},
              ALICE)


def test_host_caps_have_floors_too(tmp_path: Path) -> None:
    with pytest.raises(HostPolicyError, match="max_memory"):
        _policy("tenants: [{user: a, max_memory: '0'}]", tmp_path)
    with pytest.raises(HostPolicyError, match="max_file_size"):
        _policy("tenants: [{user: a, max_file_size: '0.5b'}]", tmp_path)
    assert _policy("supplied_mounts: {'//opt/x/': /srv}", tmp_path).supplied_mounts == {"/opt/x": Path("/srv")}
