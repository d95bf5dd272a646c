# Shared steps for scripts that run the reference ztunnel in the mesh lab (scripts/demo.sh,
# benchmarks/tunnel/run.sh): a node agent and a ztunnel per node, pod enrollment, bounded readiness waits.
# Source it from the repository root after `eval "$(scripts/lab/mesh-lab.sh env PREFIX)"`; needs root.
# Starters run the program in the background and set MESH_PID (the dotnet process: `ip netns exec` and
# `env` exec it); the caller records it and stops it. Waits return 1 with the log's tail on stderr.

MESH_ZTUNNEL=src/Hbone.Ztunnel/bin/Release/net10.0/Hbone.Ztunnel.dll
MESH_CNI=src/Hbone.Ztunnel.Cni/bin/Release/net10.0/Hbone.Ztunnel.Cni.dll
MESH_HBONE=src/Hbone.Cli/bin/Release/net10.0/Hbone.Cli.dll

# mesh_start_agent PREFIX NODE DIR LOG: the node agent (ZDS server) on DIR/NODE/ztunnel.sock, pod files in DIR/NODE/pods.
mesh_start_agent() {
    local prefix=$1 node=$2 dir=$3 log=$4
    mkdir -p "$dir/$node/pods"
    ip netns exec "$prefix-$node" dotnet "$MESH_CNI" agent --socket "$dir/$node/ztunnel.sock" --pods-dir "$dir/$node/pods" \
        >"$log" 2>&1 &
    MESH_PID=$!
}

# mesh_wait_socket SOCKET PID LOG: bounded (30 s) wait for the agent's socket while the agent stays alive.
mesh_wait_socket() {
    local socket=$1 pid=$2 log=$3
    for _ in $(seq 1 150); do
        [[ -S $socket ]] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    [[ -S $socket ]] && return 0
    echo "mesh-lib: no agent socket $socket:" >&2; tail -n 30 "$log" >&2; return 1
}

# mesh_enroll PREFIX POD DIR: in-pod iptables rules and a pod file in DIR/<pod's node>/pods.
mesh_enroll() {
    local prefix=$1 pod=$2 dir=$3 key node_var uid_var
    key=$(echo "$pod" | tr 'a-z-' 'A-Z_'); node_var=LAB_POD_${key}_NODE uid_var=LAB_POD_${key}_UID
    dotnet "$MESH_CNI" enroll --netns "$prefix-$pod" --pods-dir "$dir/${!node_var}/pods" --uid "${!uid_var}" \
        --name "$pod" --namespace default --service-account "$pod"
}

# mesh_start_ztunnel PREFIX NODE CONFIG DIR CA_DIR LOG [NAME=VALUE...]: the ztunnel of NODE (stdout in LOG,
# stderr in LOG.err); extra environment (e.g. DOTNET_gcServer=0) is passed through.
mesh_start_ztunnel() {
    local prefix=$1 node=$2 config=$3 dir=$4 ca=$5 log=$6
    shift 6
    ip netns exec "$prefix-$node" env LOCAL_XDS_PATH="$config" NODE_NAME="$node" INPOD_UDS="$dir/$node/ztunnel.sock" \
        CA_ROOT_CERT="$ca/ca.pem" CA_ROOT_KEY="$ca/ca.key" "$@" \
        dotnet "$MESH_ZTUNNEL" >"$log" 2>"$log.err" &
    MESH_PID=$!
}

# mesh_wait_ready PREFIX NODE LOG: bounded (60 s) wait for 200 on /healthz/ready inside the node's namespace.
mesh_wait_ready() {
    local prefix=$1 node=$2 log=$3
    for _ in $(seq 1 300); do
        ip netns exec "$prefix-$node" curl -fsS --max-time 1 http://127.0.0.1:15021/healthz/ready >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "mesh-lib: the ztunnel of $node is not ready after 60 s:" >&2; tail -n 30 "$log" "$log.err" >&2; return 1
}
