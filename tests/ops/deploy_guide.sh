#!/usr/bin/env bash
# docs/deploy.md, "From a bare Debian server to a running center", run as written on a bare Debian 12
# root, then used as a city would use it: a technician provisions a board over USB, a citizen presses
# its SOS key, the console over HTTPS shows the incident.
#
#   ../shared/tools/fresh-machine 'bash tests/ops/deploy_guide.sh --fresh-root'   (as root, from the checkout)
#
# The guide's shell blocks are taken from docs/deploy.md and run in order in one shell, with only its
# placeholders filled in (<the project>, the passwords) and the edits it asks for in words made here
# (nginx's names and certificate paths, Prometheus' scrape job). Such a root has no systemd as PID 1:
# `systemctl` here runs each unit's own ExecStartPre/ExecStart lines, as the unit's User, with its
# Environment, EnvironmentFile, WorkingDirectory and UMask, from the unit files the guide installed.
set -euo pipefail
src=$(pwd)
guide="$src/docs/deploy.md"
[ "$(id -u)" = 0 ] || { echo "deploy guide: run as root, on a machine you can throw away"; exit 2; }
[ -f "$guide" ] || { echo "deploy guide: run from the project checkout ($guide is missing)"; exit 2; }
# It installs packages and takes ports 80, 443, 1883, 8883, 8112 and 9090: only in a throw-away root.
[ "${1:-}" = --fresh-root ] \
  || { echo "deploy guide: run it in a fresh root: ../shared/tools/fresh-machine 'bash tests/ops/deploy_guide.sh --fresh-root'"; exit 2; }
