package registrar

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// BenchmarkRegisterRefreshUDP measures refreshes of known devices through
// a real UDP socket, with 64 REGISTERs in flight (go test -bench, for
// profiling; the peer comparison is bench/sip/bench.sh with SIPp).
func BenchmarkRegisterRefreshUDP(b *testing.B) { benchRefresh(b, "UDP") }

// BenchmarkRegisterRefreshTCP is the same over one TCP connection.
func BenchmarkRegisterRefreshTCP(b *testing.B) { benchRefresh(b, "TCP") }

func benchRefresh(b *testing.B, tr string) {
	e := newEnv(b, envOpt{})
	network, addr := "udp", e.udp
	if tr == "TCP" {
		network, addr = "tcp", e.tcp
	}
	conn, err := net.Dial(network, addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	const devices = 1000
	msgs := make([][]byte, devices)
	for i := range devices {
		m := mac(i)
		msgs[i] = []byte("REGISTER sip:127.0.0.1 SIP/2.0\r\n" +
			"Via: SIP/2.0/" + tr + " " + local + ";branch=z9hG4bK" + m + "\r\n" +
			"From: <sip:1000@127.0.0.1>;tag=" + m + "\r\n" +
			"To: <sip:1000@127.0.0.1>\r\n" +
			"Call-ID: " + m + "@127.0.0.1\r\n" +
			"CSeq: 101 REGISTER\r\n" +
			"User-Agent: Cisco-CP8845/14.2.1\r\n" +
			fmt.Sprintf(`Contact: <sip:%s@%s;transport=%s>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-%s>";+u.sip!devicename.ccm.cisco.com="SEP%s";+u.sip!model.ccm.cisco.com="36224"`, m, local, strings.ToLower(tr), m, strings.ToUpper(m)) + "\r\n" +
			"Expires: 3600\r\nContent-Length: 0\r\n\r\n")
		if _, _, err := e.svc.AutoRegister(b.Context(), "SEP"+m, 36224); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, 65536)
	r := bufio.NewReaderSize(conn, 65536)
	read := func() {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if tr == "UDP" {
			if _, err := conn.Read(buf); err != nil {
				b.Fatal(err)
			}
			return
		}
		// One response per call: read up to the blank line (no bodies).
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) == 2 {
				return
			}
		}
	}
	// Warm: bind every device.
	for i := range devices {
		conn.Write(msgs[i])
		read()
	}
	const window = 64
	b.ResetTimer()
	inflight := 0
	for i := range b.N {
		conn.Write(msgs[i%devices])
		inflight++
		if inflight == window {
			read()
			inflight--
		}
	}
	for ; inflight > 0; inflight-- {
		read()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registers/s")
}
