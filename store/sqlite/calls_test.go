package sqlite

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

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
