#!/usr/bin/env bash
# A real one-node SLURM cluster for the tests: Debian's munge, MariaDB, slurmdbd, slurmctld and
# slurmd on this machine, started directly (these machines have no systemd), as root.
#
#   tools/slurm/cluster.sh up      install what is missing, write the config, start what is not
#                                  running, then check health; safe to run again (idempotent)
#   tools/slurm/cluster.sh check   health check only: node idle, an sbatch round trip, sacct
#   tools/slurm/cluster.sh down    stop the daemons this script started (by their pid files)
#
# Accounting is real (slurmdbd + MariaDB): without it sacct fails, submitit then reports every job
# as UNKNOWN and waits forever on a cancelled job. The node advertises two GPUs as gres backed by
# placeholder files, so the scheduler's GPU allocation (CUDA_VISIBLE_DEVICES per job) is exercised
# on CPU-only machines; the jobs themselves compute on the CPU. Details: docs/slurm.md.
set -euo pipefail

STATE=/var/lib/harness-slurm
LOGS=/var/log/harness-slurm
PIDS=$STATE/pids
MARK="# written by tools/slurm/cluster.sh"
NODE=$(hostname -s)
PACKAGES=(munge slurm-client slurmctld slurmd slurmdbd mariadb-server mariadb-client)

die() { echo "cluster.sh: $*" >&2; exit 1; }
say() { echo "cluster.sh: $*"; }

need_root() {
    [ "$(id -u)" = 0 ] || die "needs root (it installs packages and starts daemons); run it with sudo"
}

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} = 0 ] && return
    command -v apt-get >/dev/null || die "no apt-get: install ${missing[*]} yourself"
    say "installing ${missing[*]}"
    # Keep the packages' init scripts from starting daemons themselves: this script starts them,
    # so that it knows their pids. A policy-rc.d already in place is left as it is.
    local policy=/usr/sbin/policy-rc.d ours=
    if [ ! -e $policy ]; then
        printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy && ours=1
    fi
    apt-get update -qq || die "apt-get update failed (no network to the Debian mirror?)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || { [ -n "$ours" ] && rm -f $policy; die "apt-get install ${missing[*]} failed"; }
    [ -n "$ours" ] && rm -f $policy
    return 0
}

# The host name must resolve, or slurmctld cannot reach slurmd.
ensure_hostname() {
    getent hosts "$NODE" >/dev/null || { echo "127.0.0.1 $NODE $MARK" >> /etc/hosts; say "added $NODE to /etc/hosts"; }
}

# Write $1 from stdin unless it exists and was not written by this script (a real cluster's).
write_config() {
    local path=$1 mode=$2 owner=$3 tmp
    if [ -e "$path" ] && ! grep -qF "$MARK" "$path"; then
        die "$path exists and was not written by this script: refusing to overwrite a real cluster's config"
    fi
    tmp=$(mktemp)
    cat > "$tmp"
    if [ -e "$path" ] && cmp -s "$tmp" "$path"; then rm -f "$tmp"; return; fi
    install -m "$mode" -o "$owner" -g "$owner" "$tmp" "$path"
    rm -f "$tmp"
    CHANGED=1
}

