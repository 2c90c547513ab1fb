#!/usr/bin/env bash
# Installs what is missing, builds, and starts the skiff daemon in the
# background on unix:///run/skiff/skiff.sock (log: /var/log/skiff.log).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
socket=/run/skiff/skiff.sock
if [ -S "$socket" ] && docker -H "unix://$socket" version >/dev/null 2>&1; then
  echo "skiff: daemon already running on unix://$socket"
  exit 0
fi
# Where systemd runs the machine and install.sh put the units there, systemd
# starts it (socket activation; log: journalctl -u skiff).
if [ -d /run/systemd/system ] && [ -e /etc/systemd/system/skiff.service ] && [ "$#" -eq 0 ]; then
  systemctl start skiff.socket skiff.service
  echo "skiff: daemon started by systemd on unix://$socket (journalctl -u skiff)"
  exit 0
fi
# Containers' DNS lookups go to 127.0.0.1 unless you pass other --dns servers
# (or "dns" in /etc/skiff/daemon.json: dockerd refuses an option given both ways):
# skiff never forwards to this machine's resolver unless told to.
dns=(--dns 127.0.0.1)
if [ -e /etc/skiff/daemon.json ] && grep -q '"dns"' /etc/skiff/daemon.json; then dns=(); fi
nohup node bin/skiff daemon -H "unix://$socket" "${dns[@]}" "$@" >>/var/log/skiff.log 2>&1 &
for _ in $(seq 1 100); do
  [ -S "$socket" ] && { echo "skiff: daemon running on unix://$socket (pid $!)"; exit 0; }
  sleep 0.1
done
echo "skiff: the daemon did not start; see /var/log/skiff.log" >&2
tail -20 /var/log/skiff.log >&2
exit 1
