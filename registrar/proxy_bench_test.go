package registrar

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// BenchmarkCall is one whole call through the proxy over UDP, one after
// another: INVITE, 100, 180, 200, ACK, BYE, 200. Its ns/op is the round
// trips of a call; its CPU profile is the proxy's cost per call.
func BenchmarkCall(b *testing.B) {
	e := newEnv(b, envOpt{})
	a := e.autoPhoneB(b, "UDP", 1)
	c := e.autoPhoneB(b, "UDP", 2)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := "bench" + strconv.Itoa(i)
		call := a.invite(c.dn, id, "")
		inv := c.requestOf(sip.INVITE)
		c.respond(inv, 180, "Ringing", "")
		c.respond(inv, 200, "OK", testSDP)
		ok := a.final(sip.INVITE)
		call.inDialog("ACK", ok, 1, "")
		c.requestOf(sip.ACK)
		call.inDialog("BYE", ok, 2, "")
		bye := c.requestOf(sip.BYE)
		c.respond(bye, 200, "OK", "")
		a.final(sip.BYE)
	}
}

// BenchmarkActiveCallMemory answers b.N calls and leaves them up, then
// reports the heap the proxy holds per answered call (B/call).
func BenchmarkActiveCallMemory(b *testing.B) {
	e := newEnv(b, envOpt{})
	a := e.autoPhoneB(b, "UDP", 1)
	c := e.autoPhoneB(b, "UDP", 2)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := range b.N {
		call := a.invite(c.dn, "mem"+strconv.Itoa(i), "")
		inv := c.requestOf(sip.INVITE)
		c.respond(inv, 200, "OK", testSDP)
		ok := a.final(sip.INVITE)
		call.inDialog("ACK", ok, 1, "")
		c.requestOf(sip.ACK)
	}
	b.StopTimer()
	// The answered INVITEs' keys linger for 32 s against retransmissions;
	// they are part of the cost of a call set up in the last 32 s.
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := e.srv.calls.active(); n != b.N {
		b.Fatalf("%d calls up, want %d", n, b.N)
	}
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "B/call")
}