configure() {
    mkdir -p $PIDS $LOGS $STATE/ctld $STATE/d $STATE/run /etc/slurm /run/munge /run/mysqld
    chown slurm:slurm $STATE/ctld $STATE/run $LOGS
    chown munge:munge /run/munge
    chown mysql:mysql /run/mysqld
    [ -s /etc/munge/munge.key ] || { mungekey --create --force >/dev/null; chown munge:munge /etc/munge/munge.key; }
    local cpus mem
    cpus=$(slurmd -C | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p')
    mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    # Placeholder devices for the two advertised GPUs (see the header): slurmd wants character
    # devices; these are copies of /dev/null.
    mkdir -p $STATE/dev
    for i in 0 1; do [ -c $STATE/dev/gpu$i ] || mknod $STATE/dev/gpu$i c 1 3; done
    CHANGED=
    write_config /etc/slurm/slurm.conf 644 root <<EOF
$MARK
ClusterName=harness
SlurmctldHost=$NODE
SlurmUser=slurm
AuthType=auth/munge
# A requeued job waits cred_expire (120 s by default) before it may start again.
AuthInfo=cred_expire=5
# No cgroups on these machines.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# One scheduling pass every 2 s, so a requeued job starts again within seconds.
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
# submitit ignores SIGTERM: a preempted job is SIGKILLed KillWait seconds later.
KillWait=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
NodeName=$NODE CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    write_config /etc/slurm/gres.conf 644 root <<EOF
$MARK
NodeName=$NODE Name=gpu File=$STATE/dev/gpu[0-1]
EOF
    # MariaDB's root and slurm users log in by their Unix identity (unix_socket): no passwords.
    write_config /etc/slurm/slurmdbd.conf 600 slurm <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StorageLoc=slurm_acct_db
PidFile=$STATE/run/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
EOF
}

# pid of daemon $1 if the process in its pid file is alive and runs binary $2, else nothing.
running_pid() {
    local pid
    pid=$(cat "$PIDS/$1.pid" 2>/dev/null) || return 0
    [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$2")" ] && echo "$pid"
    return 0
}

# start NAME BINARY READY-COMMAND ARGS...: run BINARY in the foreground of its own session, its
# pid recorded by us, then wait until READY-COMMAND succeeds. A running daemon is kept unless
# RESTART is set (its config changed).
start() {
    local name=$1 binary=$2 ready=$3
    shift 3
    if [ -n "$(running_pid "$name" "$binary")" ]; then
        [ -n "${RESTART:-}" ] || return 0
        stop_one "$name" "$binary"
    fi
    setsid "$@" >> "$LOGS/$name.out" 2>&1 < /dev/null &
    echo $! > "$PIDS/$name.pid"
    for _ in $(seq 1 150); do
        if eval "$ready" >/dev/null 2>&1; then say "$name running (pid $(cat "$PIDS/$name.pid"))"; return; fi
        [ -n "$(running_pid "$name" "$binary")" ] || die "$name exited at start: see $LOGS/$name.out"
        sleep 0.2
    done
    die "$name did not become ready in 30 s: see $LOGS/$name.out"
}

stop_one() {
    local name=$1 binary=$2 pid
    pid=$(running_pid "$name" "$binary")
    [ -n "$pid" ] || { rm -f "$PIDS/$name.pid"; return 0; }
    kill "$pid"
    for _ in $(seq 1 100); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
    [ -e "/proc/$pid" ] && kill -9 "$pid"
    rm -f "$PIDS/$name.pid"
    say "stopped $name (pid $pid)"
}

start_all() {
    start munged /usr/sbin/munged "munge -n | unmunge" \
        setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
    start mariadb /usr/sbin/mariadbd "mariadb-admin ping" \
        /usr/sbin/mariadbd --user=mysql --skip-networking
    mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
                CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED VIA unix_socket;
                GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
    RESTART=$CHANGED
    start slurmdbd /usr/sbin/slurmdbd "sacctmgr -n list cluster" /usr/sbin/slurmdbd -D
    # The cluster must be known to slurmdbd before slurmctld registers with it.
    sacctmgr -n list cluster format=cluster | grep -qw harness || sacctmgr -i add cluster harness >/dev/null
    start slurmctld /usr/sbin/slurmctld "scontrol ping | grep -q UP" /usr/sbin/slurmctld -D
    start slurmd /usr/sbin/slurmd "sinfo -h -o %T | grep -qvE 'down|unk|drain|fail'" /usr/sbin/slurmd -D
}

check() {
    local state id job_state
    for _ in $(seq 1 100); do
        state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
        case $state in idle|mixed|allocated|completing) break ;; esac
        sleep 0.2
    done
    case $state in idle|mixed|allocated|completing) ;; *) die "node $NODE is '${state:-unreachable}', not idle: see $LOGS/" ;; esac
    id=$(sbatch --parsable --wait -o /dev/null -t 1 --wrap true) && [ -n "$id" ] || die "sbatch round trip failed"
    for _ in $(seq 1 50); do
        job_state=$(sacct -n -X -P -j "$id" -o State 2>/dev/null || true)
        [ "$job_state" = COMPLETED ] && break
        sleep 0.2
    done
    [ "$job_state" = COMPLETED ] || die "job $id is '${job_state:-unknown}' in sacct, not COMPLETED: accounting is broken"
    say "healthy: node $NODE $state, job $id ran and is COMPLETED in sacct"
}

case ${1:-} in
    up)
        need_root
        t0=$(date +%s%N)
        install_packages
        ensure_hostname
        configure
        start_all
        check
        t=$(( ($(date +%s%N) - t0) / 100000000 ))
        say "up in $((t / 10)).$((t % 10)) s"
        ;;
    check) check ;;
    down)
        need_root
        for d in slurmd:/usr/sbin/slurmd slurmctld:/usr/sbin/slurmctld slurmdbd:/usr/sbin/slurmdbd \
                 mariadb:/usr/sbin/mariadbd munged:/usr/sbin/munged; do
            stop_one "${d%%:*}" "${d#*:}"
        done
        ;;
    *) echo "usage: $0 up|check|down" >&2; exit 2 ;;
esac
