#!/usr/bin/env bash
# The main job: the life of a packet through the reference ztunnel, in the two-node lab of scripts/lab/mesh-lab.sh:
#   1. publishes the ztunnel, the node agent (cni) and the hbone CLI as Native AOT binaries (scripts/publish.sh;
#      nothing to do when they are newer than the sources) and builds the development control plane; creates the
#      lab "demo" and shows plain routing;
#   2. makes the mesh CA, starts a development control plane (samples/ControlPlane: xDS from the lab's YAML and a CA,
#      like istiod on 15012), a node agent and a ztunnel in each node's namespace; each ztunnel gets its workloads,
#      services and policies over delta xDS and every pod certificate from the control plane's CA over gRPC; enrolls
#      client, echo and local-echo (not outsider) and waits for readiness;
#   3. starts an HTTP "echo" app (it answers with the client address it saw) in echo and local-echo;
#   4. shows: client -> service VIP (cross node, HBONE), client -> local-echo (same node), the iptables counters
#      that captured it, both ztunnels' access-log lines, the client IP the app saw, the ztunnel's workloads,
#      the pod certificates each ztunnel holds, and outsider -> echo (plaintext, captured on 15006);
#   5. stops everything it started and removes the lab, also on failure or Ctrl+C.
# Needs root. Exit codes: 0 shown, 1 a step failed.
# KEEP=1 keeps the log directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

LAB=scripts/lab/mesh-lab.sh
PREFIX=demo
# shellcheck source=mesh-lib.sh
. scripts/lab/mesh-lib.sh
ZTUNNEL=$MESH_ZTUNNEL CNI=$MESH_CNI HBONE=$MESH_HBONE
MESH_PODS=(client echo local-echo)   # outsider stays out of the mesh
APP_PODS=(echo local-echo)

[[ $(id -u) -eq 0 ]] || { echo "demo: needs root (network namespaces, iptables)" >&2; exit 1; }
./scripts/ensure-packages.sh iproute2 iptables curl python3 >/dev/null

work=$(mktemp -d -t hbone-ztunnel-demo.XXXXXX)
pids=()
trap mesh_demo_cleanup EXIT
trap 'exit 130' INT TERM

mesh_step "Publishing the ztunnel, the node agent and the hbone CLI (Native AOT), building the development control plane"
mesh_publish "$work/publish.log"
grep -E ': up to date$|: published in|MiB' "$work/publish.log" | sed 's/^/  /'
mesh_build_control_plane "$work/build-control-plane.log"

mesh_step "The lab: two nodes, four pods, routed like Calico (mesh-lab.sh up $PREFIX)"
"$LAB" up "$PREFIX"
eval "$("$LAB" env "$PREFIX")"
printf '  %-11s %-11s %-7s %s\n' POD IP NODE MESH
for pod in $LAB_PODS; do
    key=$(echo "$pod" | tr 'a-z-' 'A-Z_'); ip_var=LAB_POD_${key}_IP node_var=LAB_POD_${key}_NODE mesh_var=LAB_POD_${key}_MESH
    printf '  %-11s %-11s %-7s %s\n' "$pod" "${!ip_var}" "${!node_var}" "${!mesh_var}"
done
echo "  service echo: VIP $LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT -> echo:$LAB_ECHO_TARGET_PORT"
echo "\$ ip netns exec $PREFIX-node-a ip route"
mesh_in_ns "$PREFIX-node-a" ip route | sed 's/^/  /'

mesh_step "Echo apps in echo and local-echo (HTTP on :$LAB_ECHO_TARGET_PORT, answering with the client address they saw)"
for pod in "${APP_PODS[@]}"; do
    ip netns exec "$PREFIX-$pod" python3 -u scripts/lab/echo_app.py "$LAB_ECHO_TARGET_PORT" "$pod" >"$work/app-$pod.log" 2>&1 &
    pids+=($!)
    mesh_wait_for_line "$work/app-$pod.log" "listening on"
done

mesh_step "Without the mesh: client -> echo ($LAB_POD_ECHO_IP:$LAB_ECHO_TARGET_PORT) is plain routed TCP"
echo "\$ ip netns exec $PREFIX-client curl http://$LAB_POD_ECHO_IP:$LAB_ECHO_TARGET_PORT/"
mesh_in_ns "$PREFIX-client" curl -sS --max-time 5 "http://$LAB_POD_ECHO_IP:$LAB_ECHO_TARGET_PORT/"

mesh_step "The mesh CA (hbone certs) and a development istiod: xDS from the lab's YAML, certificates from the CA"
"$HBONE" certs --out "$work/ca" --identity default/demo >/dev/null
ls "$work/ca" | sed 's/^/  /'
"$LAB" config "$PREFIX" >"$work/config.yaml"
echo "  mesh config: $work/config.yaml ($(grep -c '^- uid:' "$work/config.yaml") workloads, 1 service), served over delta xDS"
mesh_start_control_plane "$PREFIX" "$work/config.yaml" "$work/ca" "$work" "$work/control-plane.log"
pids+=("$MESH_PID")
mesh_wait_control_plane "$PREFIX" "$MESH_PID" "$work/control-plane.log"
echo "  control plane: https://$LAB_NODE_A_IP:$MESH_CONTROL_PLANE_PORT (TLS from the mesh root; a bearer token per node)"

mesh_step "A node agent per node (ZDS server, in the node's namespace)"
declare -A agent_pid
for node in $LAB_NODES; do
    mesh_start_agent "$PREFIX" "$node" "$work" "$work/agent-$node.log"
    pids+=("$MESH_PID") agent_pid[$node]=$MESH_PID
