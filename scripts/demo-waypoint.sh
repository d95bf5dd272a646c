#!/usr/bin/env bash
# The second demo: the echo service behind a waypoint (samples/Waypoint, built on the Hbone packages), in the
# two-node lab of scripts/lab/mesh-lab.sh with the local config (mesh-lab.sh config --waypoint):
#   1. publishes the ztunnel, the node agent and the CLI (Native AOT) and builds the waypoint sample from the packed
#      packages; creates the lab "demowp"; starts an HTTP echo app in the echo pod (it answers with the client
#      address it saw);
#   2. a node agent and a ztunnel per node, client/echo/local-echo enrolled; the waypoint in node-b's namespace on
#      192.168.254.2:15088 with the SVID of sa/waypoint, allowing only the client's identity; echo accepts only the
#      waypoint's identity (an ALLOW policy);
#   3. shows: client -> echo VIP goes through the waypoint and the echo app sees the client's own address; local-echo
#      -> echo VIP is refused by the waypoint's policy (401); client -> the echo pod directly, skipping the
#      waypoint, is denied by echo's ztunnel; the access-log lines of each hop;
#   4. stops everything and removes the lab, also on failure or Ctrl+C.
# Needs root. Exit codes: 0 shown, 1 a step failed. KEEP=1 keeps the log directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

LAB=scripts/lab/mesh-lab.sh
PREFIX=demowp
WAYPOINT=192.168.254.2:15088
# shellcheck source=lab/mesh-lib.sh
. scripts/lab/mesh-lib.sh

[[ $(id -u) -eq 0 ]] || { echo "demo-waypoint: needs root (network namespaces, iptables)" >&2; exit 1; }
./scripts/ensure-packages.sh iproute2 iptables curl python3 >/dev/null

work=$(mktemp -d -t hbone-waypoint-demo.XXXXXX)
pids=()
trap mesh_demo_cleanup EXIT
trap 'exit 130' INT TERM

mesh_step "Publishing the ztunnel, the node agent and the CLI (Native AOT); building samples/Waypoint from the packages"
mesh_publish "$work/publish.log"
mesh_build_waypoint "$work/build-waypoint.log"

mesh_step "The lab, with the echo service behind a waypoint at $WAYPOINT (mesh-lab.sh config --waypoint)"
"$LAB" up "$PREFIX"
eval "$("$LAB" env "$PREFIX")"
"$LAB" config "$PREFIX" --waypoint "$WAYPOINT" >"$work/config.yaml"
grep -E 'waypoint|only-waypoint|principals' "$work/config.yaml" | sed 's/^/  /'
ip netns exec "$PREFIX-echo" python3 -u scripts/lab/echo_app.py "$LAB_ECHO_TARGET_PORT" echo >"$work/app-echo.log" 2>&1 &
pids+=($!)
mesh_wait_for_line "$work/app-echo.log" "listening on"

mesh_step "Agents, ztunnels (local config, a development CA) and the waypoint (sa/waypoint, allowing only sa/client)"
"$MESH_HBONE" certs --out "$work/ca" --identity default/waypoint >/dev/null
for node in $LAB_NODES; do
    mesh_start_agent "$PREFIX" "$node" "$work" "$work/agent-$node.log"; pids+=("$MESH_PID")
    mesh_wait_socket "$work/$node/ztunnel.sock" "$MESH_PID" "$work/agent-$node.log"
done
for pod in client echo local-echo; do mesh_enroll "$PREFIX" "$pod" "$work" >/dev/null; done
for node in $LAB_NODES; do
    mesh_start_ztunnel "$PREFIX" "$node" "$work/config.yaml" "$work" "$work/ca" "$work/ztunnel-$node.log"; pids+=("$MESH_PID")
done
for node in $LAB_NODES; do mesh_wait_ready "$PREFIX" "$node" "$work/ztunnel-$node.log"; echo "  $node: ztunnel ready"; done
cat >"$work/waypoint.json" <<EOF
{ "allow": ["spiffe://cluster.local/ns/default/sa/client"],
  "services": [ { "hostname": "echo.default.svc.cluster.local", "vip": "$LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT",
                  "endpoints": [ { "address": "$LAB_POD_ECHO_IP:$LAB_ECHO_TARGET_PORT", "identity": "spiffe://cluster.local/ns/default/sa/echo" } ] } ] }
EOF
ip netns exec "$PREFIX-node-b" dotnet "$MESH_WAYPOINT" "$work/waypoint.json" "$work/ca" waypoint "$WAYPOINT" >"$work/waypoint.log" 2>&1 &
pids+=($!)
mesh_wait_for_line "$work/waypoint.log" "Now listening"
grep '^waypoint:' "$work/waypoint.log" | sed 's/^/  /'

mesh_step "(1) client -> echo VIP: through the waypoint; the app sees the client ($LAB_POD_CLIENT_IP)"
echo "\$ ip netns exec $PREFIX-client curl http://$LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT/"
reply=$(mesh_in_ns "$PREFIX-client" curl -sS --max-time 30 "http://$LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT/")
echo "  $reply"
[[ $reply == *"you are $LAB_POD_CLIENT_IP:"* ]] || { echo "demo-waypoint: the app did not see the client's address" >&2; exit 1; }
mesh_wait_for_line "$work/ztunnel-node-a.log" "dst.addr=$WAYPOINT.*direction=\"outbound\""
echo "-- ztunnel node-a (to the waypoint, expecting its identity)"; grep "dst.addr=$WAYPOINT" "$work/ztunnel-node-a.log" | sed 's/^/  /'
mesh_wait_for_line "$work/waypoint.log" '^peer=.*status=200'
echo "-- waypoint (peer = the client's identity, its own tunnel to the echo pod)"; grep '^peer=.*status=200' "$work/waypoint.log" | sed 's/^/  /'
mesh_wait_for_line "$work/ztunnel-node-b.log" 'sa/waypoint.*direction="inbound"'
echo "-- ztunnel node-b (from the waypoint, delivered as the client)"; grep 'sa/waypoint' "$work/ztunnel-node-b.log" | sed 's/^/  /'

mesh_step "(2) local-echo -> echo VIP: the waypoint's policy refuses sa/local-echo"
echo "\$ ip netns exec $PREFIX-local-echo curl http://$LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT/"
if mesh_in_ns "$PREFIX-local-echo" curl -sS --max-time 10 "http://$LAB_ECHO_VIP:$LAB_ECHO_SERVICE_PORT/" 2>&1 | sed 's/^/  /'; then :; fi
mesh_wait_for_line "$work/waypoint.log" '^peer=.*local-echo.*status=401'
grep '^peer=.*local-echo' "$work/waypoint.log" | sed 's/^/  /'

mesh_step "(3) client -> the echo pod directly ($LAB_POD_ECHO_IP:$LAB_ECHO_TARGET_PORT), skipping the waypoint: denied by echo's policy"
echo "\$ ip netns exec $PREFIX-client curl http://$LAB_POD_ECHO_IP:$LAB_ECHO_TARGET_PORT/"
if mesh_in_ns "$PREFIX-client" curl -sS --max-time 10 "http://$LAB_POD_ECHO_IP:$LAB_ECHO_TARGET_PORT/" 2>&1 | sed 's/^/  /'; then :; fi
mesh_wait_for_line "$work/ztunnel-node-b.log" 'sa/client.*denied'
grep 'sa/client.*denied' "$work/ztunnel-node-b.log" | sed 's/^/  /'

mesh_step "Done: stopping the apps, the waypoint, the ztunnels and agents, removing the lab"
