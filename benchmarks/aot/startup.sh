#!/usr/bin/env bash
# Start-to-listening time and idle RSS of the ztunnel: the Native AOT binary (scripts/publish.sh) against the
# framework-dependent build (dotnet build -c Release), same config, runs interleaved; prints every run and the medians.
# Each run starts the ztunnel in a network namespace of its own (its stats and readiness ports bind 0.0.0.0) with the
# mesh lab's local config, a CA from `hbone certs` and INPOD_UDS pointing at no socket (no node agent: no pods);
# "listening" = the first 200 from GET 127.0.0.1:15000/config_dump (curl every 10 ms); RSS = VmRSS 5 s after that.
# Usage (root): benchmarks/aot/startup.sh [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

runs=${1:-3}
aot=artifacts/publish/hbone-ztunnel/hbone-ztunnel
jit=src/Hbone.Ztunnel/bin/Release/net10.0/Hbone.Ztunnel.dll
hbone=artifacts/publish/hbone/hbone
for f in "$aot" "$hbone"; do [[ -x $f ]] || { echo "startup.sh: $f missing: run scripts/publish.sh" >&2; exit 1; }; done
[[ -f $jit ]] || { echo "startup.sh: $jit missing: dotnet build src/Hbone.Ztunnel -c Release" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "startup.sh: needs root (ip netns)" >&2; exit 1; }

ns=hbone-aot-$$
work=$(mktemp -d)
pid=
cleanup() {
    [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
scripts/lab/mesh-lab.sh config aot >"$work/config.yaml"
"$hbone" certs --out "$work/ca" --identity default/ztunnel >/dev/null

# run_once VARIANT: one start of the ztunnel; sets run_ms and run_kib.
run_once() {
    local cmd=("$aot")
    [[ $1 == jit ]] && cmd=(dotnet "$jit")
    local start
    start=$(date +%s%N)
    ip netns exec "$ns" env LOCAL_XDS_PATH="$work/config.yaml" NODE_NAME=node-a INPOD_UDS="$work/none.sock" \
        CA_ROOT_CERT="$work/ca/ca.pem" CA_ROOT_KEY="$work/ca/ca.key" "${cmd[@]}" >"$work/$1.log" 2>"$work/$1.err" &
    pid=$!
    for _ in $(seq 3000); do
        ip netns exec "$ns" curl -sf -o /dev/null --max-time 1 http://127.0.0.1:15000/config_dump && break
        kill -0 "$pid" 2>/dev/null || { echo "startup.sh: the $1 ztunnel exited:" >&2; cat "$work/$1.err" >&2; exit 1; }
        sleep 0.01
    done
    run_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    sleep 5  # idle RSS is defined as 5 s after the admin port answers (start-up allocations settled), not an event
    run_kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    kill -TERM "$pid"; wait "$pid" || true; pid=
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A ms rss
for i in $(seq "$runs"); do
    for variant in aot jit; do
        run_once "$variant"
        echo "run $i $variant: listening after $run_ms ms, VmRSS $((run_kib / 1024)) MiB ($run_kib KiB)"
        ms[$variant]+="$run_ms"$'\n' rss[$variant]+="$run_kib"$'\n'
    done
done
echo
for variant in aot jit; do
    printf '%s: median start-to-listening %s ms, median idle VmRSS %s KiB\n' "$variant" \
        "$(printf '%s' "${ms[$variant]}" | median)" "$(printf '%s' "${rss[$variant]}" | median)"
done
