#!/usr/bin/env bash
# Startup with a large mesh over xDS (issue 9). In the two-node lab of scripts/lab/mesh-lab.sh (prefix "cpready"; needs
# root) it serves, with the development istiod (samples/ControlPlane), the lab's own workloads plus SIZE generated
# workloads and SIZE generated services (workload i is the one endpoint of service i; all but LOCAL of them on a node
# "node-fake" that has no ztunnel, LOCAL of them on node-a, each with its own service account, so node-a's ztunnel asks
# the CA for their certificates too), and for each SIZE starts node-a's ztunnel RUNS times (node agent running, client
# enrolled), as scripts/demo.sh starts it (XDS_ADDRESS + CA), with ZTUNNEL_ENV ("DOTNET_gcServer=0" unless set; e.g.
# ZTUNNEL_ENV="DOTNET_gcServer=0 DOTNET_GCgen0size=0x100000" for a small gen0 budget). Per run it measures from the
# moment it launches the process:
#   ready    the first 200 of /healthz/ready (polled every 20 ms inside node-a's namespace)
#   applied  the ztunnel's own log line "xDS applied: N workloads, M services" with the full N and M (its timestamp)
# and, 5 s after ready, VmRSS and RssAnon from /proc/PID/status. Then it stops that ztunnel and starts the next run.
# The report gives medians per SIZE and the slope of RSS between the two largest sizes, per workload+service.
#
# Usage: benchmarks/controlplane/ready.sh [--quick] [--runs N] [--sizes "0 1000 5000"] [--local N]
#   --runs N     ztunnel starts per size (5); --quick: 1 run each of sizes "0 1000"
#   --sizes      generated workloads (= services) per mesh, in this order ("0 1000 5000")
#   --local N    how many of the generated workloads are on node-a (10; none when SIZE is 0)
# Writes the markdown to stdout and to artifacts/controlplane-bench/<date>-ready.md; progress goes to stderr.
# Exit codes: 0 measured, 1 set-up error or a ztunnel not ready within 120 s.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
command_line="benchmarks/controlplane/ready.sh${*:+$(printf ' %q' "$@")}"

runs=5 sizes="0 1000 5000" local_count=10 quick=0
while (($#)); do
    case $1 in
        --quick) quick=1 runs=1 sizes="0 1000" ;;
        --runs) runs=${2:?--runs needs a count}; shift ;;
        --sizes) sizes=${2:?--sizes needs a list}; shift ;;
        --local) local_count=${2:?--local needs a count}; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "ready.sh: unknown argument '$1' (see --help)" >&2; exit 1 ;;
    esac
    shift
done
for value in "$runs" "$local_count" $sizes; do
    [[ $value =~ ^[0-9]+$ ]] || { echo "ready.sh: '$value' is not a whole number (see --help)" >&2; exit 1; }
done
((runs > 0 && runs <= 20)) || { echo "ready.sh: --runs must be 1..20" >&2; exit 1; }
for size in $sizes; do ((size <= 60000)) || { echo "ready.sh: a size must be at most 60000" >&2; exit 1; }; done
[[ $(id -u) -eq 0 ]] || { echo "ready.sh: needs root (network namespaces, iptables)" >&2; exit 1; }

read -ra ztunnel_env <<<"${ZTUNNEL_ENV:-DOTNET_gcServer=0}"
PREFIX=cpready
LAB=scripts/lab/mesh-lab.sh
READY_LIMIT=120   # seconds
# shellcheck source=../../scripts/lab/mesh-lib.sh
. scripts/lab/mesh-lib.sh
eval "$("$LAB" env "$PREFIX")"

stamp=$(date -u '+%Y-%m-%d-%H%M%S')
out_dir=artifacts/controlplane-bench
logs=$out_dir/$stamp-ready-logs
work=$(mktemp -d -t cp-ready.XXXXXX)
mkdir -p "$out_dir" "$work/mesh" "$logs"
touch "$work/pids"
cp_pid="" zt_pid=""

