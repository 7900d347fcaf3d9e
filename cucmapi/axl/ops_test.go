package axl_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"selfprov/provision"
)

// TestUserLinePhone runs a rig's first session: a user, a line and a
// phone showing it, then get, list with a wildcard, update and remove,
// each checked in the core as well as on the wire.
func TestUserLinePhone(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	svc := r.core.Svc

	r.call("addUser", `<user><userid>jdoe</userid><firstName>Jane</firstName><lastName>Doe</lastName><mailid>jdoe@example.com</mailid>
		<password>jane-password</password><pin>24680</pin><primaryExtension><pattern>2301</pattern><routePartitionName/></primaryExtension></user>`)
	u, err := svc.User(ctx, "jdoe")
	if err != nil || u.LastName != "Doe" || u.PrimaryExtension != "2301" || u.PINHash == "" {
		t.Fatalf("user in the core: %+v, %v", u, err)
	}
	r.call("addLine", `<line><pattern>2301</pattern><routePartitionName></routePartitionName><description>Jane's line</description>
		<alertingName>Jane Doe</alertingName><callForwardAll><destination>2399</destination></callForwardAll></line>`)
	r.call("addPhone", `<phone><name>SEP0011223344AA</name><description>Jane's phone</description><product>Cisco 8845</product>
		<class>Phone</class><protocol>SIP</protocol><protocolSide>User</protocolSide><devicePoolName>Default</devicePoolName>
		<ownerUserName>jdoe</ownerUserName><lines><line><index>1</index><label>Jane</label><display>Jane Doe</display>
		<dirn><pattern>2301</pattern><routePartitionName/></dirn></line></lines></phone>`)
	d, err := svc.Device(ctx, "SEP0011223344AA")
	if err != nil || d.Owner != "jdoe" || d.Model != 36224 || len(d.Lines) != 1 || d.Lines[0].DN != "2301" || d.Settings.DevicePool != "Default" {
		t.Fatalf("phone in the core: %+v, %v", d, err)
	}
	version := d.ConfigVersion

	golden(t, "getUser.xml", r.call("getUser", `<userid>jdoe</userid>`))
	golden(t, "getLine.xml", r.call("getLine", `<pattern>2301</pattern><routePartitionName/>`))
	got := r.call("getPhone", `<name>SEP0011223344AA</name>`)
	golden(t, "getPhone.xml", strings.Replace(got, version, "VERSION", 1))
	// The uuid an add returned names the object in later requests.
	phoneUUID := uuidIn(t, r.call("getPhone", `<name>SEP0011223344AA</name><returnedTags><name/></returnedTags>`))
	if got := r.call("getPhone", `<uuid>`+strings.ToLower(phoneUUID)+`</uuid>`); !strings.Contains(got, "<name>SEP0011223344AA</name>") {
		t.Fatalf("getPhone by uuid:\n%s", got)
	}
	if got := r.call("getUser", `<uuid>`+uuidIn(t, r.call("getUser", `<userid>jdoe</userid>`))+`</uuid>`); !strings.Contains(got, "<userid>jdoe</userid>") {
		t.Fatalf("getUser by uuid:\n%s", got)
	}
	if got := r.call("getLine", `<uuid>`+uuidIn(t, r.call("getLine", `<pattern>2301</pattern>`))+`</uuid>`); !strings.Contains(got, "<pattern>2301</pattern>") {
		t.Fatalf("getLine by uuid:\n%s", got)
	}
	if rt := r.call("getPhone", `<name>sep0011223344aa</name><returnedTags><name/><ownerUserName/></returnedTags>`); strings.Contains(rt, "<product>") || !strings.Contains(rt, "<ownerUserName>jdoe</ownerUserName>") {
		t.Fatalf("getPhone with returnedTags:\n%s", rt)
	}

	// Lists with wildcards, returnedTags, skip and first.
	for i := 0; i < 4; i++ {
		r.call("addPhone", fmt.Sprintf(`<phone><name>SEP0011223355%02X</name><product>Cisco 8845</product><protocol>SIP</protocol></phone>`, i))
	}
	list := r.call("listPhone", `<searchCriteria><name>SEP00112233%</name></searchCriteria><returnedTags><name/><product/></returnedTags>`)
	golden(t, "listPhone.xml", list)
	if n := strings.Count(list, "<phone "); n != 5 {
		t.Fatalf("listPhone SEP00112233%%: %d phones", n)
	}
	paged := r.call("listPhone", `<searchCriteria><name>%55__</name></searchCriteria><returnedTags><name/></returnedTags><skip>1</skip><first>2</first>`)
	if strings.Count(paged, "<phone ") != 2 || !strings.Contains(paged, "SEP0011223355") || !strings.Contains(paged, "<name>SEP001122335501</name>") || strings.Contains(paged, "<name>SEP001122335500</name>") {
		t.Fatalf("listPhone skip 1 first 2:\n%s", paged)
	}
	if l := r.call("listUser", `<searchCriteria><userid>jd%</userid></searchCriteria><returnedTags><userid/><lastName/></returnedTags>`); !strings.Contains(l, "<userid>jdoe</userid>") || strings.Count(l, "<user ") != 1 || strings.Contains(l, "<mailid>") {
		t.Fatalf("listUser:\n%s", l)
	}
	if l := r.call("listLine", `<searchCriteria><pattern>23%</pattern></searchCriteria><returnedTags><pattern/><alertingName/></returnedTags>`); !strings.Contains(l, "<alertingName>Jane Doe</alertingName>") {
		t.Fatalf("listLine:\n%s", l)
	}
	r.fault("listPhone", `<returnedTags><name/></returnedTags>`, "5002")
	r.fault("listPhone", `<searchCriteria><color>red</color></searchCriteria>`, "5003")

	// Updates.
	r.call("updateUser", `<userid>jdoe</userid><firstName>Janet</firstName>`)
	if u, _ := svc.User(ctx, "jdoe"); u.FirstName != "Janet" || u.LastName != "Doe" {
		t.Fatalf("updateUser: %+v", u)
	}
	r.call("updateLine", `<pattern>2301</pattern><routePartitionName/><alertingName>Janet Doe</alertingName>`)
	if l, _ := svc.Line(ctx, provision.LineKey{DN: "2301"}); l.AlertingName != "Janet Doe" || l.CallForwardAll != "2399" {
		t.Fatalf("updateLine: %+v", l)
	}
	r.call("updatePhone", `<name>SEP0011223344AA</name><description>Janet's phone</description><idleTimeout>45</idleTimeout>
		<addLines><line><index>2</index><dirn><pattern>2302</pattern><routePartitionName/></dirn></line></addLines>`)
	d, _ = svc.Device(ctx, "SEP0011223344AA")
	if d.Description != "Janet's phone" || d.Settings.IdleTimeout != 45 || len(d.Lines) != 2 || d.ConfigVersion == version {
		t.Fatalf("updatePhone: %+v", d)
	}
	r.call("updatePhone", `<name>SEP0011223344AA</name><removeLines><line><dirn><pattern>2302</pattern><routePartitionName/></dirn></line></removeLines>`)
	if d, _ = svc.Device(ctx, "SEP0011223344AA"); len(d.Lines) != 1 {
		t.Fatalf("removeLines: %+v", d.Lines)
	}

	// Faults: duplicate, not found, bad input.
	dup := r.fault("addPhone", `<phone><name>SEP0011223344AA</name><product>Cisco 8845</product></phone>`, "-239")
	golden(t, "fault-duplicate.xml", dup)
	r.fault("addUser", `<user><userid>jdoe</userid><lastName>Doe</lastName></user>`, "-239")
	r.fault("addLine", `<line><pattern>2301</pattern><routePartitionName/></line>`, "-239")
	golden(t, "fault-not-found.xml", r.fault("getUser", `<userid>nobody</userid>`, "5007"))
	r.fault("getPhone", `<name>SEP00000000DEAD</name>`, "5007")
	r.fault("getLine", `<pattern>9999</pattern><routePartitionName/>`, "5007")
	r.fault("updatePhone", `<name>SEP00000000DEAD</name><description>x</description>`, "5007")
	r.fault("addPhone", `<phone><name>SEP0011223344AB</name><product>Cisco 9999</product></phone>`, "5003")
	r.fault("addPhone", `<phone><name>SEP0011223344AB</name><product>Cisco 8845</product><ownerUserName>nobody</ownerUserName></phone>`, "5007")
	r.fault("addUser", `<user><userid>nolast</userid></user>`, "5003")
	r.fault("addLine", `<line><pattern>12a4</pattern></line>`, "5003")
	r.fault("getPhone", `<uuid>{00000000-0000-0000-0000-000000000000}</uuid>`, "5007")
	if _, err := svc.Device(ctx, "SEP0011223344AB"); err == nil {
		t.Fatal("a refused addPhone created the phone")
	}

	// Resets of a phone that is not registered succeed, as on CUCM.
	for _, op := range []string{"resetPhone", "restartPhone", "applyPhone"} {
		r.call(op, `<name>SEP0011223344AA</name>`)
	}
	r.call("doDeviceReset", `<deviceName>SEP0011223344AA</deviceName><isHardReset>true</isHardReset>`)
	r.fault("resetPhone", `<name>SEP00000000DEAD</name>`, "5007")

	// Removal.
	r.call("removePhone", `<name>SEP0011223344AA</name>`)
	if _, err := svc.Device(ctx, "SEP0011223344AA"); err == nil {
		t.Fatal("removePhone left the phone")
	}
	r.call("removeLine", `<pattern>2301</pattern><routePartitionName/>`)
	r.call("removeUser", `<userid>jdoe</userid>`)
	if _, err := svc.User(ctx, "jdoe"); err == nil {
		t.Fatal("removeUser left the user")
	}
	r.fault("removeUser", `<userid>jdoe</userid>`, "5007")
}

