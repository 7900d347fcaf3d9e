package provision_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"selfprov/provision"
)

// The demo seeds its partition and calling search spaces, and they are
// read back as written.
func TestPartitionsAndCSSsAreSeeded(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	ps, err := e.svc.Partitions(ctx)
	if err != nil || len(ps) != 1 || ps[0].Name != "Internal" {
		t.Fatalf("partitions %+v, %v", ps, err)
	}
	cs, err := e.svc.CallingSearchSpaces(ctx)
	want := []provision.CallingSearchSpace{
		{Name: "Auto-registration", Description: "Auto-registered phones call only each other", Partitions: []string{}},
		{Name: "Internal", Description: "Users call users, and auto-registered phones in <None>", Partitions: []string{"Internal"}},
	}
	if err != nil || !reflect.DeepEqual(cs, want) {
		t.Fatalf("calling search spaces\n%+v, %v\nwant\n%+v", cs, err, want)
	}
	// A caller changing what it read changes nothing stored.
	c, _ := e.svc.CallingSearchSpace(ctx, "Internal")
	c.Partitions[0] = "Changed"
	if again, _ := e.svc.CallingSearchSpace(ctx, "Internal"); again.Partitions[0] != "Internal" {
		t.Fatalf("the cached CSS was changed through a copy: %+v", again)
	}
}

