package provision_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"selfprov/provision"
)

func TestDeletingATemplateInUseIsRefused(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	cases := []struct {
		name, want string
		del        func() error
	}{
		{"auto-registration UDT", "auto-registration template", func() error { return e.svc.DeleteUDT(ctx, "Auto-registration Template") }},
		{"profile UDT", `user profile "Standard User Profile"`, func() error { return e.svc.DeleteUDT(ctx, "Desk Phone Template") }},
		{"auto-registration ULT", "auto-registration line template", func() error { return e.svc.DeleteULT(ctx, "Auto-registration Line Template") }},
		{"profile ULT", `user profile "Standard User Profile"`, func() error { return e.svc.DeleteULT(ctx, "User Line Template") }},
		{"profile of a template", `feature group template "Standard Users"`, func() error { return e.svc.DeleteUserProfile(ctx, "Standard User Profile") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.del()
			if !errors.Is(err, provision.ErrInUse) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v; want IN_USE naming %s", err, c.want)
			}
		})
	}
	// Nothing was deleted.
	if _, err := e.st.UDT(ctx, "Desk Phone Template"); err != nil {
		t.Fatal(err)
	}

	// Once the feature group template is gone, the users still hold it.
	if err := e.svc.DeleteFeatureGroupTemplate(ctx, "Standard Users"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteUserProfile(ctx, "Standard User Profile"); !errors.Is(err, provision.ErrInUse) || !strings.Contains(err.Error(), `user "alice"`) {
		t.Fatalf("profile of users: %v", err)
	}
	if err := e.svc.DeleteFeatureGroupTemplate(ctx, "Standard Users"); provision.CodeOf(err) != provision.CodeNotFound {
		t.Fatalf("second delete: %v", err)
	}

	// An unused template goes.
	if err := e.svc.PutUDT(ctx, provision.UDT{Name: "Spare"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteUDT(ctx, "Spare"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteUDT(ctx, "Spare"); provision.CodeOf(err) != provision.CodeNotFound {
		t.Fatalf("deleting a missing template: %v", err)
	}
}

func TestCheckDNRange(t *testing.T) {
	e := newEnv(t, usersInNone)
	ctx := context.Background()
	e.autoRegister(t, mac(1), 36224) // 1000, auto-registered: never a clash
	if _, _, err := e.svc.QuickAdd(ctx, provision.QuickAdd{
		User:                 provision.User{ID: "erin", LastName: "E", PrimaryExtension: "3005"},
		FeatureGroupTemplate: "Standard Users", DeviceMAC: mac(2), DeviceModel: 36224,
	}); err != nil {
		t.Fatal(err)
	}
	c, err := e.svc.Cluster(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ar := c.AutoRegistration
	check := func(start, end string) error {
		a := ar
		a.Range = provision.DNRange{Start: start, End: end}
		return e.svc.CheckDNRange(ctx, a)
	}
	for _, r := range [][2]string{{"1000", "1999"}, {"3006", "3999"}, {"02000", "02999"}} {
		if err := check(r[0], r[1]); err != nil {
			t.Errorf("%s..%s: %v", r[0], r[1], err)
		}
	}
	err = check("2000", "2999")
	if !errors.Is(err, provision.ErrDNInAutoRegRange) || !strings.Contains(err.Error(), "range 2000\u20132999 covers") ||
		!strings.Contains(err.Error(), "primary extension 2001 of user alice") {
		t.Fatalf("range over users' extensions: %v", err)
	}
	err = check("3000", "3010")
	if provision.CodeOf(err) != provision.CodeDNInAutoRegRange || !strings.Contains(err.Error(), "line 3005 on SEP"+mac(2)+" of user erin") {
		t.Fatalf("range over a provisioned line: %v", err)
	}
	if err := check("2000", "1000"); provision.CodeOf(err) != provision.CodeInvalid || !strings.Contains(err.Error(), "after end") {
		t.Fatalf("reversed range: %v", err)
	}
	// Another partition does not clash.
	a := ar
	a.Range, a.Partition = provision.DNRange{Start: "2000", End: "2999"}, "Lab"
	if err := e.svc.CheckDNRange(ctx, a); err != nil {
		t.Fatalf("other partition: %v", err)
	}
}
