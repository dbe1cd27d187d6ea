#!/usr/bin/env bash
# A real single-node Slurm cluster for the slurm backend's tests, idempotently:
# Debian's slurm-wlm and munge, a slurm.conf whose one node has a `gpu` GRES of two
# fake devices (character files made with mknod; no GPU is needed to schedule them),
# then munged, slurmctld and slurmd started without systemd and the node waited for.
# Each step is skipped when its result is already there. Run as root (scripts/setup.sh).
#
# Choices (checked on the project's machines, see docs/clusters.md):
# - CR_Core, else a job without a memory request takes the whole node;
# - OverSubscribe=FORCE:8, so on a 2-core machine cores are never what a job waits for:
#   the GPUs are (a third `gpu:1` job pends with reason Resources);
# - no accounting database (no sacct): the backend reads `squeue --json` only;
# - KillWait=5, so a cancelled job is gone from squeue seconds after its processes end.
set -euo pipefail

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get -o DPkg::Lock::Timeout=600 update
    DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get -o DPkg::Lock::Timeout=600 install -y slurm-wlm munge
fi

node=$(hostname -s)
for i in 0 1; do
    [ -e "/dev/nvidia$i" ] || mknod "/dev/nvidia$i" c 1 3
done
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm

# The node line comes from slurmd itself (CPUs, sockets, memory of this machine).
hardware=$(slurmd -C | head -n 1 | sed 's/ UpTime=.*//')
conf=$(cat <<EOF
# Written by avo's scripts/setup-slurm.sh: a single-node test cluster.
ClusterName=avo
SlurmctldHost=$node
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
ReturnToService=2
KillWait=5
MinJobAge=10
GresTypes=gpu
$hardware Gres=gpu:2 State=UNKNOWN
PartitionName=gpu Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
EOF
)
gres="Name=gpu File=/dev/nvidia[0-1]"
changed=no
if [ "$(cat /etc/slurm/slurm.conf 2>/dev/null)" != "$conf" ]; then
    printf '%s\n' "$conf" >/etc/slurm/slurm.conf
    changed=yes
fi
if [ "$(cat /etc/slurm/gres.conf 2>/dev/null)" != "$gres" ]; then
    printf '%s\n' "$gres" >/etc/slurm/gres.conf
    changed=yes
fi

# A daemon is alive when its pid file names a process of that name (a stale file's pid may be reused).
alive() { [ -f "$1" ] && [ "$(cat "/proc/$(cat "$1")/comm" 2>/dev/null)" = "$(basename "$1" .pid)" ]; }

# munge: the key comes with the package on Debian; make one if it is missing.
if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
fi

if [ "$changed" = yes ]; then
    # A new configuration: restart whatever runs so both daemons read it.
    for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
        if alive "$pidfile"; then
            pid=$(cat "$pidfile"); kill "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        fi
    done
fi
if ! scontrol ping 2>/dev/null | grep -q UP; then
    # -c: a test cluster starts from a clean state (jobs of a machine that went away are gone).
    slurmctld -c
    for _ in $(seq 60); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.5; done
    scontrol ping | grep -q UP || { tail -n 30 /var/log/slurm/slurmctld.log; echo "slurmctld did not start" >&2; exit 1; }
fi
alive /run/slurmd.pid || slurmd

ready=no
for _ in $(seq 60); do
    state=$(sinfo -h -n "$node" -o %T 2>/dev/null | head -n 1)
    case "$state" in
        idle|mixed|allocated) ready=yes; break ;;
        down*|drain*|*drained) scontrol update NodeName="$node" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 1
done
if [ "$ready" != yes ]; then
    tail -n 30 /var/log/slurm/slurmd.log /var/log/slurm/slurmctld.log
    echo "the Slurm node $node is not ready (state: ${state:-unknown})" >&2
    exit 1
fi
echo "slurm: node $node $state with gpu:2 (fake devices)"
