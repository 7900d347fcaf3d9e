package tftpd

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestEmptyDatagramDuringTransfer: an empty datagram from the peer in
// the middle of a transfer is ignored like any other short one; the
// transfer goes on.
func TestEmptyDatagramDuringTransfer(t *testing.T) {
	r := start(t, newEnv(t, nil), nil)
	want, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) <= 512 {
		t.Fatalf("config of %d bytes: the test needs more than one block", len(want))
	}
	reply, c := exchange(t, r.tftp, rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet"))
	if reply.op != opDATA || reply.code != 1 {
		t.Fatalf("answer %+v, want DATA 1", reply)
	}
	if _, err := c.WriteTo(nil, reply.from); err != nil {
		t.Fatal(err)
	}
	rest, err := receive(t, c, reply.from, 1, 512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(reply.data, rest...); !bytes.Equal(got, want) {
		t.Errorf("got %d bytes, want the %d of the config", len(got), len(want))
	}
}

// TestTransfersOverIPv4AndIPv6: a server listening on every address
// answers an IPv4 and an IPv6 client, each from the address it asked.
func TestTransfersOverIPv4AndIPv6(t *testing.T) {
	pc, err := net.ListenPacket("udp", "[::]:0")
	if err != nil {
		t.Skipf("no dual-stack socket here: %v", err)
	}
	if c, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		pc.Close()
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		c.Close()
	}
	e := newEnv(t, nil)
	srv, err := New(Options{Core: e.svc, CallManagers: testCMs, Registerer: prometheus.NewRegistry(),
		Timeout: time.Second, Retries: 3, FirstACKTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(pc) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	port := strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)
	want, err := get(t, "127.0.0.1:"+port, "SEP001122AABBCC.cnf.xml", nil)
	if err != nil {
		t.Fatalf("IPv4: %v", err)
	}
	for _, tc := range []struct{ network, local, server string }{
		{"udp4", "127.0.0.1", "127.0.0.1"},
		{"udp6", "::1", "::1"},
	} {
		c, err := net.ListenUDP(tc.network, &net.UDPAddr{IP: net.ParseIP(tc.local)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		server := &net.UDPAddr{IP: net.ParseIP(tc.server), Port: pc.LocalAddr().(*net.UDPAddr).Port}
		if _, err := c.WriteTo(rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet"), server); err != nil {
			t.Fatal(err)
		}
		reply := readReply(t, c)
		if reply.op != opDATA || reply.code != 1 {
			t.Fatalf("%s: answer %+v, want DATA 1", tc.network, reply)
		}
		if from := reply.from.(*net.UDPAddr); !from.IP.Equal(server.IP) || from.Port == server.Port {
			t.Errorf("%s: answered from %v, want %s on a port of the transfer's own", tc.network, from, tc.server)
		}
		rest, err := receive(t, c, reply.from, 1, 512, 1)
		if err != nil {
			t.Fatalf("%s: %v", tc.network, err)
		}
		if got := append(reply.data, rest...); !bytes.Equal(got, want) {
			t.Errorf("%s: got %d bytes, want %d", tc.network, len(got), len(want))
		}
	}
}
