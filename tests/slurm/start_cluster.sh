#!/usr/bin/env bash
# A throw-away one-node SLURM cluster for the test suite, from Debian's packages (bookworm: Slurm 22.05).
#
#   tests/slurm/start_cluster.sh          install (apt) and start munge, MariaDB + slurmdbd, slurmctld, slurmd
#   tests/slurm/stop_cluster.sh           stop exactly the processes this script started
#
# Needs root (daemons, /etc/slurm, fake device files) and apt-get.  No systemd: every daemon runs in the
# foreground of a background shell job, and its PID goes to $CINEBRAIN_SLURM_DIR/run/pids.
#
# The node is a stand-in for one GPU node of a real cluster:
#   - it advertises CINEBRAIN_SLURM_CPUS CPUs (16), CINEBRAIN_SLURM_MEM_MB memory (131072) and
#     CINEBRAIN_SLURM_GPUS GPUs (2) whatever the machine has (SlurmdParameters=config_overrides), so that
#     the requests of profiles/slurm (fMRIPrep 16 CPUs, captions 64 GB + 1 GPU) are scheduled as written;
#     nothing is enforced (no cgroups), jobs share the real cores;
#   - the GPUs are character devices made with mknod (slurmd 22.05 drops a gpu gres without a device
#     file); SLURM sets CUDA_VISIBLE_DEVICES for a job that asks for one, torch still finds no GPU;
#   - partition "main" (default) is preemptible: a job of partition "urgent" requeues its jobs, which are
#     sent their --signal first (submitit's USR2) and SIGTERM after GraceTime seconds;
#   - accounting goes to slurmdbd + MariaDB, so sacct works (the Snakemake SLURM executor and submitit
#     read job states from it).
#
# Settings (environment):
#   CINEBRAIN_SLURM_DIR   state, logs, config and the PID file (default /tmp/cinebrain-slurm; wiped on start)
#   CINEBRAIN_SLURM_DB_PORT  MariaDB's TCP port on 127.0.0.1 (default 3307)
set -euo pipefail
BASE=${CINEBRAIN_SLURM_DIR:-/tmp/cinebrain-slurm}
CPUS=${CINEBRAIN_SLURM_CPUS:-16}
MEM=${CINEBRAIN_SLURM_MEM_MB:-131072}
NGPU=${CINEBRAIN_SLURM_GPUS:-2}
DBPORT=${CINEBRAIN_SLURM_DB_PORT:-3307}
export DEBIAN_FRONTEND=noninteractive
unset SLURM_CONF  # the daemons and clients must read /etc/slurm/slurm.conf (see below)
t0=$(date +%s)
say() { echo "[start_cluster $(( $(date +%s) - t0 ))s] $*"; }

[ "$(id -u)" = 0 ] || { echo "start_cluster.sh: needs root (daemons, /etc/slurm, mknod)" >&2; exit 2; }
PKGS="munge slurmctld slurmd slurmdbd slurm-client mariadb-server"
if ! dpkg -s $PKGS >/dev/null 2>&1; then
  command -v apt-get >/dev/null || { echo "start_cluster.sh: apt-get not found; install: $PKGS" >&2; exit 2; }
  say "installing $PKGS"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
fi
say "packages ready"

PIDS="$BASE/run/pids"
if [ -s "$PIDS" ]; then
  while read -r name pid; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "start_cluster.sh: $name ($pid) from an earlier start is running; run tests/slurm/stop_cluster.sh" >&2
      exit 1
    fi
  done < "$PIDS"
fi
# Fresh state on every start: job ids restart at 1, so the accounting database starts empty too.
rm -rf "$BASE"
mkdir -p "$BASE"/{etc,spool/ctld,spool/d,log,run,dev,mysql}
: > "$PIDS"
started() { echo "$1 $2" >> "$PIDS"; }