log() { printf 'ready: %s\n' "$*" >&2; }
now() { date +%s.%N; }
stop_pids() { mesh_stop_pids 10 "$@"; } # SIGTERM, up to 10 s, then SIGKILL
cleanup() {
    local status=$?
    local all=()
    mapfile -t all <"$work/pids"
    [[ -n $cp_pid ]] && all+=("$cp_pid")
    [[ -n $zt_pid ]] && all+=("$zt_pid")
    stop_pids "${all[@]}"
    "$LAB" down "$PREFIX" || true
    cp "$work"/*.log "$work"/*.err "$work"/*.tsv "$logs"/ 2>/dev/null || true
    if ((status != 0)); then log "failed (exit $status); logs in $logs"; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
die() { log "$*"; exit 1; }

# The mesh YAML: the lab's config plus SIZE workloads (namespace bench) each behind its own service.
write_config() { # write_config SIZE LOCAL FILE
    python3 - "$1" "$2" "$work/base.yaml" >"$3" <<'EOF'
import sys
size, local, base = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
text = open(base).read()
head, _, _ = text.partition("policies:")
workloads, services = head.split("\nservices:\n", 1)
out = [workloads.rstrip("\n")]
ip = lambda second, i: f"10.{second}.{i // 250}.{i % 250 + 1}"
for i in range(size):
    on_node_a = i < local
    out.append(f"""- uid: cluster1//v1/Pod/bench/wl-{i}
  name: wl-{i}
  namespace: bench
  serviceAccount: {"local-" + str(i) if on_node_a else "sa-" + str(i % 50)}
  workloadIps: ["{ip(245, i)}"]
  protocol: HBONE
  node: {"node-a" if on_node_a else "node-fake"}
  labels: {{ app: wl-{i} }}
  services: {{ "bench/svc-{i}.bench.svc.cluster.local": {{ 80: 8080 }} }}""")
out.append("services:")
out.append(services.rstrip("\n"))
for i in range(size):
    out.append(f"""- name: svc-{i}
  namespace: bench
  hostname: svc-{i}.bench.svc.cluster.local
  vips: ["/{ip(97, i)}"]
  ports: {{ 80: 8080 }}""")
out.append("policies: []")
print("\n".join(out))
EOF
}

log "publishing the ztunnel, the node agent and the hbone CLI (Native AOT); building the development control plane (Release)"
mesh_publish "$work/publish.log" || die "scripts/publish.sh failed"
mesh_build_control_plane "$work/build-control-plane.log" || die "building samples/ControlPlane failed"
./scripts/ensure-packages.sh iproute2 iptables curl python3 >/dev/null

log "lab: $LAB up $PREFIX"
"$LAB" up "$PREFIX"
"$MESH_HBONE" certs --out "$work/ca" --identity default/ready >"$work/certs.log" 2>&1 || die "hbone certs failed"
"$LAB" config "$PREFIX" >"$work/base.yaml"
lab_workloads=$(grep -c '^- uid:' "$work/base.yaml")
lab_services=$(sed -n '/^services:/,$p' "$work/base.yaml" | grep -c '^- name:')

mesh_start_agent "$PREFIX" node-a "$work" "$work/agent-node-a.log"
echo "$MESH_PID" >>"$work/pids"
mesh_wait_socket "$work/node-a/ztunnel.sock" "$MESH_PID" "$work/agent-node-a.log" || die "no node agent on node-a"
mesh_enroll "$PREFIX" client "$work" >"$work/enroll-client.log" 2>&1 || die "enrolling client failed"

proc_kib() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }
printf 'size\trun\tready_s\tapplied_s\tvmrss_kib\trssanon_kib\tthreads\n' >"$work/runs.tsv"
for size in $sizes; do
    local_n=$((size == 0 ? 0 : (local_count < size ? local_count : size)))
    write_config "$size" "$local_n" "$work/mesh/config.yaml"
    want_w=$((lab_workloads + size)) want_s=$((lab_services + size))
    log "mesh of $want_w workloads and $want_s services ($(du -k "$work/mesh/config.yaml" | cut -f1) KiB of YAML; $local_n generated on node-a)"
    : >"$work/control-plane.log"
    mesh_start_control_plane "$PREFIX" "$work/mesh/config.yaml" "$work/ca" "$work" "$work/control-plane.log"
    cp_pid=$MESH_PID
    mesh_wait_control_plane "$PREFIX" "$cp_pid" "$work/control-plane.log" || die "the control plane does not listen"
    for run in $(seq 1 "$runs"); do
        rm -f "$work/ztunnel-node-a.log" "$work/ztunnel-node-a.log.err"
        t0=$(now)
        mesh_start_ztunnel_istiod "$PREFIX" node-a "$work/ca" "$work" "$work/ztunnel-node-a.log" "${ztunnel_env[@]}"
        zt_pid=$MESH_PID
        t_ready=""
        for _ in $(seq 1 $((READY_LIMIT * 50))); do
            if [[ $(ip netns exec "$PREFIX-node-a" curl -s -o /dev/null -w '%{http_code}' --max-time 1 http://127.0.0.1:15021/healthz/ready || true) == 200 ]]; then
                t_ready=$(now); break
            fi
            kill -0 "$zt_pid" 2>/dev/null || break
            sleep 0.02
        done
        [[ -n $t_ready ]] || { tail -20 "$work/ztunnel-node-a.log.err" >&2; die "size $size run $run: the ztunnel was not ready within $READY_LIMIT s"; }
        line=$(grep -m1 "xDS applied: $want_w workloads, $want_s services" "$work/ztunnel-node-a.log.err" || true)
        [[ -n $line ]] || { tail -20 "$work/ztunnel-node-a.log.err" >&2; die "size $size run $run: ready, but no 'xDS applied: $want_w workloads, $want_s services' line"; }
        t_applied=$(date -d "${line%%Z *}Z" +%s.%N)
        sleep 5
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$run" "$(python3 -c "print(round($t_ready - $t0, 3))")" \
            "$(python3 -c "print(round($t_applied - $t0, 3))")" "$(proc_kib "$zt_pid" VmRSS)" "$(proc_kib "$zt_pid" RssAnon)" \
            "$(proc_kib "$zt_pid" Threads)" >>"$work/runs.tsv"
        log "size $size run $run: $(tail -1 "$work/runs.tsv" | awk -F'\t' '{ printf "ready %s s, applied %s s, VmRSS %.1f MiB, RssAnon %.1f MiB", $3, $4, $5 / 1024, $6 / 1024 }')"
        stop_pids "$zt_pid"; wait "$zt_pid" 2>/dev/null || true; zt_pid=""
        cp "$work/ztunnel-node-a.log.err" "$logs/ztunnel-size$size-run$run.log.err"
    done
    stop_pids "$cp_pid"; wait "$cp_pid" 2>/dev/null || true; cp_pid=""
    cp "$work/control-plane.log" "$logs/control-plane-size$size.log"
done

report=$out_dir/$stamp-ready.md
python3 - "$work/runs.tsv" "${ZTUNNEL_ENV:+ZTUNNEL_ENV=\"$ZTUNNEL_ENV\" }$command_line" "$quick" "$lab_workloads" "$lab_services" "$(cut -d' ' -f1-3 /proc/loadavg)" "${ztunnel_env[*]}" >"$report" <<'EOF'
import csv, statistics, sys
path, command, quick, lab_w, lab_s, loadavg, env = sys.argv[1:]
rows = list(csv.DictReader(open(path), delimiter="\t"))
sizes = list(dict.fromkeys(int(r["size"]) for r in rows))
med = lambda size, key: statistics.median(float(r[key]) for r in rows if int(r["size"]) == size)
rng = lambda size, key: (min(float(r[key]) for r in rows if int(r["size"]) == size), max(float(r[key]) for r in rows if int(r["size"]) == size))
n = len([r for r in rows if int(r["size"]) == sizes[0]])
print(f"### ztunnel start-up against a large mesh over xDS{' (--quick: a smoke run)' if quick == '1' else ''}")
print()
print(f"- Command: `{command}`")
print(f"- node-a's ztunnel, environment {env}, {n} start(s) per size; the mesh is the lab's {lab_w} workloads and {lab_s} service plus SIZE generated workloads and SIZE services; load average at the end: {loadavg}.")
print()
print("| generated workloads + services | to /healthz/ready, median (min–max) s | to the full \"xDS applied\" line, median (min–max) s | VmRSS 5 s after ready, median MiB | RssAnon, median MiB |")
print("|---:|---:|---:|---:|---:|")
for s in sizes:
    r0, r1 = rng(s, "ready_s"); a0, a1 = rng(s, "applied_s")
    print(f"| {s:,} | {med(s, 'ready_s'):.2f} ({r0:.2f}–{r1:.2f}) | {med(s, 'applied_s'):.2f} ({a0:.2f}–{a1:.2f}) | {med(s, 'vmrss_kib') / 1024:.1f} | {med(s, 'rssanon_kib') / 1024:.1f} |")
if len(sizes) >= 2:
    big = sorted(sizes)[-2:]
    d = big[1] - big[0]
    if d > 0:
        print()
        print(f"Slope between {big[0]:,} and {big[1]:,} (per generated workload + its service): "
              f"VmRSS {(med(big[1], 'vmrss_kib') - med(big[0], 'vmrss_kib')) * 1024 / d / 1024:.2f} KiB, "
              f"RssAnon {(med(big[1], 'rssanon_kib') - med(big[0], 'rssanon_kib')) * 1024 / d / 1024:.2f} KiB; "
              f"time to ready {(med(big[1], 'ready_s') - med(big[0], 'ready_s')) * 1e6 / d:+.0f} µs.")
print()
print("| size | run | ready s | applied s | VmRSS KiB | RssAnon KiB | threads |")
print("|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {int(r['size']):,} | {r['run']} | {r['ready_s']} | {r['applied_s']} | {r['vmrss_kib']} | {r['rssanon_kib']} | {r['threads']} |")
EOF
cat "$report"
log "report written to $report"
