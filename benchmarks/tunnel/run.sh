#!/usr/bin/env bash
# End-to-end tunnel benchmark: the same TCP load, on this machine, in one run, through
#   direct   client -> upstream (the baseline every ratio is taken against)
#   stunnel  client -> stunnel (client, TLS 1.3 + client cert) -> stunnel (server) -> upstream
#   hbone    client -> hbone forward -> hbone serve (HTTP/2 CONNECT over mTLS) -> upstream
# and, in the two-node lab of scripts/lab/mesh-lab.sh (network namespaces, prefix "ztbench"; needs root):
#   lab-direct  client pod -> echo pod, plain routed TCP (run before anything is enrolled)
#   ztunnel     client pod -> VIP 10.96.0.10:80, captured to node-a's ztunnel (15001) -> HBONE -> node-b's
#               ztunnel (15008) -> echo pod:8080 (the Native AOT binaries of scripts/publish.sh, published here
#               when out of date; throughput and latency columns only)
# Columns: iperf3 single-stream throughput, 1 KB request/response latency over a warm tunnel,
# new tunnels per second, new tunnels per second on a warm connection (hbone: through hbone serve, and on
# the engine alone, Hbone.TunnelBench hbone-echo), RSS per idle tunnel (fresh tunnel processes); for hbone also
# the live managed bytes per idle tunnel (Hbone.MemoryProbe: client and server in one process). Upstreams
# are iperf3 -s and Hbone.TunnelBench's echo server. Everything listens on 127.0.0.1 and is stopped on exit,
# also on failure.
#
# Usage: benchmarks/tunnel/run.sh [--quick]
#        benchmarks/tunnel/run.sh ztunnel-load [--quick]
#   --quick  1 run per figure, 2 s iperf3, 2 s connrate, 1,000 idle tunnels (probe: 1,000): checks the script works.
#   ztunnel-load  instead of the table: 1,000 exchanges/s of 1 KiB through both lab ztunnels (10 connections,
#            5 s warm-up, 30 s measured; --quick: 1 s + 5 s) with each ztunnel's vCPU and VmRSS (idle, median,
#            peak). ZTUNNEL_ENV="NAME=VALUE ..." is passed to both ztunnels (e.g. DOTNET_gcServer=1).
# Writes the markdown to stdout and to artifacts/tunnel-bench/<date>.md; progress goes to stderr.
# Exit codes: 0 table written (a row may still say "failed" or "not available"), 1 set-up error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
command_line="benchmarks/tunnel/run.sh${*:+ $*}"

quick=0 mode=table
for arg in "$@"; do
    case $arg in
        --quick) quick=1 ;;
        ztunnel-load) mode=ztunnel-load ;;
        -h|--help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument '$arg' (see --help)" >&2; exit 1 ;;
    esac
done
if ((quick)); then
    runs=1 iperf_seconds=2 conn_seconds=2 idle_count=1000 latency_count=2000 latency_warmup=200 probe_count=1000
else
    runs=3 iperf_seconds=5 conn_seconds=5 idle_count=10000 latency_count=10000 latency_warmup=1000 probe_count=5000
fi
conn_concurrency=4 stream_workers=16 engine_workers=64
load_connections=10 load_rate=1000 load_size=1024
if ((quick)); then load_warmup=1 load_seconds=5; else load_warmup=5 load_seconds=30; fi
lab=ztbench
read -ra ztunnel_env <<<"${ZTUNNEL_ENV:-}"

log() { printf 'tunnel-bench: %s\n' "$*" >&2; }

./scripts/ensure-packages.sh iperf3 stunnel4 socat iproute2 iptables curl python3 >&2
# An idle stunnel tunnel holds 2 descriptors in each stunnel process, and stunnel itself admits at most
# 125/256 of its descriptor limit as clients; children inherit this limit. Where the hard limit cannot be
# raised (no CAP_SYS_RESOURCE), the idle test opens fewer tunnels, the same number for every row, and says so.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
idle_requested=$idle_count
idle_cap=$(( ($(ulimit -n) * 125 / 256 - 100) / 100 * 100 ))
if ((idle_count > idle_cap)); then
    idle_count=$idle_cap
    log "ulimit -n is $(ulimit -n) and cannot be raised: the idle test opens $idle_count tunnels instead of $idle_requested"
fi

stamp=$(date -u '+%Y-%m-%d-%H%M%S')
logs=artifacts/tunnel-bench/$stamp-logs
work=$(mktemp -d -t tunnel-bench.XXXXXX)
touch "$work/pids"

