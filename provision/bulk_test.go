package provision_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"selfprov/internal/coretest"
	"selfprov/provision"
)

const usersHeader = "userId,lastName,firstName,email,selfServiceId,primaryExtension,userProfile,pin,password\n"

func importErr(t *testing.T, err error) *provision.ImportError {
	t.Helper()
	var ie *provision.ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an *ImportError", err)
	}
	if provision.CodeOf(err) != provision.CodeInvalid {
		t.Fatalf("code %s, want %s", provision.CodeOf(err), provision.CodeInvalid)
	}
	return ie
}

func TestImportUsersCreatesEveryRowWithHashedSecrets(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	csv := usersHeader +
		"erin,Evans,Erin,erin@example.com,,2005,Standard User Profile,13579,erin-password\n" +
		"\n" + // blank lines are skipped
		"\"frank\",\"Fisher, Jr.\",Frank,,4006,2006,,2468,\n"
	res, err := e.svc.ImportUsers(ctx, strings.NewReader(csv))
	if err != nil || res.Created != 2 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	u, err := e.st.User(ctx, "frank")
	if err != nil || u.LastName != "Fisher, Jr." || u.SelfServiceID != "4006" || u.PrimaryExtension != "2006" {
		t.Fatalf("frank: %+v, %v", u, err)
	}
	if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "erin", Secret: "13579"}); err != nil {
		t.Fatalf("erin's PIN: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, provision.Credentials{UserID: "erin", Secret: "erin-password"}); err != nil {
		t.Fatalf("erin's password: %v", err)
	}
	if u, _ := e.st.User(ctx, "erin"); strings.Contains(u.PINHash, "13579") || u.PINHash == "" {
		t.Fatalf("PIN stored as %q", u.PINHash)
	}
}

func TestImportUsersIsAllOrNothingAndReportsEveryBadRowByLineAndColumn(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	csv := usersHeader +
		"u1,One,,,,3001,,1111,\n" + // line 2: fine
		"u2,,,,,3002,,2222,\n" + // line 3: no last name
		"u3,Three,,not-an-address,,3003,,33a3,\n" + // line 4: email and PIN
		"u1,Again,,,,3004,,4444,\n" + // line 5: duplicate in the file
		"alice,Adams,,,,3005,,5555,\n" + // line 6: exists already
		"u6,Six,,,,3006,No Such Profile,6666,\n" + // line 7: unknown profile
		"u7,Seven,,,,30 07,,7777\n" + // line 8: a field short
		"u8,Eight,,,,3008,,8888,\n" + // line 9: fine
		"2003,Nine,,,,,,,\n" + // line 10: carol's self-service ID
		"u10,Ten,,,2003,,,,\n" + // line 11: the same
		"u11,Eleven,,,77,,,,\n" + // line 12: fine
		"u12,Twelve,,,77,,,,\n" // line 13: self-service ID twice
	_, err := e.svc.ImportUsers(ctx, strings.NewReader(csv))
	ie := importErr(t, err)
	want := []provision.ImportRowError{
		{Line: 3, Column: "lastName", Message: "is required"},
		{Line: 4, Column: "email", Message: `"not-an-address" is not an address`},
		{Line: 4, Column: "pin", Message: "must be 1 to 64 digits"},
		{Line: 5, Column: "userId", Message: `"u1" is also on line 2`},
		{Line: 6, Column: "userId", Message: `user "alice" exists (DB-239)`},
		{Line: 7, Column: "userProfile", Message: `user profile "No Such Profile" does not exist`},
		{Line: 8, Message: "has 8 fields, the header names 9"},
		{Line: 10, Column: "userId", Message: `"2003" is the self-service ID of user "carol" (DB-239)`},
		{Line: 11, Column: "selfServiceId", Message: `"2003" is taken by user "carol" (DB-239)`},
		{Line: 13, Column: "selfServiceId", Message: `"77" is also on line 12`},
	}
	if fmt.Sprint(ie.Rows) != fmt.Sprint(want) || ie.Total != len(want) {
		t.Fatalf("errors:\n%v\nwant:\n%v", ie.Rows, want)
	}
	for _, id := range []string{"u1", "u8"} {
		if _, err := e.st.User(ctx, id); !errors.Is(err, provision.ErrUserNotFound) {
			t.Errorf("%s of a refused file: %v, want not found", id, err)
		}
	}
	if !strings.Contains(err.Error(), "line 4, column pin: must be 1 to 64 digits") {
		t.Errorf("message %q does not name line and column", err)
	}
}

