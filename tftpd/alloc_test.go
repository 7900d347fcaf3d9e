package tftpd

import "testing"

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
