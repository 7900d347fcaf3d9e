package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"selfprov/internal/clip"
)

// Webex App auto-provisioning (SPEC §5): a client signing in asks for its
// device (CSF, BOT, TCT or TAB), which is created from the user's templates
// or copied from one of the user's devices, sharing the primary extension.

// Outcome codes of auto-provisioning beyond those in errors.go.
const (
	CodeAutoProvName = "AUTOPROV_INVALID_NAME"
)

// ErrAutoProvName is returned when nothing of a user ID is usable in a
// device name.
var ErrAutoProvName = &Error{CodeAutoProvName, "user ID has no character usable in a device name"}

// The oldest Webex App that may auto-provision is 41.12.
const (
	MinClientMajor = 41
	MinClientMinor = 12
)

// UniversalSecurityProfile is the standard model-independent profile.
const UniversalSecurityProfile = "Universal Device Template - Model-independent Security Profile"

// ClientPlatform is a Webex App platform and the device type it gets.
type ClientPlatform struct {
	Name   string      // as the client sends it: windows, mac, android, iphone, ipad, chromebook
	Prefix string      // device name prefix: CSF, BOT, TCT, TAB
	Class  DeviceClass // policy class: desktop or mobile (tablets count as mobile)
}

// clientPlatforms is SPEC §5's platform table.
var clientPlatforms = []ClientPlatform{
	{"windows", PrefixCSF, ClassDesktop},
	{"mac", PrefixCSF, ClassDesktop},
	{"android", PrefixBOT, ClassMobile},
	{"iphone", PrefixTCT, ClassMobile},
	{"ipad", PrefixTAB, ClassMobile},
	{"chromebook", PrefixTAB, ClassMobile},
}

// ClientPlatforms lists the platforms that auto-provision, in a fixed order.
func ClientPlatforms() []ClientPlatform { return append([]ClientPlatform(nil), clientPlatforms...) }

// LookupClientPlatform finds a platform by name, case-insensitively.
func LookupClientPlatform(name string) (ClientPlatform, bool) {
	for _, p := range clientPlatforms {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	return ClientPlatform{}, false
}

// clientModelIDs are the product's model ids of the client types, preferred
// when the catalogue holds several models with one prefix.
var clientModelIDs = map[string]int{PrefixCSF: 503, PrefixTCT: 562, PrefixBOT: 575, PrefixTAB: 652}

// ClientRequest is a Webex App's request for its device.
type ClientRequest struct {
	// User is the user ID, or an email address that is some user's email.
	User string
	// Email, when set, must be the user's email address.
	Email      string
	Platform   string
	AppVersion string
}

// maxClientField bounds every field of a ClientRequest; user IDs are at
// most 128 characters (ValidateUser), email addresses 254.
const maxClientField = 254

// ParseClientVersion reads a Webex App version: 1 to 4 dot-separated
// numbers ("41.12", "41.12.0.1234"). A missing minor number counts as 0.
func ParseClientVersion(v string) (major, minor int, err error) {
	if v == "" {
		return 0, 0, fmt.Errorf("%w: app version is required", ErrAutoProvVersion)
	}
	if len(v) > 40 {
		return 0, 0, fmt.Errorf("%w: app version %q is not a version number", ErrAutoProvVersion, clip.String(v, 40))
	}
	parts := strings.Split(v, ".")
	if len(parts) > 4 {
		return 0, 0, fmt.Errorf("%w: app version %q is not a version number", ErrAutoProvVersion, v)
	}
	nums := make([]int, len(parts))
	for i, p := range parts {
		if p == "" || len(p) > 9 || !isDigits(p) {
			return 0, 0, fmt.Errorf("%w: app version %q is not a version number", ErrAutoProvVersion, v)
		}
		nums[i], _ = strconv.Atoi(p)
	}
	major = nums[0]
	if len(nums) > 1 {
		minor = nums[1]
	}
	return major, minor, nil
}

// checkClientVersion refuses versions older than 41.12. A bare
// major version ("41") is taken as 41.0, so it is refused.
func checkClientVersion(v string) error {
	major, minor, err := ParseClientVersion(v)
	if err != nil {
		return err
	}
	if major < MinClientMajor || major == MinClientMajor && minor < MinClientMinor {
		return fmt.Errorf("%w: app version %q", ErrAutoProvVersion, v)
	}
	return nil
}

// ClientDeviceName is the device name of a client type for a user ID
// before any collision suffix: the prefix and the user ID without
// characters outside [A-Za-z0-9._-], upper-cased for BOT, TCT and TAB, cut
// to 15 characters. It is "" when nothing of the user ID is usable.
func ClientDeviceName(prefix, userID string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; i < len(userID) && b.Len() < MaxDeviceNameLen; i++ {
		if isNameChar(userID[i]) { // bytes of multi-byte runes are never name characters
			b.WriteByte(userID[i])
		}
	}
	if b.Len() == len(prefix) {
		return ""
	}
	if prefix == PrefixCSF {
		return b.String()
	}
	return strings.ToUpper(b.String())
}

// suffixed is the name for the n-th collision: the base cut so that the
// number fits in 15 characters.
func suffixed(base string, n int) string {
	s := strconv.Itoa(n)
	if len(base)+len(s) > MaxDeviceNameLen {
		base = base[:MaxDeviceNameLen-len(s)]
	}
	return base + s
}

// maxNameSuffix bounds the names tried when the user's name is taken.
const maxNameSuffix = 99

// effectiveWebexPolicy is the user's setting over the profile's over the
// organisation's; the default when none is set.
func effectiveWebexPolicy(c Cluster, prof UserProfile, u User) WebexPolicy {
	for _, p := range []WebexPolicy{u.WebexPolicy, prof.WebexPolicy, c.WebexPolicy} {
		if p != "" {
			return p
		}
	}
	return WebexDesktopAndMobile
}

func policyAllows(p WebexPolicy, class DeviceClass) bool {
	switch p {
	case WebexDesktopAndMobile:
		return true
	case WebexDesktopOnly:
		return class == ClassDesktop
	case WebexMobileOnly:
		return class == ClassMobile
	}
	return false
}

// IsUniversalSecurityProfile tells a model-independent profile (the
// standard one, or a custom one whose name says universal or
// model-independent) from a model-specific one.
func IsUniversalSecurityProfile(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "model-independent") || strings.Contains(n, "universal")
}