# shellcheck source=../../scripts/lab/mesh-lib.sh
. scripts/lab/mesh-lib.sh
# Stops the given pids: SIGTERM, up to 5 s for them to exit, then SIGKILL.
stop_pids() { mesh_stop_pids 5 "$@"; }
cleanup() {
    local status=$?
    mapfile -t all <"$work/pids"
    stop_pids "${all[@]}"
    if [[ -e $work/lab-up ]]; then scripts/lab/mesh-lab.sh down "$lab" || true; fi
    if ((status != 0)); then log "failed (exit $status)"; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts a command in the background with its output in $work/NAME.log; sets LAST_PID.
start() {
    local name=$1; shift
    "$@" >"$work/$name.log" 2>&1 &
    LAST_PID=$!
    echo "$LAST_PID" >>"$work/pids"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
fail_with_log() { log "$1"; sed 's/^/  | /' "$work/$2.log" | tail -20 >&2; return 1; }
# Bounded wait (15 s) for a TCP listener on 127.0.0.1:PORT owned by a process that must stay alive.
wait_port() {
    local port=$1 pid=$2 name=$3
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || { fail_with_log "$name exited before listening on $port" "$name"; return 1; }
        [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]] && return 0
        sleep 0.1
    done
    fail_with_log "$name is not listening on $port after 15 s" "$name"
}
# Bounded wait (15 s) for a line matching PATTERN in $work/NAME.log; prints the first match.
wait_line() {
    local name=$1 pattern=$2 pid=$3
    for _ in $(seq 1 150); do
        if grep -qE "$pattern" "$work/$name.log" 2>/dev/null; then grep -m1 -oE "$pattern" "$work/$name.log"; return 0; fi
        kill -0 "$pid" 2>/dev/null || { fail_with_log "$name exited before printing '$pattern'" "$name"; return 1; }
        sleep 0.1
    done
    fail_with_log "$name printed no '$pattern' after 15 s" "$name"
}
json() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
median() { python3 -c 'import statistics, sys; print(statistics.median(float(v) for v in sys.argv[1:]))' "$@"; }

log "building Hbone.Cli, Hbone.TunnelBench and Hbone.MemoryProbe (Release)"
for project in src/Hbone.Cli benchmarks/Hbone.TunnelBench benchmarks/Hbone.MemoryProbe; do
    dotnet build "$project" -c Release -v quiet -nologo >"$work/build.log" 2>&1 || fail_with_log "build of $project failed" build
done
# Arrays, not shell functions: a function started with & runs in a subshell, and $! would be that
# subshell's pid instead of the dotnet process's (stopping it would leave dotnet running).
hbone=(dotnet src/Hbone.Cli/bin/Release/net10.0/Hbone.Cli.dll)
bench=(dotnet benchmarks/Hbone.TunnelBench/bin/Release/net10.0/Hbone.TunnelBench.dll)

certs=$work/certs
"${hbone[@]}" certs --out "$certs" --trust-domain cluster.local --identity default/server --identity default/client >"$work/certs.log" 2>&1 \
    || fail_with_log "hbone certs failed" certs
server_id=spiffe://cluster.local/ns/default/sa/server
client_id=spiffe://cluster.local/ns/default/sa/client

# 'hbone forward --help' cannot tell: an unknown command with --help still prints the root help and exits 0.
forward_available=0
"${hbone[@]}" --help | awk '/^Commands:/ { listed = 1 } listed && $1 == "forward" { found = 1 } END { exit !found }' && forward_available=1

# --- Tunnels: each sets ENTRY (the port the client connects to) and TUNNEL_PIDS ("name=pid,...").
tunnel_direct() { ENTRY=$1 TUNNEL_PIDS=""; }

tunnel_stunnel() {
    local upstream=$1 server_port client_port common
    server_port=$(free_port) client_port=$(free_port)
    common="foreground = yes
pid =
syslog = no
debug = 4
CAfile = $certs/ca.pem
verifyChain = yes
sslVersionMin = TLSv1.3
sslVersionMax = TLSv1.3"
    printf '%s\n[bench]\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s\nkey = %s\nrequireCert = yes\n' \
        "$common" "$server_port" "$upstream" "$certs/server.pem" "$certs/server.key" >"$work/stunnel-server.conf"
    printf '%s\n[bench]\nclient = yes\naccept = 127.0.0.1:%s\nconnect = 127.0.0.1:%s\ncert = %s\nkey = %s\n' \
        "$common" "$client_port" "$server_port" "$certs/client.pem" "$certs/client.key" >"$work/stunnel-client.conf"
    start stunnel-server stunnel "$work/stunnel-server.conf"
    local server_pid=$LAST_PID
    wait_port "$server_port" "$server_pid" stunnel-server
    start stunnel-client stunnel "$work/stunnel-client.conf"
    wait_port "$client_port" "$LAST_PID" stunnel-client
    ENTRY=$client_port TUNNEL_PIDS="stunnel-client=$LAST_PID,stunnel-server=$server_pid"
}

tunnel_hbone() {
    local upstream=$1 via forward_port serve_pid
    start serve "${hbone[@]}" serve --listen 127.0.0.1:0 --cert "$certs/server.pem" --key "$certs/server.key" --ca "$certs/ca.pem" \
        --allow "$client_id" --drain-timeout 1
    serve_pid=$LAST_PID
    via=$(wait_line serve 'https://[0-9.]+:[0-9]+' "$serve_pid" | sed 's#https://##')
    forward_port=$(free_port)
    start forward "${hbone[@]}" forward --listen "127.0.0.1:$forward_port" --via "$via" --target "127.0.0.1:$upstream" \
        --cert "$certs/client.pem" --key "$certs/client.key" --ca "$certs/ca.pem" --expect "$server_id"
    wait_port "$forward_port" "$LAST_PID" forward
    ENTRY=$forward_port TUNNEL_PIDS="forward=$LAST_PID,serve=$serve_pid" HBONE_VIA=$via
}

# --- The two-node lab: namespaces, in-pod capture, one ztunnel and one node agent per node.
eval "$(scripts/lab/mesh-lab.sh env "$lab")"
# Bounded wait (15 s) for a TCP listener on PORT inside namespace NS owned by a process that must stay alive.
wait_port_ns() {
    local ns=$1 port=$2 pid=$3 name=$4
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || { fail_with_log "$name exited before listening on $port in $ns" "$name"; return 1; }
        [[ -n $(ip netns exec "$ns" ss -Hltn "sport = :$port" 2>/dev/null) ]] && return 0
        sleep 0.1
    done
    fail_with_log "$name is not listening on $port in $ns after 15 s" "$name"
}
lab_up() {
    [[ -e $work/lab-up ]] && return 0
    [[ $(id -u) -eq 0 ]] || { log "the lab needs root (network namespaces, iptables)"; return 1; }
    touch "$work/lab-up"
    log "lab: scripts/lab/mesh-lab.sh up $lab"
    scripts/lab/mesh-lab.sh up "$lab"
}
# Agents, client and echo enrolled, both ztunnels ready; writes "ztunnel-node-a=PID,ztunnel-node-b=PID" to $work/ztunnel-pids.
mesh_up() {
    [[ -e $work/mesh-up ]] && return 0
    lab_up
    touch "$work/mesh-up"
    log "lab: publishing the ztunnel and the node agent (scripts/publish.sh, Native AOT)"
    ./scripts/publish.sh hbone-ztunnel hbone-ztunnel-cni >"$work/publish.log" 2>&1 || fail_with_log "scripts/publish.sh failed" publish
    log "lab: node agents, client and echo enrolled, ztunnels${ztunnel_env[*]:+ (${ztunnel_env[*]})}"
    "${hbone[@]}" certs --out "$work/lab-ca" --identity default/bench >"$work/lab-certs.log" 2>&1 || fail_with_log "hbone certs (lab CA) failed" lab-certs
    scripts/lab/mesh-lab.sh config "$lab" >"$work/lab-config.yaml"
    local node pod zt=() agents=()
    for node in $LAB_NODES; do
        mesh_start_agent "$lab" "$node" "$work/lab" "$work/agent-$node.log"
        echo "$MESH_PID" >>"$work/pids"; agents+=("$MESH_PID")
    done
    local i=0
    for node in $LAB_NODES; do mesh_wait_socket "$work/lab/$node/ztunnel.sock" "${agents[i++]}" "$work/agent-$node.log"; done
    for pod in client echo; do
        mesh_enroll "$lab" "$pod" "$work/lab" >"$work/enroll-$pod.log" 2>&1 || fail_with_log "enrolling $pod failed" "enroll-$pod"
    done
    for node in $LAB_NODES; do
        mesh_start_ztunnel "$lab" "$node" "$work/lab-config.yaml" "$work/lab" "$work/lab-ca" "$work/ztunnel-$node.log" "${ztunnel_env[@]}"
        echo "$MESH_PID" >>"$work/pids"; zt+=("ztunnel-$node=$MESH_PID")
    done
    for node in $LAB_NODES; do mesh_wait_ready "$lab" "$node" "$work/ztunnel-$node.log"; done
    (IFS=,; echo "${zt[*]}") >"$work/ztunnel-pids"
}
# The same kind of upstream as the loopback one on PORT (iperf3 -s or the echo server), in the echo pod on 8080.
lab_upstream() {
    local name=lab-echo
    if [[ $1 == "$iperf_port" ]]; then
        name=lab-iperf3
        start "$name" ip netns exec "$lab-echo" iperf3 -s -p "$LAB_ECHO_TARGET_PORT"
    else
        start "$name" ip netns exec "$lab-echo" "${bench[@]}" echo --listen "0.0.0.0:$LAB_ECHO_TARGET_PORT"
    fi
    LAB_UPSTREAM_PID=$LAST_PID
    wait_port_ns "$lab-echo" "$LAB_ECHO_TARGET_PORT" "$LAST_PID" "$name"
}
# Runs before mesh_up (the ztunnel row comes after it): nothing is enrolled, so this is plain routed TCP.
tunnel_lab-direct() {
    lab_up
    lab_upstream "$1"
    ENTRY_HOST=$LAB_POD_ECHO_IP ENTRY=$LAB_ECHO_TARGET_PORT CLIENT=(ip netns exec "$lab-client") TUNNEL_PIDS=""
}
tunnel_ztunnel() {
    mesh_up
    lab_upstream "$1"
    ENTRY_HOST=$LAB_ECHO_VIP ENTRY=$LAB_ECHO_SERVICE_PORT CLIENT=(ip netns exec "$lab-client") TUNNEL_PIDS=""
}

stop_tunnel() {
    if [[ -n ${LAB_UPSTREAM_PID:-} ]]; then stop_pids "$LAB_UPSTREAM_PID"; LAB_UPSTREAM_PID=""; fi
    [[ -z $TUNNEL_PIDS ]] && return 0
    local pids
    mapfile -t pids < <(tr ',' '\n' <<<"$TUNNEL_PIDS" | cut -d= -f2)
    stop_pids "${pids[@]}"
}

machine() {
    echo "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r), $(. /etc/os-release; echo "$PRETTY_NAME");" \
        "load average at start $load_at_start"
}
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
date_utc=$(date -u '+%Y-%m-%d %H:%M UTC')
mkdir -p artifacts/tunnel-bench
report=artifacts/tunnel-bench/$stamp.md

# --- Mode ztunnel-load: paced 1 KiB exchanges through both ztunnels, their CPU and RSS.
proc_field() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/${3:-status}"; }
ztunnel_load() {
    mesh_up
    start lab-echo ip netns exec "$lab-echo" "${bench[@]}" echo --listen "0.0.0.0:$LAB_ECHO_TARGET_PORT"
    wait_port_ns "$lab-echo" "$LAB_ECHO_TARGET_PORT" "$LAST_PID" lab-echo
    local pids item name pid
    pids=$(cat "$work/ztunnel-pids")
    local env_prefix=""
    [[ -n ${ZTUNNEL_ENV:-} ]] && env_prefix="ZTUNNEL_ENV='$ZTUNNEL_ENV' "
    log "ztunnel-load: idle (ready, 2 pods enrolled, no traffic yet) for 5 s"
    sleep 5
    : >"$work/idle"
    for item in ${pids//,/ }; do
        name=${item%=*} pid=${item#*=}
        echo "$name $(proc_field "$pid" VmRSS) $(proc_field "$pid" RssAnon) $(proc_field "$pid" RssFile) $(proc_field "$pid" RssShmem) $(proc_field "$pid" Pss smaps_rollup) $(proc_field "$pid" Threads)" >>"$work/idle"
    done
    log "ztunnel-load: $load_rate exchanges/s of $load_size bytes on $load_connections connections, $load_warmup s warm-up + $load_seconds s"
    ip netns exec "$lab-client" python3 benchmarks/tunnel/ztunnel_load.py --target "$LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT" \
        --connections "$load_connections" --rate "$load_rate" --size "$load_size" --warmup "$load_warmup" --seconds "$load_seconds" \
        --pids "$pids" >"$work/load.json" 2>"$work/load.log" || fail_with_log "the load generator failed" load
    {
        echo "### ztunnel at $load_rate exchanges/s of $load_size bytes, $date_utc$( ((quick)) && echo ' (--quick: a smoke run, not a measurement)')"
        echo
        echo "- Command: \`$env_prefix$command_line\`"
        machine
        echo "- Versions: .NET $(dotnet --list-runtimes | grep -m1 NETCore.App | cut -d' ' -f2), Python $(python3 -c 'import platform; print(platform.python_version())'); ztunnel environment: ${ZTUNNEL_ENV:-none (the runtime defaults)}"
        echo "- Path: load generator in the client pod -> VIP $LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT -> node-a ztunnel -> HBONE -> node-b ztunnel -> Hbone.TunnelBench echo in the echo pod (:$LAB_ECHO_TARGET_PORT)."
        echo "- Load: $(json "$work/load.json" '"%d persistent connections, each paced at %g/s (%g/s in total), %d-byte request and response; %g s warm-up, %g s measured: %d exchanges, %.1f/s achieved (%d sends late by > 1 ms); round trip p50 %.0f µs, p99 %.0f µs, max %.0f µs" % (d["connections"], d["requested_rps"] / d["connections"], d["requested_rps"], d["size"], d["warmup_s"], d["seconds"], d["exchanges"], d["achieved_rps"], d["late_sends"], d["p50_us"], d["p99_us"], d["max_us"])')."
        echo "- vCPU: (utime + stime) delta over the measured window / its wall time ($(json "$work/load.json" 'd["window_wall_s"]') s). RSS: VmRSS every 0.5 s during the window (median, peak); idle = 5 s after both ztunnels were ready with client and echo enrolled, before any traffic (VmRSS = RssAnon + RssFile + RssShmem of /proc/PID/status; PSS from smaps_rollup splits shared pages among the processes mapping them)."
        echo
        echo "| ztunnel | vCPU (user + system) | RSS idle (MiB) | idle: anon + file + shmem (MiB) | PSS idle (MiB) | RSS under load, median (MiB) | RSS peak (MiB) | threads idle |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|"
        while read -r name idle_kib anon_kib file_kib shmem_kib pss_kib threads; do
            echo "| $name | $(json "$work/load.json" '"%.3f (%.3f + %.3f) | %.1f | %.1f + %.1f + %.1f | %.1f | %.1f | %.1f" % next((p["vcpu"], p["vcpu_user"], p["vcpu_system"], '"$idle_kib"' / 1024, '"$anon_kib"' / 1024, '"$file_kib"' / 1024, '"$shmem_kib"' / 1024, '"$pss_kib"' / 1024, p["rss_median_mib"], p["rss_peak_mib"]) for p in d["processes"] if p["name"] == "'"$name"'")') | $threads |"
        done <"$work/idle"
        echo "| Istio's published ztunnel figure, per 1,000 requests/s | 0.06 | | | | 12 MB | | |"
    } | tee "$report"
    log "written to $report"
}
if [[ $mode == ztunnel-load ]]; then
    ztunnel_load
    exit 0
fi

log "starting the upstreams: iperf3 -s and the echo server"
iperf_port=$(free_port)
start iperf3-server iperf3 -s -B 127.0.0.1 -p "$iperf_port"
wait_port "$iperf_port" "$LAST_PID" iperf3-server
start echo "${bench[@]}" echo --listen 127.0.0.1:0
echo_port=$(wait_line echo 'listening on [0-9.]+:[0-9]+' "$LAST_PID" | grep -oE '[0-9]+$')

# --- One row: runs in a subshell with set -e; writes KEY=VALUE results to $work/ROW.result.
measure_row() {
    local row=$1 out=$work/$row.result run gbits=() p50=() p99=()
    log "$row: throughput (iperf3 -t $iperf_seconds, $runs run(s))"
    ENTRY_HOST=127.0.0.1 CLIENT=()   # the lab rows run the clients in the client pod instead
    "tunnel_$row" "$iperf_port"
    for run in $(seq 1 "$runs"); do
        "${CLIENT[@]}" iperf3 -c "$ENTRY_HOST" -p "$ENTRY" -t "$iperf_seconds" -J >"$work/$row-iperf-$run.json" || {
            log "$row: iperf3 failed: $(json "$work/$row-iperf-$run.json" 'd.get("error")' 2>/dev/null)"; return 1; }
        gbits+=("$(json "$work/$row-iperf-$run.json" 'round(d["end"]["sum_received"]["bits_per_second"] / 1e9, 2)')")
    done
    stop_tunnel

    ENTRY_HOST=127.0.0.1 CLIENT=()
    "tunnel_$row" "$echo_port"
    log "$row: latency (1 KB, $latency_count round trips after $latency_warmup, $runs run(s))"
    for run in $(seq 1 "$runs"); do
        "${CLIENT[@]}" "${bench[@]}" latency --target "$ENTRY_HOST:$ENTRY" --size 1024 --count "$latency_count" --warmup "$latency_warmup" \
            >"$work/$row-latency-$run.json"
        p50+=("$(json "$work/$row-latency-$run.json" 'd["p50_us"]')")
        p99+=("$(json "$work/$row-latency-$run.json" 'd["p99_us"]')")
    done
    log "$row: new tunnels per second (C=$conn_concurrency, $conn_seconds s)"
    "${CLIENT[@]}" "${bench[@]}" connrate --target "$ENTRY_HOST:$ENTRY" --seconds "$conn_seconds" --concurrency "$conn_concurrency" >"$work/$row-connrate.json"
    {
        echo "gbits=(${gbits[*]})"
        echo "p50=(${p50[*]})"
        echo "p99=(${p99[*]})"
        echo "connrate=$(json "$work/$row-connrate.json" 'd["connections_per_s"]')"
        echo "connerrors=$(json "$work/$row-connrate.json" 'd["errors"]')"
    } >"$out"
    if [[ $row == hbone ]]; then
        # Streams, not connections: the Hbone client in process opens CONNECTs on one warm pooled connection to serve.
        log "$row: new tunnels per second on a warm connection (W=$stream_workers, $conn_seconds s)"
        "${bench[@]}" streamrate --via "$HBONE_VIA" --target "127.0.0.1:$echo_port" --cert "$certs/client.pem" --key "$certs/client.key" \
            --ca "$certs/ca.pem" --seconds "$conn_seconds" --workers "$stream_workers" >"$work/$row-streamrate.json"
        {
            echo "streamrate=$(json "$work/$row-streamrate.json" 'd["tunnels_per_s"]')"
            echo "streamerrors=$(json "$work/$row-streamrate.json" 'd["errors"]')"
        } >>"$out"
        # The same client against the engine alone: an HBONE server that echoes in process, no TCP dial per tunnel.
        start hbone-echo "${bench[@]}" hbone-echo --listen 127.0.0.1:0 --cert "$certs/server.pem" --key "$certs/server.key" --ca "$certs/ca.pem"
        local engine_pid=$LAST_PID engine_via workers
        engine_via=$(wait_line hbone-echo 'listening on [0-9.]+:[0-9]+' "$engine_pid" | grep -oE '[0-9.]+:[0-9]+$')
        for workers in "$stream_workers" "$engine_workers"; do
            log "$row: new tunnels per second on a warm connection, engine only (W=$workers, $conn_seconds s)"
            "${bench[@]}" streamrate --via "$engine_via" --target 127.0.0.1:9 --cert "$certs/client.pem" --key "$certs/client.key" \
                --ca "$certs/ca.pem" --seconds "$conn_seconds" --workers "$workers" >"$work/$row-enginerate-$workers.json"
            echo "enginerate_$workers=$(json "$work/$row-enginerate-$workers.json" 'd["tunnels_per_s"]')" >>"$out"
        done
        stop_pids "$engine_pid"
    fi
    if [[ -n $TUNNEL_PIDS ]]; then
        # Fresh tunnel processes, warmed by a short latency run: heaps and pools that the phases above grew would
        # take the idle tunnels without growing, and hide what they cost.
        stop_tunnel
        "tunnel_$row" "$echo_port"
        "${bench[@]}" latency --target "127.0.0.1:$ENTRY" --size 1024 --count 2000 --warmup 200 >/dev/null
        log "$row: memory per idle tunnel ($idle_count connections, fresh tunnel processes)"
        local status=0
        "${bench[@]}" idle --target "127.0.0.1:$ENTRY" --count "$idle_count" --pids "$TUNNEL_PIDS" --timeout 180 \
            >"$work/$row-idle.json" || status=$?
        local idle="failed (exit $status)" threads=""
        if [[ -s $work/$row-idle.json ]]; then
            idle=$(json "$work/$row-idle.json" \
                '"%.1f KiB (%s)%s" % (d["total_rss_delta_per_conn_bytes"] / 1024, " + ".join("%s %.1f" % (p["name"], p["rss_delta_per_conn_bytes"] / 1024) for p in d["processes"]), "" if d["opened"] == d["requested"] else "; only %d of %d opened: %s" % (d["opened"], d["requested"], d.get("first_error")))')
            threads=$(json "$work/$row-idle.json" '", ".join("%s %d->%d" % (p["name"], p["threads_before"], p["threads_after"]) for p in d["processes"])')
        fi
        printf 'idle=%q\nidle_threads=%q\n' "$idle" "$threads" >>"$out"
    fi
    if [[ $row == hbone ]]; then
        # Live objects, not RSS: the client and the server in one process, full collections before and after.
        log "$row: live managed bytes per idle tunnel ($probe_count tunnels, Hbone.MemoryProbe)"
        local probe=""
        if dotnet benchmarks/Hbone.MemoryProbe/bin/Release/net10.0/Hbone.MemoryProbe.dll --count "$probe_count" >"$work/$row-probe.json" 2>"$work/$row-probe.log"; then
            probe=$(json "$work/$row-probe.json" 'd["managed_bytes_per_tunnel"]')
        fi
        printf 'probe=%q\n' "$probe" >>"$out"
    fi
    stop_tunnel
}

for row in direct stunnel hbone lab-direct ztunnel; do
    if [[ $row == hbone ]] && ((!forward_available)); then
        echo 'skip="not available (hbone forward missing)"' >"$work/$row.result"
        log "hbone: not available (hbone forward missing)"
        continue
    fi
    # Not "( ... ) || status=$?": a || list would switch set -e off inside the subshell.
    set +e
    (set -e; TUNNEL_PIDS=""; trap stop_tunnel EXIT; measure_row "$row")
    status=$?
    set -e
    if ((status != 0)); then
        mkdir -p "$logs" && cp "$work"/*.log "$work"/*.conf "$logs"/ 2>/dev/null || true
        log "$row: failed (exit $status); the processes' logs are kept in $logs"
        printf 'skip=%q\n' "failed (exit $status; logs in $logs)" >"$work/$row.result"
    fi
done

# --- The report.
fmt() { printf '%.*f' "$1" "$2"; }
ratio() { python3 -c 'import sys; b = float(sys.argv[2]); print("%.2f×" % (float(sys.argv[1]) / b) if b else "-")' "$1" "$2"; }
{
    echo "### Tunnel benchmark, $date_utc$( ((quick)) && echo ' (--quick: a smoke run, not a measurement)')"
    echo
    echo "- Command: \`$command_line\`"
    machine
    echo "- Versions: .NET $(dotnet --list-runtimes | grep -m1 NETCore.App | cut -d' ' -f2), $(stunnel -version 2>&1 | grep -m1 -oE 'stunnel [0-9.]+'), $(iperf3 --version | grep -m1 -oE 'iperf [0-9.]+'), $(openssl version | cut -d' ' -f1-2)"
    echo "- Throughput and latency: median of $runs run(s); throughput is iperf3's receiver side, single stream, -t $iperf_seconds;" \
        "latency is $latency_count round trips of 1,024 bytes on one warm connection after $latency_warmup warm-up."
    echo "- New tunnels/s: connect, 1 byte there and back, close; $conn_concurrency workers, $conn_seconds s, one run."
    echo "- New tunnels/s (warm connection): hbone only; Hbone.TunnelBench streamrate (the Hbone client in process, CONNECT streams on one pooled HTTP/2 connection straight to hbone serve, no forward; socket completions inline as in hbone forward), 1 byte there and back, half-close, wait for the end; $stream_workers workers, $conn_seconds s, one run. Engine only: the same client against Hbone.TunnelBench hbone-echo (Hbone.Kestrel echoing each tunnel in process), $stream_workers and $engine_workers workers."
    echo "- Idle memory: VmRSS growth of the tunnel's processes over $idle_count open connections (each echoed 1 byte), per connection, measured on fresh tunnel processes warmed by 2,000 round trips$( ((idle_count < idle_requested)) && echo " ($idle_count, not $idle_requested: ulimit -n is $(ulimit -n) here and cannot be raised; stunnel admits 125/256 of it as clients)")."
    echo "- Live managed bytes per idle tunnel (hbone only): Hbone.MemoryProbe opens $probe_count tunnels from HboneClient to Hbone.Kestrel's forwarder in one process (100 streams per connection, one byte sent in each), the TCP destination in a child process; live bytes after full compacting collections, per tunnel, over a 200-tunnel warm-up."
    echo "- Ratios are against the direct row of this same run; for the ztunnel row, against lab-direct (client pod -> echo pod, plain routed TCP across the two lab nodes, before enrollment)."
    echo "- ztunnel: client pod -> VIP $LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT -> node-a ztunnel (15001) -> HBONE -> node-b ztunnel (15008) -> echo pod:$LAB_ECHO_TARGET_PORT; iperf3, the echo server and the clients run in the pods' namespaces; no idle-memory test for the lab rows."
    echo
    echo "| Path | Throughput (Gbit/s) | 1 KB RTT p50 (µs) | 1 KB RTT p99 (µs) | New tunnels/s | New tunnels/s (warm connection) | RSS per idle tunnel |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    base_gbits="" base_p50="" base_rate=""
    declare -A row_gbits=() row_p50=()
    for row in direct stunnel hbone lab-direct ztunnel; do
        unset skip gbits p50 p99 connrate connerrors idle idle_threads streamrate streamerrors
        # shellcheck disable=SC1090
        . "$work/$row.result"
        if [[ -n ${skip:-} ]]; then
            echo "| $row | $skip | | | | | |"
            continue
        fi
        g=$(median "${gbits[@]}") l50=$(median "${p50[@]}") l99=$(median "${p99[@]}")
        row_gbits[$row]=$g row_p50[$row]=$l50
        errors="" warm="-"
        if ((connerrors > 0)); then errors=", $connerrors errors"; fi
        if [[ -n ${streamrate:-} ]]; then
            warm=$(fmt 0 "$streamrate")
            if ((streamerrors > 0)); then warm+=", $streamerrors errors"; fi
        fi
        if [[ $row == direct || $row == lab-direct ]]; then
            base_gbits=$g base_p50=$l50 base_rate=$connrate
            echo "| $row | $(fmt 2 "$g") | $(fmt 1 "$l50") | $(fmt 1 "$l99") | $(fmt 0 "$connrate")$errors | $warm | - |"
        else
            echo "| $row | $(fmt 2 "$g") ($(ratio "$g" "${base_gbits:-0}")) | $(fmt 1 "$l50") ($(ratio "$l50" "${base_p50:-0}")) | $(fmt 1 "$l99") | $(fmt 0 "$connrate") ($(ratio "$connrate" "${base_rate:-0}"))$errors | $warm | ${idle:-not measured} |"
        fi
    done
    echo
    # The targets are stated against stunnel (the same mTLS work without HTTP/2): only rows that ran are compared.
    echo "Ratios the targets use:"
    echo
    if [[ -n ${row_gbits[stunnel]:-} && -n ${row_gbits[hbone]:-} ]]; then
        echo "- hbone / stunnel throughput: $(ratio "${row_gbits[hbone]}" "${row_gbits[stunnel]}")"
        echo "- hbone p50 / stunnel p50: $(ratio "${row_p50[hbone]}" "${row_p50[stunnel]}")"
    else
        echo "- hbone / stunnel: not available (a row did not run)"
    fi
    if [[ -n ${row_gbits[stunnel]:-} && -n ${row_gbits[ztunnel]:-} ]]; then
        echo "- ztunnel / stunnel throughput: $(ratio "${row_gbits[ztunnel]}" "${row_gbits[stunnel]}")"
    fi
    if [[ -s $work/hbone.result ]]; then
        unset streamrate "enginerate_$stream_workers" "enginerate_$engine_workers" probe
        # shellcheck disable=SC1090
        . "$work/hbone.result"
        engine_low=enginerate_$stream_workers engine_high=enginerate_$engine_workers
        echo "- new tunnels/s on a warm connection (target 20,000): through hbone serve (a TCP dial to the echo server per tunnel) $(fmt 0 "${streamrate:-0}");" \
            "engine only (Hbone.TunnelBench hbone-echo, the tunnel echoed in process) $(fmt 0 "${!engine_low:-0}") with $stream_workers concurrent streams, $(fmt 0 "${!engine_high:-0}") with $engine_workers"
        echo "- live managed bytes per idle tunnel, client + server (target 4,096; Hbone.MemoryProbe, $probe_count tunnels in one process, the destination in a child process): ${probe:-failed}"
    fi
    echo
    echo "Every run (Gbit/s; p50/p99 µs), and threads before->after the idle test:"
    echo
    for row in direct stunnel hbone lab-direct ztunnel; do
        unset skip gbits p50 p99 idle_threads
        # shellcheck disable=SC1090
        . "$work/$row.result"
        [[ -n ${skip:-} ]] && continue
        line="- $row: throughput ${gbits[*]}; latency"
        for i in "${!p50[@]}"; do line+=" ${p50[$i]}/${p99[$i]}"; done
        [[ -n ${idle_threads:-} ]] && line+="; threads $idle_threads"
        echo "$line"
    done
} | tee "$report"
log "written to $report"
