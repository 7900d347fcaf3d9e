package registrar

import (
	"bufio"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/configs"
)

// BenchmarkRegisterTCPUnderIdleFlood: 5,000 TCP connections are opened
// from 127.0.0.2 and held without a byte sent, then phones from other
// loopback addresses each open a connection and register a new device.
// It reports the phones' latency (connect to 200) and how many got no
// answer within 2 s. With the per-source cap, the flood holds 128 slots
// and every phone registers.
func BenchmarkRegisterTCPUnderIdleFlood(b *testing.B) {
	benchFlood(b, 1, 5000)
}

// BenchmarkRegisterTCPUnderSpreadIdleFlood is the same with the flood
// spread over 48 addresses (127.0.2.1-48), each under its per-source cap,
// 6,144 connections in all: more than MaxConnections. The phones come once
// the flood has been silent for evictAfter, and make room by eviction.
// (Before that they are refused: a connection only seconds old is not
// taken for an idle one.)
func BenchmarkRegisterTCPUnderSpreadIdleFlood(b *testing.B) {
	benchFlood(b, 48, 128)
}

func benchFlood(b *testing.B, sources, each int) {
	e := newEnv(b, envOpt{cfg: func(c *configs.Config) {
		c.Cluster.AutoRegistration.Range.Start = "100000"
		c.Cluster.AutoRegistration.Range.End = "199999"
	}})
	held := make([]net.Conn, 0, sources*each)
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for s := range sources {
		ip := net.IPv4(127, 0, 0, 2)
		if sources > 1 {
			ip = net.IPv4(127, 0, 2, byte(1+s))
		}
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
		for range each {
			c, err := d.Dial("tcp", e.tcp)
			if err != nil {
				b.Fatalf("flood connection %d: %v", len(held), err)
			}
			held = append(held, c)
		}
	}
	if sources > 1 {
		// The flood has been silent long enough to be evicted (the
		// server's clock is the test's).
		e.clock.Advance(e.srv.conns.evictAfter + time.Second)
	}

	lat := make([]time.Duration, 0, b.N)
	failed := 0
	b.ResetTimer()
	for i := range b.N {
		// Phones come from 127.0.1.1 to 127.0.1.250, a connection each.
		from := net.IPv4(127, 0, 1, byte(1+i%250))
		start := time.Now()
		if floodPhone(b, e.tcp, from, mac(0x200000+i)) {
			lat = append(lat, time.Since(start))
		} else {
			failed++
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(failed), "unanswered")
	b.ReportMetric(0, "ns/op")
}

// floodPhone registers one new device over a fresh TCP connection from
// the address from; false when no 200 came within 2 s.
func floodPhone(b *testing.B, addr string, from net.IP, m string) bool {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 2 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	c := &client{t: b, tr: "TCP", conn: conn, r: bufio.NewReaderSize(conn, 65536), local: conn.LocalAddr().String()}
	c.register(reg{mac: m, dn: "1000", cseq: 1})
	for {
		msg, err := c.tryRead(2 * time.Second)
		if err != nil {
			return false
		}
		if res, ok := msg.(*sip.Response); ok {
			return res.StatusCode == 200
		}
	}
}
