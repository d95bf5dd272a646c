#!/usr/bin/env bash
# Soak test of the HBONE pair under churn with faults, everything on 127.0.0.1:
#   Hbone.TunnelBench soak (load driver) -> hbone forward -> hbone serve (HTTP/2 CONNECT over mTLS)
#     -> Hbone.TunnelBench echo --faults 1 (the upstream)
# The driver runs WORKERS loops; each connects through hbone forward and runs one behaviour picked with a seeded
# RNG: normal echo of 1-256 KiB verified by SHA-256 (30 %), half-close read to EOF (20 %), client reset mid-stream
# (15 %), slow reader at ~16 KiB/s (10 %), silent peer then RST (10 %), upstream reset after N bytes (15 %); each
# operation has a deadline (10 s; 20 s for the slow reader and the silent peer).
# Every minute, one markdown row: open FDs (/proc/PID/fd) and VmRSS of hbone serve and hbone forward, live tunnels
# (ESTABLISHED sockets from hbone serve to the upstream / from the driver to hbone forward; hbone serve has no admin
# or metrics port), and the tunnels opened, completed, reset on purpose and failed unexpectedly in that minute (the
# driver's counts), lost exchanges, and hbone serve's access-log outcomes for the minute.
# Baseline: after a warm-up load (--warmup seconds) and once no tunnel is live; end: once the load stopped and no
# tunnel is live (waited for up to 60 s). PASS when, for both processes, FDs end within baseline +- 8 and VmRSS ends
# at most 20 % above baseline, no exchange was lost (a normal or half-close echo that failed or returned other
# bytes), both processes are still running and the live tunnels drained to 0.
#
# Usage: benchmarks/soak/run.sh [--minutes N | --quick] [--workers N] [--seed N] [--warmup SECONDS]
#   --minutes N   soak duration (default 30)        --quick     2 minutes and a 20 s warm-up
#   --workers N   concurrent driver loops (32)      --seed N    the driver's RNG seed (1)
#   --warmup S    warm-up load before the baseline (60 s; 20 s with --quick)
# Writes the markdown to stdout and to artifacts/soak/<date>.md, progress to stderr; the processes' logs are kept
# in artifacts/soak/<date>-logs when the run does not pass.
# Exit codes: 0 PASS, 1 FAIL, 2 set-up error (build, certificates, a process that did not start, bad arguments).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
command_line="benchmarks/soak/run.sh${*:+ $*}"

usage() { sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
bad_usage() { echo "soak: $1 (see --help)" >&2; exit 2; }
minutes=30 workers=32 seed=1 warmup="" quick=0
while (($# > 0)); do
    case $1 in
        --quick) quick=1 minutes=2 ;;
        --minutes|--workers|--seed|--warmup)
            (($# >= 2)) || bad_usage "$1 needs a value"
            [[ $2 =~ ^[0-9]+$ ]] || bad_usage "$1 '$2' is not a non-negative integer"
            case $1 in
                --minutes) minutes=$2 ;;
                --workers) workers=$2 ;;
                --seed) seed=$2 ;;
                --warmup) warmup=$2 ;;
            esac
            shift ;;
        -h|--help) usage; exit 0 ;;
        *) bad_usage "unknown argument '$1'" ;;
    esac
    shift
done
((minutes >= 1)) || bad_usage "--minutes must be at least 1"
((workers >= 1 && workers <= 1024)) || bad_usage "--workers must be in [1, 1024]"
[[ -n $warmup ]] || { if ((quick)); then warmup=20; else warmup=60; fi; }
fd_margin=8 rss_percent=20 drain_seconds=60

log() { printf 'soak: %s\n' "$*" >&2; }

stamp=$(date -u '+%Y-%m-%d-%H%M%S')
mkdir -p artifacts/soak
report=artifacts/soak/$stamp.md
logs=artifacts/soak/$stamp-logs
: >"$report"
work=$(mktemp -d -t soak.XXXXXX)
touch "$work/pids"
phase=setup verdict=""

# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lab/mesh-lib.sh disable=SC1091
. scripts/lab/mesh-lib.sh
cleanup() {
    local status=$?
    local all
    mapfile -t all <"$work/pids"
    mesh_stop_pids 5 "${all[@]}"
    if [[ $verdict != PASS ]]; then
        mkdir -p "$logs"
        cp "$work"/*.log "$work"/*.jsonl "$logs"/ 2>/dev/null || true
        log "the processes' logs are kept in $logs"
    fi
    rm -rf "$work"
    if ((status == 0)); then return; fi
    if ((status == 130 || status == 143)); then log "interrupted"; exit "$status"; fi
    if [[ $phase == setup ]]; then log "set-up error (exit $status)"; exit 2; fi
    log "failed (exit $status)"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Writes a line of the report: stdout and the report file.
out() { printf '%s\n' "$*" | tee -a "$report"; }
# Starts a command in the background, stdout in $work/NAME.log (stderr too unless a third file is given); sets LAST_PID.
start() {
    local name=$1; shift
    "$@" >"$work/$name.log" 2>&1 &
    LAST_PID=$!
    echo "$LAST_PID" >>"$work/pids"
}
fail_with_log() { log "$1"; sed 's/^/  | /' "$work/$2.log" | tail -20 >&2; return 1; }
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

log "publishing hbone (scripts/publish.sh hbone, Native AOT; nothing to do when up to date)"
./scripts/publish.sh hbone >"$work/publish.log" 2>&1 || fail_with_log "scripts/publish.sh hbone failed" publish
log "building Hbone.TunnelBench (Release)"
dotnet build benchmarks/Hbone.TunnelBench -c Release -v quiet -nologo >"$work/build.log" 2>&1 \
    || fail_with_log "build of Hbone.TunnelBench failed" build
hbone=artifacts/publish/hbone/hbone
bench=(dotnet benchmarks/Hbone.TunnelBench/bin/Release/net10.0/Hbone.TunnelBench.dll)

certs=$work/certs
"$hbone" certs --out "$certs" --trust-domain cluster.local --identity default/server --identity default/client >"$work/certs.log" 2>&1 \
    || fail_with_log "hbone certs failed" certs
server_id=spiffe://cluster.local/ns/default/sa/server
client_id=spiffe://cluster.local/ns/default/sa/client

start echo "${bench[@]}" echo --listen 127.0.0.1:0 --faults 1
echo_pid=$LAST_PID
echo_port=$(wait_line echo 'listening on [0-9.]+:[0-9]+' "$echo_pid" | grep -oE '[0-9]+$')
# hbone serve: access-log lines (one per tunnel) on stdout, its own messages on stderr.
"$hbone" serve --listen 127.0.0.1:0 --cert "$certs/server.pem" --key "$certs/server.key" --ca "$certs/ca.pem" \
    --allow "$client_id" --drain-timeout 1 >"$work/serve-access.log" 2>"$work/serve.log" &
serve_pid=$!
echo "$serve_pid" >>"$work/pids"
via=$(wait_line serve 'https://[0-9.]+:[0-9]+' "$serve_pid" | sed 's#https://##')
"$hbone" forward --listen 127.0.0.1:0 --via "$via" --target "127.0.0.1:$echo_port" --drain-timeout 1 \
    --cert "$certs/client.pem" --key "$certs/client.key" --ca "$certs/ca.pem" --expect "$server_id" \
    >"$work/forward-access.log" 2>"$work/forward.log" &
forward_pid=$!
echo "$forward_pid" >>"$work/pids"
forward_port=$(wait_line forward 'listening on [0-9.]+:[0-9]+' "$forward_pid" | grep -oE '[0-9]+$')
log "echo (faults on) 127.0.0.1:$echo_port, hbone serve $via (pid $serve_pid), hbone forward 127.0.0.1:$forward_port (pid $forward_pid)"

# --- Probes.
fds() { { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null || true; } | wc -l; }
rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# Live tunnels: hbone serve's ESTABLISHED sockets to the upstream, and the driver's to hbone forward.
live_upstream() { ss -Htn state established "( dport = :$echo_port )" 2>/dev/null | wc -l; }
live_forward() { ss -Htn state established "( sport = :$forward_port )" 2>/dev/null | wc -l; }
alive() { kill -0 "$serve_pid" 2>/dev/null && kill -0 "$forward_pid" 2>/dev/null; }
# A counter from the last line of a driver's JSON output.
counter() { { grep -oE "\"$2\":[0-9]+" <<<"$1" || true; } | head -1 | cut -d: -f2; }
# Sets SERVE_OUTCOMES to hbone serve's access-log outcomes since the last call (by byte offset), as
# "completed 12, upstream_reset 3" (not in a subshell: the offset must persist).
access_offset=0 SERVE_OUTCOMES=""
serve_outcomes() {
    local size
    size=$(stat -c %s "$work/serve-access.log")
    # tail is killed by SIGPIPE when the log grew past what head takes: that is expected, not a failure (pipefail).
    SERVE_OUTCOMES=$({ tail -c +"$((access_offset + 1))" "$work/serve-access.log" || true; } | head -c "$((size - access_offset))" |
        { grep -oE 'outcome=[a-z_]+' || true; } | cut -d= -f2 | sort | uniq -c | awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }')
    access_offset=$size
}
# Bounded wait (drain_seconds, polled every second) for both live counts to reach 0; prints the seconds waited.
wait_drained() {
    local waited=0
    while (($(live_upstream) + $(live_forward) > 0)); do
        ((waited >= drain_seconds)) && { echo "$waited"; return 1; }
        sleep 1
        waited=$((waited + 1))
    done
    echo "$waited"
}

idle_serve_fds=$(fds "$serve_pid") idle_forward_fds=$(fds "$forward_pid")
idle_serve_rss=$(rss_kib "$serve_pid") idle_forward_rss=$(rss_kib "$forward_pid")

# --- Warm-up: the same load, so that pools, GC heaps and the HTTP/2 connection exist before the baseline.
if ((warmup > 0)); then
    log "warm-up: $warmup s of the same load ($workers workers)"
    start warmup "${bench[@]}" soak --target "127.0.0.1:$forward_port" --seconds "$warmup" --workers "$workers" --seed "$((seed + 1000))"
    warmup_pid=$LAST_PID
    wait "$warmup_pid" || fail_with_log "the warm-up driver failed" warmup
    alive || { log "hbone serve or hbone forward exited during the warm-up"; exit 2; }
fi
if ! waited=$(wait_drained); then log "the warm-up tunnels did not drain in $drain_seconds s"; exit 2; fi
sleep 2
base_serve_fds=$(fds "$serve_pid") base_forward_fds=$(fds "$forward_pid")
base_serve_rss=$(rss_kib "$serve_pid") base_forward_rss=$(rss_kib "$forward_pid")
serve_outcomes

# --- The soak.
phase=soak
date_utc=$(date -u '+%Y-%m-%d %H:%M UTC')
out "### HBONE soak, $date_utc$( ((quick)) && echo ' (--quick: a smoke run, not a soak)')"
out ""
out "- Command: \`$command_line\`"
out "- Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r); load average at start $(cut -d' ' -f1-3 /proc/loadavg); .NET $(dotnet --list-runtimes | grep -m1 NETCore.App | cut -d' ' -f2); hbone Native AOT ($hbone)"
out "- Path: Hbone.TunnelBench soak ($workers workers, seed $seed) -> hbone forward 127.0.0.1:$forward_port -> hbone serve $via -> echo --faults 1 127.0.0.1:$echo_port"
out "- Mix: normal 1-256 KiB echo + close 30 %, half-close 20 %, client RST mid-stream 15 %, slow reader ~16 KiB/s 10 %, silent peer 2-5 s then RST 10 %, upstream RST after N bytes 15 %; deadline 10 s per operation (20 s slow reader, silent peer)"
out "- Live = ESTABLISHED sockets hbone serve -> upstream / driver -> hbone forward (no admin or metrics endpoint in hbone serve); opened/completed/reset/failed/lost = the driver's counts for the minute (an operation counts in the minute it ends); serve log = hbone serve's access-log outcomes for the minute"
out "- Before any load: serve $idle_serve_fds FDs, $(mib "$idle_serve_rss") MiB; forward $idle_forward_fds FDs, $(mib "$idle_forward_rss") MiB. Baseline after the $warmup s warm-up, once no tunnel was live (+2 s): serve $base_serve_fds FDs, $(mib "$base_serve_rss") MiB; forward $base_forward_fds FDs, $(mib "$base_forward_rss") MiB"
out ""
out "| minute | serve FDs | forward FDs | serve RSS (MiB) | forward RSS (MiB) | live (serve→upstream / →forward) | opened | completed | reset on purpose | failed unexpectedly | lost | serve log |"
out "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"

log "soak: $minutes minute(s), $workers workers, seed $seed"
soak_seconds=$((minutes * 60))
"${bench[@]}" soak --target "127.0.0.1:$forward_port" --seconds "$soak_seconds" --workers "$workers" --seed "$seed" --every 1 \
    >"$work/soak.jsonl" 2>"$work/soak.log" &
driver_pid=$!
echo "$driver_pid" >>"$work/pids"
soak_start=$SECONDS
prev_opened=0 prev_completed=0 prev_reset=0 prev_failed=0 prev_lost=0
crashed=""
row() {
    local label=$1 line opened completed reset failed lost
    line=$(tail -n 1 "$work/soak.jsonl" 2>/dev/null || true)
    opened=$(counter "$line" opened) completed=$(counter "$line" completed) reset=$(counter "$line" reset)
    failed=$(counter "$line" failed) lost=$(counter "$line" lost)
    opened=${opened:-0} completed=${completed:-0} reset=${reset:-0} failed=${failed:-0} lost=${lost:-0}
    serve_outcomes
    out "| $label | $(fds "$serve_pid") | $(fds "$forward_pid") | $(mib "$(rss_kib "$serve_pid")") | $(mib "$(rss_kib "$forward_pid")") |" \
        "$(live_upstream) / $(live_forward) | $((opened - prev_opened)) | $((completed - prev_completed)) | $((reset - prev_reset)) |" \
        "$((failed - prev_failed)) | $((lost - prev_lost)) | $SERVE_OUTCOMES |"
    log "$label: opened $opened, completed $completed, reset $reset, failed $failed, lost $lost (totals)"
    prev_opened=$opened prev_completed=$completed prev_reset=$reset prev_failed=$failed prev_lost=$lost
}
for minute in $(seq 1 "$minutes"); do
    while ((SECONDS < soak_start + minute * 60)); do
        sleep 1
        alive || { crashed="hbone serve or hbone forward exited at minute $minute"; break 2; }
        kill -0 "$driver_pid" 2>/dev/null || { crashed="the load driver exited early at minute $minute"; break 2; }
    done
    row "$minute"
done

# --- Stop the load: the driver stops starting operations at the end of its duration and finishes the open ones
# (each bounded by its deadline); with a crash, it is stopped with SIGTERM (same behaviour).
if [[ -n $crashed ]]; then log "$crashed"; kill -TERM "$driver_pid" 2>/dev/null || true; fi
driver_status=0
for _ in $(seq 1 45); do kill -0 "$driver_pid" 2>/dev/null || break; sleep 1; done
if kill -0 "$driver_pid" 2>/dev/null; then
    log "the load driver did not stop 45 s after the end of the soak; killing it"
    mesh_stop_pids 2 "$driver_pid"
    driver_status=124
else
    wait "$driver_pid" || driver_status=$?
fi
row "stop"
final=$(grep '"final":true' "$work/soak.jsonl" | tail -n 1 || true)
[[ -n $final ]] || final=$(tail -n 1 "$work/soak.jsonl" 2>/dev/null || true)

log "waiting (up to $drain_seconds s) for the live tunnels to drain"
drained=1
waited=$(wait_drained) || drained=0
sleep 2
end_serve_fds=$(fds "$serve_pid") end_forward_fds=$(fds "$forward_pid")
end_serve_rss=$(rss_kib "$serve_pid") end_forward_rss=$(rss_kib "$forward_pid")
row "drained"

# --- Verdict.
failures=()
check_fds() {
    local name=$1 base=$2 end=$3 delta=$(($3 - $2))
    if ((delta > fd_margin || delta < -fd_margin)); then failures+=("$name FDs $base -> $end (outside +-$fd_margin)"); fi
}
check_rss() {
    local name=$1 base=$2 end=$3
    if ((end * 100 > base * (100 + rss_percent))); then failures+=("$name VmRSS $(mib "$base") -> $(mib "$end") MiB (more than +$rss_percent %)"); fi
}
check_fds "hbone serve" "$base_serve_fds" "$end_serve_fds"
check_fds "hbone forward" "$base_forward_fds" "$end_forward_fds"
check_rss "hbone serve" "$base_serve_rss" "$end_serve_rss"
check_rss "hbone forward" "$base_forward_rss" "$end_forward_rss"
total_lost=$(counter "$final" lost)
[[ -n $total_lost ]] || { failures+=("no counters from the load driver"); total_lost=0; }
((total_lost == 0)) || failures+=("$total_lost lost exchanges")
[[ -z $crashed ]] || failures+=("$crashed")
alive || failures+=("hbone serve or hbone forward is not running at the end")
((drained)) || failures+=("live tunnels still open $drain_seconds s after the load stopped ($(live_upstream) / $(live_forward))")
((driver_status == 0)) || failures+=("the load driver exited with $driver_status")

pct() { awk -v b="$1" -v e="$2" 'BEGIN { if (b > 0) printf "%+.1f %%", (e - b) * 100 / b; else print "-" }'; }
out ""
out "| process | FDs baseline | FDs end | Δ FDs | RSS baseline (MiB) | RSS end (MiB) | Δ RSS |"
out "|---|---:|---:|---:|---:|---:|---:|"
out "| hbone serve | $base_serve_fds | $end_serve_fds | $((end_serve_fds - base_serve_fds)) | $(mib "$base_serve_rss") | $(mib "$end_serve_rss") | $(pct "$base_serve_rss" "$end_serve_rss") |"
out "| hbone forward | $base_forward_fds | $end_forward_fds | $((end_forward_fds - base_forward_fds)) | $(mib "$base_forward_rss") | $(mib "$end_forward_rss") | $(pct "$base_forward_rss" "$end_forward_rss") |"
out ""
runs=$(grep -oE '"runs":\{[^}]*\}' <<<"$final" | sed 's/"runs"://; s/[{}"]//g; s/:/ /g; s/,/, /g')
failed_by=$(grep -oE '"failed_by":\{[^}]*\}' <<<"$final" | sed 's/"failed_by"://; s/[{}"]//g; s/:/ /g; s/,/, /g')
out "- Totals (driver): opened $(counter "$final" opened), completed $(counter "$final" completed), reset on purpose $(counter "$final" reset)," \
    "failed unexpectedly $(counter "$final" failed) (connect failures $(counter "$final" connect_failed)), lost $total_lost"
out "- Operations by behaviour: $runs; unexpected failures by behaviour: $failed_by"
if [[ -s $work/soak.log ]]; then
    out "- First unexpected failures (driver's stderr, up to 5 of $(wc -l <"$work/soak.log") lines):"
    while IFS= read -r line; do out "  - \`$line\`"; done < <(head -n 5 "$work/soak.log")
fi
out "- Drain: live tunnels $( ((drained)) && echo "reached 0 after $waited s" || echo "still $(live_upstream) / $(live_forward) after $drain_seconds s") once the load stopped; FDs and RSS measured 2 s later"
out "- Rule: PASS when, for hbone serve and hbone forward, the FDs end within baseline +-$fd_margin and VmRSS ends at most $rss_percent % above baseline," \
    "0 lost exchanges (normal and half-close echoes that failed or returned other bytes), both processes still running and the live tunnels drained to 0 within $drain_seconds s." \
    "Unexpected failures of the other behaviours are reported, not judged."
if ((${#failures[@]} == 0)); then
    verdict=PASS
    out ""
    out "**PASS**"
else
    verdict=FAIL
    out ""
    joined=$(IFS=';'; echo "${failures[*]}")
    out "**FAIL**: ${joined//;/; }"
fi
log "written to $report"
[[ $verdict == PASS ]] || exit 1
