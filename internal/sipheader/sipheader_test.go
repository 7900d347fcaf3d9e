package sipheader

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestGetAll: Get and All find what sipgo's GetHeader and GetHeaders
// find, in any case and in the compact form, and Get allocates nothing
// (sipgo lowercases every name it passes that is outside its short list,
// such as Expires).
func TestGetAll(t *testing.T) {
	msg, err := sip.NewParser().ParseSIP([]byte("REGISTER sip:127.0.0.1 SIP/2.0\r\n" +
		"Via: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bK1\r\n" +
		"v: SIP/2.0/TCP 192.0.2.2:5060;branch=z9hG4bK2\r\n" +
		"From: <sip:1000@127.0.0.1>;tag=1\r\n" +
		"To: <sip:1000@127.0.0.1>\r\n" +
		"Call-ID: 1@192.0.2.1\r\n" +
		"CSeq: 101 REGISTER\r\n" +
		"X-Cisco-Trace: a\r\n" +
		"USER-AGENT: Cisco-CP8845/14.2.1\r\n" +
		"m: <sip:a@192.0.2.1:5060;transport=tcp>\r\n" +
		"M: <sip:b@192.0.2.1:5060;transport=tcp>\r\n" +
		"expires: 3600\r\n" +
		"Content-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	req := msg.(*sip.Request)
	for _, name := range []string{"Expires", "expires", "User-Agent", "Via", "Call-ID", "Contact", "m", "Route", "X-Cisco-Trace"} {
		want, got := req.GetHeader(name), Get(req, name)
		if want != got {
			t.Errorf("Get(%q) = %v, sipgo's GetHeader %v", name, got, want)
		}
		wants, gots := req.GetHeaders(name), All(req, name)
		if len(wants) != len(gots) {
			t.Fatalf("All(%q) found %d, sipgo's GetHeaders %d", name, len(gots), len(wants))
		}
		for i := range wants {
			if wants[i] != gots[i] {
				t.Errorf("All(%q)[%d] = %v, want %v", name, i, gots[i], wants[i])
			}
		}
	}
	if n := len(All(req, "Via")); n != 2 {
		t.Errorf("%d Vias, want the full and the compact one", n)
	}
	if got := Get(req, "Expires"); got == nil || got.Value() != "3600" {
		t.Fatalf("Expires: %v", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Get(req, "Expires") }); n != 0 {
		t.Errorf("Get allocates %.0f times a lookup, want none", n)
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Event", "service-control"))
	if got := Get(res, "event"); got == nil || got.Value() != "service-control" {
		t.Errorf("Get on a response: %v", got)
	}
}
