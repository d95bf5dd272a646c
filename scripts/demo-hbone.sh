#!/usr/bin/env bash
# The main job: a local HBONE server and tunnels through it, with generated certificates.
#   1. `hbone certs` makes a development CA and SVIDs for three workloads;
#   2. an "app" (python's http.server) listens on 127.0.0.1;
#   3. `hbone serve` terminates HBONE (mTLS, HTTP/2 CONNECT) and allows only the client's identity;
#   4. an independent HBONE client (python3-h2) sends an HTTP request through a tunnel, then an
#      intruder identity is refused with 401;
#   5. our own client (`hbone forward`) carries two curl requests over one pooled connection;
#   6. the access-log lines are printed, and everything started here is stopped and removed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

./scripts/ensure-packages.sh python3-h2 openssl >/dev/null
PY=/usr/bin/python3   # Debian's python, where python3-h2 is installed
CLIENT=tests/Hbone.Kestrel.Tests/Interop/hbone_h2_client.py

work=$(mktemp -d -t hbone-demo.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Waits (bounded) until a file contains a pattern; prints the first match.
wait_for() {
    local file=$1 pattern=$2
    for _ in $(seq 1 150); do
        if grep -qE "$pattern" "$file" 2>/dev/null; then grep -m1 -oE "$pattern" "$file"; return 0; fi
        sleep 0.2
    done
    echo "demo: timed out waiting for '$pattern' in $file:" >&2; cat "$file" >&2; return 1
}

step "Building the hbone command"
dotnet build src/Hbone.Cli -c Release -v quiet -nologo | grep -E "error|Warn" || true
# An array, not a shell function: a background function runs in a subshell and $! would not be dotnet's pid.
HBONE=(dotnet src/Hbone.Cli/bin/Release/net10.0/Hbone.Cli.dll)

step "hbone certs: a development CA and SVIDs (ECDSA P-256, one URI SAN each)"
"${HBONE[@]}" certs --out "$work/certs" --trust-domain cluster.local \
    --identity default/echo --identity default/client --identity other/intruder
openssl x509 -in "$work/certs/client.pem" -noout -ext subjectAltName,keyUsage,extendedKeyUsage | sed 's/^/  /'

step "An application on 127.0.0.1 (python http.server)"
mkdir -p "$work/site" && echo "hello from the app behind the tunnel" > "$work/site/index.html"
"$PY" -u -m http.server 0 --bind 127.0.0.1 --directory "$work/site" >"$work/app.log" 2>&1 &
pids+=($!)
app_port=$(wait_for "$work/app.log" 'port [0-9]+' | grep -oE '[0-9]+')
echo "  app listening on 127.0.0.1:$app_port"

step "hbone serve: HBONE on 127.0.0.1 as spiffe://cluster.local/ns/default/sa/echo, allowing only the client"
"${HBONE[@]}" serve --listen 127.0.0.1:0 --cert "$work/certs/echo.pem" --key "$work/certs/echo.key" --ca "$work/certs/ca.pem" \
    --allow spiffe://cluster.local/ns/default/sa/client >"$work/access.log" 2>"$work/serve.err" &
pids+=($!)
hbone_addr=$(wait_for "$work/serve.err" 'https://[0-9.]+:[0-9]+' | sed 's#https://##')
echo "  $(head -1 "$work/serve.err")"

step "A tunnel: CONNECT 127.0.0.1:$app_port over mTLS as default/client, HTTP inside it"
printf 'GET / HTTP/1.0\r\nHost: app\r\n\r\n' | "$PY" "$CLIENT" --server "$hbone_addr" \
    --cert "$work/certs/client.pem" --key "$work/certs/client.key" --ca "$work/certs/ca.pem" \
    --authority "127.0.0.1:$app_port" --header 'forwarded:for="10.244.0.2:40690"' \
    --header "traceparent:00-$(openssl rand -hex 16)-$(openssl rand -hex 8)-00" --stdin \
    >"$work/tunnel.out" 2>"$work/tunnel.err"
sed 's/^/  /' "$work/tunnel.err"
sed 's/^/  | /' "$work/tunnel.out"

step "An intruder (other/intruder) asks for the same tunnel"
status=0
"$PY" "$CLIENT" --server "$hbone_addr" --cert "$work/certs/intruder.pem" --key "$work/certs/intruder.key" \
    --ca "$work/certs/ca.pem" --authority "127.0.0.1:$app_port" </dev/null >"$work/intruder.out" 2>&1 || status=$?
sed 's/^/  /' "$work/intruder.out"
echo "  client exit code: $status (2 = refused with a non-200 status)"

step "Our own client: hbone forward on 127.0.0.1, then curl through it twice (one pooled HTTP/2 connection)"
"${HBONE[@]}" forward --listen 127.0.0.1:0 --via "$hbone_addr" --target "127.0.0.1:$app_port" \
    --cert "$work/certs/client.pem" --key "$work/certs/client.key" --ca "$work/certs/ca.pem" \
    --expect spiffe://cluster.local/ns/default/sa/echo >"$work/forward.log" 2>"$work/forward.err" &
pids+=($!)
forward_addr=$(wait_for "$work/forward.err" 'listening on [0-9.]+:[0-9]+' | sed 's/listening on //')
echo "  $(head -1 "$work/forward.err")"
for i in 1 2; do
    echo "  curl #$i: $(curl -s -m 10 "http://$forward_addr/")"
done
for _ in $(seq 1 100); do   # both lines are written once each tunnel has closed
    (( $(grep -c 'status=200' "$work/forward.log") >= 2 )) && break
    sleep 0.1
done
sed 's/^/  forward: /' "$work/forward.log"

step "The server's access log (one line per tunnel; the curl tunnels share one src port: one connection)"
wait_for "$work/access.log" 'status=401' >/dev/null
sed 's/^/  /' "$work/access.log"
echo
echo "demo: done; stopping the server (SIGTERM drains open tunnels) and removing $work"
