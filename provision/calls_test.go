package provision_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"selfprov/internal/coretest"
	"selfprov/internal/testkit"
	"selfprov/provision"
)

// callLab is the demo configuration with phones on every kind of line:
//
//	SEP0A000000A001  alice, 2001 in Internal (self-provisioned)
//	CSF…             alice's Webex client, sharing 2001 in Internal
//	SEP0A000000B001  bob, 2002 in Internal
//	SEP0A000000E001  erin (profile Restricted: CSS Auto-registration), 2005 in Internal
//	SEP0A000000F001  gus (no profile: the default one), 2007 in Internal
//	SEP0A000000C001  carol, 2003 in Internal, whose line has stored settings with no CSS
//	SEP0A0000000001  auto-registered, 1000 (<None>)
//	SEP0A0000000002  auto-registered, 1001 (<None>)
//	SEP0A000000D001  no owner, 3100 (<None>), stored line with CSS Ordered = [P2, P1]
//	SEP0A000000D002  no owner, 3101 (<None>), stored line with CSS Reverse = [P1, P2]
//	SEP0A000000D003  no owner, 3102 (<None>), no stored settings: no CSS
//	SEP0A000000D0P1  3000 in P1; SEP0A000000D0P2 3000 in P2; SEP0A000000D0N0 3000 in <None>
type callLab struct {
	*env
	client string // alice's Webex client
}

func newCallLab(t *testing.T) *callLab {
	t.Helper()
	e := newEnv(t, nil)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// alice self-provisions an auto-registered phone.
	a := e.autoRegister(t, "0A000000A001", 36224)
	_, err := e.svc.SelfProvision(ctx, a.Name, "alice")
	must(err)
	cl, _, err := e.svc.AutoProvisionClient(ctx, provision.ClientRequest{User: "alice", Platform: "windows", AppVersion: "43.1"})
	must(err)
	e.autoRegister(t, mac(1), 36224) // 1000
	e.autoRegister(t, mac(2), 36224) // 1001

	must(e.svc.PutULT(ctx, provision.ULT{Name: "Restricted Lines", RoutePartition: "Internal", CallingSearchSpace: "Auto-registration"}))
	must(e.svc.PutUserProfile(ctx, provision.UserProfile{Name: "Restricted", ULT: "Restricted Lines"}))
	_, err = e.svc.CreateUser(ctx, provision.User{ID: "erin", LastName: "E", PrimaryExtension: "2005", UserProfile: "Restricted"}, provision.Secrets{})
	must(err)
	_, err = e.svc.CreateUser(ctx, provision.User{ID: "gus", LastName: "G", PrimaryExtension: "2007"}, provision.Secrets{})
	must(err)
	for _, p := range []string{"P1", "P2"} {
		must(e.svc.PutPartition(ctx, provision.Partition{Name: p}))
	}
	must(e.svc.PutCallingSearchSpace(ctx, provision.CallingSearchSpace{Name: "Ordered", Partitions: []string{"P2", "P1"}}))
	must(e.svc.PutCallingSearchSpace(ctx, provision.CallingSearchSpace{Name: "Reverse", Partitions: []string{"P1", "P2"}}))
	for dn, css := range map[string]string{"3100": "Ordered", "3101": "Reverse"} {
		_, err := e.svc.AddLine(ctx, provision.DirectoryNumber{DN: dn, CallingSearchSpace: css})
		must(err)
	}

	add := func(name, owner, dn, partition string) {
		t.Helper()
		_, err := e.svc.AddDevice(ctx, provision.NewDevice{Name: name, Model: 36224, Owner: owner, UDT: "Desk Phone Template",
			Lines: []provision.Line{{Button: 1, DN: dn, Partition: partition}}})
		must(err)
	}
	add("SEP0A000000B001", "bob", "2002", "Internal")
	add("SEP0A000000E001", "erin", "2005", "Internal")
	add("SEP0A000000F001", "gus", "2007", "Internal")
	add("SEP0A000000C001", "carol", "2003", "Internal")
	add("SEP0A000000D001", "", "3100", "")
	add("SEP0A000000D002", "", "3101", "")
	add("SEP0A000000D003", "", "3102", "")
	add("SEP0A000000D0A1", "", "3000", "P1")
	add("SEP0A000000D0A2", "", "3000", "P2")
	add("SEP0A000000D0A0", "", "3000", "")
	// carol's line gets settings of its own, leaving its CSS empty.
	_, err = e.svc.UpdateLine(ctx, provision.LineKey{DN: "2003", Partition: "Internal"}, func(l *provision.DirectoryNumber) error {
		l.AlertingName = "Carol"
		return nil
	})
	must(err)
	return &callLab{env: e, client: cl.Name}
}

