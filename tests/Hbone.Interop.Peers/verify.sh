#!/bin/bash
# Smoke check of a peer server with the python3-h2 client: echo, 5 MB byte-exact, 20 concurrent, 400, 503, upstream RST.
# usage: verify.sh python|node CERT_DIR   (CERT_DIR holds ca.pem, server.pem/.key, client.pem/.key)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT="$HERE/../Hbone.Kestrel.Tests/Interop/hbone_h2_client.py"
KIND=$1; C=$2
WORK=$(mktemp -d /tmp/hbone-peer-verify.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
wait_line() { for _ in $(seq 100); do grep -q "listening on" "$1" 2>/dev/null && { awk '/listening on/{print $3; exit}' "$1"; return; }; sleep 0.2; done; echo "no listening line in $1" >&2; exit 1; }
case $KIND in
  python) /usr/bin/python3 "$HERE/h2_hbone_server.py" --listen 127.0.0.1:0 --cert $C/server.pem --key $C/server.key --ca $C/ca.pem >"$WORK/srv.out" 2>"$WORK/srv.err" & ;;
  node) node "$HERE/node_hbone_server.js" --listen 127.0.0.1:0 --cert $C/server.pem --key $C/server.key --ca $C/ca.pem >"$WORK/srv.out" 2>"$WORK/srv.err" & ;;
  *) echo "usage: $0 python|node CERT_DIR" >&2; exit 1 ;;
esac
PIDS+=($!)
/usr/bin/python3 "$HERE/tcp_upstream.py" >"$WORK/echo.out" 2>"$WORK/echo.err" & PIDS+=($!)
/usr/bin/python3 "$HERE/tcp_upstream.py" --mode reset --reset-after 10 >"$WORK/rst.out" 2>"$WORK/rst.err" & PIDS+=($!)
SRV=$(wait_line "$WORK/srv.out"); ECHO=$(wait_line "$WORK/echo.out"); RST=$(wait_line "$WORK/rst.out")
client() { timeout 60 /usr/bin/python3 "$CLIENT" --server "$SRV" --cert $C/client.pem --key $C/client.key --ca $C/ca.pem "$@"; }
FAIL=0
check() { if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected $3, got $2"; FAIL=1; fi; }

head -c 5242880 /dev/urandom >"$WORK/5mb.bin"
client --authority "$ECHO" --stdin <"$WORK/5mb.bin" >"$WORK/5mb.out" 2>"$WORK/5mb.err"; rc=$?
check "5 MiB round trip exit" $rc 0
check "5 MiB round trip bytes" "$(sha256sum <"$WORK/5mb.out")" "$(sha256sum <"$WORK/5mb.bin")"

head -c 1048576 /dev/urandom >"$WORK/1mb.bin"
for i in $(seq 20); do client --authority "$ECHO" --stdin <"$WORK/1mb.bin" >"$WORK/c$i.out" 2>"$WORK/c$i.err" & done
wait_ok=0; for j in $(jobs -p); do case " ${PIDS[*]} " in *" $j "*) ;; *) wait "$j" || wait_ok=1;; esac; done
same=0; for i in $(seq 20); do cmp -s "$WORK/c$i.out" "$WORK/1mb.bin" && same=$((same+1)); done
check "20 concurrent 1 MiB tunnels exit" $wait_ok 0
check "20 concurrent 1 MiB tunnels byte-exact" $same 20

client --stdin </dev/null >/dev/null 2>"$WORK/400.err"; rc=$?
if [ "$KIND" = node ]; then  # nghttp2 rejects a CONNECT without :authority as malformed before the app sees it
  check "missing :authority -> RST PROTOCOL_ERROR (nghttp2)" "$(grep -o 'reset=[0-9]*' "$WORK/400.err")" reset=1
else
  check "missing :authority -> exit 2" $rc 2; check "missing :authority -> 400" "$(grep -o 'status=[0-9]*' "$WORK/400.err")" status=400
fi
client --method GET --authority "$ECHO" --header ":scheme:https" --header ":path:/" --stdin </dev/null >/dev/null 2>"$WORK/405.err"; rc=$?
check "GET -> 400" "$(grep -o 'status=[0-9]*' "$WORK/405.err")" status=400
client --authority 127.0.0.1:1 --stdin </dev/null >/dev/null 2>"$WORK/503.err"; rc=$?
check "refused upstream -> 503" "$(grep -o 'status=[0-9]*' "$WORK/503.err")" status=503
client --authority "$ECHO" --header ":path:/" --header ":scheme:https" --stdin </dev/null >/dev/null 2>"$WORK/path.err"; rc=$?
check "CONNECT with :path -> RST PROTOCOL_ERROR" "$(grep -o 'reset=[0-9]*' "$WORK/path.err")" reset=1
(head -c 100 /dev/zero; sleep 2) | client --authority "$RST" --stdin >/dev/null 2>"$WORK/rst.err2"; rc=$?
check "upstream RST -> RST_STREAM CONNECT_ERROR" "$(grep -o 'reset=[0-9]*' "$WORK/rst.err2")" reset=10
sleep 0.5
echo "--- server log (last 8 lines)"; tail -n 8 "$WORK/srv.err"
echo "--- stream lines: $(grep -c '^stream' "$WORK/srv.err")"
exit $FAIL
