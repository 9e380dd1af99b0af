#!/usr/bin/env bash
# A one-node SLURM cluster on this machine: what CI runs the SLURM executor's tests against, and what a
# developer can start to try `webprune experiment ... --executor slurm` without a cluster.
#
#   sudo bash scripts/slurm-local.sh start    install Debian's slurmctld, slurmd, slurm-client and munge
#                                             if missing, write /etc/slurm/slurm.conf (one node with this
#                                             machine's real CPUs and memory, as `slurmd -C` reports them),
#                                             start munged, slurmctld and slurmd by hand (no systemd), and
#                                             wait until a job runs
#   sudo bash scripts/slurm-local.sh stop     stop the three daemons this script started (by pid file)
#   bash scripts/slurm-local.sh status        sinfo and the daemons' pids
#
# The configuration is the one verified on Debian bookworm (SLURM 22.05) in a container without
# systemd or cgroups: ProctrackType=proctrack/linuxproc, TaskPlugin=task/none,
# SelectType=select/cons_tres, SlurmUser=root. There is no accounting database, so sacct does not work
# on this cluster (the executor does not need it). A slurm.conf this script did not write is never
# touched: start then refuses, naming it.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK='# written by webprune scripts/slurm-local.sh'
LOGS=/var/log/slurm
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid

die() { echo "slurm-local.sh: $*" >&2; exit 1; }
say() { echo "slurm-local.sh: $*"; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "run as root (sudo bash $0 $1): it installs packages and starts daemons"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null; then
    return
  fi
  command -v apt-get >/dev/null || die "no apt-get: install slurmctld, slurmd, slurm-client and munge yourself"
  say "installing slurmctld slurmd slurm-client munge (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

write_config() {
  if [ -f "$CONF" ] && ! head -n 1 "$CONF" | grep -F "$MARK" >/dev/null; then
    die "$CONF exists and was not written by this script; not touching it (use that cluster, or move the file away)"
  fi
  local host node
  host=$(hostname -s)
  # slurmd -C: this machine's real sockets, cores, threads and memory (MiB), as slurmd will check them.
  node=$(slurmd -C | head -n 1)
  case "$node" in NodeName=*) ;; *) die "slurmd -C printed no node line: $node" ;; esac
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd "$LOGS"
  cat > "$CONF.tmp" <<EOF
$MARK: a one-node cluster for tests ($(date -u +%Y-%m-%dT%H:%M:%SZ))
ClusterName=webprune-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job may start again once its credential expired: 5 s instead of 120 s; and the
# schedulers look every 2 s instead of every 30 s (backfill) and 60 s (main loop): the requeue tests
# wait for both.
AuthInfo=cred_expire=5
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=2,sched_interval=2
MpiDefault=none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=60
KillWait=30
MinJobAge=300
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.tmp" "$CONF"
}

start_munge() {
  if alive "$MUNGE_PID"; then return; fi
  [ -f /etc/munge/munge.key ] || { say "creating /etc/munge/munge.key"; mungekey --create --keyfile=/etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key; }
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged --pid-file="$MUNGE_PID"
  munge -n | unmunge >/dev/null || die "munged started but a credential does not decode (see /var/log/munge/munged.log)"
}

wait_idle() {
  local host state
  host=$(hostname -s)
  for _ in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    case "$state" in
      idle*|mixed*|allocated*) return 0 ;;
      down*|drain*) scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 1
  done
  die "the node never became idle (sinfo: ${state:-no answer}); see $LOGS/slurmctld.log and $LOGS/slurmd.log"
}

start() {
  need_root start
  install_packages
  write_config
  start_munge
  alive "$CTLD_PID" || /usr/sbin/slurmctld
  alive "$SLURMD_PID" || /usr/sbin/slurmd
  wait_idle
  # A job must run, not just be accepted.
  local out
  out=$(timeout 60 srun --quiet -N1 -n1 -t 1 echo ok 2>&1) || die "a test job did not run: $out"
  [ "$out" = ok ] || die "a test job printed '$out', not 'ok'"
  say "cluster up: $(sinfo -h -o '%P %D node(s) %T, %c CPUs, %m MiB')"
}

stop_one() {
  local name=$1 pidfile=$2 pid
  alive "$pidfile" || { say "$name is not running"; return; }
  pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || { say "stopped $name ($pid)"; return; }; sleep 1; done
  die "$name ($pid) did not stop within 30 s"
}

stop() {
  need_root stop
  stop_one slurmd "$SLURMD_PID"
  stop_one slurmctld "$CTLD_PID"
  stop_one munged "$MUNGE_PID"
}

status() {
  for d in munged:$MUNGE_PID slurmctld:$CTLD_PID slurmd:$SLURMD_PID; do
    if alive "${d#*:}"; then echo "${d%%:*}: running (pid $(cat "${d#*:}"))"; else echo "${d%%:*}: not running"; fi
  done
  sinfo 2>&1 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
