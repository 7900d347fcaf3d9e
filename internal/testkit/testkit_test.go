package testkit

import (
	"net"
	"strconv"
	"testing"
)

// TestLoopbackPort: the port comes from below the ephemeral range, and it
// and the port above it can be bound for UDP and TCP; a port held by
// another listener is never returned.
func TestLoopbackPort(t *testing.T) {
	low, high := portPool()
	if high <= low {
		t.Fatalf("pool %d-%d is empty", low, high)
	}
	for range 20 {
		port := LoopbackPort(t, 2, "udp", "tcp")
		if port < low || port+1 >= high {
			t.Fatalf("port %d outside the pool %d-%d", port, low, high)
		}
		if !portsFree(port, 2, []string{"udp", "tcp"}) {
			t.Fatalf("port %d or %d is not free", port, port+1)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(LoopbackPort(t, 1, "tcp")))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := l.Addr().(*net.TCPAddr).Port
	if portsFree(held, 1, []string{"tcp"}) {
		t.Fatalf("port %d is held by a listener but reported free", held)
	}
	if portsFree(held-1, 2, []string{"tcp"}) {
		t.Fatalf("the run %d-%d includes a held port but was reported free", held-1, held)
	}
}
