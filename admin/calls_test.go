package admin_test

import (
	"strings"
	"testing"
	"time"

	"selfprov/admin"
	"selfprov/provision"
)

// Partitions and calling search spaces refer to each other, and templates
// and lines to both, only by names that exist; the errors name the
// missing one and the user of one in use.
func TestCallingPrivilegeReferences(t *testing.T) {
	e := newEnv(t, envOpt{})
	var css struct {
		Name       string
		Partitions []string
	}
	e.call("GET", "/api/v1/css/Internal", nil, 200, &css)
	if css.Name != "Internal" || len(css.Partitions) != 1 || css.Partitions[0] != "Internal" {
		t.Fatalf("seeded CSS %+v", css)
	}
	mentions := func(msg, want string) {
		t.Helper()
		if !strings.Contains(msg, want) {
			t.Fatalf("message %q does not mention %q", msg, want)
		}
	}
	mentions(e.fails("PUT", "/api/v1/css/Lab", `{"partitions":["Internal","Lab"]}`, 404, provision.CodeNotFound), `route partition "Lab" does not exist`)
	mentions(e.fails("PUT", "/api/v1/css/Lab", `{"partitions":["Internal","Internal"]}`, 400, provision.CodeInvalid), "listed twice")
	mentions(e.fails("PUT", "/api/v1/ults/Lab", `{"routePartition":"Lab"}`, 404, provision.CodeNotFound), `route partition "Lab" does not exist`)
	mentions(e.fails("PUT", "/api/v1/ults/Lab", `{"callingSearchSpace":"Lab"}`, 404, provision.CodeNotFound), `calling search space "Lab" does not exist`)
	mentions(e.fails("POST", "/api/v1/lines", `{"dn":"3001","partition":"Lab"}`, 404, provision.CodeNotFound), `route partition "Lab" does not exist`)

	e.call("PUT", "/api/v1/partitions/Lab", `{}`, 201, nil)
	e.call("PUT", "/api/v1/css/Lab", `{"partitions":["Lab","Internal"]}`, 201, nil)
	e.call("POST", "/api/v1/lines", `{"dn":"3001","partition":"Lab","callingSearchSpace":"Lab"}`, 201, nil)
	mentions(e.fails("DELETE", "/api/v1/partitions/Lab", nil, 409, provision.CodeInUse), `calling search space "Lab"`)
	mentions(e.fails("DELETE", "/api/v1/css/Lab", nil, 409, provision.CodeInUse), "line 3001 in Lab")
	e.call("PUT", "/api/v1/css/Lab", `{"partitions":["Internal"]}`, 200, nil)
	mentions(e.fails("DELETE", "/api/v1/partitions/Lab", nil, 409, provision.CodeInUse), "line 3001")
}

// GET /api/v1/calls shows the calls the proxy reports, oldest first, in
// the API's words; with no proxy wired, an empty list.
func TestCalls(t *testing.T) {
	e := newEnv(t, envOpt{})
	got := e.call("GET", "/api/v1/calls", nil, 200, nil)
	if s := strings.Join(strings.Fields(string(got.body)), ""); s != `{"items":[]}` {
		t.Fatalf("calls without a proxy: %s", got.body)
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	calls := []admin.Call{
		{CallID: "b", State: admin.CallUp, Calling: admin.CallParty{Device: "SEP0A0000000001", DN: "1000"},
			Called: admin.CallParty{Device: "SEP0A000000A001", DN: "2001"}, StartedAt: start.Add(time.Second), AnsweredAt: start.Add(3 * time.Second)},
		{CallID: "a", State: admin.CallRinging, Calling: admin.CallParty{Device: "SEP0A000000A001", DN: "2001"},
			Called: admin.CallParty{DN: "2002"}, StartedAt: start},
	}
	e = newEnv(t, envOpt{calls: func() []admin.Call { return calls }})
	got = e.call("GET", "/api/v1/calls", nil, 200, nil)
	want := `{"items":[` +
		`{"callId":"a","state":"ringing","calling":{"device":"SEP0A000000A001","dn":"2001"},"called":{"device":"","dn":"2002"},"startedAt":"2026-01-02T03:04:05Z"},` +
		`{"callId":"b","state":"up","calling":{"device":"SEP0A0000000001","dn":"1000"},"called":{"device":"SEP0A000000A001","dn":"2001"},"startedAt":"2026-01-02T03:04:06Z","answeredAt":"2026-01-02T03:04:08Z"}]}`
	if s := strings.Join(strings.Fields(string(got.body)), ""); s != want {
		t.Fatalf("calls:\n%s\nwant\n%s", s, want)
	}
	if calls[0].CallID != "b" {
		t.Fatal("listing the calls reordered the proxy's slice")
	}
	e.fails("GET", "/api/v1/calls?state=up", nil, 400, provision.CodeInvalid)
}
