package admin_test

import (
	"context"
	"net/http"
	"testing"

	"selfprov/provision"
)

// TestAppUsers: application users are created, listed, changed and
// deleted through the API, their password never shown, and the core
// authenticates them as written.
func TestAppUsers(t *testing.T) {
	e := newEnv(t, envOpt{})
	ctx := context.Background()
	var u struct {
		UserID   string   `json:"userId"`
		Roles    []string `json:"roles"`
		Password string   `json:"password"`
	}
	e.call(http.MethodPut, "/api/v1/app-users/rig", map[string]any{"password": "rig-password", "roles": []string{provision.RoleAXL}}, 200, &u)
	if u.UserID != "rig" || len(u.Roles) != 1 || u.Password != "" {
		t.Fatalf("created %+v", u)
	}
	if _, err := e.svc.AuthenticateApp(ctx, provision.Credentials{UserID: "rig", Secret: "rig-password"}, provision.RoleAXL); err != nil {
		t.Fatalf("rig after PUT: %v", err)
	}
	var list struct {
		Items []struct {
			UserID string `json:"userId"`
		} `json:"items"`
	}
	e.call(http.MethodGet, "/api/v1/app-users", nil, 200, &list)
	if len(list.Items) != 1 || list.Items[0].UserID != "rig" {
		t.Fatalf("list %+v", list)
	}
	// Roles change, the password stays when left out.
	e.call(http.MethodPut, "/api/v1/app-users/rig", map[string]any{"roles": []string{provision.RoleRealtime}}, 200, &u)
	if _, err := e.svc.AuthenticateApp(ctx, provision.Credentials{UserID: "rig", Secret: "rig-password"}, provision.RoleAXL); err == nil {
		t.Fatal("the AXL role was kept")
	}
	if _, err := e.svc.AuthenticateApp(ctx, provision.Credentials{UserID: "rig", Secret: "rig-password"}, provision.RoleRealtime); err != nil {
		t.Fatalf("after the role change: %v", err)
	}
	e.fails(http.MethodPut, "/api/v1/app-users/new", map[string]any{"roles": []string{}}, 400, provision.CodeInvalid)
	e.fails(http.MethodPut, "/api/v1/app-users/bad%20id", map[string]any{"password": "x-password"}, 400, provision.CodeInvalid)
	e.call(http.MethodDelete, "/api/v1/app-users/rig", nil, 204, nil)
	e.fails(http.MethodGet, "/api/v1/app-users/rig", nil, 404, provision.CodeNotFound)
	e.fails(http.MethodDelete, "/api/v1/app-users/rig", nil, 404, provision.CodeNotFound)
}
