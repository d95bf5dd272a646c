#!/usr/bin/env bash
# Control plane flapping under load (issue 9). In the two-node lab of scripts/lab/mesh-lab.sh (prefix "cpflap"; needs
# root) it starts, as scripts/demo.sh does, the development istiod (samples/ControlPlane: delta xDS from the lab's YAML
# + the Istio CA), a node agent and a ztunnel per node on XDS_ADDRESS/CA, enrolls client and echo, and an echo server in
# the echo pod. Then, while benchmarks/controlplane/flap_load.py in the client pod drives the echo VIP through both
# ztunnels (LONG long-lived connections doing back-to-back verified request/response exchanges, plus RATE new short
# verified connections per second), it stops the control plane every PERIOD seconds (SIGTERM on odd cycles, SIGKILL on
# even ones), keeps it down DOWN seconds and starts it again. Every cycle changes the mesh: service flap-<i> replaces
# flap-<i-1> in the YAML, on even cycles while the control plane is down, on odd cycles once both ztunnels are back
# (a push on the live stream). Per cycle it measures, from the control plane's start: when it listens, when each
# ztunnel's xDS stream is back (the ztunnel's own log line "xDS stream to ... connected", its timestamp), and when each
# ztunnel's /config_dump shows flap-<i> and no longer flap-<i-1> (polled every 0.1 s; from the start for down-changes,
# from the file write for up-changes); and the ztunnels' /healthz/ready while the control plane is down.
# Reports: long-lived connections lost (expected 0), new connections attempted/failed in down and up phases (expected
# 0 failed), the per-cycle table and medians; a cycle that does not reconnect or converge within 30 s is reported as
# "timeout". The control plane's, ztunnels' and load's logs are kept in artifacts/controlplane-bench/<date>-flap-logs/.
#
# Usage: benchmarks/controlplane/flap.sh [--quick] [--control] [--duration S] [--period S] [--down S] [--long N] [--rate R]
#   --duration S  how long to flap (300); --quick: 40
#   --control     the baseline: the same set-up and load for the same time, the control plane never stopped
#   --period S    one stop/start cycle every S seconds (10)
#   --down S      how long the control plane stays down in each cycle (3)
#   --long N      long-lived connections (8);  --rate R  new short connections per second (20)
# ZTUNNEL_ENV="NAME=VALUE ..." is passed to both ztunnels (e.g. DOTNET_gcServer=0).
# Writes the markdown to stdout and to artifacts/controlplane-bench/<date>.md; progress goes to stderr.
# Exit codes: 0 every check passed, 1 set-up error, 2 measured but a check failed (a lost tunnel, a failed new
# connection, no reconnect or no convergence within 30 s).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
command_line="${ZTUNNEL_ENV:+ZTUNNEL_ENV=\"$ZTUNNEL_ENV\" }benchmarks/controlplane/flap.sh${*:+$(printf ' %q' "$@")}"

duration=300 period=10 down=3 long=8 rate=20 quick=0 control=0
while (($#)); do
    case $1 in
        --quick) quick=1 duration=40 ;;
        --control) control=1 ;;
        --duration) duration=${2:?--duration needs seconds}; shift ;;
        --period) period=${2:?--period needs seconds}; shift ;;
        --down) down=${2:?--down needs seconds}; shift ;;
        --long) long=${2:?--long needs a count}; shift ;;
        --rate) rate=${2:?--rate needs a rate}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "flap.sh: unknown argument '$1' (see --help)" >&2; exit 1 ;;
    esac
    shift
done
for value in "$duration" "$period" "$down" "$long" "$rate"; do
    [[ $value =~ ^[0-9]+$ && $value -gt 0 ]] || { echo "flap.sh: '$value' is not a positive whole number (see --help)" >&2; exit 1; }
