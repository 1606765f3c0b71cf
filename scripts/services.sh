#!/usr/bin/env bash
# The production topology of docker/docker-compose.yaml as real processes on loopback ports, for machines
# without a Docker engine: PostgreSQL (one server, an Airflow and an MLflow database), an MLflow server on
# PostgreSQL with its artifact store behind it, Redis, and Airflow's api-server, scheduler (CeleryExecutor, the
# compose file's), dag-processor, triggerer and $CELERY_WORKERS Celery workers (2) on PostgreSQL.
# EXECUTOR=LocalExecutor runs the tasks under the scheduler instead (no Redis, no workers).
#
#   scripts/services.sh up       start everything (installs Debian's postgresql and redis-server when missing)
#   scripts/services.sh down     stop everything (whole process groups) and PostgreSQL
#   scripts/services.sh status   what runs
#   scripts/services.sh env [A]  print the client settings (source it: eval "$(scripts/services.sh env)"); with
#                                an account (viewer, operator, admin: Airflow; pipeline, scorer: MLflow), its
#                                credentials too
#   scripts/services.sh kill N   kill one part as a machine that dies would (SIGKILL to it, its restart loop and
#                                every process under it; postgres: an immediate stop): worker-1, redis, mlflow,
#                                scheduler, postgres, ... `up` again brings back whatever is not running, except the
#                                workers listed in WORKERS_DOWN (e.g. WORKERS_DOWN="1": worker-1's machine is gone)
#
# Each part runs under a restart loop (started again 5 s after it exits, as compose's `restart: always`: Airflow's
# scheduler exits when its database goes away); its log, $SERVICES_DIR/logs/<part>.log, is appended to.
#
# Ports and folders come from the environment (defaults below). Secrets are generated on the first `up` and kept in
# $SERVICES_DIR/secrets.env (mode 600); `up` refuses a placeholder or short one (scripts/check_secrets.py). Nothing
# secret lives in the repository or on a command line, and each process gets only the secrets it needs (workers: no
# JWT secret, Fernet key or account passwords). Everything the stack writes is private (umask 077). Every listener is
# on 127.0.0.1; PostgreSQL's socket is private to the postgres user, who alone signs in through it (peer). Airflow
# runs FAB's auth manager with three accounts and roles (scripts/airflow_users.py): admin, operator, viewer. MLflow
# runs its basic-auth app: the pipeline signs in as `pipeline`, the scoring server as `scorer` (it reads), people as
# `admin` (or accounts the admin creates); anonymous requests are refused. With the DAG unpaused (the default;
# PIPELINE_DAGS_PAUSED=True keeps it paused), the scheduler starts the latest month's run as soon as it is up.
set -euo pipefail
umask 077

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${VENV:-$ROOT/.venv}/bin"
SERVICES_DIR="${SERVICES_DIR:-$ROOT/.state/services}"
PG_PORT="${PG_PORT:-55432}"
MLFLOW_PORT="${MLFLOW_PORT:-55000}"
AIRFLOW_PORT="${AIRFLOW_PORT:-58080}"
REDIS_PORT="${REDIS_PORT:-56379}"
EXECUTOR="${EXECUTOR:-CeleryExecutor}"
CELERY_WORKERS="${CELERY_WORKERS:-2}"
WORKERS_DOWN="${WORKERS_DOWN:-}"  # numbers of workers `up` leaves stopped (their machine is gone or repaired)
HOST=127.0.0.1
RUN="$SERVICES_DIR/run"
LOGS="$SERVICES_DIR/logs"
# PostgreSQL runs as the `postgres` user: its folder must be reachable by that user (PG_DIR overrides it).
PG_DIR="${PG_DIR:-$SERVICES_DIR/postgres}"
PGDATA="$PG_DIR/data"
PG_SUPERUSER=postgres; [ "$(id -u)" = 0 ] || PG_SUPERUSER="$(id -un)"  # peer: the cluster owner's own name

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
log() { printf '[services] %s\n' "$*" >&2; }

