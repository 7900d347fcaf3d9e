package admin_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"selfprov/provision"
)

// A profile saved through the API without deviceLimit gets the default
// of 10: the answer and the listing say so, and self-provisioning refuses
// the user's eleventh phone.
func TestProfileWithoutDeviceLimitLimitsToTen(t *testing.T) {
	e := newEnv(t, envOpt{})
	var p provision.UserProfile
	e.call("PUT", "/api/v1/user-profiles/Lab", `{"deskPhoneUDT":"Desk Phone Template","ult":"User Line Template","allowSelfProvision":true}`, 201, &p)
	if p.DeviceLimit != 10 {
		t.Fatalf("PUT answered deviceLimit %d, want 10", p.DeviceLimit)
	}
	p = provision.UserProfile{}
	e.call("GET", "/api/v1/user-profiles/Lab", nil, 200, &p)
	if p.DeviceLimit != 10 {
		t.Fatalf("GET deviceLimit %d, want 10", p.DeviceLimit)
	}
	e.call("POST", "/api/v1/users", `{"userId":"lab","lastName":"Lab","primaryExtension":"3100","userProfile":"Lab","pin":"2468"}`, 201, nil)

	ctx := context.Background()
	for i := range 11 {
		d, _, err := e.svc.AutoRegister(ctx, fmt.Sprintf("SEP0C00000000%02X", i), 36224)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.Login(ctx, d.Name, provision.Credentials{UserID: "lab", Secret: "2468"})
		if i < 10 {
			if err == nil {
				_, err = e.svc.SelfProvision(ctx, d.Name, "lab")
			}
			if err != nil {
				t.Fatalf("phone %d: %v", i+1, err)
			}
			continue
		}
		if !errors.Is(err, provision.ErrDeviceLimit) {
			t.Fatalf("phone 11: %v; want %s", err, provision.CodeDeviceLimit)
		}
	}

	// A profile stored earlier without a limit is shown with 10.
	if err := e.st.PutUserProfile(ctx, provision.UserProfile{Name: "Old", DeskPhoneUDT: "Desk Phone Template"}); err != nil {
		t.Fatal(err)
	}
	p = provision.UserProfile{}
	e.call("GET", "/api/v1/user-profiles/Old", nil, 200, &p)
	if p.DeviceLimit != 10 {
		t.Fatalf("stored profile without a limit shown with %d, want 10", p.DeviceLimit)
	}
	e.fails("PUT", "/api/v1/user-profiles/Lab", `{"deviceLimit":-1}`, 400, provision.CodeInvalid)
}

// The admin API refuses a primary extension inside the active
// auto-registration range where it is assigned (409, naming both sides),
// and a range over an assigned extension.
func TestDNClashesAreRefusedWhereMade(t *testing.T) {
	e := newEnv(t, envOpt{change: usersInNone}) // auto-registration on, 1000–1999, users' lines in <None> too
	const want = "primary extension 1500 of user zoe is inside the auto-registration range 1000\u20131999"
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v1/users", `{"userId":"zoe","lastName":"Z","primaryExtension":"1500","userProfile":"Standard User Profile"}`},
		{"POST", "/api/v1/quick-add", `{"user":{"userId":"zoe","lastName":"Z","primaryExtension":"1500"},"featureGroupTemplate":"Standard Users","deviceMAC":"0C0000000001","deviceModel":36224}`},
	} {
		if msg := e.fails(c.method, c.path, c.body, 409, provision.CodeDNInAutoRegRange); msg != want {
			t.Fatalf("%s %s: message %q, want %q", c.method, c.path, msg, want)
		}
	}
	e.fails("GET", "/api/v1/users/zoe", nil, 404, provision.CodeUserNotFound)
	e.fails("GET", "/api/v1/devices/SEP0C0000000001", nil, 404, provision.CodeDeviceNotFound)

	e.call("POST", "/api/v1/users", `{"userId":"zoe","lastName":"Z","primaryExtension":"3500"}`, 201, nil)
	if msg := e.fails("PUT", "/api/v1/users/zoe", `{"lastName":"Z","primaryExtension":"1500"}`, 409, provision.CodeDNInAutoRegRange); msg != want {
		t.Fatalf("PUT: message %q, want %q", msg, want)
	}
	msg := e.fails("PATCH", "/api/v1/cluster", `{"autoRegistration":{"startDN":"3000","endDN":"3999"}}`, 409, provision.CodeDNInAutoRegRange)
	if msg != "the auto-registration range 3000\u20133999 covers directory numbers in use: primary extension 3500 of user zoe" {
		t.Fatalf("PATCH: message %q", msg)
	}
}
