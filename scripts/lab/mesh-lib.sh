# Shared steps for scripts that run the reference ztunnel in the mesh lab (scripts/demo.sh,
# benchmarks/tunnel/run.sh): a node agent and a ztunnel per node, pod enrollment, bounded readiness waits.
# Source it from the repository root after `eval "$(scripts/lab/mesh-lab.sh env PREFIX)"`; needs root.
# The ztunnel, the node agent and the CLI are the Native AOT binaries of scripts/publish.sh (mesh_publish); the
# development control plane is a dotnet program (mesh_build_control_plane).
# Starters run the program in the background and set MESH_PID (the program's process: `ip netns exec` and
# `env` exec it); the caller records it and stops it. Waits return 1 with the log's tail on stderr.

MESH_ZTUNNEL=artifacts/publish/hbone-ztunnel/hbone-ztunnel
MESH_CNI=artifacts/publish/hbone-ztunnel-cni/hbone-ztunnel-cni
MESH_HBONE=artifacts/publish/hbone/hbone
MESH_CONTROL_PLANE=samples/ControlPlane/bin/Release/net10.0/controlplane.dll
MESH_CONTROL_PLANE_PORT=15012

# mesh_publish LOG: publishes the ztunnel, the node agent and the CLI (scripts/publish.sh: minutes the first time,
# nothing when the binaries are newer than the sources); the log is shown on failure.
mesh_publish() {
    local log=$1
    ./scripts/publish.sh >"$log" 2>&1 || { cat "$log" >&2; return 1; }
}