// What names a partition or CSS must name one that exists, where it is
// written, with an error that names it; nothing is written.
func TestUnknownPartitionsAndCSSsAreRefused(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	refused := func(what string, err error, name string) {
		t.Helper()
		if !errors.Is(err, provision.ErrNotFound) || !strings.Contains(err.Error(), `"`+name+`" does not exist`) {
			t.Errorf("%s: %v; want NOT_FOUND naming %q", what, err, name)
		}
	}
	refused("CSS", e.svc.PutCallingSearchSpace(ctx, provision.CallingSearchSpace{Name: "Lab", Partitions: []string{"Internal", "Lab"}}), "Lab")
	if _, err := e.svc.CallingSearchSpace(ctx, "Lab"); !errors.Is(err, provision.ErrNotFound) {
		t.Errorf("refused CSS stored: %v", err)
	}
	refused("ULT partition", e.svc.PutULT(ctx, provision.ULT{Name: "Lab Lines", RoutePartition: "Lab"}), "Lab")
	refused("ULT CSS", e.svc.PutULT(ctx, provision.ULT{Name: "Lab Lines", CallingSearchSpace: "Lab CSS"}), "Lab CSS")
	if _, err := e.svc.ULT(ctx, "Lab Lines"); !errors.Is(err, provision.ErrNotFound) {
		t.Errorf("refused ULT stored: %v", err)
	}
	ult, _ := e.svc.ULT(ctx, "User Line Template")
	ult.CallingSearchSpace = "Lab CSS"
	refused("ULT changed to an unknown CSS", e.svc.PutULT(ctx, ult), "Lab CSS")
	_, err := e.svc.AddLine(ctx, provision.DirectoryNumber{DN: "3001", Partition: "Lab"})
	refused("line partition", err, "Lab")
	_, err = e.svc.AddLine(ctx, provision.DirectoryNumber{DN: "3001", CallingSearchSpace: "Lab CSS"})
	refused("line CSS", err, "Lab CSS")
	if _, err := e.svc.Line(ctx, provision.LineKey{DN: "3001"}); !errors.Is(err, provision.ErrNotFound) {
		t.Errorf("refused line stored: %v", err)
	}
	if _, err := e.svc.AddLine(ctx, provision.DirectoryNumber{DN: "3001"}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.UpdateLine(ctx, provision.LineKey{DN: "3001"}, func(l *provision.DirectoryNumber) error {
		l.CallingSearchSpace = "Lab CSS"
		return nil
	})
	refused("line edited to an unknown CSS", err, "Lab CSS")

	// Well formed only: <None> is never listed, nor a partition twice.
	for _, c := range []provision.CallingSearchSpace{
		{Name: "", Partitions: []string{}},
		{Name: "Lab", Partitions: []string{""}},
		{Name: "Lab", Partitions: []string{"Internal", "Internal"}},
		{Name: "Lab <x>"},
	} {
		if err := e.svc.PutCallingSearchSpace(ctx, c); !errors.Is(err, provision.ErrInvalid) {
			t.Errorf("PutCallingSearchSpace(%+v) = %v; want INVALID_ARGUMENT", c, err)
		}
	}
	for _, p := range []provision.Partition{{Name: ""}, {Name: "a\"b"}, {Name: strings.Repeat("p", 51)}} {
		if err := e.svc.PutPartition(ctx, p); !errors.Is(err, provision.ErrInvalid) {
			t.Errorf("PutPartition(%q) = %v; want INVALID_ARGUMENT", p.Name, err)
		}
	}
	// Existing names are accepted, and Add refuses a second.
	if err := e.svc.AddPartition(ctx, provision.Partition{Name: "Lab"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AddPartition(ctx, provision.Partition{Name: "Lab"}); !errors.Is(err, provision.ErrDuplicate) {
		t.Fatalf("second AddPartition = %v", err)
	}
	if err := e.svc.AddCallingSearchSpace(ctx, provision.CallingSearchSpace{Name: "Lab CSS", Partitions: []string{"Lab", "Internal"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PutULT(ctx, provision.ULT{Name: "Lab Lines", RoutePartition: "Lab", CallingSearchSpace: "Lab CSS"}); err != nil {
		t.Fatal(err)
	}
}

// A template stored before its CSS had to exist can still be edited
// otherwise; only a new reference is checked.
func TestAnOldUnknownReferenceDoesNotBlockOtherEdits(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	old := provision.ULT{Name: "Old Lines", RoutePartition: "Gone", CallingSearchSpace: "Gone CSS"}
	if err := e.st.PutULT(ctx, old); err != nil {
		t.Fatal(err)
	}
	old.MaxCalls = 6
	if err := e.svc.PutULT(ctx, old); err != nil {
		t.Fatalf("editing the calls of a template with old references: %v", err)
	}
}

// A partition or CSS something names is not deleted; the error names one
// user of it. Once nothing names it, it goes.
func TestPartitionsAndCSSsInUseAreNotDeleted(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	inUse := func(what string, err error, mention string) {
		t.Helper()
		if !errors.Is(err, provision.ErrInUse) || !strings.Contains(err.Error(), mention) {
			t.Errorf("%s: %v; want IN_USE mentioning %q", what, err, mention)
		}
	}
	inUse("partition in a CSS", e.svc.DeletePartition(ctx, "Internal"), `calling search space "Internal"`)
	inUse("CSS of a ULT", e.svc.DeleteCallingSearchSpace(ctx, "Auto-registration"), `universal line template "Auto-registration Line Template"`)

	for _, p := range []string{"A", "B", "C", "D"} {
		if err := e.svc.PutPartition(ctx, provision.Partition{Name: p}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.svc.PutCallingSearchSpace(ctx, provision.CallingSearchSpace{Name: "Lab", Partitions: []string{"A"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PutULT(ctx, provision.ULT{Name: "B Lines", RoutePartition: "B"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AddLine(ctx, provision.DirectoryNumber{DN: "3001", Partition: "C", CallingSearchSpace: "Lab"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateUser(ctx, provision.User{ID: "dora", LastName: "D", PrimaryExtension: "3002", Partition: "D"}, provision.Secrets{}); err != nil {
		t.Fatal(err)
	}
	inUse("partition of a ULT", e.svc.DeletePartition(ctx, "B"), `universal line template "B Lines"`)
	inUse("partition of a line", e.svc.DeletePartition(ctx, "C"), "line 3001")
	inUse("partition of a user", e.svc.DeletePartition(ctx, "D"), `user "dora"`)
	inUse("CSS of a line", e.svc.DeleteCallingSearchSpace(ctx, "Lab"), "line 3001 in C")

	if err := e.svc.RemoveLine(ctx, provision.LineKey{DN: "3001", Partition: "C"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteCallingSearchSpace(ctx, "Lab"); err != nil {
		t.Fatalf("unused CSS: %v", err)
	}
	for _, p := range []string{"A", "C"} {
		if err := e.svc.DeletePartition(ctx, p); err != nil {
			t.Fatalf("unused partition %s: %v", p, err)
		}
	}
	if err := e.svc.DeletePartition(ctx, "A"); !errors.Is(err, provision.ErrNotFound) {
		t.Fatalf("deleting a deleted partition: %v", err)
	}
	if err := e.svc.DeleteCallingSearchSpace(ctx, "Lab"); !errors.Is(err, provision.ErrNotFound) {
		t.Fatalf("deleting a deleted CSS: %v", err)
	}
	// A partition only device appearances use is in use too.
	if err := e.svc.PutPartition(ctx, provision.Partition{Name: "E"}); err != nil {
		t.Fatal(err)
	}
	addDesk(t, e, "SEP00000000E001", provision.Line{Button: 1, DN: "3005", Partition: "E"})
	inUse("partition of an appearance", e.svc.DeletePartition(ctx, "E"), "line 3005")
}

// Devices' new lines, users' extensions, auto-registration and imported
// rows name only partitions that exist; each refusal names the partition
// and writes nothing.
func TestEveryWriterOfAPartitionChecksIt(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	refused := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, provision.ErrNotFound) || !strings.Contains(err.Error(), `route partition "Lab" does not exist`) {
			t.Errorf("%s: %v; want NOT_FOUND naming partition Lab", what, err)
		}
	}
	lab := []provision.Line{{Button: 1, DN: "3001", Partition: "Lab"}}
	_, err := e.svc.AddDevice(ctx, provision.NewDevice{Name: "SEP00000000A001", Model: model8845, UDT: "Desk Phone Template", Lines: lab})
	refused("AddDevice", err)
	if _, err := e.svc.Device(ctx, "SEP00000000A001"); !errors.Is(err, provision.ErrDeviceNotFound) {
		t.Errorf("refused device stored: %v", err)
	}
	d := addDesk(t, e, "SEP00000000A001", provision.Line{Button: 1, DN: "3001"})
	_, err = e.svc.UpdateDevice(ctx, d.Name, provision.DeviceChange{Lines: &lab})
	refused("UpdateDevice", err)
	_, err = e.svc.CreateUser(ctx, provision.User{ID: "zoe", LastName: "Z", PrimaryExtension: "3500", Partition: "Lab"}, provision.Secrets{})
	refused("CreateUser", err)
	alice, _ := e.svc.User(ctx, "alice")
	alice.Partition = "Lab"
	_, err = e.svc.UpdateUser(ctx, alice, provision.Secrets{})
	refused("UpdateUser", err)
	_, _, err = e.svc.QuickAdd(ctx, provision.QuickAdd{User: provision.User{ID: "zoe", LastName: "Z", Partition: "Lab"}, FeatureGroupTemplate: "Standard Users"})
	refused("QuickAdd", err)
	_, err = e.svc.UpdateCluster(ctx, func(c *provision.Cluster) error { c.AutoRegistration.Partition = "Lab"; return nil })
	refused("UpdateCluster", err)
	if c, _ := e.svc.Cluster(ctx); c.AutoRegistration.Partition != "" {
		t.Errorf("refused auto-registration partition stored: %q", c.AutoRegistration.Partition)
	}

	_, err = e.svc.ImportUsers(ctx, strings.NewReader("userId,lastName,primaryExtension,partition\nzoe,Z,3500,Lab\n"))
	if ie := importErr(t, err); len(ie.Rows) != 1 || ie.Rows[0].Column != "partition" || !strings.Contains(ie.Rows[0].Message, `route partition "Lab" does not exist`) {
		t.Errorf("ImportUsers: %v", ie.Rows)
	}
	_, err = e.svc.ImportPhones(ctx, strings.NewReader("deviceName,model,deviceTemplate,line1,line1Partition\nSEP00000000A002,36224,Desk Phone Template,3002,Lab\n"))
	if ie := importErr(t, err); len(ie.Rows) != 1 || ie.Rows[0].Column != "line1Partition" || !strings.Contains(ie.Rows[0].Message, `route partition "Lab" does not exist`) {
		t.Errorf("ImportPhones: %v", ie.Rows)
	}

	// Once it exists, each is accepted.
	if err := e.svc.PutPartition(ctx, provision.Partition{Name: "Lab"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateDevice(ctx, d.Name, provision.DeviceChange{Lines: &lab}); err != nil {
		t.Errorf("UpdateDevice: %v", err)
	}
	if _, err := e.svc.ImportPhones(ctx, strings.NewReader("deviceName,model,deviceTemplate,line1,line1Partition\nSEP00000000A002,36224,Desk Phone Template,3002,Lab\n")); err != nil {
		t.Errorf("ImportPhones: %v", err)
	}
}