func TestImportUsersRefusesABadHeader(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ csv, want string }{
		{"", "[line 1: the file is empty; the first line must name the columns]"},
		{"userId,surname\nx,y\n", "[line 1, column surname: unknown column line 1, column lastName: required column is missing]"},
		{"userId,lastName,userId\n", "[line 1, column userId: column appears twice]"},
		{"userId,lastName\n\"x,y\n", "[line 2: CSV syntax: extraneous or missing \" in quoted-field]"},
		{"userId;lastName\r\nx;y\r\n", "[line 1: the columns are separated by ';': save the file as comma-separated CSV]"},
		{"\ufeffuserId,lastName,nickname\r\n", "[line 1, column nickname: unknown column]"},
	} {
		_, err := e.svc.ImportUsers(context.Background(), strings.NewReader(tc.csv))
		if got := fmt.Sprint(importErr(t, err).Rows); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.csv, got, tc.want)
		}
	}
}

func TestImportPhonesBuildsDevicesFromTheOwnersProfile(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	csv := "deviceName,model,description,owner,line1,line2,line2Partition\n" +
		"SEP0A0000000001,36224,,alice,2001,2101,Internal\n" +
		"0a:00:00:00:00:02,Cisco 8845,Lobby,,2102,,\n"
	// The second phone has no owner: it needs a template.
	_, err := e.svc.ImportPhones(ctx, strings.NewReader(csv))
	ie := importErr(t, err)
	if len(ie.Rows) != 1 || ie.Rows[0].Line != 3 || ie.Rows[0].Column != "deviceTemplate" {
		t.Fatalf("errors %v, want one on line 3, column deviceTemplate", ie.Rows)
	}
	if _, err := e.st.Device(ctx, "SEP0A0000000001"); !errors.Is(err, provision.ErrDeviceNotFound) {
		t.Fatalf("a phone of a refused file exists: %v", err)
	}
	csv = strings.Replace(csv, "line2Partition\n", "line2Partition,deviceTemplate\n", 1)
	csv = strings.Replace(csv, "Internal\n", "Internal,\n", 1)
	csv = strings.Replace(csv, "2102,,\n", "2102,,,Desk Phone Template\n", 1)
	res, err := e.svc.ImportPhones(ctx, strings.NewReader(csv))
	if err != nil || res.Created != 2 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	d, err := e.st.Device(ctx, "SEP0A0000000001")
	if err != nil {
		t.Fatal(err)
	}
	if d.Owner != "alice" || d.UDT != "Desk Phone Template" || d.State != provision.StateProvisioned ||
		len(d.Lines) != 2 || d.Lines[0].DN != "2001" || d.Lines[0].Label != "2001 - Adams" ||
		d.Lines[1].DN != "2101" || d.Lines[1].Partition != "Internal" || d.Description != "Alice Adams (Cisco 8845)" ||
		d.ConfigVersion == "" {
		t.Fatalf("device %+v", d)
	}
	lobby, err := e.st.Device(ctx, "SEP0A0000000002")
	if err != nil || lobby.Owner != "" || lobby.Description != "Lobby" || lobby.Lines[0].DN != "2102" {
		t.Fatalf("lobby %+v, %v", lobby, err)
	}
}

func TestImportPhonesReportsEveryBadRow(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	auto := e.autoRegister(t, mac(9), 36224)
	csv := "deviceName,model,owner,line1,line2,line9\n" +
		"SEP0A0000000001,36224,alice,2001,,\n" + // line 2: fine
		"SEPXYZ,36224,alice,2001,,\n" + // line 3: bad name
		"SEP0A0000000003,99999,alice,2001,,\n" + // line 4: unknown model
		"SEP0A0000000004,36224,nobody,2001,,\n" + // line 5: unknown owner
		"SEP0A0000000005,36224,alice,20a1,,\n" + // line 6: bad DN
		"SEP0A0000000006,Cisco 7841,alice,2001,,1234\n" + // line 7: button beyond the model's lines
		"sep0a0000000001,36224,alice,2001,,\n" + // line 8: duplicate
		auto.Name + ",36224,alice,2001,,\n" + // line 9: exists
		"CSFALICE,36224,alice,2001,,\n" // line 10: name does not fit the model
	_, err := e.svc.ImportPhones(ctx, strings.NewReader(csv))
	ie := importErr(t, err)
	var got []string
	for _, r := range ie.Rows {
		got = append(got, fmt.Sprintf("%d/%s", r.Line, r.Column))
	}
	want := "3/deviceName 4/model 5/owner 6/line1 7/line9 8/deviceName 9/deviceName 10/deviceName"
	if strings.Join(got, " ") != want {
		t.Fatalf("errors at %v, want %s\n%v", got, want, ie.Rows)
	}
	if _, err := e.st.Device(ctx, "SEP0A0000000001"); !errors.Is(err, provision.ErrDeviceNotFound) {
		t.Fatalf("a phone of a refused file exists: %v", err)
	}
}

