package tftpd

import (
	"bytes"
	"testing"
)

// TestClassifyAllocatesNothing: every config request is classified; a name
// as phones send it costs no allocation.
func TestClassifyAllocatesNothing(t *testing.T) {
	for _, name := range []string{"SEP001122AABBCC.cnf.xml", "XMLDefault.cnf.xml", "CTLSEP001122AABBCC.tlv", "Desktops/320x212x12/List.xml"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = Classify(name) }); n != 0 {
			t.Errorf("Classify(%q): %v allocations", name, n)
		}
	}
}

// TestClassifyFoldsASCIIOnly: names match case-insensitively as their
// lower-cased spelling would, so a non-ASCII letter that folds to an ASCII
// one (the long s) does not make a trust-list name.
func TestClassifyFoldsASCIIOnly(t *testing.T) {
	for name, want := range map[string]Kind{
		"ctlsep001122aabbcc.TLV":      KindTrust,
		"ctl\u017fep001122aabbcc.tlv": KindStatic,
		"XMLDEFAULT.CNF.XML":          KindDefault,
	} {
		if r, err := Classify(name); err != nil || r.Kind != want {
			t.Errorf("Classify(%q) = %v, %v; want kind %v", name, r, err, want)
		}
	}
}

// TestMirrorAnswerAllocations: answering a kept config costs one
// allocation, the decoded path; net/http cost about twenty.
func TestMirrorAnswerAllocations(t *testing.T) {
	e := newEnv(t, nil)
	r := start(t, e, nil)
	if _, err := get(t, r.tftp, "SEP001122AABBCC.cnf.xml", nil); err != nil {
		t.Fatal(err)
	}
	mc := &mirrorConn{m: r.srv.HTTPServer()}
	req, _, err := readRequest([]byte("GET /SEP001122AABBCC.cnf.xml HTTP/1.1\r\nHost: x\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	mc.setNow()
	mc.answer(req, true) // grows the output buffer once
	n := testing.AllocsPerRun(100, func() {
		mc.out = mc.out[:0]
		// From memory: an event loop, which must not wait for the
		// store, answers it too.
		if o := mc.answer(req, false); o != answered {
			t.Fatalf("outcome %d, want answered", o)
		}
	})
	if n > 1 || !bytes.Contains(mc.out, []byte("200 OK")) {
		t.Errorf("%v allocations per answer, want at most 1:\n%s", n, mc.out)
	}
}