// StandardSecurityProfile is the standard model-specific profile of m.
func StandardSecurityProfile(m Model) string {
	return m.Name + " - Standard SIP Non-Secure Profile"
}

// MapSecurityProfile is the security profile mapping of auto-provisioning:
// universal profiles (standard or custom) stay as they are; standard and
// custom model-specific ones (and none) become the standard model-specific
// profile of the new model.
func MapSecurityProfile(profile string, m Model) string {
	if IsUniversalSecurityProfile(profile) {
		return profile
	}
	return StandardSecurityProfile(m)
}

// standardButtonTemplates are the product's names for the client models.
var standardButtonTemplates = map[int]string{
	503: "Standard Client Services Framework",
	562: "Standard Dual Mode for iPhone",
	575: "Standard Dual Mode for Android",
	652: "Standard Jabber for Tablet",
}

// StandardButtonTemplate is the standard phone button template of m.
func StandardButtonTemplate(m Model) string {
	if t, ok := standardButtonTemplates[m.ID]; ok {
		return t
	}
	return "Standard " + strings.TrimPrefix(m.Name, "Cisco ") + " SIP"
}

// ClientModel finds the catalogue model of a client type (CSF, BOT, TCT,
// TAB); INVALID_DEVICE_MODEL when the catalogue has none enabled.
func (s *Service) ClientModel(prefix string) (Model, error) { return s.clientModel(prefix) }

func (s *Service) clientModel(prefix string) (Model, error) {
	if m, ok := s.models[clientModelIDs[prefix]]; ok && m.Prefix == prefix {
		if !m.Supported() {
			return Model{}, fmt.Errorf("%w: model %d (%s) is disabled", ErrInvalidModel, m.ID, prefix)
		}
		return m, nil
	}
	var found []Model
	for _, m := range s.models {
		if m.Prefix == prefix && m.Supported() {
			found = append(found, m)
		}
	}
	if len(found) == 0 {
		return Model{}, fmt.Errorf("%w: no %s model in the catalogue", ErrInvalidModel, prefix)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].ID < found[j].ID })
	return found[0], nil
}

// coolDownError carries how long is left of a cool-down.
type coolDownError struct{ remaining time.Duration }

func (e coolDownError) Error() string {
	return fmt.Sprintf("%v: retry in %s", ErrAutoProvCoolDown, e.remaining.Round(time.Second))
}
func (e coolDownError) Unwrap() error { return ErrAutoProvCoolDown }

// RetryAfter is how long is left before the device may be re-created.
func (e coolDownError) RetryAfter() time.Duration { return e.remaining }

// UserByEmailer is implemented by stores that find a user by email address
// (case-insensitively) in one indexed read; others are scanned.
type UserByEmailer interface {
	UserByEmail(ctx context.Context, email string) (User, error)
}

