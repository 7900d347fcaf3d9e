#!/bin/bash
# The measurement floor of bench.sh's p99 runs: the same open-loop
# auto-registration load (register-new.xml, four messages per call) against
# SIPp answering as a registrar that does no work (ideal-registrar.xml).
# Whatever this shows above 20 ms comes from SIPp and the machine, not from
# a server; whatever a server shows beyond it is the server's own.
#   usage: bench/sip/floor.sh [TRANSPORTS] [RATES]   (from the repository root)
#     TRANSPORTS default "udp tcp"; RATES (calls/s) default "10000 20000"
# Needs: sipp (apt-get install sip-tester). Each run lasts about 5 s.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TRANSPORTS=${1:-udp tcp}
RATES=${2:-10000 20000}
PORT=${FLOOR_PORT:-5072}
export BENCH_RESULTS=${BENCH_RESULTS:-/tmp/selfprov-bench}
RUN=$BENCH_RESULTS/floor-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
command -v sipp >/dev/null || { echo "missing sipp" >&2; exit 1; }

PID=
stop() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  PID=
}
trap stop EXIT
trap 'stop; exit 1' INT TERM

echo -e "transport\trate\tcount\tdevices\tok\tfail\tretrans\telapsed_s\tok_per_s\tserver_cpu%\trtt_p50\trtt_p99\trtt_under20ms\trc"
for tr in $TRANSPORTS; do
  case "$tr" in udp) T=u1;; tcp) T=t1;; *) echo "bad transport $tr" >&2; exit 2;; esac
  for rate in $RATES; do
    sipp -sf "$HERE/ideal-registrar.xml" -t $T -i 127.0.0.1 -p "$PORT" -max_socket 4096 -nostdin \
      -trace_err -error_file "$RUN/uas-$tr-$rate.err" >"$RUN/uas-$tr-$rate.log" 2>&1 &
    PID=$!
    for _ in $(seq 50); do ss -lntu "sport = :$PORT" | grep -q ":$PORT" && break; sleep 0.1; done
    SCENARIO=$HERE/register-new.xml TARGET_PID=$PID OUTDIR=$RUN/$tr-$rate \
      "$HERE/sipp-load.sh" "127.0.0.1:$PORT" "$rate" $((rate * 5)) $((rate * 5)) 0 "$tr" 5000
    stop
    sleep 1
  done
done
