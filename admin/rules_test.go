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
		_, err = e.svc.Login(ctx, d.Name, "lab", "2468")
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
