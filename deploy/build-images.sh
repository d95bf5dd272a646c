#!/usr/bin/env bash
# Builds the two images the manifests run, from the Native AOT binaries (published first by scripts/publish.sh):
#   localhost/hbone-ztunnel:dev     deploy/images/ztunnel/Dockerfile
#   localhost/hbone-node-agent:dev  deploy/images/node-agent/Dockerfile
# with docker (when its engine answers), else buildah (daemonless; BUILDAH_ISOLATION=chroot and STORAGE_DRIVER=vfs
# where overlay mounts are not allowed), else podman.
# Environment: TAG (dev), ZTUNNEL_BASE_IMAGE, NODE_AGENT_BASE_IMAGE (the Dockerfiles' BASE_IMAGE defaults).
# Exit codes: 0 built, 1 a publish or build failed, 2 no container builder.
set -euo pipefail
script=$(readlink -f "${BASH_SOURCE[0]}")
cd "$(dirname "$script")/.."

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,8p' "$script" | sed 's/^# \{0,1\}//'
    exit 0
fi

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    builder=(docker build)
elif command -v buildah >/dev/null; then
    # buildah reads BUILDAH_ISOLATION itself, but takes the storage driver only as an option.
    builder=(buildah ${STORAGE_DRIVER:+--storage-driver "$STORAGE_DRIVER"} bud)
elif command -v podman >/dev/null; then
    builder=(podman build)
else
    echo "build-images.sh: no container builder: install docker (with a running engine), buildah or podman" >&2
    exit 2
fi

./scripts/publish.sh hbone-ztunnel hbone-ztunnel-cni

tag=${TAG:-dev}
# build IMAGE DOCKERFILE BASE_IMAGE: the repository root is the context, as the Dockerfiles' COPY paths expect.
build() {
    local base_arg=()
    [[ -n $3 ]] && base_arg=(--build-arg "BASE_IMAGE=$3")
    "${builder[@]}" "${base_arg[@]}" -f "$2" -t "$1:$tag" .
}
build localhost/hbone-ztunnel deploy/images/ztunnel/Dockerfile "${ZTUNNEL_BASE_IMAGE:-}"
build localhost/hbone-node-agent deploy/images/node-agent/Dockerfile "${NODE_AGENT_BASE_IMAGE:-}"
echo "built localhost/hbone-ztunnel:$tag and localhost/hbone-node-agent:$tag with ${builder[0]}"
