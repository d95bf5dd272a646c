#!/usr/bin/env bash
# The network lab shared by the ztunnel's end-to-end tests and the demo: two "nodes" and four "pods",
# each a network namespace, wired the way Calico wires a cluster (routed, no bridge):
#
#   PREFIX-client     10.244.1.2 ─┐                              ┌─ 10.244.2.2  PREFIX-echo
#   PREFIX-local-echo 10.244.1.3 ─┤ PREFIX-node-a ══ PREFIX-node-b ├─ 10.244.2.9  PREFIX-outsider
#                                 192.168.254.1   eth0   192.168.254.2
#
# Dual-stack: every pod also has fd00:10:244:N::M (from its IPv4 10.244.N.M), the nodes fd00:192:168:254::1 and ::2,
# and the echo service the VIP fd00:10:96::10 beside 10.96.0.10.
# A pod has eth0 with its IP /32 and a default route via the link-scope gateway 169.254.1.1; the node side
# of its veth has no IPv4 address, answers ARP for the gateway at once (proxy_arp, proxy_delay=0) and holds a
# /32 host route to the pod. For IPv6 the node side of the veth carries fe80::1, the pod's default route.
# Duplicate address detection is off in every namespace, so IPv6 addresses work at once.
# Each node routes the other node's pod CIDR over the node-to-node veth. Links are created directly in their
# namespaces, so their names only need to be unique inside one namespace and labs with different prefixes
# never collide. rp_filter is off everywhere: spoofed-source (IP_TRANSPARENT) traffic and asymmetric paths
# are normal here.
#
# Usage: mesh-lab.sh up|down|config|env|veth PREFIX [POD]
#   up PREFIX      create the lab (an existing lab with the same prefix is removed first)
#   down PREFIX    remove every namespace of the lab (missing ones are ignored)
#   config PREFIX [--waypoint IP:PORT]
#                  print the ztunnel local config (LOCAL_XDS_PATH) for this topology; with --waypoint, the echo
#                  service is sent to a waypoint listening on IP:PORT (workload "waypoint", identity sa/waypoint, at
#                  IP), and echo accepts only the waypoint's identity (an ALLOW policy, as Istio users write it)
#   env PREFIX     print the lab's names and numbers as KEY='value' lines (eval them; tests read them)
#   veth PREFIX POD  print the node-side veth name of POD
set -euo pipefail

# --- The topology: tests and the demo read these through `env`. --------------------------------
NODES=(node-a node-b)
NODE_A_IP=192.168.254.1
NODE_B_IP=192.168.254.2
NODE_PREFIX_LEN=24
NODE_A_IP6=fd00:192:168:254::1
NODE_B_IP6=fd00:192:168:254::2
NODE_A_POD_CIDR=10.244.1.0/24
NODE_B_POD_CIDR=10.244.2.0/24
NODE_A_POD_CIDR6=fd00:10:244:1::/64
NODE_B_POD_CIDR6=fd00:10:244:2::/64
POD_GATEWAY=169.254.1.1
POD_GATEWAY6=fe80::1
# name:ip:node:mesh (mesh = HBONE workload enrolled in the mesh; tcp = plain workload, not captured)
PODS=(
    "client:10.244.1.2:node-a:mesh"
    "echo:10.244.2.2:node-b:mesh"
    "local-echo:10.244.1.3:node-a:mesh"
    "outsider:10.244.2.9:node-b:tcp"
)
ECHO_VIP=10.96.0.10
ECHO_VIP6=fd00:10:96::10
ECHO_SERVICE_PORT=80
ECHO_TARGET_PORT=8080
CLUSTER=cluster1
NAMESPACE=default
TRUST_DOMAIN=cluster.local

die() { echo "mesh-lab: $*" >&2; exit 1; }

# The IPv6 address of a pod: 10.244.N.M -> fd00:10:244:N::M.
ip6_of() { local a b c d; IFS=. read -r a b c d <<<"$1"; printf 'fd00:%s:%s:%s::%s' "$a" "$b" "$c" "$d"; }

# Node-side veth of a pod: "cali" + 11 hex digits of the pod name's SHA-1 (15 characters, the kernel's limit).
veth_of() { printf 'cali%s' "$(printf '%s' "$1" | sha1sum | cut -c1-11)"; }

pod_field() { # pod_field NAME INDEX(1=ip 2=node 3=mesh)
    local entry
    for entry in "${PODS[@]}"; do
        IFS=: read -r name ip node mesh <<<"$entry"
        if [[ $name == "$1" ]]; then
            case $2 in 1) echo "$ip" ;; 2) echo "$node" ;; 3) echo "$mesh" ;; esac
            return 0
        fi
    done
    die "unknown pod '$1'"
}

