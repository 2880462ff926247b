#!/usr/bin/env bash
# The README's first command, checked end to end: `make run` comes up on 127.0.0.1:8080, a development token
# minted with `python -m local token` is accepted, and the demo worklist lists patients. The server (make and
# the stack it starts, one process group) is stopped on every exit, success or failure.
#
# Environment: HEALTH_TIMEOUT_S (default 180: a fresh clone installs .venv first), MAKE_RUN_LOG (the server's
# output; default a temporary file, removed on success, its end printed on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_URL=http://127.0.0.1:8080
HEALTH_TIMEOUT_S=${HEALTH_TIMEOUT_S:-180}
STOP_TIMEOUT_S=30
if [[ -n "${MAKE_RUN_LOG:-}" ]]; then
  LOG=$MAKE_RUN_LOG
  own_log=false
else
  LOG=$(mktemp "${TMPDIR:-/tmp}/make-run.XXXXXX")
  own_log=true
fi
# The Makefile puts the shared package and the functions on the import path of what it runs; the token
# command runs outside make, so it needs the same path.
export PYTHONPATH="$PWD/layers/common/python:$PWD/functions:$PWD"

server_pgid=""
began=$SECONDS

group_alive() {
  [[ -n "$server_pgid" ]] && kill -0 -- "-$server_pgid" 2>/dev/null
}

stop_server() {
  local status=$?
  trap - EXIT INT TERM
  if group_alive; then
    local stopping=$SECONDS
    kill -TERM -- "-$server_pgid" 2>/dev/null || true
    while group_alive && ((SECONDS - stopping < STOP_TIMEOUT_S)); do
      sleep 0.2
    done
    if group_alive; then
      echo "the server did not stop within ${STOP_TIMEOUT_S} s; killing its process group" >&2
      kill -KILL -- "-$server_pgid" 2>/dev/null || true
      sleep 0.5
    fi
    echo "server stopped in $((SECONDS - stopping)) s"
  fi
  if group_alive; then
    echo "processes of the server are still running (process group $server_pgid)" >&2
    status=1
  fi
  if ((status != 0)); then
    echo "--- last lines of the server's output ($LOG) ---" >&2
    tail -n 40 "$LOG" >&2 || true
  elif [[ "$own_log" == true ]]; then
    rm -f "$LOG"
  fi
  echo "total $((SECONDS - began)) s"
  exit "$status"
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
  echo "127.0.0.1:8080 is already in use; stop what listens there first" >&2
  exit 1
fi

# Job control gives the background job a process group of its own: make and every process it starts.
set -m
make run >"$LOG" 2>&1 &
server_pgid=$!
set +m
echo "make run started (process group $server_pgid, output in $LOG)"

deadline=$((SECONDS + HEALTH_TIMEOUT_S))
until curl -fsS -o /dev/null --max-time 2 "$BASE_URL/health" 2>/dev/null; do
  if ! kill -0 "$server_pgid" 2>/dev/null; then
    echo "make run exited before the stack answered on $BASE_URL/health" >&2
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "no healthy answer from $BASE_URL/health within ${HEALTH_TIMEOUT_S} s" >&2
    exit 1
  fi
  sleep 1
done
echo "healthy after $((SECONDS - began)) s"

token=$(.venv/bin/python -m local token --role DeploymentStaff --org demo-org --deployment demo-deployment)
body=$(curl -fsS --max-time 30 -H "Authorization: Bearer $token" \
  "$BASE_URL/v1/deployments/demo-deployment/billing/worklist?code=99454")
patients=$(.venv/bin/python -c 'import json, sys; print(len(json.load(sys.stdin)["patients"]))' <<<"$body")
if ((patients == 0)); then
  echo "the demo worklist for 99454 lists no patients" >&2
  exit 1
fi
echo "worklist for 99454 lists $patients patients"
