package admin_test

import (
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"selfprov/internal/testkit"
	"selfprov/phonecfg"
	"selfprov/provision"
	"selfprov/tftpd"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

type appearance struct {
	Button      int    `json:"button"`
	DN          string `json:"dn"`
	Partition   string `json:"partition,omitempty"`
	Label       string `json:"label,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	Contact     string `json:"contact,omitempty"`
	MaxCalls    int    `json:"maxCalls,omitempty"`
	BusyTrigger int    `json:"busyTrigger,omitempty"`
}

type deviceAnswer struct {
	Name          string `json:"name"`
	Model         int    `json:"model"`
	Owner         string `json:"owner"`
	Description   string `json:"description"`
	State         string `json:"state"`
	UDT           string `json:"udt"`
	Settings      struct{ IdleURL, SIPProfile string }
	Lines         []appearance `json:"lines"`
	ConfigVersion string       `json:"configVersion"`
}

type lineAnswer struct {
	DN             string `json:"dn"`
	Partition      string `json:"partition"`
	AlertingName   string `json:"alertingName"`
	CallForwardAll string `json:"callForwardAll"`
	Description    string `json:"description"`
	Appearances    []struct {
		Device string `json:"device"`
		Button int    `json:"button"`
	} `json:"appearances"`
}

// configServer serves the devices' config files over HTTP from the same
// core, as the daemon's :6970 does.
func configServer(t *testing.T, e *env) func(name string) string {
	t.Helper()
	srv, err := tftpd.New(tftpd.Options{Core: e.svc, CallManagers: []phonecfg.CallManager{{Host: "192.0.2.10"}}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return func(name string) string {
		t.Helper()
		resp, err := http.Get(hs.URL + "/" + name + ".cnf.xml")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s.cnf.xml: %d %v\n%s", name, resp.StatusCode, err, b)
		}
		return string(b)
	}
}

var stampRE = regexp.MustCompile(`<versionStamp>[^<]*</versionStamp>`)

func stampOf(cfg string) string { return stampRE.FindString(cfg) }

func TestDeviceEditsOverHTTP(t *testing.T) {
	e := newEnv(t, envOpt{})
	fetch := configServer(t, e)

	// A desk phone with two lines: the owner's extension and a shared one.
	var d deviceAnswer
	r := e.call("POST", "/api/v1/devices", map[string]any{
		"name": "sep00000000a001", "model": 36224, "owner": "alice", "description": "Front desk",
		"udt": "Desk Phone Template",
		"lines": []map[string]any{
			{"button": 1, "dn": "2001", "label": "2001 - Adams", "displayName": "Alice Adams", "maxCalls": 4, "busyTrigger": 2},
			{"button": 2, "dn": "3001", "partition": "Internal", "label": "Sales", "displayName": "Sales"},
		},
	}, 201, &d)
	if loc := r.header.Get("Location"); loc != "/api/v1/devices/SEP00000000A001" {
		t.Fatalf("Location %q", loc)
	}
	if d.Name != "SEP00000000A001" || d.State != "provisioned" || len(d.Lines) != 2 || d.Lines[1].Contact == "" {
		t.Fatalf("added %+v", d)
	}
	e.fails("POST", "/api/v1/devices", map[string]any{"name": "SEP00000000A001", "model": 36224, "udt": "Desk Phone Template"}, 409, provision.CodeDuplicate)
	e.fails("POST", "/api/v1/devices", map[string]any{"name": "SEP00000000A002", "udt": "Desk Phone Template"}, 400, provision.CodeInvalid)
	e.fails("POST", "/api/v1/devices", map[string]any{"name": "SEP00000000A002", "model": 36224, "udt": "Desk Phone Template",
		"lines": []map[string]any{{"button": 1, "dn": "1500"}}}, 409, provision.CodeDNInAutoRegRange)

	// The config served is the device with both lines (golden, with the
	// random contacts and stamp named).
	cfg := fetch("SEP00000000A001")
	masked := stampRE.ReplaceAllString(cfg, "<versionStamp>STAMP</versionStamp>")
	for i, l := range d.Lines {
		masked = strings.ReplaceAll(masked, l.Contact, "CONTACT-"+string(rune('1'+i)))
	}
	testkit.Golden(t, filepath.Join("testdata", "two-lines.cnf.xml"), []byte(masked), *update)

	// PATCH changes what it carries; the config follows at once, with a
	// new stamp, and no phone is reset.
	var p deviceAnswer
	e.call("PATCH", "/api/v1/devices/SEP00000000A001", map[string]any{
		"lines": []map[string]any{
			{"button": 1, "dn": "2001", "label": "Main", "displayName": "Alice Adams"},
			{"button": 2, "dn": "3001", "partition": "Internal", "label": "Sales"},
			{"button": 3, "dn": "3002", "partition": "Internal", "label": "Support"},
		},
	}, 200, &p)
	if p.Description != "Front desk" || p.Owner != "alice" || len(p.Lines) != 3 || p.Lines[0].Contact != d.Lines[0].Contact || p.ConfigVersion == d.ConfigVersion {
		t.Fatalf("patched %+v", p)
	}
	cfg2 := fetch("SEP00000000A001")
	if stampOf(cfg2) == stampOf(cfg) || !strings.Contains(cfg2, "<featureLabel>Support</featureLabel>") || !strings.Contains(cfg2, "<featureLabel>Main</featureLabel>") {
		t.Fatalf("config after the edit kept its stamp or lacks the new line:\n%s", cfg2)
	}
	if got := e.notifier.got(); len(got) != 0 {
		t.Fatalf("an edit sent %v", got)
	}

	// PUT replaces: what it leaves out is gone.
	p = deviceAnswer{}
	e.call("PUT", "/api/v1/devices/sep00000000a001", map[string]any{
		"name": "SEP00000000A001", "model": 36224, "description": "Lobby",
		"lines":    []map[string]any{{"button": 1, "dn": "2001"}},
		"settings": map[string]any{"devicePool": "Default", "callManagerGroup": "Default", "idleURL": "http://192.0.2.1/idle", "transport": "tcp"},
	}, 200, &p)
	if p.Description != "Lobby" || p.Owner != "" || len(p.Lines) != 1 || p.Settings.IdleURL != "http://192.0.2.1/idle" {
		t.Fatalf("put %+v", p)
	}
	if cfg3 := fetch("SEP00000000A001"); !strings.Contains(cfg3, "<idleURL>http://192.0.2.1/idle</idleURL>") || strings.Contains(cfg3, "Support") {
		t.Fatalf("config after PUT:\n%s", cfg3)
	}
	e.fails("PATCH", "/api/v1/devices/SEP00000000A001", map[string]any{"model": 36670}, 400, provision.CodeInvalid)
	e.fails("PATCH", "/api/v1/devices/SEP00000000A001", map[string]any{"name": "SEP00000000A002"}, 400, provision.CodeInvalid)
	e.fails("PATCH", "/api/v1/devices/SEP00000000A001", map[string]any{"owner": "nobody"}, 404, provision.CodeUserNotFound)
	e.fails("PATCH", "/api/v1/devices/SEP00000000A001", map[string]any{"lines": []map[string]any{{"button": 1, "dn": "x"}}}, 400, provision.CodeInvalid)
	e.fails("PATCH", "/api/v1/devices/SEP00000000FFFF", map[string]any{"description": "x"}, 404, provision.CodeDeviceNotFound)
	e.fails("PATCH", "/api/v1/devices/SEP00000000A001", map[string]any{"descripton": "x"}, 400, provision.CodeInvalid)

	// apply is an explicit restart.
	e.call("POST", "/api/v1/devices/SEP00000000A001/apply", nil, 202, nil)
	if got := e.notifier.got(); len(got) != 1 || got[0] != "restart SEP00000000A001" {
		t.Fatalf("apply sent %v", got)
	}
}

func TestLinesOverHTTP(t *testing.T) {
	e := newEnv(t, envOpt{})
	var l lineAnswer
	r := e.call("POST", "/api/v1/lines", map[string]any{"dn": "3001", "partition": "Internal", "alertingName": "Sales", "callForwardAll": "3999"}, 201, &l)
	if loc := r.header.Get("Location"); loc != "/api/v1/lines/3001?partition=Internal" {
		t.Fatalf("Location %q", loc)
	}
	e.fails("POST", "/api/v1/lines", map[string]any{"dn": "3001", "partition": "Internal"}, 409, provision.CodeDuplicate)
	e.fails("POST", "/api/v1/lines", map[string]any{"dn": "1500"}, 409, provision.CodeDNInAutoRegRange)
	e.fails("POST", "/api/v1/lines", map[string]any{"dn": "30 01"}, 400, provision.CodeInvalid)
	e.call("POST", "/api/v1/devices", map[string]any{"name": "SEP00000000A001", "model": 36224, "udt": "Desk Phone Template",
		"lines": []map[string]any{{"button": 1, "dn": "3001", "partition": "Internal"}}}, 201, nil)

	e.call("GET", "/api/v1/lines/3001?partition=Internal", nil, 200, &l)
	if l.AlertingName != "Sales" || l.CallForwardAll != "3999" || len(l.Appearances) != 1 || l.Appearances[0].Device != "SEP00000000A001" {
		t.Fatalf("line %+v", l)
	}
	e.fails("GET", "/api/v1/lines/3001", nil, 404, provision.CodeNotFound) // the none partition holds no 3001

	// PATCH keeps what it does not carry; PUT replaces the settings.
	e.call("PATCH", "/api/v1/lines/3001?partition=Internal", map[string]any{"description": "Sales desk"}, 200, &l)
	if l.AlertingName != "Sales" || l.Description != "Sales desk" {
		t.Fatalf("patched %+v", l)
	}
	l = lineAnswer{}
	e.call("PUT", "/api/v1/lines/3001?partition=Internal", map[string]any{"alertingName": "Team"}, 200, &l)
	if l.AlertingName != "Team" || l.Description != "" || l.CallForwardAll != "" {
		t.Fatalf("put %+v", l)
	}
	e.fails("PATCH", "/api/v1/lines/3001?partition=Internal", map[string]any{"dn": "3002"}, 400, provision.CodeInvalid)
	e.fails("PATCH", "/api/v1/lines/3001?partition=Internal", map[string]any{"callForwardAll": "not a number"}, 400, provision.CodeInvalid)
	e.fails("PATCH", "/api/v1/lines/3009?partition=Internal", map[string]any{"description": "x"}, 404, provision.CodeNotFound)
	e.fails("GET", "/api/v1/lines/3001?partiton=Internal", nil, 400, provision.CodeInvalid)

	var pg struct {
		Items []lineAnswer
		Next  *struct{ AfterDN, AfterPartition string }
	}
	e.call("POST", "/api/v1/lines", map[string]any{"dn": "3002", "partition": "Internal"}, 201, nil)
	e.call("GET", "/api/v1/lines?limit=1", nil, 200, &pg)
	if len(pg.Items) != 1 || pg.Next == nil || pg.Items[0].DN != "3001" {
		t.Fatalf("page 1 %+v", pg)
	}
	pg.Items, pg.Next = nil, nil
	e.call("GET", "/api/v1/lines?limit=5&afterDN=3001&afterPartition=Internal", nil, 200, &pg)
	if len(pg.Items) != 1 || pg.Items[0].DN != "3002" || pg.Next != nil {
		t.Fatalf("page 2 %+v", pg)
	}

	// apply restarts the devices showing the line.
	var ap struct {
		Action       string
		Devices      []string
		NotRestarted []string
	}
	e.call("POST", "/api/v1/lines/3001/apply?partition=Internal", nil, 202, &ap)
	if ap.Action != "restart" || len(ap.Devices) != 1 || ap.Devices[0] != "SEP00000000A001" || len(ap.NotRestarted) != 0 {
		t.Fatalf("apply %+v", ap)
	}
	if got := e.notifier.got(); len(got) != 1 || got[0] != "restart SEP00000000A001" {
		t.Fatalf("apply sent %v", got)
	}
	e.fails("POST", "/api/v1/lines/3009/apply?partition=Internal", nil, 404, provision.CodeNotFound)

	// DELETE takes the line off the device too.
	e.call("DELETE", "/api/v1/lines/3001?partition=Internal", nil, 204, nil)
	var d deviceAnswer
	e.call("GET", "/api/v1/devices/SEP00000000A001", nil, 200, &d)
	if len(d.Lines) != 0 {
		t.Fatalf("device still shows %v", d.Lines)
	}
	e.fails("DELETE", "/api/v1/lines/3001?partition=Internal", nil, 404, provision.CodeNotFound)
}

func TestDeleteUserOverHTTPLeavesDevicesWithoutOwner(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.call("POST", "/api/v1/devices", map[string]any{"name": "SEP00000000A001", "model": 36224, "owner": "bob", "udt": "Desk Phone Template",
		"lines": []map[string]any{{"button": 1, "dn": "2002"}}}, 201, nil)
	e.fails("DELETE", "/api/v1/users/2003", nil, 404, provision.CodeUserNotFound) // carol's self-service ID
	e.call("DELETE", "/api/v1/users/bob", nil, 204, nil)
	var d deviceAnswer
	e.call("GET", "/api/v1/devices/SEP00000000A001", nil, 200, &d)
	if d.Owner != "" || len(d.Lines) != 1 {
		t.Fatalf("device after its owner went: %+v", d)
	}
	e.fails("GET", "/api/v1/users/bob", nil, 404, provision.CodeUserNotFound)
}
