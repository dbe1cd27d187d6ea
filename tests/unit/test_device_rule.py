"""The GPU device rule's reading of the mount table (the attack itself is in tests/broker/)."""

from __future__ import annotations

import os
from pathlib import Path

from sandbox.broker.device_rule import MountEntry, _mount_id, mount_table, suid_routes

MOUNTINFO = """\
29 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 29 0:52 / /srv/avo rw,nosuid,nodev,relatime shared:20 - tmpfs tmpfs rw,size=1048576k
41 29 254:0 /srv/data /srv/with\\040space rw,nosuid shared:1 - ext4 /dev/vda rw
"""
ROOT, OWN_FS, BIND = mount_table(MOUNTINFO)


def test_the_mount_table_is_read_per_mount_with_its_own_options() -> None:
    assert [ROOT, OWN_FS, BIND] == [MountEntry(29, "254:0", "/", False), MountEntry(40, "0:52", "/srv/avo", True),
                                    MountEntry(41, "254:0", "/srv/with space", True)]


def test_a_nosuid_filesystem_of_its_own_has_no_route() -> None:
    assert suid_routes(OWN_FS, True, [ROOT, OWN_FS, BIND]) == []


def test_a_nosuid_bind_mount_of_a_suid_filesystem_has_the_filesystems_suid_mounts_as_routes() -> None:
    assert suid_routes(BIND, True, [ROOT, OWN_FS, BIND]) == ["/"]


def test_a_mount_that_allows_suid_is_its_own_route() -> None:
    assert suid_routes(OWN_FS, False, [ROOT, OWN_FS, BIND]) == ["/srv/avo"]


def test_the_mount_of_a_descriptor_is_found_in_the_live_table() -> None:
    fd = os.open("/", os.O_PATH)
    try:
        ids = [entry.mount_id for entry in mount_table(Path("/proc/self/mountinfo").read_text())]
        assert _mount_id(fd) in ids
    finally:
        os.close(fd)
