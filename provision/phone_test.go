package provision_test

import (
	"context"
	"errors"
	"testing"

	"selfprov/configs"
	"selfprov/provision"
)

func TestLoginPrompt(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	auto := e.autoRegister(t, mac(1), model8845)
	d, mode, err := e.svc.LoginPrompt(ctx, auto.Name)
	if err != nil || mode != provision.AuthUsers || d.Name != auto.Name {
		t.Fatalf("LoginPrompt = %s %q %v", d.Name, mode, err)
	}
	desk := addDesk(t, e, "SEP00000000A001", provision.Line{Button: 1, DN: "2001"})
	if d, _, err := e.svc.LoginPrompt(ctx, desk.Name); !errors.Is(err, provision.ErrDeviceNotAutoReg) || d.Model != model8845 {
		t.Fatalf("provisioned device: %v, device %+v (its model is wanted for the screen)", err, d)
	}
	if _, _, err := e.svc.LoginPrompt(ctx, "SEP00000000FFFF"); !errors.Is(err, provision.ErrDeviceNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
}

func TestAuthorizePush(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	d := addDesk(t, e, "SEP00000000A001", provision.Line{Button: 1, DN: "2001"}) // alice's
	creds := func(id, secret string) provision.Credentials {
		return provision.Credentials{UserID: id, Secret: secret}
	}
	if got, err := e.svc.AuthorizePush(ctx, "sep00000000a001", creds("alice", "12345")); err != nil || got.Name != d.Name {
		t.Fatalf("owner: %v", err)
	}
	if got, err := e.svc.AuthorizePush(ctx, d.Name, creds("bob", "12345")); !errors.Is(err, provision.ErrNotAllowed) || got.Name != d.Name {
		t.Fatalf("not the owner: %v", err)
	}
	if _, err := e.svc.AuthorizePush(ctx, d.Name, creds("alice", "99999")); !errors.Is(err, provision.ErrAuthFailed) {
		t.Fatalf("wrong PIN: %v", err)
	}
	if _, err := e.svc.AuthorizePush(ctx, "SEP00000000FFFF", creds("alice", "12345")); !errors.Is(err, provision.ErrDeviceNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
}

func TestModeNoneNeverAuthorisesAPushAndIgnoresTheSecret(t *testing.T) {
	e := newEnv(t, func(c *configs.Config) { c.Cluster.AuthMode = provision.AuthNone })
	ctx := context.Background()
	d := addDesk(t, e, "SEP00000000A001", provision.Line{Button: 1, DN: "2001"})
	if _, err := e.svc.AuthorizePush(ctx, d.Name, provision.Credentials{UserID: "alice", Secret: "12345"}); !errors.Is(err, provision.ErrAuthFailed) {
		t.Fatalf("push in mode none: %v", err)
	}
	// Whatever is typed in a PIN field, mode none checks only the ID.
	auto := e.autoRegister(t, mac(1), model8845)
	long := string(make([]byte, 200))
	if _, err := e.svc.Login(ctx, auto.Name, provision.Credentials{UserID: "alice", Secret: long}); err != nil {
		t.Fatalf("login in mode none with a stray secret: %v", err)
	}
}
