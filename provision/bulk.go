package provision

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"selfprov/internal/clip"
)

// Bulk import, as CUCM's Bulk Administration Tool: a CSV file of users or
// of phones with their lines, checked row by row and written in one store
// transaction, so a file goes in whole or not at all. The first line names
// the columns (in any order, case-insensitively).

// UserImportColumns are the columns of a users file; userId and lastName
// are required.
var UserImportColumns = []string{"userId", "lastName", "firstName", "email", "selfServiceId",
	"primaryExtension", "partition", "userProfile", "webexPolicy", "pin", "password"}

// PhoneImportColumns are the columns of a phones file besides line<N> (the
// DN on button N) and line<N>Partition; deviceName and model are required.
// deviceName is SEP<MAC> (or the MAC alone), CSF…, BOT…, TCT… or TAB…;
// model is the catalogue id or product name. The device template is
// deviceTemplate, else the owner's profile's desk-phone template; the line
// template is lineTemplate, else the owner's profile's.
var PhoneImportColumns = []string{"deviceName", "model", "description", "owner", "deviceTemplate", "lineTemplate"}

// MaxImportRows bounds one file.
const MaxImportRows = 200_000

// maxImportErrors bounds the rows reported; the count says how many more.
const maxImportErrors = 1000

// ImportRowError is one refused cell (or row, when Column is empty).
type ImportRowError struct {
	Line    int    `json:"line"` // 1 is the header
	Column  string `json:"column,omitempty"`
	Message string `json:"message"`
}

func (e ImportRowError) String() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Message)
	}
	return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, e.Message)
}

// ImportError refuses a whole file: nothing of it was written. It wraps
// ErrInvalid, so its code is INVALID_ARGUMENT.
type ImportError struct {
	Rows  []ImportRowError // in line order, at most maxImportErrors
	Total int              // refusals found, including those not listed
}

func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: import refused, nothing was written: %d error(s)", CodeInvalid, e.Total)
	for _, r := range e.Rows {
		b.WriteString("\n  ")
		b.WriteString(r.String())
	}
	if e.Total > len(e.Rows) {
		fmt.Fprintf(&b, "\n  ... and %d more", e.Total-len(e.Rows))
	}
	return b.String()
}

func (e *ImportError) Unwrap() error { return ErrInvalid }

// ImportResult says what a file created.
type ImportResult struct {
	Created int `json:"created"`
}

// importTable is a parsed CSV file: the header's column indexes and the
// rows with their line numbers.
type importTable struct {
	cols  map[string]int // lower-cased name → index
	names []string       // as written in the header
	rows  [][]string
	lines []int
	errs  *importErrs
}

type importErrs struct {
	rows  []ImportRowError
	total int
}

