#!/bin/bash
# Calls benchmark: selfprovd against Kamailio (Debian package as a
# transaction-stateful proxy: calls-kamailio.cfg) in the same run, with the
# same SIPp caller (call-uac.xml) and called phones (call-uas.xml), over UDP.
#   usage: bench/sip/calls.sh [REPEATS] [COUNT] [LIMIT] [HELD]   (from the repository root)
#     REPEATS  closed-loop runs per server, alternated (default 3; 0 skips them)
#     COUNT    calls per closed-loop run (default 10000)
#     LIMIT    calls in flight in those runs (default 100)
#     HELD     calls held at once in the memory phase (default 10000; 0 skips it)
# Env: DEVICES  called devices, and as many calling ones (default 10000, at least HELD)
#      SERVERS  default "selfprovd kamailio"
#      PROFILE=1  after the alternated runs, one more selfprovd run under the
#               CPU profiler (-debug.pprof), its top in profile-top.txt
# Needs: sipp (apt-get install sip-tester), kamailio, go, curl.
#
# A call is INVITE (Cisco 8845-shaped, SDP offer) -> 100 -> 180 -> 200 -> ACK
# -> BYE -> 200, ACK and BYE along the Record-Route. Both servers do the same
# work: before any call, the called phones' address (SIPp UAS, UAS_PORT)
# registers DEVICES SEP devices and the caller's address (SIPp UAC, UAC_PORT)
# registers DEVICES more, to each server, with the same REGISTERs
# (register-new.xml for selfprovd, which auto-registers them and sends a
# restart NOTIFY, register.xml for Kamailio). selfprovd gives auto-registered
# devices the lowest free DNs of its range, from START_DN: the called devices
# are registered first (any order: they share one address), then the callers
# one at a time, so the caller with MAC index i has DN START_DN+DEVICES+i;
# Kamailio's AORs are the same DNs. Call k goes from caller k to called
# device k (mod DEVICES): a line has one call at a time. selfprovd routes a
# call only from a registered device, and Kamailio's config refuses an
# INVITE whose From AOR is not registered too.
#
#   cps     both servers run side by side, fresh processes, one UAS for both;
#           REPEATS closed-loop runs of COUNT calls with LIMIT in flight and
#           no hold time, alternating servers run by run. Reported: calls/s
#           (successful calls over SIPp's elapsed time), the server's CPU per
#           call (its process tree), setup time (INVITE to 200) p50/p99, 180s
#           received, refusals by code, the load average before and after
#           each run.
#   memory  each server alone, fresh: register; DEVICES short warm-up calls
#           (every caller calls its called line once, so what a server keeps
#           per line it has routed is already there); memory read SETTLE s
#           later ("before"); then HELD calls at RAMP/s, each held until all
#           are up plus SETTLE+15 s; memory read when the UAS holds all HELD
#           calls ("up") and SETTLE s later ("settled": transactions gone,
#           dialogs kept). (up or settled - before) / HELD is the memory per
#           active call. selfprovd: VmRSS, and the live Go heap
#           (go_memstats_heap_alloc_bytes right after a collection asked of
#           -debug.pprof), its go_memstats at each point and the heap
#           profile difference (heap-held-top.txt); Kamailio: the PSS of all
#           its processes, and its shared memory in use (kamcmd core.shmmem
#           real_used).
# Every run is bounded by a count and a time limit; loopback only.
# Results: $BENCH_RESULTS (default /tmp/selfprov-bench)/calls-<stamp>/summary.tsv.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
REPEATS=${1:-3}
COUNT=${2:-10000}
LIMIT=${3:-100}
HELD=${4:-10000}
DEVICES=${DEVICES:-10000}
[ "$DEVICES" -lt "$HELD" ] && DEVICES=$HELD
SERVERS=${SERVERS:-selfprovd kamailio}
RAMP=${RAMP:-250}           # calls/s while the memory phase sets its calls up
SETTLE=${SETTLE:-35}        # s: past sipgo's 32 s Timer L and Kamailio's 5 s wait timer
START_DN=${START_DN:-20000000}
SELF_PORT=${SELF_PORT:-5190}
KAM_PORT=${KAM_PORT:-5170}
UAC_PORT=${UAC_PORT:-5181}
UAS_PORT=${UAS_PORT:-5182}
ADMIN_PORT=${ADMIN_PORT:-9190}
PPROF_PORT=${PPROF_PORT:-6161}
export BENCH_RESULTS=${BENCH_RESULTS:-/tmp/selfprov-bench}
RUN=$BENCH_RESULTS/calls-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
SUMMARY=$RUN/summary.tsv
MEMORY=$RUN/memory.tsv
echo -e "server\tphase\tcalls\tok\tfail\tretrans\telapsed_s\tcalls_per_s\tserver_cpu%\tcpu_us_per_call\tsetup_p50\tsetup_p99\tringing\trefused\tload_before\tload_after\trc\tdir" >"$SUMMARY"

