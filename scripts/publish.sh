#!/usr/bin/env bash
# Publishes the ztunnel, its node agent and the CLI as Native AOT binaries for linux-x64:
#   artifacts/publish/hbone-ztunnel/hbone-ztunnel, artifacts/publish/hbone-ztunnel-cni/hbone-ztunnel-cni,
#   artifacts/publish/hbone/hbone
# and prints each binary's size and the publish time. Warnings are errors (Directory.Build.props), trim and AOT
# warnings included. Usage: scripts/publish.sh [program ...]  (names as above; default: all three).
# A binary newer than every input (anything under src/ but bin/ and obj/, the repository's build files, this script)
# is up to date and not published again; FORCE=1 publishes anyway.
# Exit codes: 0 published (or up to date), 1 a publish failed, 2 an unknown program.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The ILCompiler links with clang, or gcc when clang is missing, and strips with objcopy: gcc brings binutils and
# libc6-dev. zlib1g-dev is not needed: the NativeAOT runtime pack carries its own libz.a (UseSystemZlib=false).
if ! command -v clang >/dev/null && ! command -v gcc >/dev/null; then
    ./scripts/ensure-packages.sh gcc
fi

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi

declare -A projects=([hbone-ztunnel]=Hbone.Ztunnel [hbone-ztunnel-cni]=Hbone.Ztunnel.Cni [hbone]=Hbone.Cli)
names=("$@")
((${#names[@]} > 0)) || names=(hbone-ztunnel hbone-ztunnel-cni hbone)

for name in "${names[@]}"; do
    [[ -n ${projects[$name]:-} ]] || { echo "publish.sh: unknown program '$name' (hbone-ztunnel, hbone-ztunnel-cni, hbone)" >&2; exit 2; }
done

# up_to_date BINARY: the binary exists and no input is newer (directories count: a file removed or renamed).
inputs=(src Directory.Build.props Directory.Packages.props global.json nuget.config scripts/publish.sh)
up_to_date() {
    [[ ${FORCE:-0} != 1 && -f $1 ]] &&
        [[ -z $(find "${inputs[@]}" \( -name bin -o -name obj \) -prune -o -newer "$1" -print -quit) ]]
}

mkdir -p artifacts/packages   # nuget.config lists it as a source; restore fails if it does not exist yet
for name in "${names[@]}"; do
    project=${projects[$name]}
    out=artifacts/publish/$name
    if up_to_date "$out/$name"; then
        echo "$name: up to date"
        continue
    fi
    rm -rf "$out"
    start=$SECONDS
    dotnet publish "src/$project" -c Release -r linux-x64 -p:PublishAot=true -o "$out" -nologo
    # The native binary takes the assembly's name; the command's name is the one users type. Its symbols stay in
    # $project.dbg, the name its .gnu_debuglink gives gdb and perf. The libraries' .pdb/.xml are of no use to it.
    mv "$out/$project" "$out/$name"
    rm -f "$out"/*.pdb "$out"/*.xml
    echo "$name: published in $((SECONDS - start)) s"
done

echo
for name in "${names[@]}"; do
    bytes=$(stat -c %s "artifacts/publish/$name/$name")
    awk -v n="$name" -v b="$bytes" 'BEGIN { printf "%-18s %5.1f MiB (%d bytes)  artifacts/publish/%s/%s\n", n, b / 1048576, b, n, n }'
done