func validClientField(name, v string, max int) error {
	if len(v) > max {
		return invalidf("%s is longer than %d characters", name, max)
	}
	if !utf8.ValidString(v) || strings.ContainsAny(v, " \t\r\n\x00") {
		return invalidf("%s %q must be UTF-8 without spaces or control characters", name, clip.String(v, 40))
	}
	return nil
}

// clientUser finds the user a request names: by user ID (or self-service
// ID), else, for an address, by email.
func (s *Service) clientUser(ctx context.Context, id string) (User, error) {
	if id == "" {
		return User{}, invalidf("user ID is required")
	}
	u, err := s.store.User(ctx, id)
	if err == nil || !errors.Is(err, ErrUserNotFound) || !strings.Contains(id, "@") {
		return u, err
	}
	return s.userByEmail(ctx, id)
}

func (s *Service) userByEmail(ctx context.Context, email string) (User, error) {
	if f, ok := s.store.(UserByEmailer); ok {
		return f.UserByEmail(ctx, email)
	}
	u, found, err := s.findUser(ctx, func(u User) bool { return u.Email != "" && strings.EqualFold(u.Email, email) })
	if err == nil && !found {
		err = ErrUserNotFound
	}
	return u, err
}

// AutoProvisionClient returns the device of a Webex App client signing in,
// creating it if the user has none of that type. created tells which.
//
// Checks, in order: platform (AUTOPROV_INVALID_PLATFORM), app version
// 41.12 or newer (AUTOPROV_UNSUPPORTED_VERSION), the user (USER_NOT_FOUND),
// the email (AUTOPROV_EMAIL_MISMATCH), a primary extension
// (NO_PRIMARY_EXTENSION), the policy (AUTOPROV_POLICY_DENIED). A device of
// the type the user already owns is then returned as it is. Creating one
// further needs no deletion of that type within the cool-down
// (AUTOPROV_COOL_DOWN), a catalogue model (INVALID_DEVICE_MODEL), a usable
// name (AUTOPROV_INVALID_NAME) and a template or a device to copy
// (AUTOPROV_NO_TEMPLATE).
func (s *Service) AutoProvisionClient(ctx context.Context, req ClientRequest) (dev Device, created bool, err error) {
	defer func() {
		level := slog.LevelInfo
		if err == nil && !created {
			level = slog.LevelDebug // signing in again changes nothing
		}
		s.log.Log(ctx, level, "autoprovision", "device", dev.Name, "user", clip.String(req.User, 40), "platform", clip.String(req.Platform, 40),
			"app_version", clip.String(req.AppVersion, 40), "created", created, "code", LogCode(err))
	}()
	plat, ok := LookupClientPlatform(req.Platform)
	if !ok {
		if req.Platform == "" {
			return Device{}, false, fmt.Errorf("%w: platform is required", ErrAutoProvPlatform)
		}
		return Device{}, false, fmt.Errorf("%w: %q is not windows, mac, android, iphone, ipad or chromebook", ErrAutoProvPlatform, clip.String(req.Platform, 40))
	}
	if err := checkClientVersion(req.AppVersion); err != nil {
		return Device{}, false, err
	}
	if err := errors.Join(validClientField("user ID", req.User, 128), validClientField("email", req.Email, maxClientField)); err != nil {
		return Device{}, false, err
	}
	u, err := s.clientUser(ctx, req.User)
	if err != nil {
		return Device{}, false, err
	}
	if req.Email != "" && (u.Email == "" || !strings.EqualFold(u.Email, req.Email)) {
		return Device{}, false, fmt.Errorf("%w: %q is not the email of user %q", ErrAutoProvEmail, clip.String(req.Email, 40), clip.String(u.ID, 40))
	}
	if u.PrimaryExtension == "" {
		return Device{}, false, ErrNoPrimaryExtension
	}
	c, err := s.Cluster(ctx)
	if err != nil {
		return Device{}, false, err
	}
	// The profile is read only when the user's own setting does not decide
	// the policy, or when a device is to be created.
	var prof UserProfile
	hasProfile, profRead := false, false
	readProfile := func() error {
		if profRead {
			return nil
		}
		var err error
		prof, hasProfile, err = s.clientProfile(ctx, u)
		profRead = err == nil
		return err
	}
	if u.WebexPolicy == "" {
		if err := readProfile(); err != nil {
			return Device{}, false, err
		}
	}
	if pol := effectiveWebexPolicy(c, prof, u); !policyAllows(pol, plat.Class) {
		return Device{}, false, fmt.Errorf("%w: policy %s, %s is %s", ErrAutoProvPolicy, pol, plat.Prefix, plat.Class)
	}

	// Signing in again: most often the device has the user's plain name,
	// one indexed read; otherwise any device of the type the user owns.
	base := ClientDeviceName(plat.Prefix, u.ID)
	if base != "" {
		if d, err := s.store.Device(ctx, base); err == nil && ownsClient(d, u, plat.Prefix) {
			return d, false, nil
		} else if err != nil && !errors.Is(err, ErrDeviceNotFound) {
			return Device{}, false, err
		}
	}
	owned, err := s.ownedDevices(ctx, u.ID)
	if err != nil {
		return Device{}, false, err
	}
	for _, d := range owned {
		if ownsClient(d, u, plat.Prefix) {
			return d, false, nil
		}
	}

	if c.WebexCoolDown > 0 {
		last, err := s.store.LastDeletion(ctx, u.ID, plat.Prefix)
		if err != nil {
			return Device{}, false, err
		}
		if !last.IsZero() {
			if since := s.clock.Now().Sub(last); since < c.WebexCoolDown {
				return Device{}, false, coolDownError{min(c.WebexCoolDown-since, c.WebexCoolDown)}
			}
		}
	}
	m, err := s.clientModel(plat.Prefix)
	if err != nil {
		return Device{}, false, err
	}
	if base == "" {
		return Device{}, false, fmt.Errorf("%w: %q", ErrAutoProvName, clip.String(u.ID, 40))
	}
	if err := readProfile(); err != nil {
		return Device{}, false, err
	}
	src, err := s.clientSource(ctx, u, prof, hasProfile, c, owned)
	if err != nil {
		return Device{}, false, err
	}
	now := s.clock.Now()
	build := func(name string) Device {
		d := Device{
			Name:      name,
			Model:     m.ID,
			Protocol:  "SIP",
			Owner:     u.ID,
			State:     StateProvisioned,
			UDT:       src.udt,
			CreatedAt: now,
		}
		if src.device != nil {
			d.Settings = renameInURLs(src.device.Settings, src.device.Name, name)
		} else {
			d.Settings = s.expandSettings(src.settings, name)
		}
		d.Settings.SecurityProfile = MapSecurityProfile(d.Settings.SecurityProfile, m)
		d.Settings.ButtonTemplate = StandardButtonTemplate(m)
		d.Description = expandUserPattern(d.Settings.DescriptionPattern, u, m, name)
		d.Lines = []Line{s.clientLine(u, src, m, name)}
		d.ConfigVersion = newVersion(now)
		return d
	}
	return s.createClientDevice(ctx, u, plat.Prefix, base, build)
}

