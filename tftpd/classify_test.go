package tftpd

import (
	"errors"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind Kind
		name string
	}{
		{"SEP001122AABBCC.cnf.xml", KindDevice, "SEP001122AABBCC"},
		{"sep001122aabbcc.cnf.xml", KindDevice, "SEP001122AABBCC"},
		{"Sep001122aAbBcC.CNF.XML", KindDevice, "SEP001122AABBCC"},
		{"CSFalice.cnf.xml", KindDevice, "CSFalice"},
		{"botALICE.cnf.xml", KindDevice, "BOTALICE"},
		{"TCTA.B_C-1.cnf.xml", KindDevice, "TCTA.B_C-1"},
		{"TAB123456789012.cnf.xml", KindDevice, "TAB123456789012"},
		{"XMLDefault.cnf.xml", KindDefault, "XMLDefault.cnf.xml"},
		{"xmldefault.CNF.xml", KindDefault, "XMLDefault.cnf.xml"},
		{"CTLSEP001122aabbcc.tlv", KindTrust, "CTLSEP001122AABBCC.tlv"},
		{"itlsep001122AABBCC.TLV", KindTrust, "ITLSEP001122AABBCC.tlv"},
		{"ITLFile.tlv", KindTrust, "ITLFile.tlv"},
		{"itlfile.tlv", KindTrust, "ITLFile.tlv"},
		// Everything else is looked up in the static folder.
		{"SEP001122AABBC.cnf.xml", KindStatic, "SEP001122AABBC.cnf.xml"},           // 11 hex digits
		{"SEP001122AABBCG.cnf.xml", KindStatic, "SEP001122AABBCG.cnf.xml"},         // not hex
		{"TAB1234567890123.cnf.xml", KindStatic, "TAB1234567890123.cnf.xml"},       // 16 characters
		{"SEP001122AABBCC.cnf.xml.sgn", KindStatic, "SEP001122AABBCC.cnf.xml.sgn"}, // signed: not generated
		{"CTLSEP0011.tlv", KindStatic, "CTLSEP0011.tlv"},
		{"dialplan.xml", KindStatic, "dialplan.xml"},
		{"Desktops/320x212x12/List.xml", KindStatic, "Desktops/320x212x12/List.xml"},
		{"SEP001122AABBCC.cnf.xml/x", KindStatic, "SEP001122AABBCC.cnf.xml/x"},
		{"..a", KindStatic, "..a"},
	} {
		got, err := Classify(tc.in)
		if err != nil || got.Kind != tc.kind || got.Name != tc.name {
			t.Errorf("Classify(%q) = %v %q, %v; want %v %q", tc.in, got.Kind, got.Name, err, tc.kind, tc.name)
		}
	}
}

func TestClassifyRejects(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "empty"},
		{strings.Repeat("a", MaxNameLen+1), "limit"},
		{"a\x00b", "control"},
		{"a\nb", "control"},
		{"a\x7fb", "control"},
		{"\xff\xfe.cnf.xml", "UTF-8"},
		{"/etc/passwd", "absolute"},
		{"/SEP001122AABBCC.cnf.xml", "absolute"},
		{"../etc/passwd", "leaves"},
		{"a/../../b", "leaves"},
		{"a/./b", "leaves"},
		{"..", "leaves"},
		{"a//b", "empty path element"},
		{"a/", "empty path element"},
		{`..\..\windows\win.ini`, "backslash"},
		{"C:secret", "colon"},
		{"http://x/y", "colon"},
	} {
		_, err := Classify(tc.in)
		if !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Classify(%q) error %v, want ErrBadName mentioning %q", tc.in, err, tc.want)
		}
	}
}

// FuzzClassify checks the classifier's promises: no accepted name can
// leave the static folder, device names come out canonical, and
// classifying a canonical name again gives the same request.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"SEP001122AABBCC.cnf.xml", // device
		"sep001122aabbcc.CNF.XML", // device, other case
		"CSFalice.cnf.xml",        // client
		"XMLDefault.cnf.xml",      // default
		"CTLSEP001122AABBCC.tlv",  // trust list
		"ITLFile.tlv",             // trust list
		"Desktops/320x212x12/List.xml",
		"../etc/passwd",         // traversal
		"/etc/passwd",           // absolute
		"a/../b",                // traversal inside
		"a\x00b",                // NUL
		`..\x`,                  // backslash
		"SEP001122AABBCC\u00e9", // non-ASCII
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		r, err := Classify(name)
		if err != nil {
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("error does not wrap ErrBadName: %v", err)
			}
			return
		}
		if r.Name == "" || strings.HasPrefix(r.Name, "/") || strings.ContainsAny(r.Name, "\\\x00:") {
			t.Fatalf("Classify(%q) accepted unsafe %q", name, r.Name)
		}
		for _, part := range strings.Split(r.Name, "/") {
			if part == "" || part == "." || part == ".." {
				t.Fatalf("Classify(%q) accepted a path leaving the folder: %q", name, r.Name)
			}
		}
		switch r.Kind {
		case KindDevice:
			if !strings.EqualFold(r.Name+".cnf.xml", name) {
				t.Fatalf("device %q does not spell %q", r.Name, name)
			}
			if p := r.Name[:3]; p != "SEP" && p != "CSF" && p != "BOT" && p != "TCT" && p != "TAB" {
				t.Fatalf("device %q has no canonical prefix", r.Name)
			}
			if r.Name[:3] == "SEP" && r.Name != strings.ToUpper(r.Name) {
				t.Fatalf("SEP name %q is not upper case", r.Name)
			}
			again, err := Classify(r.Name + ".cnf.xml")
			if err != nil || again != r {
				t.Fatalf("canonical %q classifies as %v, %v", r.Name, again, err)
			}
		case KindDefault, KindTrust:
			again, err := Classify(r.Name)
			if err != nil || again != r || !strings.EqualFold(r.Name, name) {
				t.Fatalf("canonical %q classifies as %v, %v", r.Name, again, err)
			}
		case KindStatic:
			if r.Name != name {
				t.Fatalf("static name changed from %q to %q", name, r.Name)
			}
		default:
			t.Fatalf("Classify(%q) gave kind %v", name, r.Kind)
		}
	})
}