func (e *importErrs) add(line int, col, format string, args ...any) {
	e.total++
	if len(e.rows) < maxImportErrors {
		e.rows = append(e.rows, ImportRowError{Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
	}
}

func (e *importErrs) err() error {
	if e.total == 0 {
		return nil
	}
	slices.SortStableFunc(e.rows, func(a, b ImportRowError) int { return a.Line - b.Line })
	return &ImportError{Rows: e.rows, Total: e.total}
}

// readImport reads a CSV file whose header holds only known columns
// (known reports whether a lower-cased name is one) and every required one.
func readImport(r io.Reader, known func(string) bool, required []string) (*importTable, error) {
	t := &importTable{cols: map[string]int{}, errs: &importErrs{}}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // a row of the wrong width is reported, not fatal
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		t.errs.add(1, "", "the file is empty; the first line must name the columns")
		return nil, t.errs.err()
	}
	if err != nil {
		return nil, csvError(err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a spreadsheet's byte order mark
	}
	if len(header) == 1 && strings.Contains(header[0], ";") {
		t.errs.add(1, "", "the columns are separated by ';': save the file as comma-separated CSV")
		return nil, t.errs.err()
	}
	for i, h := range header {
		name := strings.TrimSpace(h)
		key := strings.ToLower(name)
		switch {
		case name == "":
			t.errs.add(1, strconv.Itoa(i+1), "column %d has no name", i+1)
		case !known(key):
			t.errs.add(1, name, "unknown column")
		default:
			if _, dup := t.cols[key]; dup {
				t.errs.add(1, name, "column appears twice")
			}
			t.cols[key] = i
		}
		t.names = append(t.names, name)
	}
	for _, c := range required {
		if _, ok := t.cols[strings.ToLower(c)]; !ok {
			t.errs.add(1, c, "required column is missing")
		}
	}
	if t.errs.total > 0 {
		return nil, t.errs.err()
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		if len(rec) != len(header) {
			t.errs.add(line, "", "has %d fields, the header names %d", len(rec), len(header))
			continue
		}
		if len(t.rows) == MaxImportRows {
			t.errs.add(line, "", "a file holds at most %d rows; split it", MaxImportRows)
			break
		}
		t.rows = append(t.rows, rec)
		t.lines = append(t.lines, line)
	}
	return t, nil
}

// csvError reports a CSV syntax error (an unclosed quote, a stray quote)
// by line; the rest of the file cannot be read reliably after it.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		e := &importErrs{}
		e.add(pe.Line, "", "CSV syntax: %v", pe.Err)
		return e.err()
	}
	return err
}

// get returns the trimmed cell of column name in row i ("" when the file
// has no such column).
func (t *importTable) get(i int, name string) string {
	c, ok := t.cols[strings.ToLower(name)]
	if !ok {
		return ""
	}
	return strings.TrimSpace(t.rows[i][c])
}

// column returns the header's spelling of a column, for messages.
func (t *importTable) column(name string) string {
	if c, ok := t.cols[strings.ToLower(name)]; ok {
		return t.names[c]
	}
	return name
}

func knownColumn(cols []string) func(string) bool {
	set := map[string]bool{}
	for _, c := range cols {
		set[strings.ToLower(c)] = true
	}
	return func(k string) bool { return set[k] }
}