func TestRouteCall(t *testing.T) {
	lab := newCallLab(t)
	alice, bob := "SEP0A000000A001", "SEP0A000000B001"
	auto1, auto2 := "SEP"+mac(1), "SEP"+mac(2)
	internal := func(dn string) provision.LineKey { return provision.LineKey{DN: dn, Partition: "Internal"} }
	none := func(dn string) provision.LineKey { return provision.LineKey{DN: dn} }
	everyone := func(string) bool { return true }
	only := func(names ...string) func(string) bool {
		return func(d string) bool {
			for _, n := range names {
				if d == n {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		name       string
		req        provision.CallRequest
		registered func(string) bool
		want       provision.CallRoute
		err        error
	}{
		{"user calls user in the CSS", provision.CallRequest{CallingDN: "2001", CallingDevice: alice, Called: "2002"}, everyone,
			provision.CallRoute{CallingDevice: alice, CallingLine: internal("2001"), CSS: "Internal", Called: internal("2002"), Devices: []string{bob}}, nil},
		{"<None> is always reached", provision.CallRequest{CallingDN: "2001", CallingDevice: alice, Called: "1000"}, everyone,
			provision.CallRoute{CallingDevice: alice, CallingLine: internal("2001"), CSS: "Internal", Called: none("1000"), Devices: []string{auto1}}, nil},
		{"shared line rings every device", provision.CallRequest{CallingDN: "2002", CallingDevice: bob, Called: "2001"}, everyone,
			provision.CallRoute{CallingDevice: bob, CallingLine: internal("2002"), CSS: "Internal", Called: internal("2001"), Devices: []string{lab.client, alice}}, nil},
		{"auto-registered caller uses the auto-registration ULT's CSS", provision.CallRequest{CallingDN: "1000", CallingDevice: auto1, Called: "1001"}, everyone,
			provision.CallRoute{CallingDevice: auto1, CallingLine: none("1000"), CSS: "Auto-registration", Called: none("1001"), Devices: []string{auto2}}, nil},
		{"auto-registered caller cannot reach users", provision.CallRequest{CallingDN: "1000", CallingDevice: auto1, Called: "2001"}, everyone,
			provision.CallRoute{}, provision.ErrNoRoute},
		{"owned device uses its profile's ULT", provision.CallRequest{CallingDN: "2005", CallingDevice: "SEP0A000000E001", Called: "2001"}, everyone,
			provision.CallRoute{}, provision.ErrNoRoute},
		{"owned device's profile ULT reaches <None>", provision.CallRequest{CallingDN: "2005", CallingDevice: "SEP0A000000E001", Called: "1001"}, everyone,
			provision.CallRoute{CallingDevice: "SEP0A000000E001", CallingLine: internal("2005"), CSS: "Auto-registration", Called: none("1001"), Devices: []string{auto2}}, nil},
		{"owner without a profile uses the default one", provision.CallRequest{CallingDN: "2007", CallingDevice: "SEP0A000000F001", Called: "2002"}, everyone,
			provision.CallRoute{CallingDevice: "SEP0A000000F001", CallingLine: internal("2007"), CSS: "Internal", Called: internal("2002"), Devices: []string{bob}}, nil},
		{"stored line settings override the template", provision.CallRequest{CallingDN: "2003", CallingDevice: "SEP0A000000C001", Called: "2002"}, everyone,
			provision.CallRoute{}, provision.ErrNoRoute},
		{"stored line with no CSS still reaches <None>", provision.CallRequest{CallingDN: "2003", CallingDevice: "SEP0A000000C001", Called: "1000"}, everyone,
			provision.CallRoute{CallingDevice: "SEP0A000000C001", CallingLine: internal("2003"), Called: none("1000"), Devices: []string{auto1}}, nil},
		{"CSS order: P2 before P1", provision.CallRequest{CallingDN: "3100", CallingDevice: "SEP0A000000D001", Called: "3000"}, everyone,
			provision.CallRoute{CallingDevice: "SEP0A000000D001", CallingLine: none("3100"), CSS: "Ordered", Called: provision.LineKey{DN: "3000", Partition: "P2"}, Devices: []string{"SEP0A000000D0A2"}}, nil},
		{"CSS order: P1 before P2", provision.CallRequest{CallingDN: "3101", CallingDevice: "SEP0A000000D002", Called: "3000"}, everyone,
			provision.CallRoute{CallingDevice: "SEP0A000000D002", CallingLine: none("3101"), CSS: "Reverse", Called: provision.LineKey{DN: "3000", Partition: "P1"}, Devices: []string{"SEP0A000000D0A1"}}, nil},
		{"no CSS: only <None>", provision.CallRequest{CallingDN: "3102", CallingDevice: "SEP0A000000D003", Called: "3000"}, everyone,
			provision.CallRoute{CallingDevice: "SEP0A000000D003", CallingLine: none("3102"), Called: none("3000"), Devices: []string{"SEP0A000000D0A0"}}, nil},
		{"no CSS: a partitioned DN is out of reach", provision.CallRequest{CallingDN: "3102", CallingDevice: "SEP0A000000D003", Called: "2002"}, everyone,
			provision.CallRoute{}, provision.ErrNoRoute},
		{"unknown DN", provision.CallRequest{CallingDN: "2001", CallingDevice: alice, Called: "9999"}, everyone,
			provision.CallRoute{}, provision.ErrNoRoute},
		{"a dialed string that is no DN", provision.CallRequest{CallingDN: "2001", CallingDevice: alice, Called: "bob"}, everyone,
			provision.CallRoute{}, provision.ErrInvalid},
		{"caller recognised by DN", provision.CallRequest{CallingDN: "2002", Called: "2001"}, everyone,
			provision.CallRoute{CallingDevice: bob, CallingLine: internal("2002"), CSS: "Internal", Called: internal("2001"), Devices: []string{lab.client, alice}}, nil},
		{"caller recognised by DN: the registered one of a shared line", provision.CallRequest{CallingDN: "2001", Called: "2002"}, only(alice),
			provision.CallRoute{CallingDevice: alice, CallingLine: internal("2001"), CSS: "Internal", Called: internal("2002"), Devices: []string{bob}}, nil},
		{"caller recognised by device name as From user", provision.CallRequest{CallingDN: strings.ToLower(alice), Called: "2002"}, everyone,
			provision.CallRoute{CallingDevice: alice, CallingLine: internal("2001"), CSS: "Internal", Called: internal("2002"), Devices: []string{bob}}, nil},
		{"named device not registered", provision.CallRequest{CallingDN: "2001", CallingDevice: alice, Called: "2002"}, only(bob),
			provision.CallRoute{}, provision.ErrCallerNotRegistered},
		{"DN on no registered device", provision.CallRequest{CallingDN: "2001", Called: "2002"}, only(bob),
			provision.CallRoute{}, provision.ErrCallerNotRegistered},
		{"unknown device", provision.CallRequest{CallingDN: "2001", CallingDevice: "SEP0A000000FFFF", Called: "2002"}, everyone,
			provision.CallRoute{}, provision.ErrCallerNotRegistered},
		{"unknown calling DN", provision.CallRequest{CallingDN: "4444", Called: "2002"}, everyone,
			provision.CallRoute{}, provision.ErrCallerNotRegistered},
		{"not registered goes before a bad dialed string", provision.CallRequest{CallingDN: "2001", CallingDevice: alice, Called: "x"}, only(),
			provision.CallRoute{}, provision.ErrCallerNotRegistered},
		{"calling DN that is no DN", provision.CallRequest{CallingDN: "anonymous", Called: "2002"}, everyone,
			provision.CallRoute{}, provision.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lab.svc.RouteCall(context.Background(), tt.req, tt.registered)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("RouteCall = %+v, %v; want %v", got, err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("RouteCall =\n%+v, %v\nwant\n%+v", got, err, tt.want)
			}
		})
	}
}

// A line whose template names a CSS that was never stored (written before
// CSSs were objects) reaches only <None>, and the missing CSS is logged
// once, not on every call.
func TestRouteCallWithAMissingCSSReachesOnlyNone(t *testing.T) {
	var log testkit.SyncBuffer
	c := coretest.New(t, coretest.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	ctx := context.Background()
	ult, err := c.Store.ULT(ctx, "User Line Template")
	if err != nil {
		t.Fatal(err)
	}
	ult.CallingSearchSpace = "Ghost"
	if err := c.Store.PutULT(ctx, ult); err != nil { // past the core's check, as an old database holds it
		t.Fatal(err)
	}
	for _, nd := range []provision.NewDevice{
		{Name: "SEP0A000000A001", Model: 36224, Owner: "alice", UDT: "Desk Phone Template", Lines: []provision.Line{{Button: 1, DN: "2001", Partition: "Internal"}}},
		{Name: "SEP0A000000B001", Model: 36224, Owner: "bob", UDT: "Desk Phone Template", Lines: []provision.Line{{Button: 1, DN: "2002", Partition: "Internal"}}},
	} {
		if _, err := c.Svc.AddDevice(ctx, nd); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := c.Svc.AutoRegister(ctx, "SEP0A0000000001", 36224); err != nil {
		t.Fatal(err)
	}
	yes := func(string) bool { return true }
	for range 3 {
		if _, err := c.Svc.RouteCall(ctx, provision.CallRequest{CallingDevice: "SEP0A000000A001", CallingDN: "2001", Called: "2002"}, yes); !errors.Is(err, provision.ErrNoRoute) {
			t.Fatalf("call into Internal with CSS Ghost: %v; want DN_NOT_FOUND", err)
		}
	}
	r, err := c.Svc.RouteCall(ctx, provision.CallRequest{CallingDevice: "SEP0A000000A001", CallingDN: "2001", Called: "1000"}, yes)
	if err != nil || r.CSS != "Ghost" || r.Called != (provision.LineKey{DN: "1000"}) {
		t.Fatalf("call into <None> with CSS Ghost: %+v, %v", r, err)
	}
	if n := strings.Count(log.String(), `css=Ghost`); n != 1 {
		t.Fatalf("missing CSS logged %d times, want once:\n%s", n, log.String())
	}
}

// A stored line that no device shows is reached, with no device to ring:
// the registrar answers that as not registered (480), not as unknown.
func TestRouteCallToALineNoDeviceShows(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.svc.AddLine(ctx, provision.DirectoryNumber{DN: "2500", Partition: "Internal"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddDevice(ctx, provision.NewDevice{Name: "SEP0A000000B001", Model: 36224, Owner: "bob", UDT: "Desk Phone Template",
		Lines: []provision.Line{{Button: 1, DN: "2002", Partition: "Internal"}}}); err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.RouteCall(ctx, provision.CallRequest{CallingDN: "2002", Called: "2500"}, func(string) bool { return true })
	if err != nil || r.Called != (provision.LineKey{DN: "2500", Partition: "Internal"}) || len(r.Devices) != 0 {
		t.Fatalf("RouteCall = %+v, %v; want the line, no devices", r, err)
	}
}
