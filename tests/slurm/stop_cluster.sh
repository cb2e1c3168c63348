#!/usr/bin/env bash
# Stop what tests/slurm/start_cluster.sh started: the PIDs it recorded, newest first, nothing by name.
set -u
BASE=${CINEBRAIN_SLURM_DIR:-/tmp/cinebrain-slurm}
PIDS="$BASE/run/pids"
[ -s "$PIDS" ] || { echo "stop_cluster.sh: nothing recorded in $PIDS"; exit 0; }
# jobs first, so that no job step outlives slurmd
if ids=$(squeue -h -o %A 2>/dev/null) && [ -n "$ids" ]; then
  scancel $ids 2>/dev/null || true
  for _ in $(seq 40); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.25; done
fi
tac "$PIDS" | while read -r name pid; do
  kill -0 "$pid" 2>/dev/null || continue
  kill -TERM "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "stop_cluster.sh: $name ($pid) ignored SIGTERM; SIGKILL"
    kill -KILL "$pid"
  fi
  echo "stop_cluster.sh: stopped $name ($pid)"
done
: > "$PIDS"
for f in slurm.conf gres.conf slurmdbd.conf; do
  [ -L "/etc/slurm/$f" ] && [[ "$(readlink "/etc/slurm/$f")" == "$BASE"/* ]] && rm -f "/etc/slurm/$f"
done
exit 0