// A clash only the store sees (a line on the DN an auto-registered phone
// holds) refuses the whole file and names the row.
func TestImportPhonesRollsBackOnAStoreRefusal(t *testing.T) {
	e := newEnv(t, usersInNone)
	ctx := context.Background()
	auto := e.autoRegister(t, mac(1), 36224)
	csv := "deviceName,model,owner,line1\n" +
		"SEP0A0000000011,36224,alice,2001\n" +
		"SEP0A0000000012,36224,bob," + auto.Lines[0].DN + "\n"
	_, err := e.svc.ImportPhones(ctx, strings.NewReader(csv))
	ie := importErr(t, err)
	if len(ie.Rows) != 1 || ie.Rows[0].Line != 3 || !strings.Contains(ie.Rows[0].Message, "DB-239") {
		t.Fatalf("errors %v, want one on line 3 naming DB-239", ie.Rows)
	}
	if _, err := e.st.Device(ctx, "SEP0A0000000011"); !errors.Is(err, provision.ErrDeviceNotFound) {
		t.Fatalf("the first row was kept: %v", err)
	}
}

func TestImportPhonesKeepsTheProfilesDeviceLimit(t *testing.T) {
	e := newEnv(t, nil)
	var b strings.Builder
	b.WriteString("deviceName,model,owner,line1\n")
	for i := range 11 {
		fmt.Fprintf(&b, "SEP0A00000001%02X,36224,bob,2002\n", i)
	}
	_, err := e.svc.ImportPhones(context.Background(), strings.NewReader(b.String()))
	ie := importErr(t, err)
	if len(ie.Rows) != 1 || ie.Rows[0].Line != 12 || !strings.Contains(ie.Rows[0].Message, provision.CodeDeviceLimit) {
		t.Fatalf("errors %v, want the 11th phone (line 12) refused with %s", ie.Rows, provision.CodeDeviceLimit)
	}
}

// bulkFiles makes n users (bulk%05d, PIN 12345, extension 5<nnnnn>) and n
// phones, one per user on their extension.
func bulkFiles(n int) (users, phones string) {
	var u, p strings.Builder
	u.WriteString("userId,lastName,firstName,primaryExtension,userProfile,pin\n")
	p.WriteString("deviceName,model,owner,line1\n")
	for i := range n {
		fmt.Fprintf(&u, "bulk%05d,Last%05d,First,5%05d,Standard User Profile,12345\n", i, i, i)
		fmt.Fprintf(&p, "SEP0B%010X,36224,bulk%05d,5%05d\n", i, i, i)
	}
	return u.String(), p.String()
}

// TestImport10000UsersAndPhones is the size of a real directory; the
// rate is in the log (go test -run Import10000 -v ./provision/).
func TestImport10000UsersAndPhones(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 users and phones: skipped with -short")
	}
	const n = 10_000
	c := coretest.New(t, coretest.Options{HashIterations: -1}) // the production cost
	ctx := context.Background()
	users, phones := bulkFiles(n)
	cpu0 := cpuTime()
	start := time.Now()
	res, err := c.Svc.ImportUsers(ctx, strings.NewReader(users))
	if err != nil || res.Created != n {
		t.Fatalf("users: %+v, %v", res, err)
	}
	usersDone := time.Now()
	res, err = c.Svc.ImportPhones(ctx, strings.NewReader(phones))
	if err != nil || res.Created != n {
		t.Fatalf("phones: %+v, %v", res, err)
	}
	end := time.Now()
	cpu := cpuTime() - cpu0
	// On a shared machine the wall clock also counts other processes; the
	// process's CPU time says what the import itself costs.
	t.Logf("users: %d rows in %s (%.0f rows/s); phones: %d rows in %s (%.0f rows/s); together %.0f rows/s, %.0f rows per CPU second",
		n, usersDone.Sub(start).Round(time.Millisecond), n/usersDone.Sub(start).Seconds(),
		n, end.Sub(usersDone).Round(time.Millisecond), n/end.Sub(usersDone).Seconds(), 2*n/end.Sub(start).Seconds(), 2*n/cpu.Seconds())
	d, err := c.Store.Device(ctx, fmt.Sprintf("SEP0B%010X", n-1))
	if err != nil || d.Owner != fmt.Sprintf("bulk%05d", n-1) {
		t.Fatalf("last phone: %+v, %v", d, err)
	}
	if _, err := c.Svc.Authenticate(ctx, provision.Credentials{UserID: "bulk09999", Secret: "12345"}); err != nil {
		t.Fatalf("last user's PIN: %v", err)
	}

	// One bad row among 10,000 more refuses the file: nothing of it is kept.
	users2, _ := bulkFiles(2 * n)
	lines := strings.SplitAfter(users2, "\n")
	more := lines[0] + strings.Join(lines[1+n:], "")
	more = strings.Replace(more, "bulk15000,Last15000,First,515000,Standard User Profile,12345", "bulk15000,Last15000,First,515000,Standard User Profile,12x45", 1)
	_, err = c.Svc.ImportUsers(ctx, strings.NewReader(more))
	ie := importErr(t, err)
	if len(ie.Rows) != 1 || ie.Rows[0].Line != 5002 || ie.Rows[0].Column != "pin" {
		t.Fatalf("errors %v, want line 5002, column pin", ie.Rows)
	}
	if _, err := c.Store.User(ctx, "bulk10000"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Fatalf("the first row of the refused file: %v", err)
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkImport measures users and phones files of 1,000 rows each, at
// the production hashing cost; rows/s is reported.
func BenchmarkImport(b *testing.B) {
	const n = 1000
	users, phones := bulkFiles(n)
	ctx := context.Background()
	var total, cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		c := coretest.New(b, coretest.Options{HashIterations: -1})
		b.StartTimer()
		start, cpu0 := time.Now(), cpuTime()
		if _, err := c.Svc.ImportUsers(ctx, strings.NewReader(users)); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Svc.ImportPhones(ctx, strings.NewReader(phones)); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		cpu += cpuTime() - cpu0
	}
	b.ReportMetric(float64(2*n*b.N)/total.Seconds(), "rows/s")
	// The wall clock of a shared machine counts others' work too.
	b.ReportMetric(float64(2*n*b.N)/cpu.Seconds(), "rows/cpu-s")
}