// createClientDevice inserts the device under the first free name: base,
// then base with a numeric suffix.
func (s *Service) createClientDevice(ctx context.Context, u User, prefix, base string, build func(string) Device) (Device, bool, error) {
	for n := 0; n <= maxNameSuffix; n++ {
		name := base
		if n > 0 {
			name = suffixed(base, n)
		}
		if d, err := s.store.Device(ctx, name); err == nil {
			if ownsClient(d, u, prefix) {
				return d, false, nil
			}
			continue
		} else if !errors.Is(err, ErrDeviceNotFound) {
			return Device{}, false, err
		}
		d := build(name)
		err := s.store.CreateDevice(ctx, d)
		if err == nil {
			return d, true, nil
		}
		if !errors.Is(err, ErrDuplicate) {
			return Device{}, false, err
		}
		// Another request won the name; if it was this user's own sign-in
		// that device is the answer, otherwise try the next name.
		got, gerr := s.store.Device(ctx, name)
		if errors.Is(gerr, ErrDeviceNotFound) {
			return Device{}, false, err // the duplicate was not the name (a line)
		}
		if gerr != nil {
			return Device{}, false, gerr
		}
		if ownsClient(got, u, prefix) {
			return got, false, nil
		}
	}
	return Device{}, false, fmt.Errorf("%w: no free device name for %s%s", ErrDuplicate, prefix, clip.String(u.ID, 40))
}

func ownsClient(d Device, u User, prefix string) bool {
	return d.Owner == u.ID && len(d.Name) >= 3 && strings.EqualFold(d.Name[:3], prefix)
}

// clientProfile is the user's profile; hasProfile is false when the user
// has none and no profile is the default system profile.
func (s *Service) clientProfile(ctx context.Context, u User) (UserProfile, bool, error) {
	p, err := s.profileOf(ctx, u)
	if errors.Is(err, ErrNotAllowed) {
		return UserProfile{}, false, nil
	}
	if err != nil {
		return UserProfile{}, false, err
	}
	return p, true, nil
}

