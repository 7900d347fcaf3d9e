package provision

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"selfprov/internal/clip"
)

// ValidateModel checks a catalogue entry.
func ValidateModel(m Model) error {
	var errs []error
	if m.ID <= 0 {
		errs = append(errs, invalidf("model %q: id must be positive", m.Name))
	}
	if m.Name == "" {
		errs = append(errs, invalidf("model %d: name is required", m.ID))
	}
	switch m.Class {
	case ClassDesk, ClassDesktop, ClassMobile, ClassTablet:
	default:
		errs = append(errs, invalidf("model %d: class %q must be desk, desktop, mobile or tablet", m.ID, m.Class))
	}
	switch m.Prefix {
	case PrefixSEP, PrefixCSF, PrefixBOT, PrefixTCT, PrefixTAB:
	default:
		errs = append(errs, invalidf("model %d: prefix %q must be SEP, CSF, BOT, TCT or TAB", m.ID, m.Prefix))
	}
	if m.Lines < 0 {
		errs = append(errs, invalidf("model %d: lines must not be negative", m.ID))
	}
	return errors.Join(errs...)
}

func validName(kind, name string) error {
	if strings.TrimSpace(name) == "" {
		return invalidf("%s name is required", kind)
	}
	if len(name) > 100 {
		return invalidf("%s name %q is longer than 100 characters", kind, clip.String(name, 40))
	}
	return nil
}

// ValidateUDT checks a Universal Device Template.
func ValidateUDT(t UDT) error {
	errs := []error{validName("universal device template", t.Name)}
	for field, u := range map[string]string{"idleURL": t.IdleURL, "servicesURL": t.ServicesURL, "authenticationURL": t.AuthenticationURL, "directoryURL": t.DirectoryURL} {
		if len(u) > 255 {
			errs = append(errs, invalidf("universal device template %q: %s is longer than 255 characters", t.Name, field))
		}
	}
	if t.IdleTimeout < 0 {
		errs = append(errs, invalidf("universal device template %q: idleTimeout must not be negative", t.Name))
	}
	switch t.Transport {
	case "", "udp", "tcp", "tls":
	default:
		errs = append(errs, invalidf("universal device template %q: transport %q must be udp, tcp or tls", t.Name, t.Transport))
	}
	return errors.Join(errs...)
}

// ValidateULT checks a Universal Line Template.
func ValidateULT(t ULT) error {
	errs := []error{validName("universal line template", t.Name)}
	if t.MaxCalls < 0 || t.BusyTrigger < 0 {
		errs = append(errs, invalidf("universal line template %q: maxCalls and busyTrigger must not be negative", t.Name))
	}
	return errors.Join(errs...)
}

// ValidateUserProfile checks a user profile.
func ValidateUserProfile(p UserProfile) error {
	errs := []error{validName("user profile", p.Name)}
	if p.DeviceLimit < 0 {
		errs = append(errs, invalidf("user profile %q: deviceLimit must not be negative", p.Name))
	}
	if err := validWebexPolicy(p.WebexPolicy, true); err != nil {
		errs = append(errs, fmt.Errorf("user profile %q: %w", p.Name, err))
	}
	return errors.Join(errs...)
}

func validWebexPolicy(p WebexPolicy, emptyOK bool) error {
	switch p {
	case WebexDesktopAndMobile, WebexDesktopOnly, WebexMobileOnly:
		return nil
	case "":
		if emptyOK {
			return nil
		}
	}
	return invalidf("webex policy %q must be desktop-and-mobile, desktop-only or mobile-only", p)
}

// ValidateUser checks a user record (not its secrets).
func ValidateUser(u User) error {
	var errs []error
	if u.ID == "" || len(u.ID) > 128 || strings.ContainsAny(u.ID, " \t\r\n\x00") {
		errs = append(errs, invalidf("user ID %q must be 1 to 128 characters without spaces", clip.String(u.ID, 40)))
	}
	if strings.TrimSpace(u.LastName) == "" {
		errs = append(errs, invalidf("user %q: last name is required", clip.String(u.ID, 40)))
	}
	if u.PrimaryExtension != "" && (len(u.PrimaryExtension) > 24 || strings.ContainsAny(u.PrimaryExtension, " \t\r\n\x00<>&\"'")) {
		errs = append(errs, invalidf("user %q: primary extension %q is not a directory number", clip.String(u.ID, 40), clip.String(u.PrimaryExtension, 40)))
	}
	if u.Email != "" && (!strings.Contains(u.Email, "@") || len(u.Email) > 254) {
		errs = append(errs, invalidf("user %q: email %q is not an address", clip.String(u.ID, 40), clip.String(u.Email, 40)))
	}
	if err := validWebexPolicy(u.WebexPolicy, true); err != nil {
		errs = append(errs, fmt.Errorf("user %q: %w", clip.String(u.ID, 40), err))
	}
	return errors.Join(errs...)
}

// ValidateCluster checks settings that need no lookups.
func ValidateCluster(c Cluster) error {
	var errs []error
	switch c.AuthMode {
	case AuthUsers, AuthUsersAndAdmin, AuthNone:
	default:
		errs = append(errs, invalidf("authentication mode %q must be users, users-and-admin or none", c.AuthMode))
	}
	if err := validWebexPolicy(c.WebexPolicy, false); err != nil {
		errs = append(errs, err)
	}
	ar := c.AutoRegistration
	if ar.Enabled || ar.Range.Start != "" || ar.Range.End != "" {
		if _, _, _, err := ar.Range.Bounds(); err != nil {
			errs = append(errs, fmt.Errorf("auto-registration: %w", err))
		}
	}
	if ar.Enabled && (ar.UDT == "" || ar.ULT == "") {
		errs = append(errs, invalidf("auto-registration needs a device template and a line template"))
	}
	p := c.CredentialPolicy
	if p.FailedLogonThreshold < 0 || p.FailedLogonThreshold > 100 {
		errs = append(errs, invalidf("failed logon threshold %d must be 0 to 100", p.FailedLogonThreshold))
	}
	if p.ResetCounterAfter < 0 || p.LockoutDuration < 0 || c.WebexCoolDown < 0 {
		errs = append(errs, invalidf("durations must not be negative"))
	}
	if p.LockoutDuration > 0 && p.LockoutDuration < time.Second {
		errs = append(errs, invalidf("lockout duration %s is shorter than a second", p.LockoutDuration))
	}
	return errors.Join(errs...)
}
