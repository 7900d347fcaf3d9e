package provision

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"selfprov/internal/clip"
)

// Deleting a template or profile that something still names would leave
// phones, users or auto-registration pointing at nothing, so these refuse
// with ErrInUse and say what refers to it. Devices do not count: they hold
// a copy of their template's settings.

// DeleteUDT removes a Universal Device Template that neither
// auto-registration nor a user profile names.
func (s *Service) DeleteUDT(ctx context.Context, name string) error {
	s.refMu.Lock()
	defer s.refMu.Unlock()
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
	s.refMu.Lock()
	defer s.refMu.Unlock()
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
	s.refMu.Lock()
	defer s.refMu.Unlock()
	fgts, err := s.store.FeatureGroupTemplates(ctx)
	if err != nil {
		return err
	}
	for _, f := range fgts {
		if f.UserProfile == name {
			return fmt.Errorf("%w: user profile %q is used by feature group template %q", ErrInUse, name, f.Name)
		}
	}
	u, found, err := s.findUser(ctx, func(u User) bool { return u.UserProfile == name })
	if err != nil {
		return err
	}
	if found {
		return fmt.Errorf("%w: user profile %q is used by user %q", ErrInUse, name, u.ID)
	}
	return s.store.DeleteUserProfile(ctx, name)
}

// DeleteFeatureGroupTemplate removes a feature group template. Quick add
// reads it only while adding, so nothing holds on to it.
func (s *Service) DeleteFeatureGroupTemplate(ctx context.Context, name string) error {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	return s.store.DeleteFeatureGroupTemplate(ctx, name)
}

// CheckDNRange refuses, with ErrDNInAutoRegRange, an auto-registration
// range that holds a directory number already assigned outside
// auto-registration in the partition auto-registration uses: a line of a
// provisioned device or a user's primary extension. Handing such a DN to a
// new phone would make the owner's next provisioning fail as a duplicate.
// Auto-registered devices are expected inside the range and do not count.
// The message names each DN and its owner.
func (s *Service) CheckDNRange(ctx context.Context, ar AutoRegistration) error {
	return s.checkDNRange(ctx, ar, pending{})
}