// notifier records the core's resets.
type notifier struct{ got chan string }

func (n notifier) Notify(_ context.Context, name string, a provision.Action) error {
	n.got <- name + " " + string(a)
	return nil
}

// TestResetsReachTheNotifier: each reset operation asks the core for the
// action CUCM's does.
func TestResetsReachTheNotifier(t *testing.T) {
	r := newRig(t)
	n := notifier{got: make(chan string, 8)}
	r.core.Svc.SetNotifier(n)
	r.call("addPhone", `<phone><name>SEP0011223344AA</name><product>Cisco 8845</product></phone>`)
	for _, c := range []struct{ op, inner, want string }{
		{"resetPhone", `<name>SEP0011223344AA</name>`, "reset"},
		{"restartPhone", `<name>SEP0011223344AA</name>`, "restart"},
		{"applyPhone", `<name>SEP0011223344AA</name>`, "restart"},
		{"doDeviceReset", `<deviceName>SEP0011223344AA</deviceName><isHardReset>true</isHardReset>`, "reset"},
		{"doDeviceReset", `<deviceName>SEP0011223344AA</deviceName><isHardReset>false</isHardReset><deviceResetType>Restart</deviceResetType>`, "restart"},
	} {
		r.call(c.op, c.inner)
		if got := <-n.got; got != "SEP0011223344AA "+c.want {
			t.Fatalf("%s: %s, want %s", c.op, got, c.want)
		}
	}
}

// uuidIn returns the first uuid attribute of a response.
func uuidIn(t *testing.T, body string) string {
	t.Helper()
	i := strings.Index(body, `uuid="`)
	if i < 0 {
		t.Fatalf("no uuid in\n%s", body)
	}
	rest := body[i+len(`uuid="`):]
	return rest[:strings.IndexByte(rest, '"')]
}
