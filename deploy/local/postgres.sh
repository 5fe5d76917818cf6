#!/usr/bin/env bash
# The PostgreSQL the tests, `make faults` and `make bench` use: Debian's, installed when missing
# and started, with a role that may create databases (every test run creates and drops its own).
#
#   deploy/local/postgres.sh          # run by `make install`; fast when all is in place
#
# Leaves everything alone when TEST_POSTGRES_URL names another server. Without root it only
# says what is missing (`make check-postgres` then stops the tests with the same advice).
set -euo pipefail

PORT=5432
ROLE=complaints
PASSWORD=complaints  # a local test role on loopback; production gets its roles from deploy/

if [ -n "${TEST_POSTGRES_URL:-}" ]; then
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  if ! pg_isready -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; then
    echo "warning: no PostgreSQL on 127.0.0.1:$PORT and not root here to install or start Debian's;" \
      "start one with a role $ROLE (password $PASSWORD, CREATEDB), or set TEST_POSTGRES_URL" >&2
  fi
  exit 0
fi

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v pg_lsclusters >/dev/null; then
  echo "installing Debian's postgresql (the tests' database server)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

# The cluster on our port: Debian's package makes one (main) when it installs; make it when it is gone.
cluster="$(pg_lsclusters --no-header | awk -v p="$PORT" '$3 == p { print $1, $2, $4; exit }')"
if [ -z "$cluster" ]; then
  version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
  echo "creating PostgreSQL $version cluster 'main' on port $PORT"
  pg_createcluster --port "$PORT" "$version" main >/dev/null
  cluster="$version main down"
fi
read -r version name status <<<"$cluster"

psql_admin() { runuser -u postgres -- psql -X -q -t -A -p "$PORT" -v ON_ERROR_STOP=1 "$@"; }

if [ "$status" != online ]; then
  echo "starting PostgreSQL $version/$name on port $PORT"
  pg_ctlcluster "$version" "$name" start
fi

# Seven services, the read side and the console's tests each open a few connections, and the fault
# runs hold two clusters' worth at once: Debian's default of 100 is too few.
if [ "$(psql_admin -c 'SHOW max_connections')" -lt 300 ]; then
  psql_admin -c 'ALTER SYSTEM SET max_connections = 300'
  echo "restarting PostgreSQL $version/$name for max_connections = 300"
  pg_ctlcluster "$version" "$name" restart
fi

psql_admin <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
  END IF;
END \$\$;
SQL

for _ in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && exit 0
  sleep 0.2
done
echo "error: PostgreSQL $version/$name did not accept connections on 127.0.0.1:$PORT; see" \
  "/var/log/postgresql/postgresql-$version-$name.log" >&2
exit 1