// ImportUsers creates every user of a users CSV file in one transaction,
// or none: any refused row refuses the file with an *ImportError that lists
// each refusal by line and column.
func (s *Service) ImportUsers(ctx context.Context, r io.Reader) (ImportResult, error) {
	t, err := readImport(r, knownColumn(UserImportColumns), []string{"userId", "lastName"})
	if err != nil {
		return ImportResult{}, err
	}
	profiles := map[string]error{}
	profileErr := func(name string) error {
		err, ok := profiles[name]
		if !ok {
			_, err = s.store.UserProfile(ctx, name)
			profiles[name] = err
		}
		return err
	}
	partitionKnown := s.partitionLookup(ctx)
	users := make([]User, 0, len(t.rows))
	secrets := make([]Secrets, 0, len(t.rows))
	firstLine := map[string]int{}
	add := t.errs.add
	for i, line := range t.lines {
		u := User{
			ID: t.get(i, "userId"), LastName: t.get(i, "lastName"), FirstName: t.get(i, "firstName"),
			Email: t.get(i, "email"), SelfServiceID: t.get(i, "selfServiceId"),
			PrimaryExtension: t.get(i, "primaryExtension"), Partition: t.get(i, "partition"),
			UserProfile: t.get(i, "userProfile"), WebexPolicy: WebexPolicy(t.get(i, "webexPolicy")),
		}
		sec := Secrets{PIN: t.get(i, "pin"), Password: t.get(i, "password")}
		before := t.errs.total
		switch {
		case u.ID == "":
			add(line, t.column("userId"), "is required")
		case len(u.ID) > 128 || strings.ContainsAny(u.ID, " \t\r\n\x00"):
			add(line, t.column("userId"), "%q must be 1 to 128 characters without spaces", clip.String(u.ID, 40))
		default:
			key := strings.ToLower(u.ID)
			if l, dup := firstLine[key]; dup {
				add(line, t.column("userId"), "%q is also on line %d", clip.String(u.ID, 40), l)
			} else {
				firstLine[key] = line
				// The store finds a user by ID or, failing that, by
				// self-service ID: either is taken.
				if old, err := s.store.User(ctx, u.ID); err == nil && old.ID == u.ID {
					add(line, t.column("userId"), "user %q exists (%s)", clip.String(u.ID, 40), CodeDuplicate)
				} else if err == nil {
					add(line, t.column("userId"), "%q is the self-service ID of user %q (%s)", clip.String(u.ID, 40), old.ID, CodeDuplicate)
				} else if !errors.Is(err, ErrUserNotFound) && !errors.Is(err, ErrNotFound) {
					return ImportResult{}, err
				}
			}
		}
		if u.SelfServiceID != "" {
			key := "\x00" + u.SelfServiceID // self-service IDs apart from user IDs
			if l, dup := firstLine[key]; dup {
				add(line, t.column("selfServiceId"), "%q is also on line %d", clip.String(u.SelfServiceID, 40), l)
			} else {
				firstLine[key] = line
				if old, err := s.store.User(ctx, u.SelfServiceID); err == nil {
					add(line, t.column("selfServiceId"), "%q is taken by user %q (%s)", clip.String(u.SelfServiceID, 40), old.ID, CodeDuplicate)
				} else if !errors.Is(err, ErrUserNotFound) && !errors.Is(err, ErrNotFound) {
					return ImportResult{}, err
				}
			}
		}
		if u.LastName == "" {
			add(line, t.column("lastName"), "is required")
		}
		if u.PrimaryExtension != "" && (len(u.PrimaryExtension) > 24 || strings.ContainsAny(u.PrimaryExtension, " \t\r\n\x00<>&\"'")) {
			add(line, t.column("primaryExtension"), "%q is not a directory number", clip.String(u.PrimaryExtension, 40))
		}
		if u.Email != "" && (!strings.Contains(u.Email, "@") || len(u.Email) > 254) {
			add(line, t.column("email"), "%q is not an address", clip.String(u.Email, 40))
		}
		if err := validWebexPolicy(u.WebexPolicy, true); err != nil {
			add(line, t.column("webexPolicy"), "%q must be desktop-and-mobile, desktop-only or mobile-only", clip.String(string(u.WebexPolicy), 40))
		}
		if u.Partition != "" {
			if ok, err := partitionKnown(u.Partition); err != nil {
				return ImportResult{}, err
			} else if !ok {
				add(line, t.column("partition"), "route partition %q does not exist", clip.String(u.Partition, 40))
			}
		}
		if u.UserProfile != "" {
			if err := profileErr(u.UserProfile); errors.Is(err, ErrNotFound) {
				add(line, t.column("userProfile"), "user profile %q does not exist", clip.String(u.UserProfile, 40))
			} else if err != nil {
				return ImportResult{}, err
			}
		}
		if sec.PIN != "" && (len(sec.PIN) > 64 || !isDigits(sec.PIN)) {
			add(line, t.column("pin"), "must be 1 to 64 digits")
		}
		if len(sec.Password) > 128 {
			add(line, t.column("password"), "is longer than 128 characters")
		}
		// The one validation every path shares, for a rule not checked above.
		if t.errs.total == before {
			if err := ValidateUser(u); err != nil {
				add(line, "", "%s", strings.TrimPrefix(err.Error(), CodeInvalid+": "))
			}
		}
		users = append(users, u)
		secrets = append(secrets, sec)
	}
	if err := t.errs.err(); err != nil {
		return ImportResult{}, err
	}
	if err := s.hashAll(users, secrets); err != nil {
		return ImportResult{}, err
	}
	// The range check and the write are one step, as for one user.
	s.dnMu.Lock()
	defer s.dnMu.Unlock()
	c, err := s.Cluster(ctx)
	if err != nil {
		return ImportResult{}, err
	}
	for i, u := range users {
		if err := s.checkExtension(ctx, c, u); CodeOf(err) == CodeDNInAutoRegRange {
			add(t.lines[i], t.column("primaryExtension"), "%s", strings.TrimPrefix(err.Error(), CodeDNInAutoRegRange+": "))
		} else if err != nil {
			return ImportResult{}, err
		}
	}
	if err := t.errs.err(); err != nil {
		return ImportResult{}, err
	}
	if err := s.importRows(ctx, t, users, nil); err != nil {
		return ImportResult{}, err
	}
	s.log.Info("bulk import", "kind", "users", "rows", len(users), "code", "OK")
	return ImportResult{Created: len(users)}, nil
}

