package axl_test

import (
	"context"
	"strings"
	"testing"

	"selfprov/provision"
)

// TestCallManagerAndSelfProvisioning: the auto-registration settings are
// CallManager's and change through updateCallManager; the
// self-provisioning mode and code through updateSelfProvisioning; end
// users authenticate through doAuthenticateUser.
func TestCallManagerAndSelfProvisioning(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	golden(t, "getCallManager.xml", r.call("getCallManager", `<name>CM_selfprov</name>`))
	r.fault("getCallManager", `<name>CM_other</name>`, "5007")
	if l := r.call("listCallManager", `<searchCriteria><name>CM_%</name></searchCriteria><returnedTags><name/></returnedTags>`); !strings.Contains(l, "<name>CM_selfprov</name>") {
		t.Fatalf("listCallManager:\n%s", l)
	}
	r.call("updateCallManager", `<name>CM_selfprov</name><autoRegistration><startDn>5000</startDn><endDn>5099</endDn>
		<autoRegistrationEnabled>true</autoRegistrationEnabled></autoRegistration>`)
	cl, err := r.core.Svc.Cluster(ctx)
	if err != nil || cl.AutoRegistration.Range != (provision.DNRange{Start: "5000", End: "5099"}) || !cl.AutoRegistration.Enabled {
		t.Fatalf("cluster after updateCallManager: %+v, %v", cl.AutoRegistration, err)
	}
	r.call("updateCallManager", `<name>CM_selfprov</name><autoRegistration><autoRegistrationEnabled>false</autoRegistrationEnabled></autoRegistration>`)
	if cl, _ := r.core.Svc.Cluster(ctx); cl.AutoRegistration.Enabled || cl.AutoRegistration.Range.Start != "5000" {
		t.Fatalf("after disabling: %+v", cl.AutoRegistration)
	}
	// A range the core refuses changes nothing.
	r.fault("updateCallManager", `<name>CM_selfprov</name><autoRegistration><startDn>59</startDn><endDn>5</endDn></autoRegistration>`, "5003")
	if cl, _ := r.core.Svc.Cluster(ctx); cl.AutoRegistration.Range.Start != "5000" {
		t.Fatalf("a refused change was kept: %+v", cl.AutoRegistration)
	}

	r.call("updateSelfProvisioning", `<requireAuthentication>true</requireAuthentication><allowAuthentication>true</allowAuthentication><authenticationCode>778899</authenticationCode>`)
	cl, _ = r.core.Svc.Cluster(ctx)
	if cl.AuthMode != provision.AuthUsersAndAdmin || cl.AuthCodeHash == "" || !provision.VerifySecret(cl.AuthCodeHash, "778899") {
		t.Fatalf("after updateSelfProvisioning: mode %s", cl.AuthMode)
	}
	r.call("updateSelfProvisioning", `<requireAuthentication>false</requireAuthentication>`)
	if cl, _ = r.core.Svc.Cluster(ctx); cl.AuthMode != provision.AuthNone || cl.AuthCodeHash == "" {
		t.Fatalf("mode none: %s", cl.AuthMode)
	}
	r.fault("updateSelfProvisioning", `<authenticationCode>12</authenticationCode>`, "5003")

	if _, err := r.core.Svc.CreateUser(ctx, provision.User{ID: "erin", LastName: "Evans"}, provision.Secrets{Password: "erin-password", PIN: "4321"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ inner, want string }{
		{`<userid>erin</userid><password>erin-password</password>`, "<userAuthenticated>true</userAuthenticated>"},
		{`<userid>erin</userid><pin>4321</pin>`, "<userAuthenticated>true</userAuthenticated>"},
		{`<userid>erin</userid><password>nope</password>`, "<userAuthenticated>false</userAuthenticated>"},
		{`<userid>nobody</userid><password>nope</password>`, "<userAuthenticated>false</userAuthenticated>"},
	} {
		if got := r.call("doAuthenticateUser", c.inner); !strings.Contains(got, c.want) {
			t.Errorf("%s: %s", c.inner, got)
		}
	}
}
