package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"selfprov/provision"
)

// LinesByDN finds a DN in the empty partition and every stored partition,
// with each line's appearances (client devices as they spell themselves)
// and whether its settings are stored; a DN with the same number, another
// DN, and a partition no object names are left out.
func TestLinesByDN(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	for _, p := range []string{"Internal", "Lab"} {
		if err := s.PutPartition(ctx, provision.Partition{Name: p}); err != nil {
			t.Fatal(err)
		}
	}
	devs := []provision.Device{
		{Name: "SEP000000000001", Lines: []provision.Line{{Button: 1, DN: "2001", Partition: "Internal"}, {Button: 2, DN: "2001"}}},
		{Name: "CSFalice", Lines: []provision.Line{{Button: 1, DN: "2001", Partition: "Internal"}}},
		{Name: "SEP000000000002", Lines: []provision.Line{{Button: 1, DN: "02001", Partition: "Internal"}, {Button: 2, DN: "2001", Partition: "Unstored"}}},
	}
	for _, d := range devs {
		d.Model, d.State = 36224, provision.StateProvisioned
		if err := s.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateLine(ctx, provision.DirectoryNumber{DN: "2001", Partition: "Lab", CallingSearchSpace: "LabCSS"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateLine(ctx, provision.LineKey{DN: "2001", Partition: "Internal"}, func(l provision.DirectoryNumber) (provision.DirectoryNumber, error) {
		l.AlertingName = "Alice"
		return l, nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LinesByDN(ctx, "2001")
	if err != nil {
		t.Fatal(err)
	}
	want := []provision.DNLine{
		{DirectoryNumber: provision.DirectoryNumber{DN: "2001", Appearances: []provision.LineAppearance{{Device: "SEP000000000001", Button: 2}}}},
		{DirectoryNumber: provision.DirectoryNumber{DN: "2001", Partition: "Internal", AlertingName: "Alice",
			Appearances: []provision.LineAppearance{{Device: "CSFalice", Button: 1}, {Device: "SEP000000000001", Button: 1}}}, Stored: true},
		{DirectoryNumber: provision.DirectoryNumber{DN: "2001", Partition: "Lab", CallingSearchSpace: "LabCSS"}, Stored: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("LinesByDN(2001) =\n%+v\nwant\n%+v", got, want)
	}
	if got, err := s.LinesByDN(ctx, "9999"); err != nil || len(got) != 0 {
		t.Fatalf("LinesByDN(9999) = %+v, %v; want none", got, err)
	}
	if got, err := s.LinesByDN(ctx, "*82"); err != nil || len(got) != 0 {
		t.Fatalf("LinesByDN(*82) = %+v, %v; want none", got, err)
	}
}

// The lookup of a call's DNs probes indexes: it never scans the lines or
// the stored lines, however many phones there are.
func TestLinesByDNUsesIndexes(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	rows, err := s.r.QueryContext(ctx, `EXPLAIN QUERY PLAN `+qLinesByDN, 2001, "2001")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, step := range plan {
		if strings.HasPrefix(step, "SCAN l") || strings.HasPrefix(step, "SCAN d") || strings.Contains(step, "SCAN lines") || strings.Contains(step, "SCAN directory_numbers") {
			t.Errorf("plan scans a table: %q\nwhole plan: %q", step, plan)
		}
	}
	if len(plan) == 0 {
		t.Fatal("no plan")
	}
	t.Logf("plan: %q", plan)
}

// The named tables' lists are cached as their objects are: every write
// shows in the next list, and a caller changing a list it got changes
// nothing for the next.
func TestNamedListsReadAfterWrite(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	names := func() []string {
		t.Helper()
		all, err := s.CallingSearchSpaces(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range all {
			out = append(out, c.Name+strings.Join(c.Partitions, "+"))
		}
		return out
	}
	if got := names(); len(got) != 0 {
		t.Fatalf("empty table lists %v", got)
	}
	for _, c := range []provision.CallingSearchSpace{{Name: "B", Partitions: []string{"P"}}, {Name: "A"}} {
		if err := s.PutCallingSearchSpace(ctx, c); err != nil {
			t.Fatal(err)
		}
		names() // cached between the writes
	}
	if got := names(); !reflect.DeepEqual(got, []string{"A", "BP"}) {
		t.Fatalf("after two puts: %v", got)
	}
	all, _ := s.CallingSearchSpaces(ctx)
	all[0].Name, all[1].Partitions[0] = "X", "Y"
	if got := names(); !reflect.DeepEqual(got, []string{"A", "BP"}) {
		t.Fatalf("a caller's change reached the cache: %v", got)
	}
	if err := s.PutCallingSearchSpace(ctx, provision.CallingSearchSpace{Name: "B", Partitions: []string{"Q"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCallingSearchSpace(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	if got := names(); !reflect.DeepEqual(got, []string{"BQ"}) {
		t.Fatalf("after a replace and a delete: %v", got)
	}
	// The lists of other tables are their own.
	if err := s.PutPartition(ctx, provision.Partition{Name: "P"}); err != nil {
		t.Fatal(err)
	}
	if ps, err := s.Partitions(ctx); err != nil || len(ps) != 1 {
		t.Fatalf("partitions %v, %v", ps, err)
	}
	if got := names(); !reflect.DeepEqual(got, []string{"BQ"}) {
		t.Fatalf("after a partition put: %v", got)
	}
}

// BenchmarkLinesByDN: a call's lookup of a DN among 10,000 auto-registered
// lines, with three stored partitions, a DN shared by two devices.
func BenchmarkLinesByDN(b *testing.B) {
	ctx := context.Background()
	s := open(b, filepath.Join(b.TempDir(), "selfprov.db"))
	for _, p := range []string{"A", "B", "Internal"} {
		if err := s.PutPartition(ctx, provision.Partition{Name: p}); err != nil {
			b.Fatal(err)
		}
	}
	r := provision.DNRange{Start: "10000", End: "19999"}
	for i := range 10000 {
		name := fmt.Sprintf("SEP0A00000%05d", i)
		if _, _, err := s.AutoRegister(ctx, name, r, "", func(dn string) provision.Device { return autoRegDevice(name, dn) }); err != nil {
			b.Fatal(err)
		}
	}
	for i, name := range []string{"SEP0B0000000001", "SEP0B0000000002"} {
		if err := s.CreateDevice(ctx, provision.Device{Name: name, Model: 36224, State: provision.StateProvisioned,
			Lines: []provision.Line{{Button: 1, DN: "2001", Partition: "Internal"}, {Button: 2, DN: fmt.Sprint(3000 + i)}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if ls, err := s.LinesByDN(ctx, "2001"); err != nil || len(ls) != 1 || len(ls[0].Appearances) != 2 {
			b.Fatal(ls, err)
		}
	}
}

// TestGenerationFollowsEveryWrite: the generation a remembered route is
// tied to grows with every committed write, transaction or single
// statement, and with nothing else.
func TestGenerationFollowsEveryWrite(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "selfprov.db"))
	dev := provision.Device{Name: "SEP00000000000A", Model: 36224, State: provision.StateProvisioned,
		Lines: []provision.Line{{Button: 1, DN: "2001"}}}
	steps := []struct {
		name  string
		do    func() error
		grows bool
	}{
		{"create a device", func() error { return s.CreateDevice(ctx, dev) }, true},
		{"read it", func() error { _, err := s.Device(ctx, dev.Name); return err }, false},
		{"read lines by DN", func() error { _, err := s.LinesByDN(ctx, "2001"); return err }, false},
		{"create it again (refused)", func() error {
			if err := s.CreateDevice(ctx, dev); err == nil {
				return fmt.Errorf("a duplicate device was created")
			}
			return nil
		}, false},
		{"put a line template", func() error { return s.PutULT(ctx, provision.ULT{Name: "T"}) }, true},
		{"put a partition", func() error { return s.PutPartition(ctx, provision.Partition{Name: "Lab"}) }, true},
		{"delete the device", func() error { return s.DeleteDevice(ctx, dev.Name, time.Now()) }, true},
	}
	for _, st := range steps {
		before := s.Generation()
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if grew := s.Generation() > before; grew != st.grows {
			t.Errorf("%s: generation grew %v, want %v", st.name, grew, st.grows)
		}
	}
}