// FuzzImport: any users or phones file either goes in whole (every row
// created) or is refused with an *ImportError whose rows are in line
// order with a message each, and then nothing of it is written.
func FuzzImport(f *testing.F) {
	f.Add(usersHeader+"erin,Evans,Erin,erin@example.com,,2005,Standard User Profile,13579,pw\n", false)
	f.Add("userId,lastName\n\"a,b\",\"c\"\"d\"\n\nx,\n", false)
	f.Add("userId,lastName,pin\nu1,L,12a\nu1,L,1\n", false)
	f.Add("deviceName,model,owner,line1,line2Partition\nSEP0A0000000001,36224,alice,2001,\n", true)
	f.Add("deviceName,model,line1,deviceTemplate\n0a:00:00:00:00:02,Cisco 8845,2102,Desk Phone Template\n", true)
	f.Add("deviceName,model\n\"SEP0A0000000003,36224\n", true)
	e := newEnv(f, nil)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, file string, phones bool) {
		before, err := e.st.Devices(ctx, provision.DeviceFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		usersBefore, err := e.st.Users(ctx, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		var res provision.ImportResult
		if phones {
			res, err = e.svc.ImportPhones(ctx, strings.NewReader(file))
		} else {
			res, err = e.svc.ImportUsers(ctx, strings.NewReader(file))
		}
		after, _ := e.st.Devices(ctx, provision.DeviceFilter{Limit: 1000})
		usersAfter, _ := e.st.Users(ctx, "", 1000)
		created := len(after) - len(before) + len(usersAfter) - len(usersBefore)
		if err != nil {
			var ie *provision.ImportError
			if !errors.As(err, &ie) {
				t.Fatalf("%q: error %v is not an *ImportError", file, err)
			}
			if len(ie.Rows) == 0 || ie.Total < len(ie.Rows) {
				t.Fatalf("%q: %d rows listed of %d", file, len(ie.Rows), ie.Total)
			}
			for i, r := range ie.Rows {
				if r.Line < 1 || r.Message == "" || (i > 0 && r.Line < ie.Rows[i-1].Line) {
					t.Fatalf("%q: bad row report %+v in %v", file, r, ie.Rows)
				}
			}
			if created != 0 {
				t.Fatalf("%q: refused, yet %d rows were written", file, created)
			}
			return
		}
		if res.Created != created {
			t.Fatalf("%q: reported %d created, %d written", file, res.Created, created)
		}
	})
}

func TestImportUsersRefusesAnExtensionInsideTheAutoRegistrationRange(t *testing.T) {
	e := newEnv(t, usersInNone) // the demo range is 1000–1999, users' lines in <None> too
	ctx := context.Background()
	csv := usersHeader +
		"u1,One,,,,3001,,1111,\n" +
		"u2,Two,,,,1500,,2222,\n" // line 3: inside the range
	_, err := e.svc.ImportUsers(ctx, strings.NewReader(csv))
	ie := importErr(t, err)
	if len(ie.Rows) != 1 || ie.Rows[0].Line != 3 || ie.Rows[0].Column != "primaryExtension" ||
		!strings.Contains(ie.Rows[0].Message, "1500") || !strings.Contains(ie.Rows[0].Message, "auto-registration range") {
		t.Fatalf("errors: %v", ie.Rows)
	}
	if _, err := e.st.User(ctx, "u1"); !errors.Is(err, provision.ErrUserNotFound) {
		t.Errorf("u1 of a refused file: %v, want not found", err)
	}
}