netns_names() { # every namespace the lab owns, nodes last (pods' veths die with their own namespace)
    local prefix=$1 entry
    for entry in "${PODS[@]}"; do echo "$prefix-${entry%%:*}"; done
    for node in "${NODES[@]}"; do echo "$prefix-$node"; done
}

sysctls_off() { # sysctls_off NETNS: no reverse-path filtering and no IPv6 duplicate address detection in this namespace
    ip netns exec "$1" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
        net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

cmd_down() {
    local prefix=$1 ns
    while read -r ns; do
        ip netns del "$ns" 2>/dev/null || true
    done < <(netns_names "$prefix")
}

cmd_up() {
    local prefix=$1
    [[ $(id -u) -eq 0 ]] || die "needs root (ip netns, veth)"
    cmd_down "$prefix"
    trap 'cmd_down "$prefix"' ERR

    local ns node
    while read -r ns; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        sysctls_off "$ns"
    done < <(netns_names "$prefix")

    # Nodes: one veth between them, forwarding on, a route to the other node's pods.
    local a=$prefix-node-a b=$prefix-node-b
    ip link add eth0 netns "$a" type veth peer name eth0 netns "$b"
    ip -n "$a" addr add "$NODE_A_IP/$NODE_PREFIX_LEN" dev eth0
    ip -n "$b" addr add "$NODE_B_IP/$NODE_PREFIX_LEN" dev eth0
    ip -n "$a" -6 addr add "$NODE_A_IP6/64" dev eth0 nodad
    ip -n "$b" -6 addr add "$NODE_B_IP6/64" dev eth0 nodad
    for node in "$a" "$b"; do
        ip -n "$node" link set eth0 up
        ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.eth0.rp_filter=0 net.ipv6.conf.all.forwarding=1
        # The pods' gateway must be routable (unicast, not via the pod's veth) for proxy_arp to answer for it.
        ip -n "$node" route add "$POD_GATEWAY/32" dev lo
    done
    ip -n "$a" route add "$NODE_B_POD_CIDR" via "$NODE_B_IP" dev eth0
    ip -n "$b" route add "$NODE_A_POD_CIDR" via "$NODE_A_IP" dev eth0
    ip -n "$a" -6 route add "$NODE_B_POD_CIDR6" via "$NODE_B_IP6" dev eth0
    ip -n "$b" -6 route add "$NODE_A_POD_CIDR6" via "$NODE_A_IP6" dev eth0

    # Pods: eth0 with the pod IP /32 and a default route via the link-scope gateway; node side proxy-ARPs.
    local entry name ip pod_node mesh pod veth
    for entry in "${PODS[@]}"; do
        IFS=: read -r name ip pod_node mesh <<<"$entry"
        pod=$prefix-$name node=$prefix-$pod_node veth=$(veth_of "$name")
        ip link add "$veth" netns "$node" type veth peer name eth0 netns "$pod"
        ip -n "$node" link set "$veth" up
        ip netns exec "$node" sysctl -qw "net.ipv4.conf.$veth.proxy_arp=1" "net.ipv4.conf.$veth.rp_filter=0" \
            "net.ipv4.neigh.$veth.proxy_delay=0"
        ip -n "$node" -6 addr add "$POD_GATEWAY6/64" dev "$veth" nodad
        ip -n "$node" route add "$ip/32" dev "$veth"
        ip -n "$node" -6 route add "$(ip6_of "$ip")/128" dev "$veth"
        ip -n "$pod" addr add "$ip/32" dev eth0
        ip -n "$pod" -6 addr add "$(ip6_of "$ip")/128" dev eth0 nodad
        ip -n "$pod" link set eth0 up
        ip netns exec "$pod" sysctl -qw net.ipv4.conf.eth0.rp_filter=0
        ip -n "$pod" route add "$POD_GATEWAY/32" dev eth0 scope link
        ip -n "$pod" route add default via "$POD_GATEWAY" dev eth0
        ip -n "$pod" -6 route add default via "$POD_GATEWAY6" dev eth0
    done
    trap - ERR
}

# One KEY='value' line, safe to eval in bash (values never contain a quote).
kv() { printf "%s='%s'\n" "$1" "$2"; }

cmd_env() {
    local prefix=$1 entry name ip node mesh key
    kv "LAB_PREFIX" "$prefix"
    kv "LAB_NODES" "${NODES[*]}"
    kv "LAB_NODE_A_NETNS" "$prefix-node-a"
    kv "LAB_NODE_B_NETNS" "$prefix-node-b"
    kv "LAB_NODE_A_IP" "$NODE_A_IP"
    kv "LAB_NODE_B_IP" "$NODE_B_IP"
    kv "LAB_NODE_A_POD_CIDR" "$NODE_A_POD_CIDR"
    kv "LAB_NODE_B_POD_CIDR" "$NODE_B_POD_CIDR"
    kv "LAB_POD_GATEWAY" "$POD_GATEWAY"
    kv "LAB_ECHO_VIP" "$ECHO_VIP"
    kv "LAB_ECHO_VIP6" "$ECHO_VIP6"
    kv "LAB_NODE_A_IP6" "$NODE_A_IP6"
    kv "LAB_NODE_B_IP6" "$NODE_B_IP6"
    kv "LAB_ECHO_SERVICE_PORT" "$ECHO_SERVICE_PORT"
    kv "LAB_ECHO_TARGET_PORT" "$ECHO_TARGET_PORT"
    local names=()
    for entry in "${PODS[@]}"; do
        IFS=: read -r name ip node mesh <<<"$entry"
        names+=("$name")
        key=$(echo "$name" | tr 'a-z-' 'A-Z_')
        kv "LAB_POD_${key}_IP" "$ip"
        kv "LAB_POD_${key}_IP6" "$(ip6_of "$ip")"
        kv "LAB_POD_${key}_NODE" "$node"
        kv "LAB_POD_${key}_NETNS" "$prefix-$name"
        kv "LAB_POD_${key}_VETH" "$(veth_of "$name")"
        kv "LAB_POD_${key}_MESH" "$mesh"
        kv "LAB_POD_${key}_UID" "$CLUSTER//v1/Pod/$NAMESPACE/$name"
    done
    kv "LAB_PODS" "${names[*]}"
}

cmd_config() {
    local waypoint=${1:-} entry name ip node mesh
    echo "# ztunnel local config for the mesh lab (scripts/lab/mesh-lab.sh); LOCAL_XDS_PATH points here."
    echo "workloads:"
    for entry in "${PODS[@]}"; do
        IFS=: read -r name ip node mesh <<<"$entry"
        cat <<EOF
- uid: $CLUSTER//v1/Pod/$NAMESPACE/$name
  name: $name
  namespace: $NAMESPACE
  serviceAccount: $name
  workloadIps: ["$ip", "$(ip6_of "$ip")"]
  protocol: $([[ $mesh == mesh ]] && echo HBONE || echo TCP)
  node: $node
EOF
        if [[ $name == echo ]]; then
            echo "  services: { \"$NAMESPACE/echo.$NAMESPACE.svc.$TRUST_DOMAIN\": { $ECHO_SERVICE_PORT: $ECHO_TARGET_PORT } }"
            [[ -z $waypoint ]] || echo "  labels: { app: echo }"
        fi
    done
    if [[ -n $waypoint ]]; then
        cat <<EOF
- uid: $CLUSTER//v1/Pod/$NAMESPACE/waypoint
  name: waypoint
  namespace: $NAMESPACE
  serviceAccount: waypoint
  workloadIps: ["${waypoint%:*}"]
  protocol: HBONE
  node: node-b
EOF
    fi
    cat <<EOF
services:
- name: echo
  namespace: $NAMESPACE
  hostname: echo.$NAMESPACE.svc.$TRUST_DOMAIN
  vips: ["/$ECHO_VIP", "/$ECHO_VIP6"]
  ports: { $ECHO_SERVICE_PORT: $ECHO_TARGET_PORT }
  subjectAltNames: ["spiffe://$TRUST_DOMAIN/ns/$NAMESPACE/sa/echo"]
EOF
    if [[ -z $waypoint ]]; then
        echo "policies: []"
        return
    fi
    cat <<EOF
  waypoint: { destination: "/${waypoint%:*}", hboneMtlsPort: ${waypoint##*:} }
policies:
- name: only-waypoint
  namespace: $NAMESPACE
  scope: WorkloadSelector
  selector: { labels: { app: echo } }
  action: Allow
  rules: [[[ { principals: ["$TRUST_DOMAIN/ns/$NAMESPACE/sa/waypoint"] } ]]]
EOF
}

usage() { sed -n '/^# Usage:/,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

(($# >= 2)) || usage
command=$1 prefix=$2
[[ $prefix =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || die "prefix must be lowercase letters, digits and '-' (at most 31)"
case $command in
    up) cmd_up "$prefix" ;;
    down) cmd_down "$prefix" ;;
    config)
        case ${3:-} in
            "") cmd_config ;;
            --waypoint) [[ ${4:-} =~ ^[0-9.]+:[0-9]+$ ]] || die "--waypoint needs IPv4:PORT"; cmd_config "$4" ;;
            *) usage ;;
        esac ;;
    env) cmd_env "$prefix" ;;
    veth) (($# == 3)) || usage; pod_field "$3" 1 >/dev/null; veth_of "$3"; echo ;;
    *) usage ;;
esac
