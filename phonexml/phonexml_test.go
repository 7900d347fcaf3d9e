package phonexml

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// samples holds one object of each kind, with user data needing escapes.
var samples = map[string]Object{
	"input": &Input{
		Title:  "Self Provisioning",
		Prompt: "Enter user ID and PIN",
		URL:    "http://192.0.2.10:8080/xps/login?name=SEP001122AABBCC",
		Items: []InputItem{
			{DisplayName: "User ID", QueryStringParam: "userid", InputFlags: "A"},
			{DisplayName: "PIN", QueryStringParam: "pin", InputFlags: "NP"},
		},
		SoftKeys: []SoftKeyItem{
			{Name: "Submit", URL: "SoftKey:Submit", Position: 1},
			{Name: "<<", URL: "SoftKey:<<", Position: 2},
			{Name: "Exit", URL: "SoftKey:Exit", Position: 3},
		},
	},
	"text": &Text{
		Title:  "Self Provisioning",
		Prompt: `O'Brien & <Sons> "Ltd"`,
		Text:   "line one\nline\ttwo\r\nAUTH_FAILED",
		SoftKeys: []SoftKeyItem{
			{Name: "Exit", URL: "SoftKey:Exit", Position: 1},
			{Name: "OK", URL: "http://h/xps/confirm?name=SEP1&token=a&b=<c>", URLDown: "http://h/down", Position: 2},
		},
	},
	"menu": &Menu{
		Title:  "Services",
		Prompt: "Choose",
		Items: []MenuItem{
			{Name: "Self Provisioning", URL: "http://h/xps/idle?name=SEP1"},
			{Name: "Directory & More", URL: "Init:Directories"},
		},
		SoftKeys: []SoftKeyItem{{Name: "Select", URL: "SoftKey:Select", Position: 1}},
	},
	"execute": &Execute{Items: []ExecuteItem{
		{URL: "http://h/xps/idle?name=SEP1&x=\"1\"", Priority: 0},
		{URL: "Key:Services", Priority: 1},
	}},
	"response": &Response{Items: []ResponseItem{{Status: 0, Data: "Success", URL: "http://h/a?b=1&c=2"}}},
	"error":    &Error{Number: 4},
}

func TestGolden(t *testing.T) {
	for name, obj := range samples {
		t.Run(name, func(t *testing.T) {
			got, err := Render(obj)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".golden.xml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from golden:\n got: %s\nwant: %s", name, got, want)
			}
			back, err := Parse(got)
			if err != nil {
				t.Fatalf("parse own rendering: %v", err)
			}
			if !reflect.DeepEqual(back, obj) {
				t.Errorf("round trip:\n got %#v\nwant %#v", back, obj)
			}
			if back.Tag() != obj.Tag() || !bytes.Contains(got, []byte("<"+obj.Tag()+">")) && !bytes.Contains(got, []byte("<"+obj.Tag()+" ")) {
				t.Errorf("root tag: got %s", got)
			}
		})
	}
}

func TestEscaping(t *testing.T) {
	b, err := Render(samples["text"])
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"<Sons>", "& <", "<c>"} {
		if bytes.Contains(b, []byte(raw)) {
			t.Errorf("unescaped %q in %s", raw, b)
		}
	}
	// Characters XML cannot carry become U+FFFD rather than breaking the document.
	b, err = Render(&Text{Text: "a\x00b\x1bc"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := Parse(b)
	if err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	if got := o.(*Text).Text; got != "a\uFFFDb\uFFFDc" {
		t.Errorf("Text = %q", got)
	}
}

func TestParseAcceptsForeignShapes(t *testing.T) {
	// Pretty-printed, commented, with a declaration, as other servers write them.
	doc := `<?xml version="1.0" encoding="utf-8"?>
<!-- from CUCM -->
<CiscoIPPhoneText>
  <Title>T</Title>
  <Text>a<!-- c -->b</Text>
  <SoftKeyItem><Name>Exit</Name><URL>SoftKey:Exit</URL><Position> 3 </Position></SoftKeyItem>
</CiscoIPPhoneText>`
	o, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := &Text{Title: "T", Text: "ab", SoftKeys: []SoftKeyItem{{Name: "Exit", URL: "SoftKey:Exit", Position: 3}}}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("got %#v", o)
	}
	o, err = Parse([]byte(`<CiscoIPPhoneExecute><ExecuteItem URL="http://x/"/></CiscoIPPhoneExecute>`))
	if err != nil || o.(*Execute).Items[0].Priority != 0 {
		t.Errorf("Execute without Priority: %#v, %v", o, err)
	}
	var pe *Error
	o, _ = Parse([]byte(`<CiscoIPPhoneError Number="6"/>`))
	if e, ok := o.(error); !ok || !errors.As(e, &pe) || pe.Number != 6 || !strings.Contains(e.Error(), "undocumented") {
		t.Errorf("CiscoIPPhoneError as error: %#v", o)
	}
}

