#!/bin/sh
# Calls between simulated phones through selfprovd on loopback: N phones
# auto-register, then place CALLS calls, C at once, each held HOLD; prints
# phonesim's report (setup time INVITE->200 at p50/p90/p99, outcomes by
# final status, calls/s, phonesim's own CPU per call) and selfprovd's CPU
# per call.
#
#   phonesim/bench/calls.sh [N] [CALLS] [C] [HOLD] [phonesim run flags...]
#   e.g. phonesim/bench/calls.sh 200 5000 50 0s
#        phonesim/bench/calls.sh 1000 20000 400 1s -transport udp
#
# selfprovd's CPU per call is the difference between two runs of the same
# phones, one booting (known devices: config and REGISTER) and calling,
# one only booting, divided by the calls; both are printed.
# Ports 21160-21190 on 127.0.0.1; phones come from 127.0.1.1-100. Every
# run is bounded by phonesim's -run-time. SELFPROVD=<binary> and
# PHONESIM=<binary> run those builds instead of the checkout's.
set -eu
N=${1:-200}; CALLS=${2:-5000}; C=${3:-50}; HOLD=${4:-0s}
shift $(( $# < 4 ? $# : 4 ))
cd "$(dirname "$0")/../.."
W=$(mktemp -d /tmp/phonesim-calls.XXXXXX)
if [ -n "${SELFPROVD:-}" ]; then cp "$SELFPROVD" "$W/selfprovd"; else go build -o "$W/selfprovd" ./cmd/selfprovd; fi
if [ -n "${PHONESIM:-}" ]; then cp "$PHONESIM" "$W/phonesim"; else go build -o "$W/phonesim" ./cmd/phonesim; fi

# demo.yaml with a DN range for N auto-registered phones, which reach
# each other (the <None> partition).
sed -e 's/startDN: "1000"/startDN: "100000"/' -e 's/endDN: "1999"/endDN: "199999"/' configs/demo.yaml > "$W/calls.yaml"
mkdir "$W/data"
"$W/selfprovd" -config "$W/calls.yaml" -data-dir "$W/data" -advertise 127.0.0.1 \
	-listen.tftp 127.0.0.1:21169 -listen.config 127.0.0.1:21170 -listen.sip 127.0.0.1:21160 \
	-listen.services 127.0.0.1:21180 -listen.admin 127.0.0.1:21190 -listen.https 127.0.0.1:21143 -log.level warn \
	2> "$W/selfprovd.log" &
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
hz=$(getconf CLK_TCK)
sim() { "$W/phonesim" run -tftp 127.0.0.1:21169 -config 127.0.0.1:21170 -idle-wait 0 -n "$N" -c "$N" \
	-local-ip 127.0.1.1-100 -progress never -seed 91 -timeout 30s -run-time 15m "$@"; }

echo "auto-registering $N phones (not measured)"
sim -mode boot > /dev/null || true
T0=$(cpu)
echo "booting the same phones again, no calls"
sim -mode boot > /dev/null || true
T1=$(cpu)
echo "booting them again and placing $CALLS calls, $C at once, held $HOLD:"
/usr/bin/time -f "phonesim: %e s wall, %U s user, %S s sys, %M KB max RSS" \
	"$W/phonesim" run -mode calls -calls-setup boot -tftp 127.0.0.1:21169 -config 127.0.0.1:21170 -idle-wait 0 -n "$N" -c "$N" \
	-local-ip 127.0.1.1-100 -progress never -seed 91 -timeout 30s -run-time 15m \
	-calls "$CALLS" -call-c "$C" -call-hold "$HOLD" -call-time 10m "$@" || true
T2=$(cpu)
awk -v boot="$((T1 - T0))" -v calls="$((T2 - T1))" -v hz="$hz" -v n="$CALLS" 'BEGIN {
	printf "selfprovd: boot %.2f s CPU, boot and calls %.2f s CPU: %.0f µs per call\n", boot / hz, calls / hz, 1e6 * (calls - boot) / hz / n }'
echo "selfprovd: $(grep VmHWM /proc/$PID/status)"