// ownedDevices lists every device a user owns, in name order.
func (s *Service) ownedDevices(ctx context.Context, owner string) ([]Device, error) {
	var out []Device
	after := ""
	for {
		page, err := s.store.Devices(ctx, DeviceFilter{Owner: owner, After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].Name
	}
}

// clientSettingsSource is where a new client device's settings come from:
// a template (settings, udt) or one of the user's devices (device).
type clientSettingsSource struct {
	device   *Device
	settings DeviceSettings
	udt      string
	ult      ULT
	from     string // for tests and logs: "udt:<name>" or "device:<name>"
}

// clientSource picks the settings source of SPEC §5. With no device: the
// profile's mobile-and-desktop UDT, else its desk-phone UDT, else the
// system auto-registration UDT. With devices: a mobile one (tablets count
// as mobile), else a desktop one, else a desk phone; the first in name
// order within a class.
func (s *Service) clientSource(ctx context.Context, u User, prof UserProfile, hasProfile bool, c Cluster, owned []Device) (clientSettingsSource, error) {
	var src clientSettingsSource
	if hasProfile && prof.ULT != "" {
		ult, err := s.store.ULT(ctx, prof.ULT)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return src, err
		}
		src.ult = ult
	}
	if len(owned) > 0 {
		best, bestRank := -1, 99
		for i, d := range owned {
			if r := s.copyRank(d); r < bestRank {
				best, bestRank = i, r
			}
		}
		d := owned[best]
		src.device, src.udt, src.from = &d, d.UDT, "device:"+d.Name
		return src, nil
	}
	var names []string
	if hasProfile {
		names = append(names, prof.MobileDesktopUDT, prof.DeskPhoneUDT)
	}
	names = append(names, c.AutoRegistration.UDT, AutoRegistrationTemplate)
	for _, n := range names {
		if n == "" {
			continue
		}
		t, err := s.store.UDT(ctx, n)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return src, err
		}
		src.settings, src.udt, src.from = t.DeviceSettings, t.Name, "udt:"+t.Name
		return src, nil
	}
	return src, ErrAutoProvNoTemplate
}

// AutoRegistrationTemplate is the name of the system UDT that exists from
// first start.
const AutoRegistrationTemplate = "Auto-registration Template"

// copyRank orders devices to copy from: mobile, desktop, desk phone.
func (s *Service) copyRank(d Device) int {
	m, ok := s.models[d.Model]
	if !ok {
		return 3
	}
	switch m.Class {
	case ClassMobile, ClassTablet:
		return 0
	case ClassDesktop:
		return 1
	case ClassDesk:
		return 2
	}
	return 3
}

// clientLine is line 1 of a new client device: the user's primary
// extension, shared with their other devices. Copied from the source
// device's appearance of the extension when it has one, so every device
// shows the same line.
func (s *Service) clientLine(u User, src clientSettingsSource, m Model, name string) Line {
	if src.device != nil {
		for _, l := range src.device.Lines {
			if l.DN == u.PrimaryExtension {
				l.Button = 1
				l.Contact = newUUID()
				return l
			}
		}
	}
	partition := u.Partition
	if partition == "" {
		partition = src.ult.RoutePartition
	}
	return s.userLine(1, u, partition, src.ult, m, name)
}

// renameInURLs points a copied device's URLs at the new device name.
func renameInURLs(ds DeviceSettings, from, to string) DeviceSettings {
	if from == "" {
		return ds
	}
	for _, p := range []*string{&ds.IdleURL, &ds.ServicesURL, &ds.AuthenticationURL, &ds.DirectoryURL} {
		*p = strings.ReplaceAll(*p, from, to)
	}
	return ds
}

// UserDevices returns a user's devices in name order (the UDS device list).
func (s *Service) UserDevices(ctx context.Context, userID string) (User, []Device, error) {
	if err := validClientField("user ID", userID, 128); err != nil {
		return User{}, nil, err
	}
	if userID == "" {
		return User{}, nil, invalidf("user ID is required")
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return User{}, nil, err
	}
	ds, err := s.ownedDevices(ctx, u.ID)
	return u, ds, err
}

// RetryAfter tells how long a refusal lasts, for errors that say (the
// cool-down); 0 otherwise.
func RetryAfter(err error) time.Duration {
	var r interface{ RetryAfter() time.Duration }
	if errors.As(err, &r) {
		return r.RetryAfter()
	}
	return 0
}