# ---- munge: reuse a munged that answers, else start one as the munge user -------------------------
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge && chmod 755 /run/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  rm -f /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid   # daemonises; PID from its file
  for _ in $(seq 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
  started munged "$(cat /run/munge/munged.pid)"
fi
munge -n | unmunge >/dev/null
say "munge ready"

# ---- configuration ---------------------------------------------------------------------------------
: > "$BASE/etc/gres.conf"
for ((g = 0; g < NGPU; g++)); do
  mknod "$BASE/dev/nvidia$g" c 1 3   # a copy of /dev/null under a GPU's name
  echo "NodeName=localhost Name=gpu File=$BASE/dev/nvidia$g" >> "$BASE/etc/gres.conf"
done

cat > "$BASE/etc/slurm.conf" <<EOF
ClusterName=cinebrain-ci
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# a requeued job may start again cred_expire + 1 s after it stopped (default 120 s)
AuthInfo=cred_expire=10
StateSaveLocation=$BASE/spool/ctld
SlurmdSpoolDir=$BASE/spool/d
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=2,bf_interval=2
SlurmdParameters=config_overrides
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=5
JobCompType=jobcomp/none
# keep sbatch --comment in the accounting database: the Snakemake executor writes rule_<name>_wildcards_<...> there
AccountingStoreFlags=job_comment
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
GresTypes=gpu
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM Gres=gpu:$NGPU State=UNKNOWN
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP DefMemPerCPU=1000 PriorityTier=1 PreemptMode=REQUEUE GraceTime=30
PartitionName=urgent Nodes=ALL MaxTime=INFINITE State=UP DefMemPerCPU=1000 PriorityTier=10 PreemptMode=OFF
EOF

cat > "$BASE/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
LogFile=$BASE/log/slurmdbd.log
PidFile=$BASE/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DBPORT
StorageUser=slurm
StoragePass=cinebrain-ci
StorageLoc=slurm_acct_db
EOF
chmod 600 "$BASE/etc/slurmdbd.conf"

# The default path is required: the Snakemake jobstep plugin drops SLURM_* variables (SLURM_CONF too)
# before its inner srun.  Only links are placed there, and stop_cluster.sh removes only links into $BASE.
mkdir -p /etc/slurm
for f in slurm.conf gres.conf slurmdbd.conf; do
  if [ -e "/etc/slurm/$f" ] && [ ! -L "/etc/slurm/$f" ]; then
    echo "start_cluster.sh: /etc/slurm/$f is a real file (a configured SLURM?); not replacing it" >&2; exit 1
  fi
  ln -sfn "$BASE/etc/$f" "/etc/slurm/$f"
done

# ---- MariaDB (private data directory, 127.0.0.1:$DBPORT) and slurmdbd --------------------------------
mariadb-install-db --no-defaults --datadir="$BASE/mysql" --user=root --auth-root-authentication-method=normal \
  --skip-test-db > "$BASE/log/mariadb-install.log" 2>&1
/usr/sbin/mariadbd --no-defaults --datadir="$BASE/mysql" --user=root --socket="$BASE/run/mysql.sock" \
  --pid-file="$BASE/run/mysql.pid" --bind-address=127.0.0.1 --port="$DBPORT" --innodb-buffer-pool-size=128M \
  --innodb-lock-wait-timeout=900 --log-error="$BASE/log/mariadb.err" > "$BASE/log/mariadb.out" 2>&1 &
started mariadbd $!
for _ in $(seq 120); do mariadb-admin --no-defaults -S "$BASE/run/mysql.sock" -uroot ping >/dev/null 2>&1 && break; sleep 0.25; done
mariadb --no-defaults -S "$BASE/run/mysql.sock" -uroot -e "
  CREATE DATABASE slurm_acct_db;
  CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'cinebrain-ci';
  CREATE USER 'slurm'@'localhost' IDENTIFIED BY 'cinebrain-ci';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
  FLUSH PRIVILEGES;"
say "MariaDB ready"
/usr/sbin/slurmdbd -D > "$BASE/log/slurmdbd.out" 2>&1 &
started slurmdbd $!
for _ in $(seq 120); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.25; done
say "slurmdbd ready"

# ---- slurmctld and slurmd --------------------------------------------------------------------------
/usr/sbin/slurmctld -D > "$BASE/log/slurmctld.out" 2>&1 &
started slurmctld $!
/usr/sbin/slurmd -D -N localhost > "$BASE/log/slurmd.out" 2>&1 &
started slurmd $!
for _ in $(seq 240); do [ "$(sinfo -h -n localhost -o %t 2>/dev/null | sort -u)" = idle ] && break; sleep 0.25; done
if [ "$(sinfo -h -n localhost -o %t 2>/dev/null | sort -u)" != idle ]; then
  sinfo -R >&2 || true
  tail -n 20 "$BASE"/log/*.log >&2 || true
  echo "start_cluster.sh: the node did not become idle; logs in $BASE/log" >&2
  exit 1
fi
srun --time=1 true   # one job through the whole chain (munge, ctld, slurmd, accounting)
say "SLURM up: $(sinfo -h -o '%P %D %c CPUs %m MB %G' | tr '\n' ';') state and logs in $BASE"
