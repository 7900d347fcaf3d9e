#!/bin/sh
# Boot storm of simulated phones against selfprovd on loopback, and the
# register-only storm of the same phones; prints phonesim's report, the CPU
# of both sides and selfprovd's peak RSS.
#
#   phonesim/bench/storm.sh [N] [RATE] [C] [phonesim run flags...]
#   e.g. phonesim/bench/storm.sh 10000 0 500           # all at once, 500 in flight
#        phonesim/bench/storm.sh 10000 200 4000        # 200 arrivals/s
#
# Ports 21060-21090 on 127.0.0.1 (below the ephemeral range); phones come
# from 127.0.1.1-100. Every run is bounded by phonesim's -run-time.
#
# PROFILE=<file> [PROFILE_SECONDS=<s>, default 12] writes a CPU profile of
# selfprovd over the first seconds of the boot storm (pprof on 127.0.0.1:21091).
# METRICS=<file> writes selfprovd's /metrics after the boot storm
# (retransmissions, store batches, GC), to tell a slow run from a fast one.
# SELFPROVD=<binary> and PHONESIM=<binary> run those builds instead of the
# checkout's, to compare two builds run after run.
# LOADCPU=<cpus> is where phonesim runs (taskset); by default the upper
# half of the CPUs when there are two or more (the last one of two), so the
# load client keeps to its own cores, one single-threaded process on a
# two-core machine, and selfprovd runs on every CPU as it would in use.
# LOADCPU= (empty) leaves phonesim to the scheduler on every CPU.
# With Go at hand, bench/hostprobe runs before and after: the machine's
# loopback round trip, memory read and SHA-256 speed at the time.
set -eu
N=${1:-10000}; RATE=${2:-0}; C=${3:-500}
shift $(( $# < 3 ? $# : 3 ))
cd "$(dirname "$0")/../.."
if [ -z "${LOADCPU+set}" ]; then
	LOADCPU=
	cpus=$(nproc 2>/dev/null || echo 1)
	if command -v taskset >/dev/null && [ "$cpus" -ge 2 ]; then
		LOADCPU=$((cpus / 2))
		if [ $((cpus - 1)) -gt "$LOADCPU" ]; then LOADCPU=$LOADCPU-$((cpus - 1)); fi
	fi
fi
PIN=
if [ -n "$LOADCPU" ]; then PIN="taskset -c $LOADCPU"; fi
W=$(mktemp -d /tmp/phonesim-storm.XXXXXX)
if [ -n "${SELFPROVD:-}" ]; then cp "$SELFPROVD" "$W/selfprovd"; else go build -o "$W/selfprovd" ./cmd/selfprovd; fi
if [ -n "${PHONESIM:-}" ]; then cp "$PHONESIM" "$W/phonesim"; else go build -o "$W/phonesim" ./cmd/phonesim; fi
# The machine's speed before and after (bench/hostprobe): the same builds
# run a third apart from one hour to the next on a shared machine.
probe() { :; }
if command -v go >/dev/null && go build -o "$W/hostprobe" ./bench/hostprobe; then
	probe() { "$W/hostprobe" -d 0.5s | sed "s/^host probe/host probe $1/"; }
fi

# demo.yaml with a DN range for N phones and N users.
# The users go right after "users:", wherever that key is in the file.
sed -e 's/startDN: "1000"/startDN: "100000"/' -e 's/endDN: "1999"/endDN: "199999"/' configs/demo.yaml |
	awk -v n="$N" '{ print } /^users:/ { for (i = 0; i < n; i++) printf "  - {userId: user%04d, lastName: L%04d, primaryExtension: \"3%04d\", userProfile: Standard User Profile, pin: \"12345\"}\n", i, i, i }' > "$W/storm.yaml"
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "user%04d,12345,3%04d\n", i, i }' > "$W/users.csv"

probe before
mkdir "$W/data"
"$W/selfprovd" -config "$W/storm.yaml" -data-dir "$W/data" -advertise 127.0.0.1 \
	-listen.tftp 127.0.0.1:21069 -listen.config 127.0.0.1:21070 -listen.sip 127.0.0.1:21060 \
	-listen.services 127.0.0.1:21080 -listen.admin 127.0.0.1:21090 -listen.https 127.0.0.1:21443 -log.level warn \
	${PROFILE:+-debug.pprof 127.0.0.1:21091} 2> "$W/selfprovd.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$W"' EXIT
i=0
until [ -s "$W/data/admin-token" ]; do
	i=$((i + 1)); [ $i -lt 300 ] || { echo "selfprovd did not start"; cat "$W/selfprovd.log"; exit 1; }
	kill -0 $PID 2>/dev/null || { echo "selfprovd exited"; cat "$W/selfprovd.log"; exit 1; }
	sleep 0.2
done
sleep 0.5
cpu() { awk '{print $14 + $15}' /proc/$PID/stat; }
# The kernel's share of it: on loopback each write runs the receiver's
# side of TCP or UDP too.
syscpu() { awk '{print $15}' /proc/$PID/stat; }
# Nanoseconds selfprovd's threads ran and waited for a CPU (schedstat):
# waiting is the share of the machine other processes (phonesim, other
# work) took from it.
sched() { cat /proc/$PID/task/*/schedstat 2>/dev/null | awk '{ r += $1; w += $2 } END { printf "%.0f %.0f", r, w }'; }
# The machine's CPU time by kind (/proc/stat): busy, idle and stolen by
# the hypervisor for other guests, which makes a run slow for no fault of
# either process.
machine() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6, $9 }' /proc/stat; }
T0=$(cpu); K0=$(syscpu); S0=$(sched); M0=$(machine); L0=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -n "${PROFILE:-}" ]; then
	curl -s -o "$PROFILE" "http://127.0.0.1:21091/debug/pprof/profile?seconds=${PROFILE_SECONDS:-12}" &
fi
/usr/bin/time -o "$W/phonesim.time" -f "phonesim: %e s wall, %U s user, %S s sys, %M KB max RSS, %c involuntary context switches" \
	$PIN "$W/phonesim" run -tftp 127.0.0.1:21069 -config 127.0.0.1:21070 -users "$W/users.csv" \
	-n "$N" -rate "$RATE" -c "$C" -local-ip 127.0.1.1-100 -progress never -seed 77 \
	-idle-wait 0 -notify-timeout 120s -timeout 30s -register-attempts 20 -run-time 15m "$@" || true
T1=$(cpu); K1=$(syscpu); S1=$(sched); M1=$(machine)
cat "$W/phonesim.time"
if [ -n "$LOADCPU" ]; then echo "phonesim ran on CPU $LOADCPU (LOADCPU), selfprovd on any"; else echo "phonesim and selfprovd ran on any CPU"; fi
if [ -n "${METRICS:-}" ]; then curl -s -o "$METRICS" http://127.0.0.1:21090/metrics || true; fi
echo "selfprovd: $(awk -v t="$((T1 - T0))" -v hz="$(getconf CLK_TCK)" -v n="$N" 'BEGIN { printf "%.2f s CPU, %.0f µs per phone", t / hz, 1e6 * t / hz / n }') ($(awk -v k="$((K1 - K0))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f s", k / hz }') in the kernel); $(grep VmHWM /proc/$PID/status)"
echo "selfprovd: $(echo "$S0 $S1" | awk '{ printf "%.2f s on a CPU, %.2f s waiting for one", ($3 - $1) / 1e9, ($4 - $2) / 1e9 }'); load average $L0 before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo "machine: $(echo "$M0 $M1" | awk '{ b = $4 - $1; i = $5 - $2; s = $6 - $3; t = b + i + s; if (t > 0) printf "%.0f%% busy, %.0f%% idle, %.0f%% stolen by other guests", 100 * b / t, 100 * i / t, 100 * s / t }')"
# selfprovd's CPU over phonesim's: both slow down alike when the machine
# does, so with the same phonesim binary this compares selfprovd builds
# run after run where phones/s and µs a phone swing by a third.
echo "selfprovd CPU / phonesim CPU: $(awk -v t="$((T1 - T0))" -v hz="$(getconf CLK_TCK)" '/^phonesim:/ { p = $5 + $8 } END { if (p > 0) printf "%.3f", t / hz / p }' "$W/phonesim.time")"
echo
echo "register-only storm, the same phones (known devices), UDP:"
$PIN "$W/phonesim" run -mode register -sip 127.0.0.1:21060 -transport udp -n "$N" -c 500 \
	-local-ip 127.0.1.1-100 -progress never -seed 77 -run-time 5m || true
echo "selfprovd: $(grep VmHWM /proc/$PID/status)"
probe after
