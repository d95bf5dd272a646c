#!/usr/bin/env bash
# Builds, packs, publishes (the three programs as Native AOT binaries) and tests the whole solution, then prints
# "N passed, N failed[, N skipped]".
# This is the project's test command: CI runs it through .ci/run on a fresh Debian machine.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# --- 1. Debian packages the tests use ---------------------------------------------------------
# python3-h2, nghttp2-client (nghttp), nodejs (Node's http2): independent HTTP/2 peers for the interop tests;
# openssl: certificates made without our code; iproute2/iptables: network namespaces and fault injection;
# curl/socat: baselines and probes (curl is also an interop peer); dnsutils (dig) and dnsmasq: a DNS client and an
# upstream resolver we did not write, for the DNS proxy.
# Nothing installed by hand survives to CI, so install what is missing (CI runs as root).
./scripts/ensure-packages.sh python3-h2 nghttp2-client nodejs openssl iproute2 iptables curl socat dnsutils dnsmasq-base

# The offline checks of deploy/ (tests/Hbone.Packaging.Tests/Deployment) run deploy/validate/validate.mjs: the npm packages
# kubernetes-models (Kubernetes API schema) and dockerfile-utils (Dockerfile lint), at the versions of its package-lock.json.
(cd deploy/validate && npm ci --no-audit --no-fund --loglevel=error)

# --- 2. Build (Directory.Build.props sets TreatWarningsAsErrors) ------------------------------
# nuget.config lists artifacts/packages as a source; restore fails if it does not exist yet.
mkdir -p artifacts/packages
dotnet build Hbone.sln -c Release

# --- 3. Pack the libraries (package validation runs here); packages go to artifacts/packages ---
dotnet pack src/Hbone -c Release --no-build
dotnet pack src/Hbone.Kestrel -c Release --no-build
dotnet pack src/Hbone.Istio -c Release --no-build

# --- 3b. Samples consume the packed packages, as a user's project would. A private package cache makes
# sure the packages just packed are used, not an older build of the same version cached from a previous run.
rm -rf artifacts/samples-nuget
for sample in samples/Client samples/Gateway samples/ControlPlane samples/Waypoint; do
    NUGET_PACKAGES="$PWD/artifacts/samples-nuget" dotnet build "$sample" -c Release
done

# --- 3c. The ztunnel, its node agent and the CLI as Native AOT binaries (artifacts/publish/<name>/<name>): the
# end-to-end tests and the demo run these, as a user would. publish.sh installs the C toolchain it links with.
./scripts/publish.sh

# --- 4. Test -----------------------------------------------------------------------------------
# TRX files give exact counts for the summary; the hang timeout turns a stuck test into a dump and
# a failure instead of eating CI's time limit. Old results are removed so they are not counted.
results=artifacts/test-results
rm -rf "$results"
test_status=0
dotnet test Hbone.sln -c Release --no-build \
    --logger "console;verbosity=normal" \
    --logger trx \
    --results-directory "$results" \
    --blame-hang-timeout 5m || test_status=$?

# --- 5. Summary: sum the <Counters> of every TRX file --------------------------------------------
summary_status=0
python3 - "$results" <<'PY' || summary_status=$?
import glob, sys, xml.etree.ElementTree as ET

files = glob.glob(f"{sys.argv[1]}/**/*.trx", recursive=True)
if not files:
    print("0 passed, 0 failed (no TRX results: the test run did not complete)")
    sys.exit(1)
passed = failed = skipped = 0
for path in files:
    counters = next(e for e in ET.parse(path).iter() if e.tag.endswith("Counters")).attrib
    count = lambda name: int(counters.get(name, 0))
    passed += count("passed")
    failed += count("failed") + count("error") + count("timeout") + count("aborted")
    skipped += count("notExecuted")
# Name each failed test with the first line of its message, so a CI log that keeps only its tail still says what failed.
for path in files:
    for result in ET.parse(path).iter():
        if result.tag.endswith("UnitTestResult") and result.get("outcome") not in ("Passed", "NotExecuted"):
            message = next((e.text or "" for e in result.iter() if e.tag.endswith("Message")), "")
            print(f"FAILED {result.get('testName')}: {message.strip().splitlines()[0] if message.strip() else '(no message)'}"[:400])
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
PY

# A crash or hang abort may leave counters that look clean: trust dotnet test's exit code too.
if ((test_status != 0 || summary_status != 0)); then
    exit 1
fi
