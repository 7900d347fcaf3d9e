package phonesim

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// FuzzCallDispatch feeds what a network may send to a line: any message
// the SIP parser accepts goes through the UA's dispatch as if it had come
// over UDP. Every request gets at most the responses a transaction allows,
// each a parsable response of the same Call-ID, and once the UA ends its
// calls nothing of them is left.
func FuzzCallDispatch(f *testing.F) {
	const peer = "127.0.0.1:9"
	inv := "INVITE sip:2002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + peer + ";branch=z9hG4bKf1\r\n" +
		"Record-Route: <sip:127.0.0.1:9;lr>, <sip:127.0.0.1:9;transport=tcp;lr>\r\nFrom: <sip:2001@x>;tag=a\r\nTo: <sip:2002@x>\r\n" +
		"Call-ID: f1\r\nCSeq: 1 INVITE\r\nContact: <sip:c@127.0.0.1:9>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	f.Add(inv)
	f.Add(strings.Replace(inv, "INVITE sip", "CANCEL sip", 1))
	f.Add(strings.Replace(strings.Replace(inv, "INVITE sip", "BYE sip", 1), "To: <sip:2002@x>", "To: <sip:2002@x>;tag=b", 1))
	f.Add(strings.Replace(strings.Replace(inv, "INVITE sip", "ACK sip", 1), "To: <sip:2002@x>", "To: <sip:2002@x>;tag=b", 1))
	f.Add(strings.Replace(inv, "Contact: <sip:c@127.0.0.1:9>\r\n", "", 1))
	f.Add("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP " + peer + ";branch=z9hG4bKf1\r\nFrom: <sip:2001@x>;tag=a\r\nTo: <sip:2002@x>;tag=b\r\n" +
		"Call-ID: f1\r\nCSeq: 1 INVITE\r\nContact: <sip:c@127.0.0.1:9>\r\nRecord-Route: <sip:[::1]:9;lr>\r\nContent-Length: 0\r\n\r\n")
	f.Add("OPTIONS sip:2002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + peer + ";branch=z9hG4bKo\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: o\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		msg, err := sip.NewParser().ParseSIP([]byte(raw))
		if err != nil {
			return
		}
		ua := NewUA()
		ua.UDPSockets = 1
		ua.LocalIPs = []string{"127.0.0.1"}
		defer ua.Close()
		leg, err := ua.Leg("udp", peer, 0)
		if err != nil {
			t.Skip(err)
		}
		ep := Endpoint{Leg: leg, AOR: "2002", Contact: "c2002", Device: "SEP0A0000000002", Answer: Answer{Hold: time.Hour}}
		ua.HandleCalls("2002", func() (Endpoint, bool) { return ep, true })
		var replies [][]byte
		reply := func(b []byte) { replies = append(replies, append([]byte(nil), b...)) }
		ua.dispatch(msg, reply, inbound{})
		req, isReq := msg.(*sip.Request)
		if !isReq {
			if len(replies) != 0 {
				t.Fatalf("a response was answered: %q", replies)
			}
		} else if len(replies) > 3 { // 100, 180 and a final, for an INVITE
			t.Fatalf("%d replies to one request", len(replies))
		}
		for _, b := range replies {
			// Checked as text: the headers a response echoes are the
			// parser's rendering of what came, not this package's.
			status, _, _ := strings.Cut(string(b), "\r\n")
			code, _, _ := strings.Cut(strings.TrimPrefix(status, "SIP/2.0 "), " ")
			if !strings.HasPrefix(status, "SIP/2.0 ") || len(code) != 3 || code < "100" || code > "699" {
				t.Fatalf("reply status line %q", status)
			}
			if !strings.Contains(string(b), "\r\nCall-ID: "+req.CallID().Value()+"\r\n") {
				t.Fatalf("reply %q lacks the request's Call-ID %q", b, req.CallID().Value())
			}
		}
		ua.endAll()
		if c := ua.CallCounts(); c.Active != 0 {
			t.Fatalf("%d calls left after ending all", c.Active)
		}
	})
}