// checkDNRange is CheckDNRange with the templates and profiles of p in
// place of the stored ones: a change checked before it is written.
func (s *Service) checkDNRange(ctx context.Context, ar AutoRegistration, p pending) error {
	inRange, err := rangeTest(ar.Range)
	if err != nil {
		return fmt.Errorf("auto-registration: %w", err)
	}
	partition, err := s.autoRegPartition(ctx, ar, p)
	if err != nil {
		return err
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
					what := fmt.Sprintf("line %s on %s", l.DN, d.Name)
					if d.Owner != "" {
						what += " of user " + d.Owner
					}
					clash(what)
				}
			}
		}
		if len(devs) < page {
			break
		}
		f.After = devs[len(devs)-1].Name
	}
	// Users' partitions come from their profiles; profiles are few.
	byProfile := map[string]string{}
	after := ""
	for {
		users, err := s.store.Users(ctx, after, page)
		if err != nil {
			return err
		}
		for _, u := range users {
			if !inRange(u.PrimaryExtension) {
				continue
			}
			up, ok := byProfile[u.UserProfile]
			if u.Partition != "" {
				up, ok = u.Partition, true
			}
			if !ok {
				if up, err = s.extensionPartition(ctx, u, p); err != nil {
					return err
				}
				byProfile[u.UserProfile] = up
			}
			if up == partition {
				clash(fmt.Sprintf("primary extension %s of user %s", u.PrimaryExtension, u.ID))
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
	return dnClash(fmt.Sprintf("the auto-registration range %s covers directory numbers in use: %s%s",
		rangeText(ar.Range), strings.Join(clashes, ", "), more))
}

// checkExtension refuses a user's primary extension inside the active
// auto-registration range of c, in the partition its lines would take.
func (s *Service) checkExtension(ctx context.Context, c Cluster, u User) error {
	ar := c.AutoRegistration
	if u.PrimaryExtension == "" || !ar.Active() {
		return nil
	}
	inRange, err := rangeTest(ar.Range)
	if err != nil || !inRange(u.PrimaryExtension) {
		return nil // an unusable stored range hands out nothing
	}
	want, err := s.autoRegPartition(ctx, ar, pending{})
	if err != nil {
		return err
	}
	got, err := s.extensionPartition(ctx, u, pending{})
	if err != nil || got != want {
		return err
	}
	return dnClash(fmt.Sprintf("primary extension %s of user %s is inside the auto-registration range %s",
		u.PrimaryExtension, clip.String(u.ID, 40), rangeText(ar.Range)))
}

// pending is a template or profile about to be written, read in place of
// the stored one.
type pending struct {
	ult     *ULT
	profile *UserProfile
}

func (p pending) readULT(ctx context.Context, s *Service, name string) (ULT, error) {
	if p.ult != nil && p.ult.Name == name {
		return *p.ult, nil
	}
	return s.store.ULT(ctx, name)
}

// routePartition is the route partition of the named line template; none
// for no template or a missing one.
func (p pending) routePartition(ctx context.Context, s *Service, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	ult, err := p.readULT(ctx, s, name)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return ult.RoutePartition, err
}

// profileOf is Service.profileOf seeing p.profile.
func (p pending) profileOf(ctx context.Context, s *Service, u User) (UserProfile, error) {
	np := p.profile
	if np == nil {
		return s.profileOf(ctx, u)
	}
	if u.UserProfile != "" {
		if u.UserProfile == np.Name {
			return np.withDefaults(), nil
		}
		got, err := s.store.UserProfile(ctx, u.UserProfile)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return got.withDefaults(), err
		}
	}
	if np.DefaultSystemProfile {
		return np.withDefaults(), nil
	}
	all, err := s.store.UserProfiles(ctx)
	if err != nil {
		return UserProfile{}, err
	}
	for _, sp := range all {
		if sp.DefaultSystemProfile && sp.Name != np.Name {
			return sp.withDefaults(), nil
		}
	}
	return UserProfile{}, ErrNotAllowed
}

// autoRegPartition is the partition auto-registered lines take: the
// setting's own, else its line template's.
func (s *Service) autoRegPartition(ctx context.Context, ar AutoRegistration, p pending) (string, error) {
	if ar.Partition != "" {
		return ar.Partition, nil
	}
	return p.routePartition(ctx, s, ar.ULT)
}

// extensionPartition is the partition of the lines a user's primary
// extension gets on provisioned devices: the user's own, else the route
// partition of their profile's line template (see SelfProvision).
func (s *Service) extensionPartition(ctx context.Context, u User, p pending) (string, error) {
	if u.Partition != "" {
		return u.Partition, nil
	}
	prof, err := p.profileOf(ctx, s, u)
	if errors.Is(err, ErrNotAllowed) {
		return "", nil // no profile: no line template, no partition
	}
	if err != nil {
		return "", err
	}
	return p.routePartition(ctx, s, prof.ULT)
}

// checkPending refuses a template or profile change that would put an
// assigned DN inside the active auto-registration range: a line template
// whose partition moves the range or users' extensions, a profile whose
// line template or default flag moves users' extensions. The caller holds
// dnMu.
func (s *Service) checkPending(ctx context.Context, what string, p pending) error {
	c, err := s.Cluster(ctx)
	if err != nil || !c.AutoRegistration.Active() {
		return err
	}
	err = s.checkDNRange(ctx, c.AutoRegistration, p)
	var clash dnClashError
	if errors.As(err, &clash) {
		return dnClash(what + ": " + clash.msg)
	}
	return err
}

// rangeTest returns whether a DN lies in r: all digits, r's width.
func rangeTest(r DNRange) (func(dn string) bool, error) {
	start, end, width, err := r.Bounds()
	if err != nil {
		return nil, err
	}
	return func(dn string) bool {
		if len(dn) != width || !isDigits(dn) {
			return false
		}
		n, err := strconv.ParseInt(dn, 10, 64)
		return err == nil && n >= start && n <= end
	}, nil
}

func rangeText(r DNRange) string { return r.Start + "\u2013" + r.End }

// dnClashError is ErrDNInAutoRegRange with a message naming both sides.
type dnClashError struct{ msg string }

func (e dnClashError) Error() string { return CodeDNInAutoRegRange + ": " + e.msg }
func (e dnClashError) Unwrap() error { return ErrDNInAutoRegRange }

func dnClash(msg string) error { return dnClashError{msg} }

// findUser returns the first user, in ID order, that match accepts; it
// pages through all of them, for the rare questions no index answers.
func (s *Service) findUser(ctx context.Context, match func(User) bool) (User, bool, error) {
	const page = 1000
	after := ""
	for {
		users, err := s.store.Users(ctx, after, page)
		if err != nil {
			return User{}, false, err
		}
		for _, u := range users {
			if match(u) {
				return u, true, nil
			}
		}
		if len(users) < page {
			return User{}, false, nil
		}
		after = users[len(users)-1].ID
	}
}
