package tftpd

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pin/tftp/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"selfprov/internal/testkit"
)

// TestPerSourceBound: one address holds at most MaxTransfersPerSource
// transfers; another address is still served.
func TestPerSourceBound(t *testing.T) {
	r := start(t, newEnv(t, nil), func(o *Options) {
		o.MaxTransfersPerSource = 2
		o.Timeout, o.FirstACKTimeout = time.Minute, time.Minute
	})
	for i := range 2 {
		if reply := stall(t, r.tftp, "127.0.0.1"); reply.op != opDATA {
			t.Fatalf("request %d: answer %+v, want DATA", i, reply)
		}
	}
	third := stall(t, r.tftp, "127.0.0.1")
	if third.op != opERROR || third.code != errNotDefined || !strings.Contains(third.msg, "your address") {
		t.Errorf("third request from the same address: %+v, want ERROR naming the address", third)
	}
	if got := testutil.ToFloat64(r.srv.m.transfers.WithLabelValues(kindRefused, refuseSourceBusy)); got != 1 {
		t.Errorf("source_busy refusals = %v, want 1", got)
	}
	if _, err := getFrom(t, "127.0.0.2", r.tftp, "CSFALICE.cnf.xml"); err != nil {
		t.Errorf("another address: %v", err)
	}
	// Shutdown ends the stalled transfers rather than wait a minute.
	r.srv.cancel()
}

// TestFirstACKBound: a transfer that never has an acknowledgement gives
// its slot back after FirstACKTimeout, well before its retry schedule
// (here a minute per retransmission) would end it.
func TestFirstACKBound(t *testing.T) {
	r := start(t, newEnv(t, nil), func(o *Options) {
		o.MaxTransfers = 1
		o.Timeout, o.FirstACKTimeout = time.Minute, 300*time.Millisecond
	})
	if reply := stall(t, r.tftp, "127.0.0.1", "timeout", "255"); reply.op != opDATA {
		t.Fatalf("answer %+v, want DATA 1 (timeout 255 declined)", reply)
	}
	testkit.WaitFor(t, "every slot free", func() bool { return r.srv.slots.inUse() == 0 })
	if got := testutil.ToFloat64(r.srv.m.transfers.WithLabelValues("device", resultNoACK)); got != 1 {
		t.Errorf("no_ack transfers = %v, want 1", got)
	}
	if _, err := get(t, r.tftp, "CSFALICE.cnf.xml", nil); err != nil {
		t.Errorf("after the slot came back: %v", err)
	}
}

// TestReclaimWhenFull: with every slot held by transfers that were never
// acknowledged, a new request takes the slot of the oldest once it has
// waited reclaimAge; a younger one is not taken.
func TestReclaimWhenFull(t *testing.T) {
	r := start(t, newEnv(t, nil), func(o *Options) {
		o.MaxTransfers, o.MaxTransfersPerSource = 2, -1
		o.Timeout, o.FirstACKTimeout = time.Minute, time.Minute
	})
	stalled := time.Now() // before the server sends anything
	for i := range 2 {
		if reply := stall(t, r.tftp, "127.0.0.1"); reply.op != opDATA {
			t.Fatalf("request %d: answer %+v, want DATA", i, reply)
		}
	}
	// At once, the slots are not taken from transfers this young.
	if reply := stall(t, r.tftp, "127.0.0.1"); reply.op != opERROR || !strings.Contains(reply.msg, "busy") {
		if time.Since(stalled) < reclaimAge {
			t.Fatalf("request while the stalled transfers are young: %+v, want ERROR busy", reply)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := get(t, r.tftp, "CSFALICE.cnf.xml", func(c *tftp.Client) { c.SetRetries(1) })
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot reclaimed: %v", err)
		}
	}
	if elapsed := time.Since(stalled); elapsed < reclaimAge {
		t.Errorf("served %v after the stalled requests, before reclaimAge", elapsed)
	}
	if got := testutil.ToFloat64(r.srv.m.reclaimed); got < 1 {
		t.Errorf("reclaimed slots = %v", got)
	}
	testkit.WaitFor(t, "a transfer counted as no_ack", func() bool {
		return testutil.ToFloat64(r.srv.m.transfers.WithLabelValues("device", resultNoACK)) >= 1
	})
	r.srv.cancel()
}

// TestSlotAttack: a burst of 520 read requests from one host, each
// asking for timeout 255 and never acknowledging, leaves a second client
// served on its first try.
func TestSlotAttack(t *testing.T) {
	r := start(t, newEnv(t, nil), nil)
	for i := range 520 {
		reply := stall(t, r.tftp, "127.0.0.1", "timeout", "255")
		if reply.op != opDATA && !(reply.op == opERROR && strings.Contains(reply.msg, "your address")) {
			t.Fatalf("attack request %d: %+v", i, reply)
		}
	}
	if got := r.srv.slots.inUse(); got > DefaultMaxTransfersPerSource {
		t.Errorf("%d slots held by one address, bound %d", got, DefaultMaxTransfersPerSource)
	}
	for i := range 5 {
		if _, err := getFrom(t, "127.0.0.2", r.tftp, "SEP001122AABBCC.cnf.xml"); err != nil {
			t.Errorf("second client, fetch %d during the attack: %v", i, err)
		}
	}
}

// getFrom fetches name in one request from a socket bound to ip: the
// first answer must be the first block.
func getFrom(t testing.TB, ip, addr, name string) ([]byte, error) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ua, _ := net.ResolveUDPAddr("udp", addr)
	if _, err := c.WriteTo(rrqPacket(opRRQ, name, "octet"), ua); err != nil {
		t.Fatal(err)
	}
	first := readReply(t, c)
	if first.op != opDATA || first.code != 1 {
		return nil, fmt.Errorf("first answer op %d code %d %q, want DATA 1", first.op, first.code, first.msg)
	}
	if len(first.data) < 512 {
		_, _ = c.WriteTo([]byte{0, opACK, 0, 1}, first.from)
		return first.data, nil
	}
	rest, err := receive(t, c, first.from, 1, 512, 1)
	return append(first.data, rest...), err
}

// TestAnswersFromTheAddressAsked: on a socket bound to every address, a
// transfer answers from the address the request was sent to, as clients
// on a host with several addresses expect.
func TestAnswersFromTheAddressAsked(t *testing.T) {
	e := newEnv(t, nil)
	for _, network := range []string{"udp4", "udp"} {
		t.Run(network, func(t *testing.T) {
			srv, err := New(Options{Core: e.svc, CallManagers: testCMs, Timeout: time.Second, FirstACKTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			pc, err := net.ListenPacket(network, ":0")
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(pc) }()
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := srv.Shutdown(ctx); err != nil {
					t.Error(err)
				}
				if err := <-done; err != nil {
					t.Errorf("Serve: %v", err)
				}
			})
			port := pc.LocalAddr().(*net.UDPAddr).Port
			for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
				to := net.JoinHostPort(ip, strconv.Itoa(port))
				reply, c := exchange(t, to, rrqPacket(opRRQ, "SEP001122AABBCC.cnf.xml", "octet"))
				from, _ := reply.from.(*net.UDPAddr)
				if reply.op != opDATA || from == nil || !from.IP.Equal(net.ParseIP(ip)) {
					t.Fatalf("request to %s: answer op %d from %v, want DATA from %s", to, reply.op, reply.from, ip)
				}
				rest, err := receive(t, c, reply.from, 1, 512, 1)
				if err != nil || len(reply.data)+len(rest) == 0 {
					t.Fatalf("transfer from %s: %v", ip, err)
				}
			}
		})
	}
}
