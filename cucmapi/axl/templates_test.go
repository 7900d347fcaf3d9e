package axl_test

import (
	"context"
	"strings"
	"testing"
)

// TestTemplates: UDT, ULT, UserProfileProvision and FeatureGroupTemplate
// are added, read, listed, updated and removed through AXL, and the core's
// rules (names unique, references, in use) answer as faults.
func TestTemplates(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	svc := r.core.Svc

	r.call("addUniversalDeviceTemplate", `<universalDeviceTemplate><name>Lab UDT</name><devicePool>Lab</devicePool>
		<deviceDescription>#FirstName# #LastName# #Product#</deviceDescription><idle>http://x/idle</idle><idleTimer>60</idleTimer></universalDeviceTemplate>`)
	if u, err := svc.UDT(ctx, "Lab UDT"); err != nil || u.DevicePool != "Lab" || u.IdleTimeout != 60 || u.IdleURL != "http://x/idle" {
		t.Fatalf("UDT in the core: %+v, %v", u, err)
	}
	r.fault("addUniversalDeviceTemplate", `<universalDeviceTemplate><name>Lab UDT</name></universalDeviceTemplate>`, "-239")
	r.call("addUniversalLineTemplate", `<universalLineTemplate><name>Lab ULT</name><routePartition>Internal</routePartition>
		<callingSearchSpace>Internal</callingSearchSpace></universalLineTemplate>`)
	r.call("addUserProfileProvision", `<userProfileProvision><name>Lab Profile</name><deskPhones>Lab UDT</deskPhones>
		<universalLineTemplate>Lab ULT</universalLineTemplate><allowProvision>true</allowProvision><limitProvision>3</limitProvision></userProfileProvision>`)
	if p, err := svc.UserProfile(ctx, "Lab Profile"); err != nil || !p.AllowSelfProvision || p.DeviceLimit != 3 || p.DeskPhoneUDT != "Lab UDT" {
		t.Fatalf("profile in the core: %+v, %v", p, err)
	}
	r.fault("addUserProfileProvision", `<userProfileProvision><name>Bad Profile</name><deskPhones>No Such UDT</deskPhones></userProfileProvision>`, "5007")
	r.call("addFeatureGroupTemplate", `<featureGroupTemplate><name>Lab FGT</name><userProfile>Lab Profile</userProfile></featureGroupTemplate>`)

	golden(t, "getUserProfileProvision.xml", r.call("getUserProfileProvision", `<name>Lab Profile</name>`))
	if l := r.call("listUniversalDeviceTemplate", `<searchCriteria><name>Lab%</name></searchCriteria><returnedTags><name/><devicePool/></returnedTags>`); strings.Count(l, "<universalDeviceTemplate ") != 1 || !strings.Contains(l, "<devicePool>Lab</devicePool>") {
		t.Fatalf("listUniversalDeviceTemplate:\n%s", l)
	}
	if l := r.call("listFeatureGroupTemplate", `<searchCriteria><name>%</name></searchCriteria><returnedTags><name/></returnedTags>`); !strings.Contains(l, "<name>Lab FGT</name>") {
		t.Fatalf("listFeatureGroupTemplate:\n%s", l)
	}
	r.call("updateUniversalLineTemplate", `<name>Lab ULT</name><voiceMailProfile>Default</voiceMailProfile>`)
	if u, _ := svc.ULT(ctx, "Lab ULT"); u.VoicemailProfile != "Default" || u.RoutePartition != "Internal" {
		t.Fatalf("ULT after update: %+v", u)
	}
	r.call("updateFeatureGroupTemplate", `<name>Lab FGT</name><description>lab users</description>`)
	if g := r.call("getFeatureGroupTemplate", `<name>Lab FGT</name>`); !strings.Contains(g, "<description>lab users</description>") {
		t.Fatalf("getFeatureGroupTemplate:\n%s", g)
	}
	// A template in use stays.
	r.fault("removeUniversalDeviceTemplate", `<name>Lab UDT</name>`, "5003")
	r.call("removeFeatureGroupTemplate", `<name>Lab FGT</name>`)
	r.call("removeUserProfileProvision", `<name>Lab Profile</name>`)
	r.call("removeUniversalDeviceTemplate", `<name>Lab UDT</name>`)
	r.call("removeUniversalLineTemplate", `<name>Lab ULT</name>`)
	r.fault("getUniversalDeviceTemplate", `<name>Lab UDT</name>`, "5007")
}
