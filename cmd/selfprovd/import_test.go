package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImportCommandPostsEachFileToTheRunningDaemon(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, loopbackFlags(dir)...)
	users := filepath.Join(t.TempDir(), "users.csv")
	phones := filepath.Join(t.TempDir(), "phones.csv")
	os.WriteFile(users, []byte("userId,lastName,primaryExtension,pin\nerin,Evans,2005,13579\n"), 0o600)
	os.WriteFile(phones, []byte("deviceName,model,owner,line1\n00:0A:00:00:00:05,Cisco 8845,erin,2005\n"), 0o600)
	imp := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"import", "-admin", d.addrs.Admin, "-data-dir", dir}, args...), &out, &errb, nil)
		return code, out.String(), errb.String()
	}
	code, out, errs := imp("-users", users, "-phones", phones)
	if code != 0 || out != users+": 1 users created\n"+phones+": 1 phones created\n" {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}

	// A refused file: every row on stderr as FILE:LINE: COLUMN: message,
	// nothing written, exit 1.
	os.WriteFile(users, []byte("userId,lastName,pin\ngus,Green,2580\nhal,,1234\nerin,Again,1\n"), 0o600)
	code, out, errs = imp("-users", users)
	want := users + ":3: lastName: is required\n" + users + `:4: userId: user "erin" exists (DB-239)` + "\n"
	if code != 1 || out != "" || !strings.HasPrefix(errs, want) || !strings.Contains(errs, "INVALID_ARGUMENT import refused, nothing was written: 2 error(s)") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s\nwant stderr starting:\n%s", code, out, errs, want)
	}
	if code, _, errs := imp("-users", filepath.Join(dir, "missing.csv")); code != 1 || !strings.Contains(errs, "no such file") {
		t.Fatalf("missing file: %d %s", code, errs)
	}
	if code, _, _ := imp(); code != 2 {
		t.Fatalf("no file: exit %d, want 2", code)
	}
}