# mesh_stop_pids SECONDS PID...: SIGTERM, up to SECONDS (polled every 0.1 s) for them to exit, then SIGKILL.
mesh_stop_pids() {
    local seconds=$1 pid
    shift
    (($# == 0)) && return 0
    for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 $((seconds * 10))); do
        local alive=0
        for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || return 0
        sleep 0.1
    done
    for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; done
}

# mesh_build_sample LOG SAMPLE PACKAGE...: packs the PACKAGEs (src/<name>) and builds samples/SAMPLE from them, as a
# user's project would (a private package cache, so the packages just packed are the ones used).
mesh_build_sample() {
    local log=$1 sample=$2 package
    shift 2
    mkdir -p artifacts/packages
    # A subshell, so a failed pack ends only the build and the log is still shown.
    (
        for package in "$@"; do dotnet pack "src/$package" -c Release -v quiet -nologo || exit 1; done
        NUGET_PACKAGES="$PWD/artifacts/samples-nuget" dotnet build "samples/$sample" -c Release -v quiet -nologo
    ) >"$log" 2>&1 || { cat "$log" >&2; return 1; }
}

# mesh_build_control_plane LOG: the development istiod (samples/ControlPlane) on Hbone and Hbone.Istio.
mesh_build_control_plane() { mesh_build_sample "$1" ControlPlane Hbone Hbone.Istio; }

# mesh_build_waypoint LOG: the waypoint sample (samples/Waypoint) on Hbone and Hbone.Kestrel.
MESH_WAYPOINT=samples/Waypoint/bin/Release/net10.0/Waypoint.dll
mesh_build_waypoint() { mesh_build_sample "$1" Waypoint Hbone Hbone.Kestrel; }

# mesh_start_control_plane PREFIX CONFIG CA_DIR DIR LOG: the development istiod (samples/ControlPlane) in node-a's
# namespace on LAB_NODE_A_IP:15012, serving xDS from CONFIG and certificates from the CA in CA_DIR; each node
# authenticates with the token in DIR/<node>/istio-token.
mesh_start_control_plane() {
    local prefix=$1 config=$2 ca=$3 dir=$4 log=$5 node tokens=()
    for node in $LAB_NODES; do
        mkdir -p "$dir/$node"
        head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$dir/$node/istio-token"
        tokens+=(--node-token "$node=$(cat "$dir/$node/istio-token")")
    done
    ip netns exec "$prefix-node-a" dotnet "$MESH_CONTROL_PLANE" --listen "$LAB_NODE_A_IP:$MESH_CONTROL_PLANE_PORT" \
        --config "$config" --ca-cert "$ca/ca.pem" --ca-key "$ca/ca.key" "${tokens[@]}" >"$log" 2>&1 &
    MESH_PID=$!
}

# mesh_wait_control_plane PREFIX PID LOG: bounded (60 s) wait until the control plane accepts TCP on its port.
mesh_wait_control_plane() {
    local prefix=$1 pid=$2 log=$3
    for _ in $(seq 1 300); do
        ip netns exec "$prefix-node-b" bash -c "exec 3<>/dev/tcp/$LAB_NODE_A_IP/$MESH_CONTROL_PLANE_PORT" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    echo "mesh-lib: the control plane is not listening on $LAB_NODE_A_IP:$MESH_CONTROL_PLANE_PORT:" >&2; tail -n 30 "$log" >&2; return 1
}

# mesh_start_agent PREFIX NODE DIR LOG: the node agent (ZDS server) on DIR/NODE/ztunnel.sock, pod files in DIR/NODE/pods.
mesh_start_agent() {
    local prefix=$1 node=$2 dir=$3 log=$4
    mkdir -p "$dir/$node/pods"
    ip netns exec "$prefix-$node" "$MESH_CNI" agent --socket "$dir/$node/ztunnel.sock" --pods-dir "$dir/$node/pods" \
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
    "$MESH_CNI" enroll --netns "$prefix-$pod" --pods-dir "$dir/${!node_var}/pods" --uid "${!uid_var}" \
        --name "$pod" --namespace default --service-account "$pod"
}

# mesh_start_ztunnel PREFIX NODE CONFIG DIR CA_DIR LOG [NAME=VALUE...]: the ztunnel of NODE (stdout in LOG,
# stderr in LOG.err); extra environment (e.g. DOTNET_gcServer=0) is passed through.
mesh_start_ztunnel() {
    local prefix=$1 node=$2 config=$3 dir=$4 ca=$5 log=$6
    shift 6
    ip netns exec "$prefix-$node" env LOCAL_XDS_PATH="$config" NODE_NAME="$node" INPOD_UDS="$dir/$node/ztunnel.sock" \
        CA_ROOT_CERT="$ca/ca.pem" CA_ROOT_KEY="$ca/ca.key" "$@" \
        "$MESH_ZTUNNEL" >"$log" 2>"$log.err" &
    MESH_PID=$!
}

# mesh_start_ztunnel_istiod PREFIX NODE CA_DIR DIR LOG [NAME=VALUE...]: the ztunnel of NODE configured as in a
# cluster: workloads, services and policies over xDS and every pod certificate from the control plane's CA, trusting
# the mesh root CA_DIR/ca.pem and authenticating with DIR/NODE/istio-token (re-read on every call).
mesh_start_ztunnel_istiod() {
    local prefix=$1 node=$2 ca=$3 dir=$4 log=$5
    shift 5
    ip netns exec "$prefix-$node" env XDS_ADDRESS="https://$LAB_NODE_A_IP:$MESH_CONTROL_PLANE_PORT" XDS_ROOT_CA="$ca/ca.pem" \
        CA_ROOT_CA="$ca/ca.pem" AUTH_TOKEN="$dir/$node/istio-token" NODE_NAME="$node" POD_NAME="ztunnel-$node" \
        POD_NAMESPACE=istio-system INSTANCE_IP="$(ip -n "$prefix-$node" -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)" \
        INPOD_UDS="$dir/$node/ztunnel.sock" "$@" \
        "$MESH_ZTUNNEL" >"$log" 2>"$log.err" &
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

# --- Demo helpers: the demo scripts set PREFIX, work (a temporary directory) and pids (what they started). --------
mesh_step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
mesh_in_ns() { ip netns exec "$1" "${@:2}"; }

# mesh_wait_for_line FILE PATTERN: bounded (30 s) wait until FILE has a line matching PATTERN (grep -E).
mesh_wait_for_line() {
    local file=$1 pattern=$2
    for _ in $(seq 1 150); do grep -qE "$pattern" "$file" 2>/dev/null && return 0; sleep 0.2; done
    echo "${0##*/}: timed out waiting for '$pattern' in $file:" >&2; tail -n 30 "$file" >&2; return 1
}

# mesh_demo_cleanup: the EXIT trap of a demo: stops "${pids[@]}" (SIGTERM, 10 s bounded, then SIGKILL), removes the
# lab PREFIX, and removes $work unless KEEP=1 or the demo failed.
mesh_demo_cleanup() {
    local status=$? pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    scripts/lab/mesh-lab.sh down "$PREFIX" || true
    if [[ ${KEEP:-0} == 1 || $status -ne 0 ]]; then echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