done
for node in $LAB_NODES; do
    mesh_wait_socket "$work/$node/ztunnel.sock" "${agent_pid[$node]}" "$work/agent-$node.log"
    echo "  $node: agent listening on $work/$node/ztunnel.sock"
done

mesh_step "Enrolling ${MESH_PODS[*]} (in-pod iptables rules + a pod file for the agent; outsider is not enrolled)"
for pod in "${MESH_PODS[@]}"; do
    mesh_enroll "$PREFIX" "$pod" "$work"
    node_var=LAB_POD_$(echo "$pod" | tr 'a-z-' 'A-Z_')_NODE
    echo "  $pod enrolled on ${!node_var}"
done

mesh_step "A ztunnel per node (XDS_ADDRESS, CA_ROOT_CA, AUTH_TOKEN, NODE_NAME, INPOD_UDS), waiting for /healthz/ready"
for node in $LAB_NODES; do
    mesh_start_ztunnel_istiod "$PREFIX" "$node" "$work/ca" "$work" "$work/ztunnel-$node.log"
    pids+=("$MESH_PID")
done
for node in $LAB_NODES; do
    mesh_wait_ready "$PREFIX" "$node" "$work/ztunnel-$node.log"
    echo "  $node: ztunnel ready"
done

mesh_step "(1) client -> service VIP $LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT (captured, HBONE to node-b, echo answers)"
echo "\$ ip netns exec $PREFIX-client curl http://$LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT/"
mesh_in_ns "$PREFIX-client" curl -sS --max-time 30 "http://$LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT/"
echo "\$ ip netns exec $PREFIX-client curl http://$LAB_POD_LOCAL_ECHO_IP:$LAB_ECHO_TARGET_PORT/   (same node)"
mesh_in_ns "$PREFIX-client" curl -sS --max-time 30 "http://$LAB_POD_LOCAL_ECHO_IP:$LAB_ECHO_TARGET_PORT/"

mesh_step "(2) The rules that captured it: nat ISTIO_OUTPUT in client (-> 15001), mangle ISTIO_PRERT in echo (TPROXY 15008)"
echo "\$ ip netns exec $PREFIX-client iptables -t nat -L ISTIO_OUTPUT -v -n"
mesh_in_ns "$PREFIX-client" iptables -t nat -L ISTIO_OUTPUT -v -n
echo "\$ ip netns exec $PREFIX-echo iptables -t mangle -L ISTIO_PRERT -v -n"
mesh_in_ns "$PREFIX-echo" iptables -t mangle -L ISTIO_PRERT -v -n

mesh_step "(3) Access-log lines of both ztunnels"
# Each side logs when its connection closes: wait (bounded) for both complete lines.
mesh_wait_for_line "$work/ztunnel-node-a.log" 'dst.workload="echo".*direction="outbound".*protocol='
mesh_wait_for_line "$work/ztunnel-node-b.log" 'dst.workload="echo".*direction="inbound".*protocol='
for node in $LAB_NODES; do
    echo "-- ztunnel $node"
    sed 's/^/  /' "$work/ztunnel-$node.log"
done

mesh_step "(4) The client address the apps saw (source IP kept: $LAB_POD_CLIENT_IP; the first line is the request without the mesh)"
cat "$work/app-echo.log" "$work/app-local-echo.log" | grep "client " | sed 's/^/  /'
grep -q "client $LAB_POD_CLIENT_IP:" "$work/app-echo.log" ||
    { echo "demo: echo did not see the client's own IP $LAB_POD_CLIENT_IP" >&2; exit 1; }

mesh_step "(5) The workloads as node-a's ztunnel knows them"
echo "\$ ip netns exec $PREFIX-node-a hbone ztunnel workloads --admin 127.0.0.1:15000"
mesh_in_ns "$PREFIX-node-a" "$HBONE" ztunnel workloads --admin 127.0.0.1:15000
echo "\$ ip netns exec $PREFIX-node-a hbone ztunnel services --admin 127.0.0.1:15000"
mesh_in_ns "$PREFIX-node-a" "$HBONE" ztunnel services --admin 127.0.0.1:15000

mesh_step "(6) Over gRPC: the control plane's log, and the pod certificates node-b's ztunnel got from its CA"
sed 's/^/  /' "$work/control-plane.log"
echo "\$ ip netns exec $PREFIX-node-b curl http://127.0.0.1:15000/config_dump   (certificates)"
mesh_in_ns "$PREFIX-node-b" curl -sS --max-time 5 http://127.0.0.1:15000/config_dump | python3 -c '
import json, sys
for c in json.load(sys.stdin)["certificates"]:
    leaf = (c["certChain"] or [{}])[0]
    print("  %-45s %-10s serial %s until %s" % (c["identity"], c["state"], leaf.get("serialNumber", "-"), leaf.get("expirationTime", "-")))'

mesh_step "(7) outsider (not in the mesh) -> echo: plaintext, captured on 15006 in echo's namespace"
echo "\$ ip netns exec $PREFIX-outsider curl http://$LAB_POD_ECHO_IP:$LAB_ECHO_TARGET_PORT/"
mesh_in_ns "$PREFIX-outsider" curl -sS --max-time 30 "http://$LAB_POD_ECHO_IP:$LAB_ECHO_TARGET_PORT/"
echo "-- ztunnel node-b (no peer identity: plaintext from outside the mesh)"
mesh_wait_for_line "$work/ztunnel-node-b.log" 'src.workload="outsider".*protocol='
grep 'src.workload="outsider"' "$work/ztunnel-node-b.log" | sed 's/^/  /'

mesh_step "Done: stopping the apps, ztunnels and agents, removing the lab"
