#!/usr/bin/env bash
# Install (if missing) and start (if down) the services the tests use. Never stops a running one.
set -euo pipefail

need_pkgs=()
command -v rumur >/dev/null || need_pkgs+=(rumur)
command -v redis-server >/dev/null || need_pkgs+=(redis-server redis-tools)
command -v nats-server >/dev/null || need_pkgs+=(nats-server)
[ -d /usr/lib/postgresql ] || need_pkgs+=(postgresql)
command -v setpriv >/dev/null || need_pkgs+=(util-linux)
command -v chromium >/dev/null || need_pkgs+=(chromium)  # renders the ccs diagnose HTML report
command -v node >/dev/null && command -v npm >/dev/null || need_pkgs+=(nodejs npm)  # the TypeScript MCP SDK test
if [ ${#need_pkgs[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 6379; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! port_open 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! port_open 4222; then
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
for _ in $(seq 1 50); do
  if port_open 6379 && port_open 5432 && port_open 4222; then exit 0; fi
  sleep 0.2
done
echo "services did not come up: redis=$(port_open 6379 && echo up || echo down)" \
  "postgres=$(port_open 5432 && echo up || echo down) nats=$(port_open 4222 && echo up || echo down)" >&2
exit 1
