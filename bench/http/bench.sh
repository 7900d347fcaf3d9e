#!/bin/sh
# HTTP config mirror against nginx: builds selfprovd and runs bench/http
# (see its doc comment). Extra arguments go to bench/http, e.g.
#   bench/http/bench.sh -repeat 7 -duration 10s
#   bench/http/bench.sh -c 64 -mix known -pprof 127.0.0.1:6061
# Two builds in the same run, each beside nginx:
#   go run ./bench/http -selfprovd /tmp/before,/tmp/after -mix unknown10
# Needs nginx (nginx-light) and wrk. Everything listens on 127.0.0.1.
set -eu
cd "$(dirname "$0")/../.."
W=$(mktemp -d /tmp/selfprov-bench-http-bin.XXXXXX)
trap 'rm -rf "$W"' EXIT
go build -o "$W/selfprovd" ./cmd/selfprovd
go build -o "$W/bench-http" ./bench/http
cp bench/http/random.lua "$W/"
uptime
"$W/bench-http" -selfprovd "$W/selfprovd" "$@"
uptime
