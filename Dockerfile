# selfprovd in a container: one static binary, run as a non-root user that
# may bind the low TFTP port and nothing else.
#
#   docker build -t selfprov .
#   docker run --rm -p 69:69/udp -p 6970:6970 -p 5060:5060/udp -p 5060:5060 \
#       -p 5061:5061 -p 8080:8080 -p 9080:9080 selfprov -advertise <host address>

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# modernc.org/sqlite is pure Go, so the binary needs no libc.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/selfprovd ./cmd/selfprovd

FROM debian:bookworm-slim
COPY --from=build /out/selfprovd /usr/local/bin/selfprovd
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+ep /usr/local/bin/selfprovd \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data selfprov \
 && mkdir -p /data && chown selfprov /data
USER selfprov
VOLUME /data
# TFTP, HTTP config mirror, SIP (UDP and TCP), SIP TLS, phone services, admin.
EXPOSE 69/udp 6970/tcp 5060/udp 5060/tcp 5061/tcp 8080/tcp 8443/tcp 9080/tcp
# The admin API listens on every address here, as a container's loopback
# is unreachable from the host; it still requires the bearer token in
# /data/admin-token.
ENTRYPOINT ["/usr/local/bin/selfprovd", "-data-dir", "/data", "-listen.admin", ":9080"]