work=$(mktemp -d /tmp/deploy-guide.XXXXXX)
# A chroot shares the machine's process table and network: when done, stop what the run started (by
# its own pid files, never by scanning: from inside a chroot every process looks alike), so no service
# outlives the run or holds a port.
stop_all() {
  local f
  for f in "$work"/*.pid; do [ -s "$f" ] && kill -TERM -- "-$(cat "$f")" 2>/dev/null; done
  [ -s /run/nginx.pid ] && nginx -s quit 2>/dev/null
  [ -s /var/lib/prometheus/prometheus.pid ] && kill -TERM "$(cat /var/lib/prometheus/prometheus.pid)" 2>/dev/null
  command -v pg_ctlcluster >/dev/null && pg_ctlcluster 15 main stop -m fast 2>/dev/null
  sleep 2
  for f in "$work"/*.pid; do [ -s "$f" ] && kill -KILL -- "-$(cat "$f")" 2>/dev/null; done
  return 0
}
trap stop_all EXIT
step() { printf '\n=== deploy guide: %s\n' "$*"; }
fail() {
  echo "deploy guide: FAILED: $*" >&2
  for f in "$work"/*.log /var/lib/siaga/broker/mosquitto.log /var/lib/siaga/usb-board/*.log; do
    [ -f "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
  done
  exit 1
}

# ---- the guide's commands, literally -----------------------------------------------------------------
python3 - "$guide" >"$work/guide.sh" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
def blocks(section, first_only=False):
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"```sh\n(.*?)```", body, re.S)
    return found[:1] if first_only else found
out = blocks("From a bare Debian server to a running center") + blocks("HTTPS and the reverse proxy", True) \
    + blocks("Monitoring", True)
print("\n".join(out))
PY
[ -s "$work/guide.sh" ] || fail "no shell blocks found in docs/deploy.md"
broker_pw=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
metrics_tok=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
admin_pw=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
sed -i -e "s|<the project>|$src|" \
       -e "s|<a long random password>|$broker_pw|" \
       -e "s|<another long random token>|$metrics_tok|" \
       -e "s|<the first admin's password, removed after the first start>|$admin_pw|" "$work/guide.sh"
# The last line of the nginx block starts the server by hand; here the unit already runs it.
sed -i -e '/^siaga serve  /d' "$work/guide.sh"
if grep -n '<[a-z][^>]*>' "$work/guide.sh" | grep -v '<<' ; then fail "a placeholder of the guide is left unfilled (above)"; fi

# ---- what the guide says in words ---------------------------------------------------------------------
cat >"$work/prelude.sh" <<PRE
set -euo pipefail
export LOGS="$work"
unit_field() { sed -n "s/^\$2=//p" "/etc/systemd/system/\$1" ; }
unit_start() {
  local u=\$1 f=/etc/systemd/system/\$1
  case "\$u" in
    *.timer) echo "(\$u: a timer; no systemd here to run it)"; return ;;
    nginx|nginx.service) nginx; return ;;
    prometheus|prometheus.service) return ;;
  esac
  [ -f "\$f" ] || { echo "systemctl: no unit \$u"; return 1; }
  local user wd envs envfile pre start
  user=\$(unit_field "\$u" User); wd=\$(unit_field "\$u" WorkingDirectory); envs=\$(unit_field "\$u" Environment | tr '\n' ' ')
  envfile=\$(unit_field "\$u" EnvironmentFile | sed 's/^-//'); pre=\$(unit_field "\$u" ExecStartPre); start=\$(unit_field "\$u" ExecStart)
  (
    umask 0077; cd "\${wd:-/}"
    set -a; [ -n "\$envfile" ] && [ -f "\$envfile" ] && . "\$envfile"; set +a
    exec setsid runuser -u "\$user" -- env \$envs bash -c "\${pre:+\$pre && }exec \$start"
  ) >>"\$LOGS/\${u%.service}.log" 2>&1 </dev/null &
  echo \$! >"\$LOGS/\${u%.service}.pid"
  echo "started \$u (pid \$!) as \$user: \${pre:+\$pre; }\$start"
}
systemctl() {
  local cmd=\$1; shift
  case "\$cmd" in
    daemon-reload) ;;
    enable) [ "\${1:-}" = --now ] && shift; for u in "\$@"; do unit_start "\$u"; done ;;
    start) for u in "\$@"; do unit_start "\$u"; done ;;
    status) for u in "\$@"; do kill -0 "\$(cat "\$LOGS/\${u%.service}.pid")" && echo "\$u: active (pid \$(cat "\$LOGS/\${u%.service}.pid"))"; done ;;
    reload) for u in "\$@"; do case "\$u" in nginx) nginx -s reload ;; prometheus) kill -HUP "\$(cat /var/lib/prometheus/prometheus.pid)" ;; esac; done ;;
    *) echo "systemctl \$cmd: not emulated"; return 1 ;;
  esac
}
journalctl() { sleep 3; tail -n 20 "\$LOGS/siaga.log"; }
PRE

# nginx: "edit server_name and ssl_certificate / ssl_certificate_key (the city's certificate, key 0600)"
cat >"$work/console_cert.sh" <<'CERT'
# The city's certificate for the console: here one from the city CA made in step 3.
runuser -u siaga -- /opt/siaga/bin/python - <<'PY'
from pathlib import Path
from fleet_server.broker import pki
sc = pki.server_cert(Path("/var/lib/siaga/pki"), ["siaga.bandung.go.id"], name="console")
PY
install -m 0644 /var/lib/siaga/pki/console.pem /etc/siaga/tls/server.crt
install -m 0600 /var/lib/siaga/pki/console.key /etc/siaga/tls/server.key
CERT
cat >"$work/console_cert_wrap.sh" <<WRAP
install -d -m 0755 /etc/siaga/tls
. "$work/console_cert.sh"
WRAP
# prometheus.yml: "rule_files: [...], and a scrape job siaga"
cat >"$work/edit_prometheus.sh" <<PROM
install -m 0640 -o root -g prometheus /dev/null /etc/prometheus/siaga-metrics.token
printf '%s' "$metrics_tok" >/etc/prometheus/siaga-metrics.token
cat >/etc/prometheus/prometheus.yml <<'YML'
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: ["/etc/prometheus/rules/*.yml"]
scrape_configs:
  - job_name: siaga
    static_configs: [{targets: ["127.0.0.1:8112"]}]
    authorization: {credentials_file: /etc/prometheus/siaga-metrics.token}
YML
PROM
awk -v cc="$work/console_cert_wrap.sh" -v pr="$work/edit_prometheus.sh" '
  /^# edit server_name/ {print; print "sed -i \"s/siaga.example.go.id/siaga.bandung.go.id/\" /etc/nginx/sites-available/siaga"; print ". \"" cc "\""; next}
  /^systemctl reload prometheus/ {print ". \"" pr "\""; print; next}
  {print}' "$work/guide.sh" >"$work/guide2.sh"

# Services Debian starts when they are installed and at every boot; a fresh root has them installed
# but not running.
cat >"$work/boot.sh" <<BOOT
pg_ctlcluster 15 main start 2>/dev/null || true
nginx
(setsid runuser -u prometheus -- bash -c 'echo \$\$ >/var/lib/prometheus/prometheus.pid; exec prometheus \
   --config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/var/lib/prometheus/metrics2 \
   --web.listen-address=127.0.0.1:9090' >>"$work/prometheus.log" 2>&1 &)
BOOT
awk -v boot="$work/boot.sh" '/^runuser -u postgres -- createuser/{print ". \"" boot "\""} {print}' "$work/guide2.sh" >"$work/guide3.sh"

step "running the guide's $(grep -c . "$work/guide3.sh") lines (docs/deploy.md)"
grep -v '^#' "$work/guide3.sh" | grep . | sed 's/^/  | /' | head -80
( cd / && bash -c ". '$work/prelude.sh'; set -x; . '$work/guide3.sh'" ) 2>&1 | tee "$work/guide-run.log" \
  || fail "a command of the guide failed (the last lines above)"
[ "${PIPESTATUS[0]:-0}" = 0 ] || fail "a command of the guide failed"

# ---- used as a city uses it -----------------------------------------------------------------------------
step "the center answers over HTTPS through nginx"
echo "127.0.0.1 siaga.bandung.go.id mqtt.siaga.bandung.go.id" >>/etc/hosts
ca=/var/lib/siaga/pki/ca.pem
for i in $(seq 1 60); do
  code=$(/opt/siaga/bin/python -c "
import httpx,sys
try: print(httpx.get('https://siaga.bandung.go.id/console/', verify='$ca', timeout=2).status_code)
except Exception as e: print(type(e).__name__)" 2>/dev/null)
  [ "$code" = 200 ] && break; sleep 1
done
[ "$code" = 200 ] || fail "https://siaga.bandung.go.id/console/ answered $code after 60 s"
echo "console: 200 over HTTPS, certificate verified against the city CA"

step "a technician provisions a board over USB (siaga sim usb-board + siaga device provision)"
runuser -u siaga -- env $(xargs </etc/siaga/siaga.env) SIAGA_DATA_DIR=/var/lib/siaga \
  /opt/siaga/bin/siaga admin create-user ani --role technician --password "tech-$admin_pw" >/dev/null \
  || fail "siaga admin create-user"
(cd /var/lib/siaga && exec setsid runuser -u siaga -- env SIAGA_DATA_DIR=/var/lib/siaga /opt/siaga/bin/siaga sim usb-board \
  --link /var/lib/siaga/ttyUSB0 >"$work/usb-board.log" 2>&1) &
echo $! >"$work/usb-board.pid"
for i in $(seq 1 30); do [ -e /var/lib/siaga/ttyUSB0 ] && break; sleep 1; done
[ -e /var/lib/siaga/ttyUSB0 ] || fail "the simulated board did not come up"
runuser -u siaga -- env $(xargs </etc/siaga/siaga.env) SIAGA_DATA_DIR=/var/lib/siaga SIAGA_PASSWORD="tech-$admin_pw" \
  /opt/siaga/bin/siaga device provision --port /var/lib/siaga/ttyUSB0 --kind button --board sim --id btn-guide-01 \
  --site 'Taman Lansia' --lat -6.9045 --lon 107.6230 --category medical --user ani \
  --device-host mqtt.siaga.bandung.go.id 2>&1 | tee "$work/provision.log" || fail "provisioning"
/opt/siaga/bin/python -c "import json,sys; c=json.load(open('/var/lib/siaga/usb-board/flash/config.json')); sys.exit(0 if c.get('tls') else 'no tls: %s' % c)" \
  || fail "the board was not given TLS"

step "a citizen presses its SOS key; the incident reaches the console's API"
control=$(sed -n "s/.*'release sos' to 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p" "$work/usb-board.log" | head -1)
[ -n "$control" ] || fail "the simulated board printed no control port"
/opt/siaga/bin/python - "$control" "$admin_pw" "$ca" <<'PY' || fail "the alarm did not become an incident"
import socket, sys, time, httpx
port, admin_pw, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def key(op):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"{op} sos\n".encode()); s.recv(4096)
key("press"); time.sleep(2.5); key("release")   # held past the firmware's hold_ms (1.5 s)
base = "https://siaga.bandung.go.id"
tok = httpx.post(f"{base}/api/v1/auth/token", data={"username": "admin", "password": admin_pw}, verify=ca).json()["access_token"]
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    mine = httpx.get(f"{base}/api/v1/incidents", params={"device_id": "btn-guide-01"},
                     headers={"Authorization": f"Bearer {tok}"}, verify=ca).json()
    if mine:
        print("incident:", {k: mine[0].get(k) for k in ("id", "type", "state", "category", "agency", "station_name")})
        sys.exit(0)
    time.sleep(1)
sys.exit("no incident for btn-guide-01 within 60 s")
PY

step "Prometheus scrapes the server with the token"
for i in $(seq 1 40); do
  up=$(/opt/siaga/bin/python -c "
import httpx
r = httpx.get('http://127.0.0.1:9090/api/v1/query', params={'query': 'up{job=\"siaga\"}'}, timeout=2).json()
print(r['data']['result'][0]['value'][1] if r['data']['result'] else 'none')" 2>/dev/null || echo down)
  [ "$up" = 1 ] && break; sleep 1
done
[ "$up" = 1 ] || fail "Prometheus' job siaga is not up ($up)"
echo "up{job=\"siaga\"} = 1"

step "backup while running, then the files' modes"
systemctl() { :; }
runuser -u siaga -- env $(xargs </etc/siaga/siaga.env) SIAGA_DATA_DIR=/var/lib/siaga /opt/siaga/bin/siaga backup \
  /var/lib/siaga/guide.backup >/dev/null || fail "siaga backup"
for f in /var/lib/siaga/guide.backup /var/lib/siaga/broker/passwd /var/lib/siaga/pki/ca.key /etc/siaga/siaga.env; do
  [ -e "$f" ] || continue
  m=$(stat -c %a "$f"); [ "$m" = 600 ] || fail "$f is mode $m, not 600"
done
echo "deploy guide: every step ran; the center took a provisioned board's alarm over TLS and showed it over HTTPS"