// hashAll hashes every row's secrets on all cores: at the PIN cost a file
// of 10,000 users is a second of one core.
func (s *Service) hashAll(users []User, secrets []Secrets) error {
	var next atomic.Int64
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(users)) {
		wg.Go(func() {
			for j := int(next.Add(1)) - 1; j < len(users); j = int(next.Add(1)) - 1 {
				errs[j] = s.applySecrets(&users[j], secrets[j])
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// importRows writes the rows in one transaction. A refusal the store finds
// (another writer took a name after the checks) is reported on its row.
func (s *Service) importRows(ctx context.Context, t *importTable, users []User, devices []Device) error {
	row, err := s.store.Import(ctx, users, devices)
	if err == nil {
		return nil
	}
	if devices != nil {
		row -= len(users) // t holds the devices' rows
	}
	if row >= 0 && row < len(t.lines) && CodeOf(err) != "INTERNAL" {
		e := &importErrs{}
		e.add(t.lines[row], "", "%s", err.Error())
		return e.err()
	}
	return err
}

// ImportPhones creates every phone of a phones CSV file, with its lines, in
// one transaction, or none.
func (s *Service) ImportPhones(ctx context.Context, r io.Reader) (ImportResult, error) {
	isLineCol := func(k string) bool {
		k, ok := strings.CutPrefix(k, "line")
		if !ok {
			return false
		}
		k = strings.TrimSuffix(k, "partition")
		n, err := strconv.Atoi(k)
		return err == nil && n >= 1 && n <= 64 && strconv.Itoa(n) == k
	}
	known := knownColumn(PhoneImportColumns)
	t, err := readImport(r, func(k string) bool { return known(k) || isLineCol(k) }, []string{"deviceName", "model"})
	if err != nil {
		return ImportResult{}, err
	}
	maxButton := 0
	for k := range t.cols {
		if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(k, "line"), "partition")); err == nil && strings.HasPrefix(k, "line") {
			maxButton = max(maxButton, n)
		}
	}
	byName := map[string]Model{}
	for _, m := range s.models {
		byName[strings.ToLower(m.Name)] = m
	}
	type ownerInfo struct {
		user  User
		prof  UserProfile
		owned int
		err   error
	}
	owners := map[string]*ownerInfo{}
	partitionKnown := s.partitionLookup(ctx)
	udts := map[string]*UDT{}
	ults := map[string]*ULT{}
	lookupUDT := func(name string) (*UDT, error) {
		if u, ok := udts[name]; ok {
			return u, nil
		}
		u, err := s.store.UDT(ctx, name)
		if errors.Is(err, ErrNotFound) {
			udts[name] = nil
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		udts[name] = &u
		return &u, nil
	}
	lookupULT := func(name string) (*ULT, error) {
		if u, ok := ults[name]; ok {
			return u, nil
		}
		u, err := s.store.ULT(ctx, name)
		if errors.Is(err, ErrNotFound) {
			ults[name] = nil
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		ults[name] = &u
		return &u, nil
	}
	now := s.clock.Now()
	add := t.errs.add
	firstLine := map[string]int{}
	devices := make([]Device, 0, len(t.rows))
	for i, line := range t.lines {
		before := t.errs.total
		raw := t.get(i, "deviceName")
		var name string
		if raw == "" {
			add(line, t.column("deviceName"), "is required")
		} else {
			n, err := CanonicalDeviceName(raw)
			if err != nil {
				if n2, err2 := DeviceNameFromMAC(raw); err2 == nil {
					n, err = n2, nil
				}
			}
			if err != nil {
				add(line, t.column("deviceName"), "%q must be SEP<MAC> (or a MAC), CSF…, BOT…, TCT… or TAB…", clip.String(raw, 40))
			} else if l, dup := firstLine[n]; dup {
				add(line, t.column("deviceName"), "%s is also on line %d", n, l)
			} else {
				firstLine[n] = line
				name = n
				if _, err := s.store.Device(ctx, n); err == nil {
					add(line, t.column("deviceName"), "device %s exists (%s)", n, CodeDuplicate)
				} else if !errors.Is(err, ErrDeviceNotFound) && !errors.Is(err, ErrNotFound) {
					return ImportResult{}, err
				}
			}
		}
		var model Model
		modelOK := false
		if ms := t.get(i, "model"); ms == "" {
			add(line, t.column("model"), "is required")
		} else {
			if id, err := strconv.Atoi(ms); err == nil {
				model, modelOK = s.models[id]
			} else {
				model, modelOK = byName[strings.ToLower(ms)]
			}
			switch {
			case !modelOK:
				add(line, t.column("model"), "%q is not in the model catalogue (%s)", clip.String(ms, 40), CodeInvalidModel)
			case !model.Supported():
				add(line, t.column("model"), "%s is not supported (%s)", model.Name, CodeInvalidModel)
				modelOK = false
			case name != "" && !strings.HasPrefix(name, model.Prefix):
				add(line, t.column("deviceName"), "a %s is named %s…, not %s", model.Name, model.Prefix, name)
			}
		}
		var owner *ownerInfo
		if id := t.get(i, "owner"); id != "" {
			o, ok := owners[id]
			if !ok {
				o = &ownerInfo{}
				o.user, o.err = s.store.User(ctx, id)
				if o.err == nil && o.user.ID != id {
					o.err = ErrUserNotFound // found by self-service ID: name the user by ID
				}
				if o.err == nil {
					if o.prof, o.err = s.profileOf(ctx, o.user); errors.Is(o.err, ErrNotAllowed) {
						o.prof, o.err = UserProfile{}, nil // no profile at all: no templates, no limit
					}
				}
				if o.err == nil && o.prof.DeviceLimit > 0 {
					o.owned, o.err = s.store.CountOwnedDevices(ctx, o.user.ID)
				}
				if o.err != nil && !errors.Is(o.err, ErrUserNotFound) && !errors.Is(o.err, ErrNotFound) {
					return ImportResult{}, o.err
				}
				owners[id] = o
			}
			if o.err != nil {
				add(line, t.column("owner"), "user %q does not exist", clip.String(id, 40))
			} else {
				owner = o
				o.owned++
				if o.prof.DeviceLimit > 0 && o.owned > o.prof.DeviceLimit {
					add(line, t.column("owner"), "%s would own more than the %d devices of user profile %q (%s)", o.user.ID, o.prof.DeviceLimit, o.prof.Name, CodeDeviceLimit)
				}
			}
		}
		udtName := t.get(i, "deviceTemplate")
		udtCol := t.column("deviceTemplate")
		if udtName == "" && owner != nil {
			udtName, udtCol = owner.prof.DeskPhoneUDT, t.column("owner")
		}
		var udt *UDT
		if udtName == "" && t.get(i, "owner") != "" && owner == nil {
			// The owner is refused already; their template is unknown.
		} else if udtName == "" {
			add(line, t.column("deviceTemplate"), "no device template: name one, or an owner whose user profile has a desk-phone template")
		} else if udt, err = lookupUDT(udtName); err != nil {
			return ImportResult{}, err
		} else if udt == nil {
			add(line, udtCol, "device template %q does not exist", clip.String(udtName, 40))
		}
		ult := &ULT{}
		if n := t.get(i, "lineTemplate"); n != "" {
			if ult, err = lookupULT(n); err != nil {
				return ImportResult{}, err
			} else if ult == nil {
				add(line, t.column("lineTemplate"), "line template %q does not exist", clip.String(n, 40))
				ult = &ULT{}
			}
		} else if owner != nil && owner.prof.ULT != "" {
			if ult, err = lookupULT(owner.prof.ULT); err != nil {
				return ImportResult{}, err
			} else if ult == nil {
				add(line, t.column("owner"), "line template %q of user profile %q does not exist", owner.prof.ULT, owner.prof.Name)
				ult = &ULT{}
			}
		}
		var lines []Line
		dns := map[string]bool{}
		for b := 1; b <= maxButton; b++ {
			col := "line" + strconv.Itoa(b)
			dn := t.get(i, col)
			part := t.get(i, col+"Partition")
			if dn == "" {
				if part != "" {
					add(line, t.column(col+"Partition"), "a partition without a DN in %s", t.column(col))
				}
				continue
			}
			if !isDigits(dn) || len(dn) > 24 {
				add(line, t.column(col), "DN %q must be 1 to 24 digits", clip.String(dn, 40))
				continue
			}
			if modelOK && model.Lines > 0 && b > model.Lines {
				add(line, t.column(col), "a %s has %d line(s)", model.Name, model.Lines)
				continue
			}
			if dns[dn+"\x00"+part] {
				add(line, t.column(col), "DN %s appears twice on this device", dn)
				continue
			}
			dns[dn+"\x00"+part] = true
			if part != "" {
				if ok, err := partitionKnown(part); err != nil {
					return ImportResult{}, err
				} else if !ok {
					add(line, t.column(col+"Partition"), "route partition %q does not exist", clip.String(part, 40))
					continue
				}
			}
			var l Line
			if owner != nil && dn == owner.user.PrimaryExtension {
				if part == "" {
					part = owner.user.Partition
				}
				if part == "" {
					part = ult.RoutePartition
				}
				l = s.userLine(b, owner.user, part, *ult, model, name)
			} else {
				if part == "" {
					part = ult.RoutePartition
				}
				display := ""
				if owner != nil {
					display = strings.TrimSpace(owner.user.FirstName + " " + owner.user.LastName)
				}
				l = s.newLine(b, dn, part, *ult, display)
			}
			lines = append(lines, l)
		}
		if t.errs.total > before {
			continue
		}
		d := Device{
			Name: name, Model: model.ID, Protocol: "SIP", Description: t.get(i, "description"),
			State: StateProvisioned, UDT: udt.Name, Settings: s.expandSettings(udt.DeviceSettings, name),
			Lines: lines, ConfigVersion: newVersion(now), CreatedAt: now,
		}
		if owner != nil {
			d.Owner = owner.user.ID
			if d.Description == "" {
				d.Description = expandUserPattern(udt.DescriptionPattern, owner.user, model, name)
			}
		}
		if len(d.Description) > 128 {
			add(line, t.column("description"), "is longer than 128 characters")
			continue
		}
		devices = append(devices, d)
	}
	if err := t.errs.err(); err != nil {
		return ImportResult{}, err
	}
	if err := s.importRows(ctx, t, nil, devices); err != nil {
		return ImportResult{}, err
	}
	s.log.Info("bulk import", "kind", "phones", "rows", len(devices), "code", "OK")
	return ImportResult{Created: len(devices)}, nil
}