# A missing package is installed under a lock: two stacks started at once must not run apt-get side by side.
INSTALL_LOCK="${TMPDIR:-/tmp}/lstm-services-install.lock"

ensure_postgres() {
  [ -z "$(pg_bin)" ] || return 0
  ( flock 9
    if [ -z "$(pg_bin)" ]; then
      log "installing Debian's postgresql package"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
    fi ) 9>"$INSTALL_LOCK"
}

ensure_redis() {
  [ "$EXECUTOR" = CeleryExecutor ] && ! command -v redis-server >/dev/null || return 0
  ( flock 9
    if ! command -v redis-server >/dev/null; then
      log "installing Debian's redis-server package"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
    fi ) 9>"$INSTALL_LOCK"
}

workers() {  # the workers to run: 1..CELERY_WORKERS but those in WORKERS_DOWN
  [ "$EXECUTOR" = CeleryExecutor ] || return 0
  local k
  for k in $(seq 1 "$CELERY_WORKERS"); do [[ " $WORKERS_DOWN " == *" $k "* ]] || echo "$k"; done
}

# name, command: append a generated secret to secrets.env unless it is there (files of earlier releases get it)
add_secret() {
  grep -q "^$1=" "$SERVICES_DIR/secrets.env" 2>/dev/null || echo "$1=$($2)" >> "$SERVICES_DIR/secrets.env"
}
hex16() { openssl rand -hex 16; }
hex32() { openssl rand -hex 32; }
fernet() { "$BIN/python" -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'; }
SECRET_NAMES="AIRFLOW_DB_PASSWORD MLFLOW_DB_PASSWORD FORECASTS_DB_PASSWORD AIRFLOW_ADMIN_PASSWORD AIRFLOW_OPERATOR_PASSWORD
  AIRFLOW_VIEWER_PASSWORD AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__CORE__FERNET_KEY MLFLOW_AUTH_ADMIN_PASSWORD
  MLFLOW_TRACKING_PASSWORD MLFLOW_SCORER_PASSWORD MLFLOW_FLASK_SERVER_SECRET_KEY REDIS_PASSWORD
  PIPELINE_MODEL_SIGNING_KEY PIPELINE_SERVE_TOKEN"

# The secrets as shell variables, not exported: each process is given the ones it needs (start_with).
secrets() {
  mkdir -p "$SERVICES_DIR"
  touch "$SERVICES_DIR/secrets.env" && chmod 600 "$SERVICES_DIR/secrets.env"
  add_secret AIRFLOW_DB_PASSWORD hex16
  add_secret MLFLOW_DB_PASSWORD hex16
  add_secret FORECASTS_DB_PASSWORD hex16
  add_secret AIRFLOW_ADMIN_PASSWORD hex16
  add_secret AIRFLOW_OPERATOR_PASSWORD hex16
  add_secret AIRFLOW_VIEWER_PASSWORD hex16
  add_secret AIRFLOW__API_AUTH__JWT_SECRET hex32
  add_secret AIRFLOW__CORE__FERNET_KEY fernet
  add_secret MLFLOW_AUTH_ADMIN_PASSWORD hex16
  add_secret MLFLOW_TRACKING_PASSWORD hex16
  add_secret MLFLOW_SCORER_PASSWORD hex16
  add_secret MLFLOW_FLASK_SERVER_SECRET_KEY hex32
  add_secret REDIS_PASSWORD hex16
  add_secret PIPELINE_MODEL_SIGNING_KEY hex32
  add_secret PIPELINE_SERVE_TOKEN hex32
  # a secret edited by hand to a placeholder or something short is refused, by name
  # shellcheck disable=SC2086
  ( set -a; . "$SERVICES_DIR/secrets.env"; "$BIN/python" "$ROOT/scripts/check_secrets.py" $SECRET_NAMES ) \
    || { log "fix $SERVICES_DIR/secrets.env (delete a line to have it generated again)"; exit 1; }
  . "$SERVICES_DIR/secrets.env"
}

start_with() {  # "SECRET ..." name command...: start a part with these secrets (of secrets.env) in its environment
  local names=$1; shift
  ( for name in $names; do export "${name?}"; done; start "$@" )
}

# The same variable names as docker/docker-compose.yaml (checked by tests/integration/test_compose.py).
export_env() {
  secrets
  export AIRFLOW_HOME="$SERVICES_DIR/airflow"
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://airflow:${AIRFLOW_DB_PASSWORD}@$HOST:$PG_PORT/airflow"
  export AIRFLOW__CORE__EXECUTOR="$EXECUTOR"
  # Celery: Redis as the broker, the Airflow database for results (the official compose file's settings)
  export AIRFLOW__CELERY__BROKER_URL="redis://:${REDIS_PASSWORD}@$HOST:$REDIS_PORT/0"
  export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql+psycopg2://airflow:${AIRFLOW_DB_PASSWORD}@$HOST:$PG_PORT/airflow"
  # each worker names itself (PIPELINE_WORKER_NAME): task instances show which worker ran them
  export AIRFLOW__CORE__HOSTNAME_CALLABLE=pipeline.settings.worker_hostname
  export AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT=86400  # a task may run a day before redelivery
  # Failures mid-run (docs/deployment.md, "Faults and recovery"): a task whose worker died is failed, then retried
  # on another worker, 90 s after its last heartbeat (Airflow's default: 300); a task queued in a broker that lost
  # it is queued again after 300 s (600); a running task outlives 100 s of api-server or database outage (3
  # failed heartbeats, 15 s, by default); the message of a task is acknowledged when it ends (acks_late).
  export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=90
  # A scheduler only fails the heartbeat-less tasks that it queued itself. When it dies (a database crash ends its
  # loop) and comes back, the tasks the old one queued are adopted once that one's heartbeat is older than the
  # health threshold (30 s), at the next orphan check: every 10 s, not every 300 s (Airflow's default), so a task
  # on a worker that died is still failed within the heartbeat timeout plus the 10 s detection interval.
  export AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL=10
  export AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD=30
  export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL=10
  export AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT=300
  export AIRFLOW__WORKERS__MAX_FAILED_HEARTBEATS=20
  export AIRFLOW__CELERY__TASK_ACKS_LATE=True
  # Capacity (docs/deployment.md, "Capacity"): the scheduler sends no more tasks than the workers have slots (one
  # task a worker here), so none waits in the broker past the queued time-out; the heavy tasks (fits, evaluated
  # parts, the champion's re-scoring, tuning trials) share the pool of that many slots, which an admin may shrink
  # in the UI to keep slots free for other DAGs
  export PIPELINE_WORKER_SLOTS="${PIPELINE_WORKER_SLOTS:-$CELERY_WORKERS}"
  export AIRFLOW__CORE__PARALLELISM="$PIPELINE_WORKER_SLOTS"
  export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG="$PIPELINE_WORKER_SLOTS"
  export AIRFLOW__CELERY__WORKER_CONCURRENCY=1
  export PIPELINE_HEAVY_POOL=pipeline_heavy
  # a worker imports the pipeline's modules once; each task, forked from it, starts with them (pipeline/worker.py)
  export AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=pipeline.worker.CELERY_CONFIG
  # accounts with roles (admin, operator, viewer: scripts/airflow_users.py), in Airflow's database
  export AIRFLOW__CORE__AUTH_MANAGER=airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://$HOST:$AIRFLOW_PORT/execution/"
  export AIRFLOW__API__BASE_URL="http://$HOST:$AIRFLOW_PORT"
  export AIRFLOW__API__HOST="$HOST" AIRFLOW__API__PORT="$AIRFLOW_PORT"
  export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${PIPELINE_DAGS_PAUSED:-False}"
  export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=True
  export AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST="$HOST"
  export AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT="${SCHEDULER_HEALTH_PORT:-58974}"
  export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
  # task logs private too (Airflow makes them group- and world-readable by default)
  export AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS=0o700
  export AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS=0o600
  # MLflow: no telemetry (its thread also unsets a variable while requests reads the environment: a task failed
  # on it once); the server takes its store from the environment, not the command line (ps shows that to all).
  export MLFLOW_DISABLE_TELEMETRY=true
  export DO_NOT_TRACK=true
  # the MLflow server's alone (start_with): not exported
  MLFLOW_BACKEND_STORE_URI="postgresql+psycopg2://mlflow:${MLFLOW_DB_PASSWORD}@$HOST:$PG_PORT/mlflow"
  export MLFLOW_ARTIFACTS_DESTINATION="$SERVICES_DIR/mlartifacts"
  export MLFLOW_TRACKING_URI="http://$HOST:$MLFLOW_PORT"
  # MLflow's basic-auth app: anonymous requests are refused, signed-in users read everything, the pipeline's own
  # account writes what it created (runs, the registered model, its aliases).
  export MLFLOW_AUTH_CONFIG_PATH="$SERVICES_DIR/mlflow-auth.ini"
  export MLFLOW_AUTH_ADMIN_USERNAME=admin
  export MLFLOW_TRACKING_USERNAME=pipeline
  # a model is loaded only from its signed files (pipeline/ops/signing.py), never unpickled
  export MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false
  export PIPELINE_HOME="$ROOT"
  export PIPELINE_CONFIG="${PIPELINE_CONFIG:-}"
  export PIPELINE_DEADLINE_HOURS="${PIPELINE_DEADLINE_HOURS:-4}"
  export PIPELINE_STATE_DIR="$SERVICES_DIR/pipeline-state"
  # the published forecasts' table, in a database of its own (docs/operations.md); the tasks' alone (start_with)
  PIPELINE_FORECAST_DB_URL="postgresql+psycopg2://forecasts:${FORECASTS_DB_PASSWORD}@$HOST:$PG_PORT/forecasts"
}

supervise() {  # name, command...: run it, and again 5 s after it exits, as compose's `restart: always` does
  local name=$1; shift
  while :; do
    "$@"
    printf '[services] %s exited with %s at %s; restarting in 5 s\n' "$name" "$?" "$(date -u +%FT%TZ)"
    sleep 5
  done
}

start() {  # name, command...: supervised in its own session (process group), pid and log under $SERVICES_DIR
  local name=$1; shift
  if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
    log "$name already running"; return
  fi
  # the log is appended to: what a part wrote before it died is the evidence of why
  printf '[services] %s starting at %s\n' "$name" "$(date -u +%FT%TZ)" >> "$LOGS/$name.log"
  setsid bash -c "$(declare -f supervise); supervise \"\$@\"" supervise "$name" "$@" >> "$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
  log "$name started (pid $!)"
}

wait_for() {  # name, seconds, command...
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      log "$name not healthy after ${seconds}s; last log lines:"; tail -n 30 "$LOGS/$name.log" >&2 || true
      return 1
    fi
    sleep 1
  done
  log "$name healthy"
}

redis_ok() { REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h "$HOST" -p "$REDIS_PORT" ping | grep -q PONG; }
# ready since it was last started (the log is appended to); one awk, no pipe: under pipefail a reader that stops at
# the first match fails the pipe of a long log
worker_ok() {
  awk -v ready="worker-${1#worker-}@.* ready" '/^\[services\] .* starting at /{ok=0} $0 ~ ready {ok=1} END{exit !ok}' \
    "$LOGS/$1.log"
}
http_ok() { "$BIN/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)" "$1"; }

up() {
  [ -x "$BIN/python" ] || { log "no virtualenv at $BIN: run 'make setup' first"; exit 1; }
  export_env  # first: a bad secret stops everything before anything starts
  ensure_postgres
  ensure_redis
  mkdir -p "$RUN" "$LOGS" "$AIRFLOW_HOME" "$MLFLOW_ARTIFACTS_DESTINATION" "$PIPELINE_STATE_DIR"
  local pg; pg="$(pg_bin)"
  # private files, but the postgres user may pass through the state folder to its own (PG_DIR) when we are root
  [ "$(id -u)" != 0 ] || chmod 711 "$SERVICES_DIR"
  mkdir -p "$PGDATA" "$PG_DIR/sock" && touch "$PG_DIR/postgres.log"
  chown -R postgres: "$PG_DIR" 2>/dev/null || true
  chmod 700 "$PG_DIR" "$PG_DIR/sock" 2>/dev/null || as_postgres chmod 700 "$PG_DIR" "$PG_DIR/sock"
  if ! as_postgres test -w "$PG_DIR"; then
    log "the postgres user cannot reach $PG_DIR (a parent folder is private): set PG_DIR to a reachable folder"
    exit 1
  fi
  # Local connections: peer (the operating-system user must be the database role: only the cluster's owner signs
  # in as its superuser, through a socket folder private to it); TCP on loopback: passwords (scram-sha-256).
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    as_postgres "$pg/initdb" -D "$PGDATA" -U "$PG_SUPERUSER" --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  elif as_postgres grep -qE '^local[[:space:]].*trust[[:space:]]*$' "$PGDATA/pg_hba.conf"; then
    as_postgres sed -i -E 's/^(local[[:space:]].*)trust[[:space:]]*$/\1peer/' "$PGDATA/pg_hba.conf"  # an older cluster
    log "postgres: local connections now need peer authentication (they were trusted)"
    if as_postgres "$pg/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
      as_postgres "$pg/pg_ctl" -D "$PGDATA" reload >/dev/null
    fi
  fi
  if ! as_postgres "$pg/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_postgres "$pg/pg_ctl" -D "$PGDATA" -l "$PG_DIR/postgres.log" -w \
      -o "-p $PG_PORT -c listen_addresses=$HOST -k $PG_DIR/sock -c unix_socket_permissions=0700" start >/dev/null
  fi
  wait_for postgres 60 pg_isready -h "$HOST" -p "$PG_PORT"
  local psql=(as_postgres psql -h "$PG_DIR/sock" -p "$PG_PORT" -U "$PG_SUPERUSER" -d postgres -v ON_ERROR_STOP=1 -qtA)
  for db in airflow mlflow forecasts; do
    local pw_var="${db^^}_DB_PASSWORD"
    if [ -z "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname='$db'")" ]; then
      # on stdin, not in psql's arguments: the password never shows in the process list
      printf "CREATE ROLE %s LOGIN PASSWORD '%s';\n" "$db" "${!pw_var}" | "${psql[@]}"
      "${psql[@]}" -c "CREATE DATABASE $db OWNER $db"
    fi
  done

  # auth_cache_ttl_seconds: a signed-in account's password is checked (scrypt, about 0.1-0.2 s of CPU) once a
  # minute, not on every request (docs/deployment.md)
  printf '[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///%s/mlflow-auth.db\nadmin_username = admin\nauth_cache_ttl_seconds = 60\n' \
    "$SERVICES_DIR" > "$MLFLOW_AUTH_CONFIG_PATH"
  start_with "MLFLOW_BACKEND_STORE_URI MLFLOW_AUTH_ADMIN_PASSWORD MLFLOW_FLASK_SERVER_SECRET_KEY" \
    mlflow "$BIN/mlflow" server --app-name basic-auth \
    --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION" --host "$HOST" --port "$MLFLOW_PORT" \
    --allowed-hosts "$HOST:$MLFLOW_PORT,localhost:$MLFLOW_PORT,mlflow:5000" --workers 1

  "$BIN/airflow" db migrate > "$LOGS/airflow-db-migrate.log" 2>&1 || { tail -n 40 "$LOGS/airflow-db-migrate.log" >&2; exit 1; }
  "$BIN/airflow" pools set "$PIPELINE_HEAVY_POOL" "$PIPELINE_WORKER_SLOTS" \
    "the pipeline's heavy tasks: fits, evaluated parts, the champion's re-scoring, tuning trials" > /dev/null
  ( export AIRFLOW_ADMIN_PASSWORD AIRFLOW_OPERATOR_PASSWORD AIRFLOW_VIEWER_PASSWORD
    "$BIN/python" "$ROOT/scripts/airflow_users.py" > "$LOGS/airflow-users.log" 2>&1 ) \
    || { tail -n 40 "$LOGS/airflow-users.log" >&2; exit 1; }
  # the pipeline's MLflow accounts and names exist before a task can start (compose: mlflow-init before the Airflow
  # services); an unpaused DAG's first run would otherwise fail its ingest with 401 and wait for its retry
  wait_for mlflow 180 http_ok "$MLFLOW_TRACKING_URI/health"
  ( export MLFLOW_AUTH_ADMIN_PASSWORD MLFLOW_TRACKING_PASSWORD MLFLOW_SCORER_PASSWORD
    "$BIN/python" "$ROOT/scripts/mlflow_user.py" >&2 )
  # Each part gets the secrets it needs: the control plane signs and checks task tokens (JWT secret) and reads
  # connections (Fernet key); tasks (workers, or the scheduler running them itself) get the pipeline's MLflow account
  # the model signing key and the forecast database, nothing else. No log servers (they bind every interface, and their host cannot be
  # set): the api-server reads the task and trigger logs from the shared log folder.
  local control="AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__CORE__FERNET_KEY"
  local tasks="MLFLOW_TRACKING_PASSWORD PIPELINE_MODEL_SIGNING_KEY PIPELINE_FORECAST_DB_URL"
  start_with "$control" api-server "$BIN/airflow" api-server --host "$HOST" --port "$AIRFLOW_PORT"
  start_with "$control $([ "$EXECUTOR" = CeleryExecutor ] || echo "$tasks")" \
    scheduler "$BIN/airflow" scheduler --skip-serve-logs
  start_with "$control" dag-processor "$BIN/airflow" dag-processor
  start_with "$control" triggerer "$BIN/airflow" triggerer --skip-serve-logs
  if [ "$EXECUTOR" = CeleryExecutor ]; then
    # the password lives in a mode-600 config file, never on a command line
    # the queue is written to disk (append-only file, synced every second): a restarted Redis keeps its messages
    printf 'bind %s\nport %s\nrequirepass %s\nprotected-mode yes\nsave ""\nappendonly yes\nappendfsync everysec\ndir %s\n' \
      "$HOST" "$REDIS_PORT" "$REDIS_PASSWORD" "$SERVICES_DIR" > "$SERVICES_DIR/redis.conf"
    start redis redis-server "$SERVICES_DIR/redis.conf"
    wait_for redis 30 redis_ok
    # one task at a time per worker (torch uses one thread per task): N workers train N shards or folds at once
    for k in $(workers); do
      PIPELINE_WORKER_NAME="worker-$k@$(hostname)" start_with "$tasks" "worker-$k" "$BIN/airflow" celery worker \
        --celery-hostname "worker-$k@%h" --skip-serve-logs
    done
  fi

  wait_for api-server 180 http_ok "http://$HOST:$AIRFLOW_PORT/api/v2/monitor/health"
  wait_for scheduler 120 http_ok "http://$HOST:$AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT/health"
  for k in $(workers); do wait_for "worker-$k" 120 worker_ok "worker-$k"; done
  log "up: Airflow UI http://$HOST:$AIRFLOW_PORT (admin, operator, viewer: scripts/services.sh env ACCOUNT), MLflow UI $MLFLOW_TRACKING_URI"
  [ "$AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION" = True ] \
    || log "the DAG is unpaused: the scheduler starts the latest month's run now (PIPELINE_DAGS_PAUSED=True to not)"
}

stop_one() {
  local name=$1 pid
  [ -f "$RUN/$name.pid" ] || return 0
  pid="$(cat "$RUN/$name.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    log "$name stopped"
  fi
  rm -f "$RUN/$name.pid"
}

down() {
  for name in $(ls "$RUN" 2>/dev/null | sed -n 's/^\(worker-[0-9]*\)\.pid$/\1/p') triggerer dag-processor scheduler \
      api-server redis mlflow; do
    stop_one "$name"
  done
  local pg; pg="$(pg_bin)"
  if [ -n "$pg" ] && [ -f "$PGDATA/PG_VERSION" ]; then
    as_postgres "$pg/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 && log "postgres stopped" || true
  fi
}

descendants() {  # pid: every process under it
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$child"; descendants "$child"; done
}

kill_one() {  # name: as a machine that dies: SIGKILL to it and every process under it, no clean-up
  local name=$1 pid
  export_env
  if [ "$name" = postgres ]; then
    as_postgres "$(pg_bin)/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null && log "postgres killed"; return
  fi
  [ -f "$RUN/$name.pid" ] || { log "$name is not running"; return 1; }
  pid="$(cat "$RUN/$name.pid")"
  kill -KILL $(descendants "$pid") "$pid" 2>/dev/null || true
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$RUN/$name.pid"
  log "$name killed"
}

status() {
  for name in mlflow api-server scheduler dag-processor triggerer $([ "$EXECUTOR" = CeleryExecutor ] && echo redis) \
      $([ "$EXECUTOR" = CeleryExecutor ] && for k in $(seq 1 "$CELERY_WORKERS"); do echo "worker-$k"; done); do
    if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
      echo "$name: running (pid $(cat "$RUN/$name.pid"))"
    else
      echo "$name: stopped"
    fi
  done
  pg_isready -h "$HOST" -p "$PG_PORT" >/dev/null 2>&1 && echo "postgres: running" || echo "postgres: stopped"
}

# The client settings; with an account, its credentials (asked for by name: never printed otherwise).
print_env() {
  local v
  for v in MLFLOW_TRACKING_URI MLFLOW_DISABLE_TELEMETRY MLFLOW_ALLOW_PICKLE_DESERIALIZATION AIRFLOW__API__BASE_URL \
           PIPELINE_STATE_DIR; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
  case "$1" in
    "") ;;
    admin|operator|viewer) local pw="AIRFLOW_${1^^}_PASSWORD"
      printf 'export AIRFLOW_USERNAME=%q\nexport AIRFLOW_PASSWORD=%q\n' "$1" "${!pw}" ;;
    pipeline) printf 'export MLFLOW_TRACKING_USERNAME=pipeline\nexport MLFLOW_TRACKING_PASSWORD=%q\n' "$MLFLOW_TRACKING_PASSWORD"
      printf 'export PIPELINE_MODEL_SIGNING_KEY=%q\n' "$PIPELINE_MODEL_SIGNING_KEY"
      printf 'export PIPELINE_FORECAST_DB_URL=%q\n' "$PIPELINE_FORECAST_DB_URL" ;;
    scorer) printf 'export MLFLOW_TRACKING_USERNAME=scorer\nexport MLFLOW_TRACKING_PASSWORD=%q\n' "$MLFLOW_SCORER_PASSWORD"
      printf 'export PIPELINE_MODEL_SIGNING_KEY=%q\nexport PIPELINE_SERVE_TOKEN=%q\n' "$PIPELINE_MODEL_SIGNING_KEY" "$PIPELINE_SERVE_TOKEN" ;;
    *) log "unknown account '$1': admin, operator, viewer (Airflow), pipeline, scorer (MLflow)"; exit 2 ;;
  esac
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) export_env; print_env "${2:-}" ;;
  kill) kill_one "${2:?which part: worker-1, redis, mlflow, scheduler, postgres, ...}" ;;
  *) echo "usage: $0 up|down|status|env|kill NAME" >&2; exit 2 ;;
esac
