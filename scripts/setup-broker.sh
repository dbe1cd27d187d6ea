#!/usr/bin/env bash
# Multi-tenant host set-up (docs/multi-tenant.md, "Set-up on a fresh machine (as root)"), idempotently, as root:
#  1. dockerd hardened for shared hosts (merged into /etc/docker/daemon.json): no inter-container
#     traffic on the default bridge, no-new-privileges by default, live restore, no userland
#     proxy, rotated logs. live-restore is reloaded first (SIGHUP), so the one restart the other
#     settings need keeps every running container.
#  2. the tenant group avo-tenants and, for the tests, two tenants avo-t1 and avo-t2;
#  3. /opt/avo/venv: a world-readable Python made from /usr/bin/python3 with avo installed
#     (tenants cannot run root's Python or read a checkout under /root);
#  4. the broker: /etc/avo/sandboxd.yaml (written only when absent), the systemd unit, and
#     avo-sandboxd started (systemd where it runs, else in the background like dockerd).
# Called by scripts/setup.sh after dockerd is up.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022
REPO=$PWD
VENV=/opt/avo/venv

docker_answers() { docker info >/dev/null 2>&1; }
wait_for_docker() {
    for _ in $(seq 60); do docker_answers && return 0; sleep 1; done
    tail -n 30 /var/log/dockerd.log >&2; echo "dockerd did not come back" >&2; return 1
}

# 1. Hardened daemon settings. Prints what changed: "reload" (live-restore only) or "restart".
change=$(python3 - <<'PY'
import json, pathlib
path = pathlib.Path("/etc/docker/daemon.json")
config = json.loads(path.read_text()) if path.exists() and path.read_text().strip() else {}
wanted = {"live-restore": True, "icc": False, "no-new-privileges": True, "userland-proxy": False,
          "log-driver": "json-file", "log-opts": {"max-size": "10m", "max-file": "3"}}
changed = [key for key, value in wanted.items() if config.get(key) != value]
if changed:
    config.update(wanted)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    print("reload" if changed == ["live-restore"] else "restart")
PY
)
if [ -n "$change" ] && docker_answers; then
    if [ "$(docker info --format '{{.LiveRestoreEnabled}}')" != true ]; then
        kill -HUP "$(pidof dockerd)"   # live-restore is reloadable: containers survive what follows
        for _ in $(seq 20); do [ "$(docker info --format '{{.LiveRestoreEnabled}}')" = true ] && break; sleep 0.5; done
    fi
    if [ "$change" = restart ]; then
        if [ -d /run/systemd/system ] && systemctl is-active -q docker 2>/dev/null; then
            systemctl restart docker
        else
            pid=$(pidof dockerd)
            kill -TERM "$pid"
            while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
            nohup dockerd >>/var/log/dockerd.log 2>&1 &
        fi
        wait_for_docker
    fi
fi

# 2. Tenants: a group for the broker's socket; a broker-only group for /dev/nvidia* (docs/multi-tenant.md, "Set-up on a fresh machine (as root)");
#    test tenants avo-t1..avo-t9 (the load test and bench/broker_load.py use t1..t5 and t1..t9),
#    each with its own group.
groupadd -f avo-tenants
groupadd -f avo-gpu
for tenant in avo-t1 avo-t2 avo-t3 avo-t4 avo-t5 avo-t6 avo-t7 avo-t8 avo-t9; do
    id -u "$tenant" >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin --groups avo-tenants "$tenant"
done

# 3. A Python every user can run, with avo installed (copied, so tenants can read it).
if [ ! -x "$VENV/bin/python" ]; then
    /usr/bin/python3 -m venv --help >/dev/null 2>&1 \
        || { apt-get -o DPkg::Lock::Timeout=600 update \
             && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y python3-venv; }
    /usr/bin/python3 -m venv "$VENV"
fi
pip_log=$(mktemp)
{ "$VENV/bin/pip" install -q --disable-pip-version-check "$REPO[nvml]" &&                 # dependencies
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$REPO"; } \
    >"$pip_log" 2>&1 || { cat "$pip_log" >&2; exit 1; }                                        # this checkout's code
rm -f "$pip_log"
# The docs pages, where the unit's Documentation= and the broker's messages send an admin.
install -d /opt/avo/docs && install -m 0644 "$REPO"/docs/*.md /opt/avo/docs/
chmod -R a+rX /opt/avo

# 4. The broker: policy, unit, state folders; (re)started on the code just installed.
mkdir -p /etc/avo /srv/avo
chmod 755 /etc/avo /srv/avo
if [ ! -f /etc/avo/sandboxd.yaml ]; then
    cat > /etc/avo/sandboxd.yaml <<'YAML'
# avo-sandboxd host policy (docs/multi-tenant.md, "The host policy"). Default deny: only these get in.
socket: /run/avo/sandboxd.sock
socket_group: avo-tenants
audit_log: /var/log/avo/sandboxd.jsonl
tenants:
  - group: avo-tenants
    images: [avo-sandbox:cpu]
    runtimes: [runc, runsc]
    networks: [none]
    max_containers: 4
    max_pool: 2
    max_cpus: 2
    max_memory: 4g
    workspace_roots: ["/srv/avo/{user}", "/home/{user}"]
YAML
fi
for tenant in avo-t1 avo-t2; do
    install -d -m 700 -o "$tenant" -g "$tenant" "/srv/avo/$tenant"
done
# GPU leases need workspace roots mounted nosuid on a filesystem of their own
# (docs/multi-tenant.md, "Set-up on a fresh machine (as root)", step 6): otherwise a leased call could leave a setgid-avo-gpu program in
# its workspace for the tenant to run from the host, and the broker refuses the lease. Here
# /srv/avo is a folder of / (no GPU on this machine; the tests mount nosuid roots of their own);
# on a GPU host give it its own partition: `mount -o nosuid,nodev /dev/vg0/avo /srv/avo`.
if ! findmnt -no OPTIONS --mountpoint /srv/avo 2>/dev/null | tr , '\n' | grep -qx nosuid; then
    echo "note: /srv/avo is not a nosuid mount of its own: GPU sessions there will be refused (docs/multi-tenant.md, \"Set-up on a fresh machine (as root)\", step 6)" >&2
fi
install -m 644 "$REPO/sandbox/broker/avo-sandboxd.service" /etc/systemd/system/avo-sandboxd.service
"$VENV/bin/avo-sandboxd" check --config /etc/avo/sandboxd.yaml
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable -q avo-sandboxd
    systemctl restart avo-sandboxd
else
    if [ -f /run/avo/sandboxd.pid ] && kill -0 "$(cat /run/avo/sandboxd.pid)" 2>/dev/null; then
        pid=$(cat /run/avo/sandboxd.pid)
        kill -TERM "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
    fi
    mkdir -p /run/avo /var/log/avo
    nohup "$VENV/bin/avo-sandboxd" serve --config /etc/avo/sandboxd.yaml >>/var/log/avo/sandboxd.log 2>&1 &
    echo $! > /run/avo/sandboxd.pid
fi
for _ in $(seq 30); do
    "$VENV/bin/avo-sandboxd" status >/dev/null 2>&1 && break
    sleep 0.5
done
"$VENV/bin/avo-sandboxd" status >/dev/null || { tail -n 20 /var/log/avo/sandboxd.log >&2; echo "avo-sandboxd did not start" >&2; exit 1; }
