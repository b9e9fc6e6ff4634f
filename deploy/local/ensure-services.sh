#!/usr/bin/env bash
# Makes sure the servers the tests need are up on this machine: PostgreSQL on
# 127.0.0.1:5432 (database "test") and NATS with JetStream on 127.0.0.1:4222,
# plus nats-server on PATH for the tests that run a private one. Starts what
# is installed but stopped; otherwise fails with one sentence saying what is
# missing. Respects HONGXIN_TEST_DATABASE_URL / HONGXIN_TEST_NATS_URL when set.
set -euo pipefail

say() { echo "ensure-services: $*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [ -z "${HONGXIN_TEST_DATABASE_URL:-}" ]; then
  if ! port_open 5432; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
      say "starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    fi
    for _ in $(seq 1 50); do port_open 5432 && break; sleep 0.2; done
    port_open 5432 || { echo "make test needs PostgreSQL on 127.0.0.1:5432 (trust auth, database 'test'), and none is running or installed here." >&2; exit 1; }
  fi
  if command -v psql >/dev/null; then
    psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
      || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test"
    # Drop what earlier test runs left behind (schemas named t_<uuid>, or with a
    # suffix such as _p_old from a swap, and databases named t_<uuid>).
    psql -h 127.0.0.1 -U postgres -d test -tAc \
      "SELECT 'DROP SCHEMA ' || nspname || ' CASCADE;' FROM pg_namespace WHERE nspname ~ '^t_[0-9a-f]{32}(_[a-z_]+)?$'" \
      | psql -h 127.0.0.1 -U postgres -d test -q >/dev/null 2>&1 || true
    for db in $(psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT datname FROM pg_database WHERE datname ~ '^t_[0-9a-f]{32}$'"); do
      psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    done
  fi
fi

command -v nats-server >/dev/null || { echo "make test needs nats-server on PATH (Debian package nats-server), and it is not installed." >&2; exit 1; }
if [ -z "${HONGXIN_TEST_NATS_URL:-}" ] && ! port_open 4222; then
  say "starting NATS with JetStream"
  mkdir -p /var/lib/nats-server 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server 2>/dev/null \
    || (nohup nats-server -a 127.0.0.1 -p 4222 -js -sd "${TMPDIR:-/tmp}/hongxin-nats" >/dev/null 2>&1 &)
  for _ in $(seq 1 50); do port_open 4222 && break; sleep 0.2; done
  port_open 4222 || { echo "make test needs NATS with JetStream on 127.0.0.1:4222, and it could not be started." >&2; exit 1; }
fi