for b in sipp kamailio kamcmd go curl python3; do command -v $b >/dev/null || { echo "missing $b" >&2; exit 1; }; done
for p in $SELF_PORT $KAM_PORT $UAC_PORT $UAS_PORT; do
  if ss -Hlnu "sport = :$p" | grep -q . || ss -Hlnt "sport = :$p" | grep -q .; then echo "port $p is in use" >&2; exit 1; fi
done
(cd "$ROOT" && go build -o "$RUN/selfprovd" ./cmd/selfprovd)

SELF_PID=; KAM_PID=; UAS_PID=; KAM_DIR=; SELF_DIR=
stop_pid() {
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
  fi
}
stop_uas() { stop_pid "$UAS_PID"; UAS_PID=; }
stop() { stop_uas; stop_pid "$SELF_PID"; stop_pid "$KAM_PID"; SELF_PID=; KAM_PID=; }
trap stop EXIT
trap 'stop; exit 1' INT TERM

load() { cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/'; }

start_selfprovd() { # tag [profile]
  SELF_DIR=$RUN/selfprovd-$1
  rm -rf "$SELF_DIR"; mkdir -p "$SELF_DIR"
  # The demo configuration (so the demo's partitions and calling search
  # spaces), a DN range from START_DN, bindings that outlast the run, no
  # per-source limits (all load comes from 127.0.0.1).
  sed -e "s/startDN: \"1000\"/startDN: \"$START_DN\"/" -e "s/endDN: \"1999\"/endDN: \"$((START_DN + 9999999))\"/" \
    -e 's/^\(  ratePerSource:\) [0-9]*/\1 0/' -e 's/^\(    perMinute:\) [0-9]*/\1 0/' \
    -e 's/^\(  defaultExpires:\) [0-9]*/\1 3600/' \
    "$ROOT/configs/demo.yaml" >"$SELF_DIR/config.yaml"
  local prof=()
  [ -n "${2:-}" ] && prof=(-debug.pprof "127.0.0.1:$PPROF_PORT")
  "$RUN/selfprovd" -config "$SELF_DIR/config.yaml" -advertise 127.0.0.1 -data-dir "$SELF_DIR/data" -log.level warn \
    -listen.tftp 127.0.0.1:0 -listen.config 127.0.0.1:0 -listen.sip "127.0.0.1:$SELF_PORT" \
    -listen.services 127.0.0.1:0 -listen.admin "127.0.0.1:$ADMIN_PORT" -listen.https 127.0.0.1:0 \
    "${prof[@]}" >"$SELF_DIR/log" 2>&1 &
  SELF_PID=$!
  # Ready when the TCP side of the SIP port listens (it is bound after UDP).
  for _ in $(seq 100); do ss -ltn "sport = :$SELF_PORT" | grep -q LISTEN && return; kill -0 $SELF_PID || break; sleep 0.1; done
  echo "selfprovd did not start:" >&2; cat "$SELF_DIR/log" >&2; exit 1
}

start_kamailio() { # tag
  KAM_DIR=$RUN/kamailio-$1
  mkdir -p "$KAM_DIR"
  /usr/sbin/kamailio -f "$HERE/calls-kamailio.cfg" -l "udp:127.0.0.1:$KAM_PORT" -l "tcp:127.0.0.1:$KAM_PORT" \
    -m 2048 -M 16 -Y "$KAM_DIR" -w "$KAM_DIR" -E -DD -A "CTLSOCK=\"unix:$KAM_DIR/ctl.sock\"" >"$KAM_DIR/log" 2>&1 &
  KAM_PID=$!
  for _ in $(seq 100); do [ -S "$KAM_DIR/ctl.sock" ] && return; kill -0 $KAM_PID || break; sleep 0.1; done
  echo "kamailio did not start:" >&2; cat "$KAM_DIR/log" >&2; exit 1
}

start() { # server tag [profile]
  if [ "$1" = selfprovd ]; then start_selfprovd "$2" "${3:-}"; else start_kamailio "$2"; fi
}

port_of() { if [ "$1" = selfprovd ]; then echo $SELF_PORT; else echo $KAM_PORT; fi; }
pid_of() { if [ "$1" = selfprovd ]; then echo "$SELF_PID"; else echo "$KAM_PID"; fi; }

# The injection files: called devices (MAC 0A1C…, DN START_DN+i), callers
# (MAC 0A1D…, DN START_DN+DEVICES+i), and the calls (called DN; caller DN; caller MAC).
python3 - "$RUN" "$DEVICES" "$START_DN" <<'PY'
import sys
run, n, dn0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def regs(path, mac0, first):
    with open(path, "w") as f:
        f.write("SEQUENTIAL\n")
        for i in range(n):
            mac = "%012x" % (mac0 + i)
            f.write("%s;%s;%d;\n" % (mac, mac.upper(), first + i))
regs(run + "/called.csv", 0x0A1C00000000, dn0)
regs(run + "/callers.csv", 0x0A1D00000000, dn0 + n)
with open(run + "/calls.csv", "w") as f:
    f.write("SEQUENTIAL\n")
    for i in range(n):
        f.write("%d;%d;%012X;\n" % (dn0 + i, dn0 + n + i, 0x0A1D00000000 + i))
PY

register() { # server local_port csv limit outdir: every device of csv registers from local_port
  local sf=$HERE/register.xml out=$5
  [ "$1" = selfprovd ] && sf=$HERE/register-new.xml
  mkdir -p "$out"
  set +e
  (cd "$out" && timeout -k 5 300 sipp "127.0.0.1:$(port_of "$1")" -sf "$sf" -inf "$3" -p "$2" \
    -r 100000 -m "$DEVICES" -l "$4" -t u1 -i 127.0.0.1 -nostdin -aa -nd -timeout 280s -buff_size 4194304 \
    -trace_stat -stf "$out/stats.csv" -fd 1 -trace_err -error_file "$out/errors.log" >"$out/sipp.out" 2>&1)
  local rc=$?
  set -e
  local ok
  ok=$(stat_of "$out/stats.csv" 'SuccessfulCall(C)')
  if [ "$ok" != "$DEVICES" ]; then
    echo "$1: $ok of $DEVICES registrations from port $2 succeeded (rc $rc); see $out" >&2
    exit 1
  fi
}

stat_of() { # stats.csv column → its value in the last row
  python3 - "$1" "$2" <<'PY'
import csv, sys
try:
    rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
    # SIPp writes a row in pieces: the last complete one
    full = [r for r in rows[1:] if len(r) >= len(rows[0])]
    print(full[-1][rows[0].index(sys.argv[2])])
except (OSError, IndexError, ValueError):
    print(0)
PY
}

register_all() { # server
  echo "$1: registering $DEVICES called devices, then $DEVICES callers one at a time"
  register "$1" $UAS_PORT "$RUN/called.csv" 100 "$RUN/$1-register-called-$RANDOM"
  register "$1" $UAC_PORT "$RUN/callers.csv" 1 "$RUN/$1-register-callers-$RANDOM"
}

start_uas() { # tag
  local out=$RUN/uas-$1
  mkdir -p "$out"
  (cd "$out" && exec timeout -k 5 3000 sipp -sf "$HERE/call-uas.xml" -p $UAS_PORT -t u1 -i 127.0.0.1 -nostdin \
    -buff_size 4194304 -trace_stat -stf "$out/stats.csv" -fd 1 -trace_err -error_file "$out/errors.log" \
    >"$out/sipp.out" 2>&1) &
  UAS_PID=$!
  UAS_STATS=$out/stats.csv
  for _ in $(seq 50); do ss -Hlnu "sport = :$UAS_PORT" | grep -q . && return; sleep 0.1; done
  echo "the UAS did not start; see $out" >&2; exit 1
}

cpu() { # utime+stime of the server's process tree (Kamailio forks), in clock ticks
  local t=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $t
}

calls() { # server phase rate count limit hold_ms [background] → a summary row
  local server=$1 phase=$2 rate=$3 count=$4 limit=$5 hold=$6 out r tmo
  out=$RUN/$server-$phase-$RANDOM
  mkdir -p "$out"
  if [ "$rate" = max ]; then r=100000; tmo=$((60 + count / 200)); else r=$rate; tmo=$((count / rate + hold / 1000 + 60)); fi
  local pid l0 c0 t0 rc
  pid=$(pid_of "$server"); l0=$(load); c0=$(cpu "$pid"); t0=$(date +%s.%N)
  set +e
  (cd "$out" && timeout -k 5 $((tmo + 15)) sipp "127.0.0.1:$(port_of "$server")" -sf "$HERE/call-uac.xml" \
    -inf "$RUN/calls.csv" -p $UAC_PORT -r "$r" -rp 1000 -m "$count" -l "$limit" -d "$hold" -t u1 -i 127.0.0.1 \
    -nostdin -nd -timeout "${tmo}s" -buff_size 4194304 -trace_stat -stf "$out/stats.csv" -fd 1 \
    -trace_counts -trace_err -error_file "$out/errors.log" >"$out/sipp.out" 2>&1)
  rc=$?
  set -e
  local c1 t1 l1
  c1=$(cpu "$pid"); t1=$(date +%s.%N); l1=$(load)
  python3 - "$out" "$server" "$phase" "$count" "$rc" "$c0" "$c1" "$t0" "$t1" "$(getconf CLK_TCK)" "$l0" "$l1" <<'PY' | tee -a "$SUMMARY"
import csv, glob, os, sys
d, server, phase, count, rc, c0, c1, t0, t1, hz, l0, l1 = sys.argv[1:]
rows = list(csv.reader(open(os.path.join(d, "stats.csv")), delimiter=";"))
h, last = rows[0], rows[-1]
g = lambda k: last[h.index(k)]
ok, fail = int(g("SuccessfulCall(C)")), int(g("FailedCall(C)"))
created, crate = int(g("OutgoingCall(C)")), float(g("CallRate(C)"))
el = created / crate if crate else 0.0
retr = int(g("Retransmissions(C)"))
bk = [(k.split("_", 1)[1], int(v or 0)) for k, v in zip(h, last) if k.startswith("ResponseTimeRepartitionsetup_")]
tot = sum(v for _, v in bk)
def pct(q):
    acc = 0
    for name, v in bk:
        acc += v
        if tot and acc >= q * tot:
            return name + "ms"
    return "-"
ringing, refused = "-", {}
for f in glob.glob(os.path.join(d, "*_counts.csv")):
    cr = list(csv.reader(open(f), delimiter=";"))
    # one row per scenario step: its counters are totals for the run
    if len(cr) > 1:
        hh, vv = cr[0], cr[-1]
        for k, v in zip(hh, vv):
            if k.endswith("_180_Recv"):
                ringing = v
            parts = k.split("_")
            if len(parts) == 3 and parts[2] == "Recv" and parts[1][:1] in "456" and parts[1] != "999" and int(v or 0):
                refused[parts[1]] = refused.get(parts[1], 0) + int(v)
wall = float(t1) - float(t0)
cpu_s = (int(c1) - int(c0)) / int(hz)
srv = cpu_s / wall * 100 if wall > 0 else 0
per = cpu_s / ok * 1e6 if ok else 0
print("\t".join(map(str, [server, phase, count, ok, fail, retr, "%.2f" % el, "%.0f" % (ok / el if el else 0),
      "%.0f" % srv, "%.0f" % per, pct(0.5), pct(0.99), ringing,
      ",".join("%s:%d" % kv for kv in sorted(refused.items())) or "-", l0, l1, "rc=%s" % rc, os.path.basename(d)])))
PY
}

median() { # server phase → median calls/s (or another column) of its runs
  awk -F'\t' -v s="$1" -v p="$2" -v c="${3:-8}" '$1==s && $2==p {print $c}' "$SUMMARY" |
    sort -n | awk '{a[NR]=$1} END {if (!NR) print 0; else if (NR % 2) print a[(NR+1)/2]; else printf "%d\n", (a[NR/2]+a[NR/2+1])/2}'
}

# --- calls per second: both servers side by side, alternating -------------
if [ "$REPEATS" -gt 0 ]; then
  for s in $SERVERS; do start "$s" cps; done
  for s in $SERVERS; do register_all "$s"; done
  start_uas cps
  for s in $SERVERS; do calls "$s" warm max 1000 "$LIMIT" 0 >/dev/null; done
  for _ in $(seq "$REPEATS"); do
    for s in $SERVERS; do calls "$s" cps max "$COUNT" "$LIMIT" 0; sleep 1; done
  done
  stop
fi

if [ "${PROFILE:-}" = 1 ] && [[ " $SERVERS " == *" selfprovd "* ]]; then
  # One more selfprovd run, fresh, under the CPU profiler for its middle
  # PROFILE_SECONDS; not part of the medians.
  secs=${PROFILE_SECONDS:-10}
  n=$(median selfprovd cps); n=$(((n > 0 ? n : 1000) * (secs + 4)))
  start selfprovd profile 1
  register_all selfprovd
  start_uas profile
  calls selfprovd warm max 1000 "$LIMIT" 0 >/dev/null
  (sleep 1; curl -s -o "$RUN/cpu.pprof" "http://127.0.0.1:$PPROF_PORT/debug/pprof/profile?seconds=$secs") &
  prof=$!
  calls selfprovd profiled max "$n" "$LIMIT" 0
  wait $prof || true
  stop
  go tool pprof -top -nodecount=45 "$RUN/selfprovd" "$RUN/cpu.pprof" >"$RUN/profile-top.txt" 2>&1 || true
  go tool pprof -top -cum -nodecount=45 "$RUN/selfprovd" "$RUN/cpu.pprof" >"$RUN/profile-cum.txt" 2>&1 || true
fi

# --- memory per active call -----------------------------------------------
selfprovd_mem() { # VmRSS kB, live Go heap kB (after a collection the profiler asks for)
  local rss heap
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SELF_PID/status")
  curl -s -o /dev/null "http://127.0.0.1:$PPROF_PORT/debug/pprof/heap?gc=1"
  heap=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^go_memstats_heap_alloc_bytes / {printf "%d", $2 / 1024}')
  echo "$rss ${heap:-0}"
}
kamailio_mem() { # PSS of every process kB, shared memory in use kB
  local pss=0 p v shm
  for p in $KAM_PID $(pgrep -P "$KAM_PID" || true); do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    pss=$((pss + ${v:-0}))
  done
  shm=$(kamcmd -s "unix:$KAM_DIR/ctl.sock" core.shmmem k 2>/dev/null | awk '/real_used/ {print $2}')
  echo "$pss ${shm:-0}"
}
active() { stat_of "$UAS_STATS" 'CurrentCall'; }
sample() { # server point: one row of memory.tsv; for selfprovd also its
  # metrics (go_memstats_*: where RSS goes beyond the live heap) and a heap profile
  local m d
  read -r m d < <(${1}_mem)
  echo -e "$1\t$2\t$(active)\t$m\t$d\t$(load)" | tee -a "$MEMORY"
  if [ "$1" = selfprovd ]; then
    curl -s -o "$RUN/selfprovd-$2.metrics" "http://127.0.0.1:$ADMIN_PORT/metrics"
    curl -s -o "$RUN/selfprovd-$2.heap.pprof" "http://127.0.0.1:$PPROF_PORT/debug/pprof/heap"
  fi
}

if [ "$HELD" -gt 0 ]; then
  echo -e "server\tpoint\tactive_calls\tmem_kB\tdetail_kB\tload" >"$MEMORY"
  ramp=$(((HELD + RAMP - 1) / RAMP))
  hold_ms=$(((ramp + SETTLE + 15) * 1000))
  for s in $SERVERS; do
    start "$s" mem 1
    register_all "$s"
    start_uas "mem-$s"
    # Every caller calls its called line once first, so that what the
    # server keeps per line it has routed (selfprovd's routing memo, its
    # device cache) is in "before", and the difference is what the active
    # calls hold.
    calls "$s" warm max "$DEVICES" "$LIMIT" 0 >/dev/null
    sleep "$SETTLE"
    sample "$s" before
    calls "$s" held "$RAMP" "$HELD" "$HELD" "$hold_ms" >/dev/null &
    uac=$!
    # all up: the UAS holds HELD calls (bounded by the ramp plus a minute)
    up=0
    for _ in $(seq $((ramp + 60))); do
      sleep 1
      a=$(active)
      [ "$a" -ge "$HELD" ] && { up=1; break; }
    done
    [ $up = 1 ] || echo "$s: only $(active) of $HELD calls came up" >&2
    sleep 2
    sample "$s" up
    sleep "$SETTLE"
    sample "$s" settled
    wait $uac || true
    tail -1 "$SUMMARY"
    stop
  done
fi

echo
[ "$REPEATS" -gt 0 ] && echo "calls/s, medians of $REPEATS closed-loop runs of $COUNT calls at $LIMIT in flight (same run, alternated):"
[ "$REPEATS" -gt 0 ] && python3 - "$SUMMARY" "$SERVERS" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t") if r["phase"] == "cps"]
def med(xs):
    xs, n = sorted(xs), len(xs)
    return 0 if not n else xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
m = {}
for s in sys.argv[2].split():
    rs = [r for r in rows if r["server"] == s]
    cps = med([float(r["calls_per_s"]) for r in rs])
    cpu = med([float(r["cpu_us_per_call"]) for r in rs])
    m[s] = (cps, cpu)
    print("  %-9s %6.0f calls/s (runs %s), CPU %4.0f us/call, setup p50/p99 %s, failed %s, loads %s" % (
        s, cps, " ".join(r["calls_per_s"] for r in rs), cpu,
        " ".join("%s/%s" % (r["setup_p50"], r["setup_p99"]) for r in rs),
        " ".join(r["fail"] + ("" if r["refused"] == "-" else " (" + r["refused"] + ")") for r in rs), " ".join(r["load_before"] for r in rs)))
if "selfprovd" in m and "kamailio" in m and m["kamailio"][0]:
    print("  ratio selfprovd/kamailio: %.2fx calls/s (target >= 1.0), CPU per call %.2fx" % (
        m["selfprovd"][0] / m["kamailio"][0], m["selfprovd"][1] / m["kamailio"][1] if m["kamailio"][1] else 0))
PY
if [ -s "$MEMORY" ] && [ "$HELD" -gt 0 ]; then
  echo "memory per active call at $HELD calls ((up - before) / calls; (settled - before) / calls):"
  python3 - "$MEMORY" "$HELD" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
held = int(sys.argv[2])
by = {}
for r in rows:
    by.setdefault(r["server"], {})[r["point"]] = r
names = {"selfprovd": ("RSS", "live Go heap"), "kamailio": ("PSS of all processes", "shared memory in use")}
for s, p in by.items():
    if "before" not in p or "up" not in p or "settled" not in p:
        continue
    b, u, st = p["before"], p["up"], p["settled"]
    a, dn = names.get(s, ("mem", "detail"))
    per = lambda k, x: (int(x[k]) - int(b[k])) * 1024 / held
    print("  %-9s %s %.0f / %.0f bytes per call, %s %.0f / %.0f (active: %s, %s; target <= 4096 for selfprovd's RSS)" % (
        s, a, per("mem_kB", u), per("mem_kB", st), dn, per("detail_kB", u), per("detail_kB", st), u["active_calls"], st["active_calls"]))
PY
fi
if [ -f "$RUN/selfprovd-settled.heap.pprof" ]; then
  go tool pprof -top -sample_index=inuse_space -diff_base "$RUN/selfprovd-before.heap.pprof" -nodecount=30 \
    "$RUN/selfprovd" "$RUN/selfprovd-settled.heap.pprof" >"$RUN/heap-held-top.txt" 2>&1 || true
  # heap_inuse counts the spans the calls' objects keep in use (what the
  # RSS settles to once the runtime has returned its idle spans).
  echo "selfprovd memory at before / up / settled (go_memstats, kB), and bytes per call (settled - before):"
  for k in heap_alloc heap_inuse heap_idle heap_released heap_sys stack_inuse mspan_inuse sys; do
    printf '  %-14s' "$k"
    for pt in before up settled; do
      awk -v k="go_memstats_${k}_bytes" '$1==k {printf " %10d", $2/1024}' "$RUN/selfprovd-$pt.metrics"
    done
    awk -v k="go_memstats_${k}_bytes" -v n="$HELD" 'FNR==1 {f++} $1==k {v[f]=$2} END {printf " %8.0f\n", (v[2]-v[1])/n}' \
      "$RUN/selfprovd-before.metrics" "$RUN/selfprovd-settled.metrics"
  done
  printf '  %-14s' goroutines
  for pt in before up settled; do awk '$1=="go_goroutines" {printf " %10d", $2}' "$RUN/selfprovd-$pt.metrics"; done
  echo
  echo "  heap held by the calls (inuse_space, settled minus before): $RUN/heap-held-top.txt"
fi
[ -f "$RUN/profile-top.txt" ] && { echo "CPU profile of selfprovd: $RUN/profile-top.txt"; head -30 "$RUN/profile-top.txt"; }
echo "all rows: $SUMMARY ${HELD:+$MEMORY}"
