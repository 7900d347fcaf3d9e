package provision_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"selfprov/internal/coretest"
	"selfprov/internal/testkit"
	"selfprov/provision"
)

// Every successful provisioning step logs code=OK, as refusals log theirs,
// so one query on the log finds every outcome.
func TestSuccessfulStepsLogCodeOK(t *testing.T) {
	var buf testkit.SyncBuffer
	c := coretest.New(t, coretest.Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	ctx := context.Background()
	if _, _, err := c.Svc.AutoRegister(ctx, "SEP0A0000000001", 36224); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Svc.SelfProvision(ctx, "SEP0A0000000001", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Svc.QuickAdd(ctx, provision.QuickAdd{User: provision.User{ID: "gus", LastName: "Green", PrimaryExtension: "2006"},
		FeatureGroupTemplate: "Standard Users", DeviceMAC: "0A0000000002", DeviceModel: 36224}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Svc.AutoProvisionClient(ctx, provision.ClientRequest{User: "bob", Platform: "windows", AppVersion: "43.1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Svc.ImportUsers(ctx, strings.NewReader("userId,lastName\nhal,Hill\n")); err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if code, ok := m["code"].(string); ok {
			codes[m["msg"].(string)] = code
		}
	}
	for _, msg := range []string{"autoregister", "selfprovision", "quick add", "autoprovision", "bulk import"} {
		if codes[msg] != "OK" {
			t.Errorf("%q logged code=%q, want OK\n%s", msg, codes[msg], buf.String())
		}
	}
}