done
((down < period)) || { echo "flap.sh: --down ($down) must be shorter than --period ($period)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "flap.sh: needs root (network namespaces, iptables)" >&2; exit 1; }

read -ra ztunnel_env <<<"${ZTUNNEL_ENV:-}"
PREFIX=cpflap
LAB=scripts/lab/mesh-lab.sh
WAIT_LIMIT=30   # seconds for a reconnect or a convergence, per cycle
# shellcheck source=../../scripts/lab/mesh-lib.sh
. scripts/lab/mesh-lib.sh
eval "$("$LAB" env "$PREFIX")"
HBONE=("$MESH_HBONE")
BENCH=(dotnet benchmarks/Hbone.TunnelBench/bin/Release/net10.0/Hbone.TunnelBench.dll)

stamp=$(date -u '+%Y-%m-%d-%H%M%S')
out_dir=artifacts/controlplane-bench
logs=$out_dir/$stamp-flap-logs
work=$(mktemp -d -t cp-flap.XXXXXX)
mkdir -p "$out_dir" "$work/mesh"
touch "$work/pids"
cp_pid=""

log() { printf 'flap: %s\n' "$*" >&2; }
now() { date +%s.%N; }
in_ns() { ip netns exec "$1" "${@:2}"; }

# Stops the given pids: SIGTERM, up to 10 s, then SIGKILL.
stop_pids() { mesh_stop_pids 10 "$@"; }
cleanup() {
    local status=$?
    local all=()
    mapfile -t all <"$work/pids"
    [[ -n $cp_pid ]] && all+=("$cp_pid")
    stop_pids "${all[@]}"
    "$LAB" down "$PREFIX" || true
    mkdir -p "$logs"
    cp "$work"/*.log "$work"/*.err "$work"/*.tsv "$work"/*.json "$logs"/ 2>/dev/null || true
    if ((status == 1)); then log "failed (exit $status); logs in $logs"; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
die() { log "$*"; exit 1; }
start() { # start NAME CMD...: runs CMD in the background, output in $work/NAME.log; sets LAST_PID
    local name=$1; shift
    "$@" >"$work/$name.log" 2>&1 &
    LAST_PID=$!
    echo "$LAST_PID" >>"$work/pids"
}

# --- The mesh YAML: the lab's config plus one extra service flap-<n> (no endpoints; harmless).
write_config() { # write_config N: atomically (rename), so the control plane never reads half a file
    {
        sed '/^policies:/d' "$work/base.yaml"
        cat <<EOF
- name: flap-$1
  namespace: default
  hostname: flap-$1.default.svc.cluster.local
  vips: ["/10.96.9.$(($1 % 250 + 1))"]
  ports: { 80: 8080 }
policies: []
EOF
    } >"$work/mesh/config.yaml.tmp"
    mv "$work/mesh/config.yaml.tmp" "$work/mesh/config.yaml"
}
start_control_plane() {   # ip netns exec, not in_ns: $! must be the dotnet process, not a subshell
    ip netns exec "$PREFIX-node-a" dotnet "$MESH_CONTROL_PLANE" --listen "$LAB_NODE_A_IP:$MESH_CONTROL_PLANE_PORT" \
        --config "$work/mesh/config.yaml" --ca-cert "$work/ca/ca.pem" --ca-key "$work/ca/ca.key" "${tokens[@]}" \
        >>"$work/control-plane.log" 2>&1 &
    cp_pid=$!
    disown "$cp_pid"   # no "Killed" notice from bash on SIGKILL; stops are waited for with kill -0
}
# Bounded wait (WAIT_LIMIT) for the control plane's port, from node-b (as the ztunnel dials it); prints the time.
wait_listen() {
    local deadline=$(($(date +%s) + WAIT_LIMIT))
    while (($(date +%s) < deadline)); do
        if in_ns "$PREFIX-node-b" timeout 1 bash -c "exec 3<>/dev/tcp/$LAB_NODE_A_IP/$MESH_CONTROL_PLANE_PORT" 2>/dev/null; then
            now; return 0
        fi
        kill -0 "$cp_pid" 2>/dev/null || break
        sleep 0.05
    done
    echo timeout
}
connected_lines() { grep -c 'xDS stream to .* connected' "$work/ztunnel-$1.log.err" || true; }
# Bounded wait until node's ztunnel logged more than N "connected" lines; prints that line's own timestamp (epoch).
wait_connected() {
    local node=$1 before=$2 deadline=$(($(date +%s) + WAIT_LIMIT)) line
    while (($(date +%s) < deadline)); do
        if (($(connected_lines "$node") > before)); then
            line=$(grep 'xDS stream to .* connected' "$work/ztunnel-$node.log.err" | sed -n "$((before + 1))p")
            date -d "${line%%Z *}Z" +%s.%N; return 0
        fi
        sleep 0.05
    done
    echo timeout
}
# 0 when node's /config_dump lists service flap-N and not flap-(N-1).
has_config() {
    local dump
    dump=$(in_ns "$PREFIX-$1" curl -fsS --max-time 2 http://127.0.0.1:15000/config_dump 2>/dev/null) || return 1
    grep -q "flap-$2\.default\.svc" <<<"$dump" && ! grep -q "flap-$(($2 - 1))\.default\.svc" <<<"$dump"
}
wait_config() { # prints the time both conditions first held for NODE, or "timeout"
    local node=$1 n=$2 deadline=$(($(date +%s) + WAIT_LIMIT))
    while (($(date +%s) < deadline)); do
        has_config "$node" "$n" && { now; return 0; }
        sleep 0.1
    done
    echo timeout
}
ready_code() { in_ns "$PREFIX-$1" curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:15021/healthz/ready || true; }
rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# --- Set-up
log "publishing the ztunnel, the node agent and the hbone CLI (Native AOT); building Hbone.TunnelBench and the development control plane (Release)"
mesh_publish "$work/publish.log" || die "scripts/publish.sh failed"
dotnet build benchmarks/Hbone.TunnelBench -c Release -v quiet -nologo >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; die "build of Hbone.TunnelBench failed"; }
mesh_build_control_plane "$work/build-control-plane.log" || die "building samples/ControlPlane failed"
./scripts/ensure-packages.sh iproute2 iptables curl python3 >/dev/null

log "lab: $LAB up $PREFIX"
"$LAB" up "$PREFIX"
"${HBONE[@]}" certs --out "$work/ca" --identity default/flap >"$work/certs.log" 2>&1 || die "hbone certs failed"
"$LAB" config "$PREFIX" >"$work/base.yaml"
write_config 0
tokens=()
for node in $LAB_NODES; do
    mkdir -p "$work/$node"
    head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$work/$node/istio-token"
    tokens+=(--node-token "$node=$(cat "$work/$node/istio-token")")
done
start_control_plane
[[ $(wait_listen) != timeout ]] || { tail -20 "$work/control-plane.log" >&2; die "the control plane does not listen"; }

declare -A agent_pid zt_pid
for node in $LAB_NODES; do
    mesh_start_agent "$PREFIX" "$node" "$work" "$work/agent-$node.log"
    echo "$MESH_PID" >>"$work/pids"; agent_pid[$node]=$MESH_PID
done
for node in $LAB_NODES; do mesh_wait_socket "$work/$node/ztunnel.sock" "${agent_pid[$node]}" "$work/agent-$node.log" || die "no node agent on $node"; done
for pod in client echo; do mesh_enroll "$PREFIX" "$pod" "$work" >"$work/enroll-$pod.log" 2>&1 || die "enrolling $pod failed"; done
for node in $LAB_NODES; do
    mesh_start_ztunnel_istiod "$PREFIX" "$node" "$work/ca" "$work" "$work/ztunnel-$node.log" "${ztunnel_env[@]}"
    echo "$MESH_PID" >>"$work/pids"; zt_pid[$node]=$MESH_PID
done
for node in $LAB_NODES; do mesh_wait_ready "$PREFIX" "$node" "$work/ztunnel-$node.log" || die "the ztunnel of $node is not ready"; done
start echo ip netns exec "$PREFIX-echo" "${BENCH[@]}" echo --listen "0.0.0.0:$LAB_ECHO_TARGET_PORT"
for _ in $(seq 1 150); do
    in_ns "$PREFIX-echo" bash -c "exec 3<>/dev/tcp/127.0.0.1/$LAB_ECHO_TARGET_PORT" 2>/dev/null && break
    sleep 0.1
done
for node in $LAB_NODES; do
    [[ $(wait_config "$node" 0) != timeout ]] || die "the ztunnel of $node never showed service flap-0"
done

# --- Load, then the flapping
lead=3 tail_s=5
load_seconds=$((lead + duration + tail_s))
log "load: $long long-lived connections + $rate new connections/s to $LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT for $load_seconds s"
start load ip netns exec "$PREFIX-client" python3 benchmarks/controlplane/flap_load.py --target "$LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT" \
    --seconds "$load_seconds" --long "$long" --rate "$rate" --out "$work/load.json"
load_pid=$LAST_PID
sleep "$lead"
rss_start="$(rss_mib "${zt_pid[node-a]}") / $(rss_mib "${zt_pid[node-b]}")"   # under load, before the first stop

flap_start=$(date +%s)
printf 'cycle\tsignal\tchange\tt_stop\tt_start\tt_listen\tt_conn_a\tt_conn_b\tt_change\tt_conv_a\tt_conv_b\tready_down_a\tready_down_b\tbackoff_a\tbackoff_b\trss_a\trss_b\n' >"$work/cycles.tsv"
cycle=0
if ((control)); then
    log "--control: the control plane stays up for $duration s"
    sleep "$duration"
fi
while ((!control && $(date +%s) + period <= flap_start + duration)); do
    cycle=$((cycle + 1))
    signal=TERM change=up
    ((cycle % 2 == 0)) && signal=KILL change=down
    before_a=$(connected_lines node-a) before_b=$(connected_lines node-b)
    rss_a=$(rss_mib "${zt_pid[node-a]}") rss_b=$(rss_mib "${zt_pid[node-b]}")
    t_stop=$(now)
    kill "-$signal" "$cp_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$cp_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$cp_pid" 2>/dev/null || true
    [[ $change == down ]] && write_config "$cycle"
    sleep "$(python3 -c "import time; print(max(0, $t_stop + $down - time.time() - 0.3))")"
    ready_a=$(ready_code node-a) ready_b=$(ready_code node-b)
    sleep "$(python3 -c "import time; print(max(0, $t_stop + $down - time.time()))")"
    t_start=$(now)
    start_control_plane
    t_listen=$(wait_listen)
    t_conn_a=$(wait_connected node-a "$before_a") t_conn_b=$(wait_connected node-b "$before_b")
    # The backoff the ztunnel had reached: the last "reconnecting in" before the new stream.
    backoff_a=$(grep -o 'reconnecting in [0-9:.]*' "$work/ztunnel-node-a.log.err" | tail -1 | cut -d' ' -f3)
    backoff_b=$(grep -o 'reconnecting in [0-9:.]*' "$work/ztunnel-node-b.log.err" | tail -1 | cut -d' ' -f3)
    if [[ $change == up ]]; then
        t_change=$(now); write_config "$cycle"
    else
        t_change=$t_start
    fi
    t_conv_a=$(wait_config node-a "$cycle") t_conv_b=$(wait_config node-b "$cycle")
    printf '%s\n' "$cycle	$signal	$change	$t_stop	$t_start	$t_listen	$t_conn_a	$t_conn_b	$t_change	$t_conv_a	$t_conv_b	$ready_a	$ready_b	$backoff_a	$backoff_b	$rss_a	$rss_b" >>"$work/cycles.tsv"
    log "cycle $cycle (SIG$signal, change while $change): $(python3 -c "
import sys
f = lambda t, t0: 'timeout' if t == 'timeout' else '%.2f s' % (float(t) - float(t0))
a = sys.argv[1:]
print('listen %s, xDS back a %s b %s, converged a %s b %s; ready while down %s/%s' % (f(a[1], a[0]), f(a[2], a[0]), f(a[3], a[0]), f(a[5], a[4]), f(a[6], a[4]), a[7], a[8]))
" "$t_start" "$t_listen" "$t_conn_a" "$t_conn_b" "$t_change" "$t_conv_a" "$t_conv_b" "$ready_a" "$ready_b")"
    for node in $LAB_NODES; do kill -0 "${zt_pid[$node]}" 2>/dev/null || die "the ztunnel of $node exited (see $logs)"; done
    sleep "$(python3 -c "import time; print(max(0, $t_stop + $period - time.time()))")"
done
rss_end="$(rss_mib "${zt_pid[node-a]}") / $(rss_mib "${zt_pid[node-b]}")"

log "waiting for the load to end (at most $((load_seconds + 60)) s after it started)"
for _ in $(seq 1 $(((load_seconds + 60) * 10))); do kill -0 "$load_pid" 2>/dev/null || break; sleep 0.1; done
wait "$load_pid" || die "the load generator failed: $(tail -3 "$work/load.log")"

# --- The report
report=$out_dir/$stamp.md
set +e
python3 - "$work/cycles.tsv" "$work/load.json" "$command_line" "$quick" "$period" "$down" "$rss_start" "$rss_end" "$logs" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$control" "${ztunnel_env[@]}" >"$report" <<'EOF'
import csv, json, statistics, sys
cycles_path, load_path, command, quick, period, down, rss_start, rss_end, logs, loadavg, control = sys.argv[1:12]
env = sys.argv[12:]
rows = list(csv.DictReader(open(cycles_path), delimiter="\t"))
load = json.load(open(load_path))
bad = []
def rel(t, t0):
    return None if t in ("timeout", "") else float(t) - float(t0)
def secs(ms):  # the xDS client's "reconnecting in 4808 ms" -> "4.81"
    return f"{float(ms) / 1000:.2f}" if ms else "-"
def fmt(v):
    return "**timeout**" if v is None else f"{v:.2f}"
# A down phase: from the stop until both ztunnels' streams are back (or the next stop when they never came back).
downs = []
for i, r in enumerate(rows):
    ends = [float(r[k]) for k in ("t_conn_a", "t_conn_b") if r[k] != "timeout"]
    end = max(ends) if len(ends) == 2 else (float(rows[i + 1]["t_stop"]) if i + 1 < len(rows) else load["end"])
    downs.append((float(r["t_stop"]), end))
in_down = lambda t: any(a <= t <= b for a, b in downs)
short_down = [f for f in load["short_failed"] if in_down(f["t"])]
short_up = [f for f in load["short_failed"] if not in_down(f["t"])]
title = "Baseline (--control): the same load, the control plane never stopped" if control == "1" else f"Control plane flapping, {len(rows)} cycles"
print(f"### {title}{' (--quick: a smoke run)' if quick == '1' else ''}")
print()
print(f"- Command: `{command}`")
if control != "1": print(f"- Each cycle: stop (SIGTERM on odd cycles, SIGKILL on even), {down} s down, start; one cycle every {period} s. "
      "The change is service flap-<i> replacing flap-<i-1>: written while down on even cycles (converged = from the start), "
      "after both streams are back on odd cycles (converged = from the file write, a push on the live stream).")
print(f"- ztunnel environment: {' '.join(env) or 'none (the runtime defaults)'}.")
print(f"- Load in the client pod to the echo VIP through both ztunnels: {load['long']} long-lived connections "
      f"(back-to-back {load['size']}-byte exchanges, {load['gap']*1000:.0f} ms apart, SHA-256 verified) and {load['rate']:g} new "
      f"verified connections/s; {load['end'] - load['start']:.0f} s in all. Load average at the end: {loadavg}.")
print()
lost = len(load["long_lost"])
print("| Check | Result |")
print("|---|---|")
print(f"| long-lived connections lost | **{lost}** of {load['long']} ({load['long_exchanges']:,} verified exchanges; {load['long_survived']} survived to the end) |")
print(f"| new connections attempted / failed | {load['short_attempted']:,} / **{len(load['short_failed'])}** "
      f"({len(short_down)} in down phases, {len(short_up)} in up phases); connect+exchange p50 {load['short_p50_ms']} ms, p99 {load['short_p99_ms']} ms, max {load['short_max_ms']} ms |")
ready_down = sorted({r["ready_down_a"] for r in rows} | {r["ready_down_b"] for r in rows})
if rows: print(f"| ztunnels' /healthz/ready while the control plane is down | {', '.join(ready_down)} |")
print(f"| ztunnel VmRSS node-a / node-b, under load {'3 s after the load started, then at the end' if control == '1' else 'before the first stop, then after the last cycle'} (MiB) | {rss_start} / {rss_end} |")
if lost: bad.append(f"{lost} long-lived connections lost")
if short_down: bad.append(f"{len(short_down)} new connections failed in down phases")
if short_up: bad.append(f"{len(short_up)} new connections failed in up phases")
if not rows:
    print()
    print(f"- **Result: {'PASS' if not bad else 'FAIL: ' + '; '.join(bad)}**. Logs: `{logs}/`.")
    sys.exit(2 if bad else 0)
print()
print("Per cycle, seconds: listen / xDS back from the control plane's start; converged from the start (change while down) or from the file write (change while up); the reconnect delay (backoff) each ztunnel had drawn before the attempt that succeeded; each ztunnel's VmRSS (MiB) just before the stop.")
print()
print("| cycle | signal | change | listen | xDS back node-a | xDS back node-b | converged node-a | converged node-b | ready while down | backoff a / b | VmRSS a / b |")
print("|---:|---|---|---:|---:|---:|---:|---:|---|---|---|")
cols = {k: [] for k in ("listen", "conn_a", "conn_b", "conv_up", "conv_down")}
for r in rows:
    listen, ca, cb = rel(r["t_listen"], r["t_start"]), rel(r["t_conn_a"], r["t_start"]), rel(r["t_conn_b"], r["t_start"])
    va, vb = rel(r["t_conv_a"], r["t_change"]), rel(r["t_conv_b"], r["t_change"])
    for name, v in (("listen", listen), ("conn_a", ca), ("conn_b", cb)):
        if v is not None: cols[name].append(v)
    for v in (va, vb):
        if v is not None: cols["conv_" + r["change"]].append(v)
    if None in (listen, ca, cb): bad.append(f"cycle {r['cycle']}: no reconnect within 30 s")
    if None in (va, vb): bad.append(f"cycle {r['cycle']}: no convergence within 30 s")
    print(f"| {r['cycle']} | {r['signal']} | while {r['change']} | {fmt(listen)} | {fmt(ca)} | {fmt(cb)} | {fmt(va)} | {fmt(vb)} | {r['ready_down_a']}/{r['ready_down_b']} | {secs(r['backoff_a'])} / {secs(r['backoff_b'])} | {r['rss_a']} / {r['rss_b']} |")
med = lambda v: f"{statistics.median(v):.2f} (max {max(v):.2f}, n={len(v)})" if v else "-"
print()
print(f"Medians (n = cycles × nodes for the ztunnels' columns): listen {med(cols['listen'])}; xDS back node-a {med(cols['conn_a'])}, node-b {med(cols['conn_b'])}; "
      f"converged, change while down (from start) {med(cols['conv_down'])}; change while up (from write) {med(cols['conv_up'])}.")
print()
for f in load["long_lost"][:20]: print(f"- lost long-lived connection {f['conn']} at {f['t']:.2f}: {f['error']}")
for f in load["short_failed"][:20]: print(f"- failed new connection at {f['t']:.2f} ({'down' if in_down(f['t']) else 'up'} phase): {f['error']}")
print(f"- **Result: {'PASS' if not bad else 'FAIL: ' + '; '.join(bad)}**. Logs: `{logs}/`.")
sys.exit(2 if bad else 0)
EOF
result=$?
set -e
cat "$report"
log "report written to $report"
exit "$result"
