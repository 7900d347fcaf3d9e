package admin_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"selfprov/internal/testkit"
	"selfprov/provision"
)

// postCSV posts a CSV file with the given Content-Type.
func (e *env) postCSV(path, contentType, body string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.base+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", contentType)
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestImportUsersAndPhonesOverTheAPI(t *testing.T) {
	e := newEnv(t, envOpt{})
	status, body := e.postCSV("/api/v1/import/users", "text/csv; charset=utf-8",
		"userId,lastName,primaryExtension,pin\nerin,Evans,2005,13579\nfrank,Fisher,2006,2468\n")
	if status != 200 || !strings.Contains(string(body), `"created": 2`) {
		t.Fatalf("users: %d %s", status, body)
	}
	status, body = e.postCSV("/api/v1/import/phones", "text/csv",
		"deviceName,model,owner,line1\nSEP0A0000000005,36224,erin,2005\n")
	if status != 200 || !strings.Contains(string(body), `"created": 1`) {
		t.Fatalf("phones: %d %s", status, body)
	}
	var d provision.Device
	e.call("GET", "/api/v1/devices/SEP0A0000000005", nil, 200, &d)
	if d.Owner != "erin" || d.Lines[0].DN != "2005" {
		t.Fatalf("device %+v", d)
	}
}

// A change that succeeds logs code=OK, as a refused one logs its code.
func TestAdminRequestsLogTheirCode(t *testing.T) {
	var buf testkit.SyncBuffer
	e := newEnv(t, envOpt{log: slog.New(slog.NewTextHandler(&buf, nil))})
	e.call("POST", "/api/v1/users", `{"userId":"gus","lastName":"Green"}`, 201, nil)
	e.fails("POST", "/api/v1/users", `{"userId":"gus","lastName":"Green"}`, 409, provision.CodeDuplicate)
	for _, want := range []string{
		`msg="admin request" method=POST route="POST /api/v1/users" status=201 code=OK`,
		`msg="admin request" method=POST route="POST /api/v1/users" status=409 code=DB-239`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, buf.String())
		}
	}
}

func TestImportRefusalListsEveryRowAndKeepsNothing(t *testing.T) {
	e := newEnv(t, envOpt{})
	status, body := e.postCSV("/api/v1/import/users", "text/csv",
		"userId,lastName,pin\ngus,Green,2580\nhal,,1234\nivy,Ives,12a4\n")
	var b struct {
		Code, Message string
		Errors        []provision.ImportRowError
	}
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	want := []provision.ImportRowError{{Line: 3, Column: "lastName", Message: "is required"}, {Line: 4, Column: "pin", Message: "must be 1 to 64 digits"}}
	if status != 400 || b.Code != provision.CodeInvalid || len(b.Errors) != 2 || b.Errors[0] != want[0] || b.Errors[1] != want[1] ||
		b.Message != "import refused, nothing was written: 2 error(s)" {
		t.Fatalf("%d %s", status, body)
	}
	e.fails("GET", "/api/v1/users/gus", nil, 404, provision.CodeUserNotFound)

	if status, body := e.postCSV("/api/v1/import/users", "application/json", `{"userId":"x"}`); status != 400 || !strings.Contains(string(body), "text/csv") {
		t.Fatalf("JSON body: %d %s", status, body)
	}
}