func TestParseRejects(t *testing.T) {
	long := "http://h/" + strings.Repeat("a", MaxURL)
	many := func(item string, n int) string { return strings.Repeat(item, n) }
	cases := []struct {
		name, doc string
		want      error
		msg       string
	}{
		{"empty", ``, ErrMalformed, "no root"},
		{"not xml", `hello`, ErrMalformed, "text outside"},
		{"unclosed", `<CiscoIPPhoneText><Title>x</CiscoIPPhoneText>`, ErrMalformed, ""},
		{"two roots", `<CiscoIPPhoneError Number="1"/><CiscoIPPhoneError Number="1"/>`, ErrMalformed, "more than one root"},
		{"doctype", `<!DOCTYPE x [<!ENTITY a "b">]><CiscoIPPhoneText/>`, ErrMalformed, "DOCTYPE"},
		{"unknown root", `<CiscoIPPhoneImage/>`, ErrUnknown, "CiscoIPPhoneImage"},
		{"namespaced root", `<x:CiscoIPPhoneText xmlns:x="u"/>`, ErrUnknown, ""},
		{"too large", `<CiscoIPPhoneText><Text>` + strings.Repeat("a", MaxObjectSize) + `</Text></CiscoIPPhoneText>`, ErrTooLarge, ""},
		{"too deep", `<CiscoIPPhoneText>` + strings.Repeat("<a>", 20) + strings.Repeat("</a>", 20) + `</CiscoIPPhoneText>`, ErrMalformed, ""},
		{"unknown child", `<CiscoIPPhoneText><Foo/></CiscoIPPhoneText>`, ErrInvalid, "<Foo>"},
		{"stray text", `<CiscoIPPhoneText>hi<Title/></CiscoIPPhoneText>`, ErrInvalid, "unexpected text"},
		{"duplicate title", `<CiscoIPPhoneText><Title>a</Title><Title>b</Title></CiscoIPPhoneText>`, ErrInvalid, "more than once"},
		{"nested in leaf", `<CiscoIPPhoneText><Text><b>x</b></Text></CiscoIPPhoneText>`, ErrInvalid, "text only"},
		{"softkey no position", `<CiscoIPPhoneText><SoftKeyItem><Name>Exit</Name><URL>SoftKey:Exit</URL></SoftKeyItem></CiscoIPPhoneText>`, ErrInvalid, "no Position"},
		{"softkey bad position", `<CiscoIPPhoneText><SoftKeyItem><Name>Exit</Name><URL>SoftKey:Exit</URL><Position>one</Position></SoftKeyItem></CiscoIPPhoneText>`, ErrInvalid, "not an integer"},
		{"softkey zero position", `<CiscoIPPhoneText><SoftKeyItem><Name>Exit</Name><URL>SoftKey:Exit</URL><Position>0</Position></SoftKeyItem></CiscoIPPhoneText>`, ErrInvalid, "Position 0"},
		{"softkey no url", `<CiscoIPPhoneText><SoftKeyItem><Name>Exit</Name><Position>1</Position></SoftKeyItem></CiscoIPPhoneText>`, ErrInvalid, "URL is required"},
		{"input no url", `<CiscoIPPhoneInput><InputItem><QueryStringParam>a</QueryStringParam></InputItem></CiscoIPPhoneInput>`, ErrInvalid, "URL is required"},
		{"input no items", `<CiscoIPPhoneInput><URL>http://h/</URL></CiscoIPPhoneInput>`, ErrInvalid, "0 InputItems"},
		{"input six items", `<CiscoIPPhoneInput><URL>http://h/</URL>` + many(`<InputItem><QueryStringParam>a</QueryStringParam></InputItem>`, 6) + `</CiscoIPPhoneInput>`, ErrInvalid, "more than 5"},
		{"input bad flags", `<CiscoIPPhoneInput><URL>http://h/</URL><InputItem><QueryStringParam>a</QueryStringParam><InputFlags>PN</InputFlags></InputItem></CiscoIPPhoneInput>`, ErrInvalid, "InputFlags"},
		{"input long url", `<CiscoIPPhoneInput><URL>` + long + `</URL><InputItem><QueryStringParam>a</QueryStringParam></InputItem></CiscoIPPhoneInput>`, ErrInvalid, "over the 256"},
		{"menu long name", `<CiscoIPPhoneMenu><MenuItem><Name>` + strings.Repeat("n", 65) + `</Name><URL>http://h/</URL></MenuItem></CiscoIPPhoneMenu>`, ErrInvalid, "at most 64"},
		{"menu 101 items", `<CiscoIPPhoneMenu>` + many(`<MenuItem><Name>n</Name><URL>http://h/</URL></MenuItem>`, 101) + `</CiscoIPPhoneMenu>`, ErrInvalid, "more than 100"},
		{"execute none", `<CiscoIPPhoneExecute/>`, ErrInvalid, "0 ExecuteItems"},
		{"execute four", `<CiscoIPPhoneExecute>` + many(`<ExecuteItem URL="http://h/"/>`, 4) + `</CiscoIPPhoneExecute>`, ErrInvalid, "more than 3"},
		{"execute softkey", `<CiscoIPPhoneExecute><ExecuteItem URL="SoftKey:Exit"/></CiscoIPPhoneExecute>`, ErrInvalid, "not allowed"},
		{"execute priority", `<CiscoIPPhoneExecute><ExecuteItem URL="http://h/" Priority="3"/></CiscoIPPhoneExecute>`, ErrInvalid, "Priority 3"},
		{"response no status", `<CiscoIPPhoneResponse><ResponseItem Data="x"/></CiscoIPPhoneResponse>`, ErrInvalid, "no Status"},
		{"error no number", `<CiscoIPPhoneError/>`, ErrInvalid, "no Number"},
		{"error bad number", `<CiscoIPPhoneError Number="x"/>`, ErrInvalid, "not an integer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := Parse([]byte(c.doc))
			if !errors.Is(err, c.want) {
				t.Fatalf("Parse = %#v, %v; want %v", o, err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not mention %q", err, c.msg)
			}
		})
	}
}

