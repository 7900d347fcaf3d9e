#!/bin/bash
# One bounded SIPp REGISTER run against any registrar.
#   usage: sipp-load.sh HOST:PORT RATE COUNT DEVICES OFFSET TRANSPORT [LIMIT]
#     RATE       REGISTERs per second (open loop), or "max" (closed loop: -r 100000, LIMIT in flight)
#     COUNT      REGISTERs in the run (sipp -m)
#     DEVICES    distinct devices; the injection file is read cyclically, so
#                COUNT > DEVICES refreshes the same devices
#     OFFSET     first device index (the MAC is the index in hex)
#     TRANSPORT  udp (-t u1) or tcp (-t t1, one connection)
#     LIMIT      calls in flight (sipp -l), default 100
# Env: TARGET_PID  the server's main PID, for its CPU share
#      SCENARIO    scenario file (default register.xml beside this script)
#      OUTDIR      where files go (default $BENCH_RESULTS/sipp-<stamp>)
# Prints one TSV line: transport rate count devices ok fail retrans elapsed_s ok_per_s server_cpu% rtt_p50 rtt_p99
#   rtt_under20ms (the share of answers in under 20 ms, the p99 target's bound; finer than the p99 bucket) rc
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TARGET=${1:?host:port}; RATE=${2:?rate}; COUNT=${3:?count}; DEVICES=${4:?devices}; OFFSET=${5:?offset}
TRANSPORT=${6:?udp|tcp}; LIMIT=${7:-100}
case "$TRANSPORT" in udp) T=u1;; tcp) T=t1;; *) echo "bad transport $TRANSPORT" >&2; exit 2;; esac
if [ "$RATE" = max ]; then R=100000; else R=$RATE; fi
OUTDIR=${OUTDIR:-${BENCH_RESULTS:-/tmp/selfprov-bench}/sipp-$(date +%H%M%S)-$$-$RANDOM}
mkdir -p "$OUTDIR"
python3 - "$OFFSET" "$DEVICES" >"$OUTDIR/users.csv" <<'PY'
import sys
off, n = int(sys.argv[1]), int(sys.argv[2])
out = ["SEQUENTIAL"]
for i in range(n):
    mac = "%012x" % ((off + i) % (1 << 48))
    out.append("%s;%s;%d;" % (mac, mac.upper(), 1000000 + (off + i) % 1000000))
print("\n".join(out))
PY
if [ "$RATE" = max ]; then TMO=$((60 + COUNT / 500)); else TMO=$((COUNT / R * 3 + 30)); fi
[ $TMO -gt 300 ] && TMO=300
cpu() { # utime+stime of the server and its child processes (kamailio forks), in clock ticks
  local t=0 p
  [ -z "${TARGET_PID:-}" ] && { echo 0; return; }
  for p in $TARGET_PID $(pgrep -P "$TARGET_PID" || true); do
    t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $t
}
C0=$(cpu); T0=$(date +%s.%N)
set +e
(cd "$OUTDIR" && timeout -k 5 $((TMO + 15)) sipp "$TARGET" -sf "${SCENARIO:-$HERE/register.xml}" -inf "$OUTDIR/users.csv" \
  -r "$R" -rp 1000 -m "$COUNT" -l "$LIMIT" -t "$T" -i 127.0.0.1 -nostdin -aa -nd \
  -timeout "${TMO}s" -max_socket 10000 -buff_size 4194304 -trace_stat -stf "$OUTDIR/stats.csv" -fd 1 \
  -trace_err -error_file "$OUTDIR/errors.log" >"$OUTDIR/sipp.out" 2>&1)
RC=$?
set -e
C1=$(cpu); T1=$(date +%s.%N)
python3 - "$OUTDIR" "$TRANSPORT" "$RATE" "$COUNT" "$DEVICES" "$RC" "$C0" "$C1" "$T0" "$T1" "$(getconf CLK_TCK)" <<'PY'
import csv, os, sys
d, tr, rate, count, devices, rc, c0, c1, t0, t1, hz = sys.argv[1:]
try:
    rows = list(csv.reader(open(os.path.join(d, "stats.csv")), delimiter=";"))
except OSError:
    print("no stats.csv; see", os.path.join(d, "sipp.out"), file=sys.stderr); sys.exit(1)
h, last = rows[0], rows[-1]
g = lambda k: last[h.index(k)]
ok, fail = int(g("SuccessfulCall(C)")), int(g("FailedCall(C)"))
created, crate = int(g("OutgoingCall(C)")), float(g("CallRate(C)"))
el = created / crate if crate else 0.0
retr = int(g("Retransmissions(C)"))
bk = [(k.split("_", 1)[1], int(v or 0)) for k, v in zip(h, last) if k.startswith("ResponseTimeRepartition1_")]
tot = sum(v for _, v in bk)
def pct(q):
    acc = 0
    for name, v in bk:
        acc += v
        if tot and acc >= q * tot:
            return name + "ms"
    return "-"
def within(ms):
    n = sum(v for name, v in bk if name.startswith("<") and float(name[1:]) <= ms)
    return "%.2f%%" % (100.0 * n / tot) if tot else "-"
wall = float(t1) - float(t0)
srv = (int(c1) - int(c0)) / int(hz) / wall * 100 if wall > 0 else 0
print("\t".join(map(str, [tr, rate, count, devices, ok, fail, retr, "%.2f" % el,
      "%.0f" % (ok / el if el else 0), "%.0f" % srv, pct(0.5), pct(0.99), within(20), "rc=%s" % rc])))
PY
