package provision_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"selfprov/configs"
	"selfprov/provision"
)

const model8845 = 36224

func addDesk(t *testing.T, e *env, name string, lines ...provision.Line) provision.Device {
	t.Helper()
	d, err := e.svc.AddDevice(context.Background(), provision.NewDevice{
		Name: name, Model: model8845, Owner: "alice", Description: "desk", UDT: "Desk Phone Template", Lines: lines,
	})
	if err != nil {
		t.Fatalf("AddDevice %s: %v", name, err)
	}
	return d
}

func TestLinesAreObjectsSharedByDevices(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	k := provision.LineKey{DN: "3001", Partition: "Internal"}
	l, err := e.svc.AddLine(ctx, provision.DirectoryNumber{DN: k.DN, Partition: k.Partition, AlertingName: "Sales", CallingSearchSpace: "Internal", CallForwardAll: "3999"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddLine(ctx, l); !errors.Is(err, provision.ErrDuplicate) {
		t.Fatalf("second AddLine = %v, want DB-239", err)
	}
	// The same DN in another partition is another line.
	if _, err := e.svc.AddLine(ctx, provision.DirectoryNumber{DN: k.DN}); err != nil {
		t.Fatal(err)
	}
	a := addDesk(t, e, "SEP00000000A001", provision.Line{Button: 1, DN: "2001"}, provision.Line{Button: 2, DN: k.DN, Partition: k.Partition, Label: "Sales"})
	b := addDesk(t, e, "SEP00000000B001", provision.Line{Button: 1, DN: k.DN, Partition: k.Partition})
	got, err := e.svc.Line(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	want := []provision.LineAppearance{{Device: a.Name, Button: 2}, {Device: b.Name, Button: 1}}
	if got.AlertingName != "Sales" || got.CallForwardAll != "3999" || len(got.Appearances) != 2 || got.Appearances[0] != want[0] || got.Appearances[1] != want[1] {
		t.Fatalf("line %+v, want Sales forwarded to 3999 on %v", got, want)
	}
	// A DN only a device shows is a line too, and its settings can be set.
	if _, err := e.svc.Line(ctx, provision.LineKey{DN: "2001"}); err != nil {
		t.Fatalf("line 2001 of a device: %v", err)
	}
	upd, err := e.svc.UpdateLine(ctx, provision.LineKey{DN: "2001"}, func(l *provision.DirectoryNumber) error {
		l.CallForwardBusy = "2999"
		return nil
	})
	if err != nil || upd.CallForwardBusy != "2999" || len(upd.Appearances) != 1 {
		t.Fatalf("UpdateLine 2001 = %+v, %v", upd, err)
	}
	if _, err := e.svc.UpdateLine(ctx, provision.LineKey{DN: "4444"}, func(*provision.DirectoryNumber) error { return nil }); !errors.Is(err, provision.ErrNotFound) {
		t.Fatalf("UpdateLine of no line = %v, want NOT_FOUND", err)
	}
	if _, err := e.svc.UpdateLine(ctx, k, func(l *provision.DirectoryNumber) error { l.DN = "3002"; return nil }); !errors.Is(err, provision.ErrInvalid) {
		t.Fatalf("moving a line = %v, want INVALID_ARGUMENT", err)
	}
	all, err := e.svc.Lines(ctx, provision.LineFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []provision.LineKey
	for _, l := range all {
		keys = append(keys, l.Key())
	}
	wantKeys := []provision.LineKey{{DN: "2001"}, {DN: "3001"}, {DN: "3001", Partition: "Internal"}}
	if len(keys) != len(wantKeys) || keys[0] != wantKeys[0] || keys[1] != wantKeys[1] || keys[2] != wantKeys[2] {
		t.Fatalf("lines %v, want %v", keys, wantKeys)
	}
	page, err := e.svc.Lines(ctx, provision.LineFilter{After: provision.LineKey{DN: "3001"}, Limit: 5})
	if err != nil || len(page) != 1 || page[0].Key() != k {
		t.Fatalf("lines after 3001 = %v, %v", page, err)
	}
}

func TestRemoveLineTakesItOffEveryDevice(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	k := provision.LineKey{DN: "3001", Partition: "Internal"}
	a := addDesk(t, e, "SEP00000000A001", provision.Line{Button: 1, DN: "2001"}, provision.Line{Button: 2, DN: k.DN, Partition: k.Partition})
	b := addDesk(t, e, "SEP00000000B001", provision.Line{Button: 1, DN: k.DN, Partition: k.Partition})
	if err := e.svc.RemoveLine(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Line(ctx, k); !errors.Is(err, provision.ErrNotFound) {
		t.Fatalf("removed line reads %v", err)
	}
	a2, _ := e.svc.Device(ctx, a.Name)
	b2, _ := e.svc.Device(ctx, b.Name)
	if len(a2.Lines) != 1 || a2.Lines[0].DN != "2001" || len(b2.Lines) != 0 {
		t.Fatalf("after removal: %s %v, %s %v", a.Name, a2.Lines, b.Name, b2.Lines)
	}
	if a2.ConfigVersion == a.ConfigVersion || b2.ConfigVersion == b.ConfigVersion {
		t.Fatal("a device that lost a line kept its config version")
	}
	if err := e.svc.RemoveLine(ctx, k); !errors.Is(err, provision.ErrNotFound) {
		t.Fatalf("second RemoveLine = %v, want NOT_FOUND", err)
	}
	// Removing an auto-registration DN frees it for the next phone.
	auto := e.autoRegister(t, mac(1), model8845)
	if err := e.svc.RemoveLine(ctx, provision.LineKey{DN: auto.Lines[0].DN}); err != nil {
		t.Fatal(err)
	}
	if next := e.autoRegister(t, mac(2), model8845); next.Lines[0].DN != auto.Lines[0].DN {
		t.Fatalf("next phone got %s, want the freed %s", next.Lines[0].DN, auto.Lines[0].DN)
	}
}

func TestAddLineInsideTheAutoRegistrationRangeIsRefused(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.svc.AddLine(ctx, provision.DirectoryNumber{DN: "1500"}); !errors.Is(err, provision.ErrDNInAutoRegRange) {
		t.Fatalf("AddLine 1500 = %v, want DN_IN_AUTOREG_RANGE", err)
	}
	// In another partition the range does not reach it.
	if _, err := e.svc.AddLine(ctx, provision.DirectoryNumber{DN: "1500", Partition: "Internal"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddDevice(ctx, provision.NewDevice{Name: "SEP00000000A001", Model: model8845, UDT: "Desk Phone Template",
		Lines: []provision.Line{{Button: 1, DN: "1501"}}}); !errors.Is(err, provision.ErrDNInAutoRegRange) {
		t.Fatalf("AddDevice on 1501 = %v, want DN_IN_AUTOREG_RANGE", err)
	}
}

func TestAutoRegistrationSkipsADNALineHolds(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) { c.Cluster.AutoRegistration.Enabled = false })
	ctx := context.Background()
	// Stored while auto-registration was off, then the range is switched on.
	if _, err := e.svc.AddLine(ctx, provision.DirectoryNumber{DN: "1000", Description: "lobby"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateCluster(ctx, func(c *provision.Cluster) error { c.AutoRegistration.Enabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if d := e.autoRegister(t, mac(1), model8845); d.Lines[0].DN != "1001" {
		t.Fatalf("auto-registration took %s, want 1001 past the stored line 1000", d.Lines[0].DN)
	}
}

func TestAddDevice(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d := addDesk(t, e, "sep00000000a001", provision.Line{Button: 2, DN: "2101", Label: "Second"}, provision.Line{Button: 1, DN: "2001"})
	if d.Name != "SEP00000000A001" || d.State != provision.StateProvisioned || d.Owner != "alice" || d.UDT != "Desk Phone Template" ||
		len(d.Lines) != 2 || d.Lines[0].Button != 1 || d.Lines[1].DN != "2101" || d.Lines[0].Contact == "" || d.ConfigVersion == "" {
		t.Fatalf("added %+v", d)
	}
	stored, err := e.svc.Device(ctx, d.Name)
	if err != nil || stored.ConfigVersion != d.ConfigVersion || len(stored.Lines) != 2 {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	for _, c := range []struct {
		what string
		nd   provision.NewDevice
		want error
	}{
		{"name taken", provision.NewDevice{Name: "SEP00000000A001", Model: model8845, UDT: "Desk Phone Template"}, provision.ErrDuplicate},
		{"unknown model", provision.NewDevice{Name: "SEP00000000A002", Model: 1, UDT: "Desk Phone Template"}, provision.ErrInvalidModel},
		{"unknown owner", provision.NewDevice{Name: "SEP00000000A002", Model: model8845, UDT: "Desk Phone Template", Owner: "nobody"}, provision.ErrUserNotFound},
		{"unknown template", provision.NewDevice{Name: "SEP00000000A002", Model: model8845, UDT: "nope"}, provision.ErrNotFound},
		{"bad name", provision.NewDevice{Name: "SEPXYZ", Model: model8845, UDT: "Desk Phone Template"}, provision.ErrInvalid},
		{"button twice", provision.NewDevice{Name: "SEP00000000A002", Model: model8845, UDT: "Desk Phone Template",
			Lines: []provision.Line{{Button: 1, DN: "2001"}, {Button: 1, DN: "2002"}}}, provision.ErrInvalid},
		{"line twice", provision.NewDevice{Name: "SEP00000000A002", Model: model8845, UDT: "Desk Phone Template",
			Lines: []provision.Line{{Button: 1, DN: "2001"}, {Button: 2, DN: "2001"}}}, provision.ErrInvalid},
		{"button past the model's keys", provision.NewDevice{Name: "SEP00000000A002", Model: model8845, UDT: "Desk Phone Template",
			Lines: []provision.Line{{Button: 99, DN: "2001"}}}, provision.ErrInvalid},
		{"bad DN", provision.NewDevice{Name: "SEP00000000A002", Model: model8845, UDT: "Desk Phone Template",
			Lines: []provision.Line{{Button: 1, DN: "20<1"}}}, provision.ErrInvalid},
	} {
		if _, err := e.svc.AddDevice(ctx, c.nd); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.what, err, c.want)
		}
	}
	// An auto-registration DN belongs to its device alone.
	auto := e.autoRegister(t, mac(1), model8845)
	_, err = e.svc.AddDevice(ctx, provision.NewDevice{Name: "SEP00000000A002", Model: model8845, UDT: "Desk Phone Template",
		Lines: []provision.Line{{Button: 1, DN: auto.Lines[0].DN}}})
	if !errors.Is(err, provision.ErrDuplicate) && !errors.Is(err, provision.ErrDNInAutoRegRange) {
		t.Fatalf("sharing an auto-registration DN = %v", err)
	}
}

func TestUpdateDevice(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d := addDesk(t, e, "SEP00000000A001", provision.Line{Button: 1, DN: "2001"})
	desc, owner := "Front desk", "bob"
	lines := []provision.Line{{Button: 1, DN: "2001", Label: "Main"}, {Button: 2, DN: "2102", Partition: "Internal"}}
	u, err := e.svc.UpdateDevice(ctx, "sep00000000a001", provision.DeviceChange{Description: &desc, Owner: &owner, Lines: &lines})
	if err != nil {
		t.Fatal(err)
	}
	if u.Description != desc || u.Owner != "bob" || len(u.Lines) != 2 || u.Lines[0].Label != "Main" || u.ConfigVersion == d.ConfigVersion {
		t.Fatalf("updated %+v", u)
	}
	if u.Lines[0].Contact != d.Lines[0].Contact || u.Lines[1].Contact == "" {
		t.Fatalf("contacts %q %q, want line 1's kept (%q)", u.Lines[0].Contact, u.Lines[1].Contact, d.Lines[0].Contact)
	}
	if got, _ := e.svc.Device(ctx, d.Name); got.ConfigVersion != u.ConfigVersion || got.Owner != "bob" {
		t.Fatalf("read back %+v", got)
	}
	if n, _ := e.st.CountOwnedDevices(ctx, "bob"); n != 1 {
		t.Fatalf("bob owns %d devices, want 1", n)
	}
	// The settings come from another template, or directly.
	tmpl := "Mobile and Desktop Template"
	if u, err = e.svc.UpdateDevice(ctx, d.Name, provision.DeviceChange{UDT: &tmpl}); err != nil || u.UDT != tmpl || u.Settings.SIPProfile != "Standard SIP Profile for Mobile Device" {
		t.Fatalf("UDT change: %+v, %v", u, err)
	}
	st := u.Settings
	st.IdleURL = "http://#SERVICEHOST#/idle?name=#DEVICENAME#"
	if u, err = e.svc.UpdateDevice(ctx, d.Name, provision.DeviceChange{Settings: &st}); err != nil || u.Settings.IdleURL != "http://192.0.2.10:8080/idle?name=SEP00000000A001" {
		t.Fatalf("settings change: %+v, %v", u.Settings, err)
	}
	// A refused change leaves the device as it was.
	nobody := "nobody"
	bad := []provision.Line{{Button: 1, DN: "1500"}}
	badTransport := st
	badTransport.Transport = "carrier-pigeon"
	for _, c := range []struct {
		what string
		ch   provision.DeviceChange
		want error
	}{
		{"unknown owner", provision.DeviceChange{Owner: &nobody}, provision.ErrUserNotFound},
		{"DN in the range", provision.DeviceChange{Lines: &bad}, provision.ErrDNInAutoRegRange},
		{"bad settings", provision.DeviceChange{Settings: &badTransport}, provision.ErrInvalid},
		{"template and settings", provision.DeviceChange{Settings: &st, UDT: &tmpl}, provision.ErrInvalid},
	} {
		if _, err := e.svc.UpdateDevice(ctx, d.Name, c.ch); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.what, err, c.want)
		}
	}
	if got, _ := e.svc.Device(ctx, d.Name); got.ConfigVersion != u.ConfigVersion {
		t.Fatal("a refused change wrote the device")
	}
	if _, err := e.svc.UpdateDevice(ctx, "SEP00000000FFFF", provision.DeviceChange{Description: &desc}); !errors.Is(err, provision.ErrDeviceNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
}

func TestUpdatingAnAutoRegisteredDeviceKeepsItsDNItsOwn(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	auto := e.autoRegister(t, mac(1), model8845)
	desc := "Lobby"
	lines := append(auto.Lines, provision.Line{Button: 2, DN: "2001"})
	u, err := e.svc.UpdateDevice(ctx, auto.Name, provision.DeviceChange{Description: &desc, Lines: &lines})
	if err != nil || u.State != provision.StateAutoRegistered || len(u.Lines) != 2 {
		t.Fatalf("update = %+v, %v", u, err)
	}
	// Its DN is still taken by auto-registration: no other device shares it.
	err = e.st.CreateDevice(ctx, provision.Device{Name: "SEP00000000A009", Model: model8845, State: provision.StateProvisioned,
		Lines: []provision.Line{{Button: 1, DN: auto.Lines[0].DN}}, ConfigVersion: "1-x"})
	if !errors.Is(err, provision.ErrDuplicate) {
		t.Fatalf("sharing the auto DN after an update = %v, want DB-239", err)
	}
	// And self-provisioning still replaces it.
	if _, err := e.svc.SelfProvision(ctx, auto.Name, "alice"); err != nil {
		t.Fatal(err)
	}
}

// Concurrent edits of one device each see the other's result: none is lost.
func TestConcurrentDeviceEditsAreSerialised(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d := addDesk(t, e, "SEP00000000A001", provision.Line{Button: 1, DN: "2001"})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.UpdateDevice(ctx, d.Name, provision.DeviceChange{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Lines added by two editors at once: both must be there or one refused.
	var a, b error
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, a = e.svc.AddDevice(ctx, provision.NewDevice{Name: "SEP00000000C001", Model: model8845, UDT: "Desk Phone Template"})
	}()
	go func() {
		defer wg.Done()
		_, b = e.svc.AddDevice(ctx, provision.NewDevice{Name: "SEP00000000C001", Model: model8845, UDT: "Desk Phone Template"})
	}()
	wg.Wait()
	if (a == nil) == (b == nil) || !errors.Is(errors.Join(a, b), provision.ErrDuplicate) {
		t.Fatalf("two adds of one name: %v, %v; want one DB-239", a, b)
	}
}

func TestDeleteUserLeavesTheirDevicesWithoutOwner(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d := addDesk(t, e, "SEP00000000A001", provision.Line{Button: 1, DN: "2001"})
	if err := e.svc.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Device(ctx, d.Name)
	if err != nil || got.Owner != "" || len(got.Lines) != 1 {
		t.Fatalf("device after its owner went: %+v, %v", got, err)
	}
	if _, err := e.svc.User(ctx, "alice"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("deleted user reads %v", err)
	}
	if err := e.svc.DeleteUser(ctx, "alice"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("second delete = %v", err)
	}
	// A path never names a user by self-service ID.
	if _, err := e.svc.User(ctx, "2003"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("User(self-service ID) = %v, want USER_NOT_FOUND", err)
	}
	if err := e.svc.DeleteUser(ctx, "2003"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("DeleteUser(self-service ID) = %v, want USER_NOT_FOUND", err)
	}
	if _, err := e.svc.User(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
}

type recordingNotifier struct {
	mu   sync.Mutex
	sent []string
}

func (n *recordingNotifier) Notify(_ context.Context, name string, a provision.Action) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, name+" "+string(a))
	return nil
}

func TestEditsResetNothingApplyRestarts(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	n := &recordingNotifier{}
	e.svc.SetNotifier(n)
	d := addDesk(t, e, "SEP00000000A001", provision.Line{Button: 1, DN: "2001"})
	desc := "x"
	if _, err := e.svc.UpdateDevice(ctx, d.Name, provision.DeviceChange{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateLine(ctx, provision.LineKey{DN: "2001"}, func(l *provision.DirectoryNumber) error { l.AlertingName = "A"; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(n.sent) != 0 {
		t.Fatalf("edits sent %v", n.sent)
	}
	if err := e.svc.Apply(ctx, "sep00000000a001"); err != nil {
		t.Fatal(err)
	}
	if len(n.sent) != 1 || n.sent[0] != d.Name+" restart" {
		t.Fatalf("apply sent %v, want one restart", n.sent)
	}
}

type pickyNotifier struct {
	recordingNotifier
	down map[string]bool
}

func (n *pickyNotifier) Notify(ctx context.Context, name string, a provision.Action) error {
	if n.down[name] {
		return provision.ErrUnavailable
	}
	return n.recordingNotifier.Notify(ctx, name, a)
}

func TestApplyLineRestartsEveryDeviceShowingIt(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	k := provision.LineKey{DN: "3001", Partition: "Internal"}
	a := addDesk(t, e, "SEP00000000A001", provision.Line{Button: 1, DN: "2001"}, provision.Line{Button: 2, DN: k.DN, Partition: k.Partition})
	b := addDesk(t, e, "SEP00000000B001", provision.Line{Button: 1, DN: k.DN, Partition: k.Partition})
	addDesk(t, e, "SEP00000000C001", provision.Line{Button: 1, DN: "2002"})
	n := &pickyNotifier{down: map[string]bool{b.Name: true}}
	e.svc.SetNotifier(n)
	restarted, failed, err := e.svc.ApplyLine(ctx, k)
	if err != nil || len(restarted) != 1 || restarted[0] != a.Name || len(failed) != 1 || failed[0] != b.Name {
		t.Fatalf("ApplyLine = %v, %v, %v", restarted, failed, err)
	}
	if len(n.sent) != 1 || n.sent[0] != a.Name+" restart" {
		t.Fatalf("sent %v", n.sent)
	}
	// Nobody to restart: the failure is the answer.
	if _, _, err := e.svc.ApplyLine(ctx, provision.LineKey{DN: "2002"}); err != nil {
		t.Fatalf("line 2002: %v", err)
	}
	n.down["SEP00000000C001"] = true
	if _, _, err := e.svc.ApplyLine(ctx, provision.LineKey{DN: "2002"}); !errors.Is(err, provision.ErrUnavailable) {
		t.Fatalf("line 2002 unregistered: %v, want UNAVAILABLE", err)
	}
	if _, _, err := e.svc.ApplyLine(ctx, provision.LineKey{DN: "4444"}); !errors.Is(err, provision.ErrNotFound) {
		t.Fatalf("no line: %v", err)
	}
}

// Each UpdateLine reads and writes in one transaction: concurrent changes
// of different settings all survive.
func TestConcurrentLineChangesAreNotLost(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	k := provision.LineKey{DN: "3001", Partition: "Internal"}
	if _, err := e.svc.AddLine(ctx, provision.DirectoryNumber{DN: k.DN, Partition: k.Partition}); err != nil {
		t.Fatal(err)
	}
	set := []func(*provision.DirectoryNumber){
		func(l *provision.DirectoryNumber) { l.Description = "d" },
		func(l *provision.DirectoryNumber) { l.AlertingName = "a" },
		func(l *provision.DirectoryNumber) { l.CallingSearchSpace = "Internal" },
		func(l *provision.DirectoryNumber) { l.CallForwardAll = "1" },
		func(l *provision.DirectoryNumber) { l.CallForwardBusy = "2" },
		func(l *provision.DirectoryNumber) { l.CallForwardNoAnswer = "3" },
		func(l *provision.DirectoryNumber) { l.VoicemailProfile = "v" },
	}
	var wg sync.WaitGroup
	for _, f := range set {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.svc.UpdateLine(ctx, k, func(l *provision.DirectoryNumber) error { f(l); return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	l, err := e.svc.Line(ctx, k)
	want := provision.DirectoryNumber{DN: k.DN, Partition: k.Partition, Description: "d", AlertingName: "a", CallingSearchSpace: "Internal",
		CallForwardAll: "1", CallForwardBusy: "2", CallForwardNoAnswer: "3", VoicemailProfile: "v"}
	l.Appearances = nil
	if err != nil || !reflect.DeepEqual(l, want) {
		t.Fatalf("after concurrent changes %+v, %v; want every change", l, err)
	}
}

// TestAddDeviceWithSettings: settings given with a new device replace the
// template's, filled in as a template's are.
func TestAddDeviceWithSettings(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d, err := e.svc.AddDevice(ctx, provision.NewDevice{Name: "SEP00000000A003", Model: model8845, UDT: "Desk Phone Template",
		Settings: &provision.DeviceSettings{DevicePool: "Lab", IdleURL: "http://x/idle?n=#DEVICENAME#", IdleTimeout: 30}})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := e.svc.Device(ctx, d.Name)
	if err != nil || stored.Settings.DevicePool != "Lab" || stored.Settings.IdleURL != "http://x/idle?n=SEP00000000A003" || stored.Settings.IdleTimeout != 30 || stored.UDT != "Desk Phone Template" {
		t.Fatalf("stored %+v, %v", stored.Settings, err)
	}
}