func TestRenderRejects(t *testing.T) {
	for _, obj := range []Object{
		&Input{URL: "http://h/"},
		&Text{SoftKeys: []SoftKeyItem{{Name: "x", URL: "http://h/"}}},
		&Execute{Items: []ExecuteItem{{URL: "SoftKey:Exit"}}},
		&Menu{Items: []MenuItem{{Name: "x"}}},
		&Error{Number: -1},
	} {
		if b, err := Render(obj); !errors.Is(err, ErrInvalid) {
			t.Errorf("Render(%#v) = %s, %v; want ErrInvalid", obj, b, err)
		}
	}
}

func TestSubmitURL(t *testing.T) {
	cases := []struct{ base, want string }{
		{"http://h/xps/login", "http://h/xps/login?userid=a+b&pin=%26%3F"},
		{"http://h/xps/login?name=SEP1", "http://h/xps/login?name=SEP1&userid=a+b&pin=%26%3F"},
	}
	for _, c := range cases {
		if got := SubmitURL(c.base, [2]string{"userid", "a b"}, [2]string{"pin", "&?"}); got != c.want {
			t.Errorf("SubmitURL(%q) = %q, want %q", c.base, got, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, obj := range samples {
		b, err := Render(obj)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b) // every object kind, escaped user data
	}
	f.Add([]byte(`<CiscoIPPhoneText><Text>&#xD;&#x9;</Text></CiscoIPPhoneText>`))              // references for CR/TAB
	f.Add([]byte(`<CiscoIPPhoneExecute><ExecuteItem URL="a&#xA;b	c"/></CiscoIPPhoneExecute>`)) // attr whitespace
	f.Add([]byte(`<CiscoIPPhoneError Number="+6"/>`))                                          // signed number
	f.Add([]byte(`<CiscoIPPhoneText><Title><![CDATA[<x>]]></Title></CiscoIPPhoneText>`))       // CDATA
	f.Add([]byte(`<?xml version="1.0"?><CiscoIPPhoneMenu/>`))                                  // empty menu
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := Parse(b)
		if err != nil {
			if o != nil {
				t.Fatalf("Parse returned both %#v and %v", o, err)
			}
			return
		}
		// Whatever Parse accepts must render and parse back to the same value.
		out, err := Render(o)
		if err != nil {
			t.Fatalf("Render of parsed %#v: %v", o, err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("reparse %s: %v", out, err)
		}
		if !reflect.DeepEqual(o, back) {
			t.Fatalf("round trip:\n first %#v\nsecond %#v\nvia %s", o, back, out)
		}
	})
}
