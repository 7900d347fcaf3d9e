package provision

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Deleting a template or profile that something still names would leave
// phones, users or auto-registration pointing at nothing, so these refuse
// with ErrInUse and say what refers to it. Devices do not count: they hold
// a copy of their template's settings.

// DeleteUDT removes a Universal Device Template that neither
// auto-registration nor a user profile names.
func (s *Service) DeleteUDT(ctx context.Context, name string) error {
	c, err := s.Cluster(ctx)
	if err != nil {
		return err
	}
	if c.AutoRegistration.UDT == name {
		return fmt.Errorf("%w: universal device template %q is the auto-registration template", ErrInUse, name)
	}
	profiles, err := s.store.UserProfiles(ctx)
	if err != nil {
		return err
	}
	for _, p := range profiles {
		if p.DeskPhoneUDT == name || p.MobileDesktopUDT == name || p.RemoteDestinationUDT == name {
			return fmt.Errorf("%w: universal device template %q is used by user profile %q", ErrInUse, name, p.Name)
		}
	}
	return s.store.DeleteUDT(ctx, name)
}

// DeleteULT removes a Universal Line Template that neither
// auto-registration nor a user profile names.
func (s *Service) DeleteULT(ctx context.Context, name string) error {
	c, err := s.Cluster(ctx)
	if err != nil {
		return err
	}
	if c.AutoRegistration.ULT == name {
		return fmt.Errorf("%w: universal line template %q is the auto-registration line template", ErrInUse, name)
	}
	profiles, err := s.store.UserProfiles(ctx)
	if err != nil {
		return err
	}
	for _, p := range profiles {
		if p.ULT == name {
			return fmt.Errorf("%w: universal line template %q is used by user profile %q", ErrInUse, name, p.Name)
		}
	}
	return s.store.DeleteULT(ctx, name)
}

// DeleteUserProfile removes a user profile that no feature group template
// and no user names.
func (s *Service) DeleteUserProfile(ctx context.Context, name string) error {
	fgts, err := s.store.FeatureGroupTemplates(ctx)
	if err != nil {
		return err
	}
	for _, f := range fgts {
		if f.UserProfile == name {
			return fmt.Errorf("%w: user profile %q is used by feature group template %q", ErrInUse, name, f.Name)
		}
	}
	after := ""
	for {
		users, err := s.store.Users(ctx, after, 1000)
		if err != nil {
			return err
		}
		for _, u := range users {
			if u.UserProfile == name {
				return fmt.Errorf("%w: user profile %q is used by user %q", ErrInUse, name, u.ID)
			}
		}
		if len(users) < 1000 {
			break
		}
		after = users[len(users)-1].ID
	}
	return s.store.DeleteUserProfile(ctx, name)
}

// DeleteFeatureGroupTemplate removes a feature group template. Quick add
// reads it only while adding, so nothing holds on to it.
func (s *Service) DeleteFeatureGroupTemplate(ctx context.Context, name string) error {
	return s.store.DeleteFeatureGroupTemplate(ctx, name)
}

// CheckDNRange refuses, with ErrInvalid, an auto-registration range that
// holds a directory number already assigned outside auto-registration in
// the partition auto-registration uses: a line of a provisioned device or a
// user's primary extension. Handing such a DN to a new phone would make the
// owner's next provisioning fail as a duplicate. Auto-registered devices
// are expected inside the range and do not count.
func (s *Service) CheckDNRange(ctx context.Context, ar AutoRegistration) error {
	start, end, width, err := ar.Range.Bounds()
	if err != nil {
		return fmt.Errorf("auto-registration: %w", err)
	}
	partition := ar.Partition
	if partition == "" && ar.ULT != "" {
		if ult, err := s.store.ULT(ctx, ar.ULT); err == nil {
			partition = ult.RoutePartition
		}
	}
	inRange := func(dn string) bool {
		if len(dn) != width || !isDigits(dn) {
			return false
		}
		n, err := strconv.ParseInt(dn, 10, 64)
		return err == nil && n >= start && n <= end
	}
	const maxShown = 5
	var clashes []string
	total := 0
	clash := func(what string) {
		total++
		if len(clashes) < maxShown {
			clashes = append(clashes, what)
		}
	}

	const page = 1000
	f := DeviceFilter{Limit: page}
	for {
		devs, err := s.store.Devices(ctx, f)
		if err != nil {
			return err
		}
		for _, d := range devs {
			if d.State == StateAutoRegistered {
				continue
			}
			for _, l := range d.Lines {
				if l.Partition == partition && inRange(l.DN) {
					clash(fmt.Sprintf("%s on %s", l.DN, d.Name))
				}
			}
		}
		if len(devs) < page {
			break
		}
		f.After = devs[len(devs)-1].Name
	}
	after := ""
	for {
		users, err := s.store.Users(ctx, after, page)
		if err != nil {
			return err
		}
		for _, u := range users {
			if u.Partition == partition && inRange(u.PrimaryExtension) {
				clash(fmt.Sprintf("%s of user %s", u.PrimaryExtension, u.ID))
			}
		}
		if len(users) < page {
			break
		}
		after = users[len(users)-1].ID
	}
	if total == 0 {
		return nil
	}
	more := ""
	if total > len(clashes) {
		more = fmt.Sprintf(" and %d more", total-len(clashes))
	}
	return invalidf("auto-registration range %s..%s overlaps assigned directory numbers: %s%s",
		ar.Range.Start, ar.Range.End, strings.Join(clashes, ", "), more)
}
