package provision

import (
	"context"
	"errors"
	"fmt"

	"selfprov/internal/clip"
)

// validateCluster also checks that the templates it names exist.
func (s *Service) validateCluster(ctx context.Context, c Cluster) error {
	errs := []error{ValidateCluster(c)}
	ar := c.AutoRegistration
	if ar.UDT != "" {
		if _, err := s.store.UDT(ctx, ar.UDT); err != nil {
			errs = append(errs, fmt.Errorf("auto-registration device template %q: %w", ar.UDT, err))
		}
	}
	if ar.ULT != "" {
		if _, err := s.store.ULT(ctx, ar.ULT); err != nil {
			errs = append(errs, fmt.Errorf("auto-registration line template %q: %w", ar.ULT, err))
		}
	}
	return errors.Join(errs...)
}

// PutUDT creates or replaces a Universal Device Template.
func (s *Service) PutUDT(ctx context.Context, t UDT) error {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	return s.putUDT(ctx, t)
}

func (s *Service) putUDT(ctx context.Context, t UDT) error {
	if err := ValidateUDT(t); err != nil {
		return err
	}
	return s.store.PutUDT(ctx, t)
}

// PutULT creates or replaces a Universal Line Template. The route
// partition and calling search space it names must exist (checked when
// they are set or changed). A new route partition must not bring assigned DNs and the auto-registration range
// together (DN_IN_AUTOREG_RANGE).
func (s *Service) PutULT(ctx context.Context, t ULT) error {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	return s.putULT(ctx, t)
}

func (s *Service) putULT(ctx context.Context, t ULT) error {
	if err := ValidateULT(t); err != nil {
		return err
	}
	old, err := s.store.ULT(ctx, t.Name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	// Only a new reference is checked, so a template stored before its
	// partition or CSS had to exist can still be edited otherwise.
	isNew := err != nil
	var refErrs []error
	if isNew || old.RoutePartition != t.RoutePartition {
		if err := s.partitionExists(ctx, t.RoutePartition); err != nil {
			refErrs = append(refErrs, fmt.Errorf("universal line template %q: %w", t.Name, err))
		}
	}
	if isNew || old.CallingSearchSpace != t.CallingSearchSpace {
		if err := s.cssExists(ctx, t.CallingSearchSpace); err != nil {
			refErrs = append(refErrs, fmt.Errorf("universal line template %q: %w", t.Name, err))
		}
	}
	if err := errors.Join(refErrs...); err != nil {
		return err
	}
	s.dnMu.Lock()
	defer s.dnMu.Unlock()
	old, err = s.store.ULT(ctx, t.Name)
	if err == nil && old.RoutePartition != t.RoutePartition {
		what := fmt.Sprintf("universal line template %q in partition %q", t.Name, t.RoutePartition)
		if err := s.checkPending(ctx, what, pending{ult: &t}); err != nil {
			return err
		}
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return s.store.PutULT(ctx, t)
}

// UserProfile returns a stored user profile with the defaults applied.
func (s *Service) UserProfile(ctx context.Context, name string) (UserProfile, error) {
	p, err := s.store.UserProfile(ctx, name)
	if err != nil {
		return UserProfile{}, err
	}
	return p.withDefaults(), nil
}

// UserProfiles lists the user profiles with the defaults applied.
func (s *Service) UserProfiles(ctx context.Context) ([]UserProfile, error) {
	all, err := s.store.UserProfiles(ctx)
	for i := range all {
		all[i] = all[i].withDefaults()
	}
	return all, err
}

// PutUserProfile creates or replaces a user profile; the templates it names
// must exist. What was left out is stored as the default (a device limit
// of 10).
func (s *Service) PutUserProfile(ctx context.Context, p UserProfile) error {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	return s.putUserProfile(ctx, p)
}

func (s *Service) putUserProfile(ctx context.Context, p UserProfile) error {
	errs := []error{ValidateUserProfile(p)}
	p = p.withDefaults()
	for _, name := range []string{p.DeskPhoneUDT, p.MobileDesktopUDT, p.RemoteDestinationUDT} {
		if name == "" {
			continue
		}
		if _, err := s.store.UDT(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("user profile %q: device template %q: %w", p.Name, name, err))
		}
	}
	if p.ULT != "" {
		if _, err := s.store.ULT(ctx, p.ULT); err != nil {
			errs = append(errs, fmt.Errorf("user profile %q: line template %q: %w", p.Name, p.ULT, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Its line template gives its users' extensions their partition.
	s.dnMu.Lock()
	defer s.dnMu.Unlock()
	old, err := s.store.UserProfile(ctx, p.Name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	// A new profile is no user's yet, unless it is the default one.
	if (err != nil && p.DefaultSystemProfile) || (err == nil && (old.ULT != p.ULT || old.DefaultSystemProfile != p.DefaultSystemProfile)) {
		if err := s.checkPending(ctx, fmt.Sprintf("user profile %q", p.Name), pending{profile: &p}); err != nil {
			return err
		}
	}
	return s.store.PutUserProfile(ctx, p)
}

// PutFeatureGroupTemplate creates or replaces a feature group template.
func (s *Service) PutFeatureGroupTemplate(ctx context.Context, t FeatureGroupTemplate) error {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	return s.putFeatureGroupTemplate(ctx, t)
}

func (s *Service) putFeatureGroupTemplate(ctx context.Context, t FeatureGroupTemplate) error {
	if err := validName("feature group template", t.Name); err != nil {
		return err
	}
	if _, err := s.store.UserProfile(ctx, t.UserProfile); err != nil {
		return fmt.Errorf("feature group template %q: user profile %q: %w", t.Name, t.UserProfile, err)
	}
	return s.store.PutFeatureGroupTemplate(ctx, t)
}

// Secrets are the plain-text credentials of a user; empty fields are left
// unchanged.
type Secrets struct {
	PIN      string
	Password string
}

func (s *Service) applySecrets(u *User, sec Secrets) error {
	if sec.PIN != "" {
		if len(sec.PIN) > 64 || !isDigits(sec.PIN) {
			return invalidf("user %q: PIN must be 1 to 64 digits", clip.String(u.ID, 40))
		}
		h, err := s.HashPIN(sec.PIN)
		if err != nil {
			return err
		}
		u.PINHash = h
	}
	if sec.Password != "" {
		if len(sec.Password) > 128 {
			return invalidf("user %q: password is longer than 128 characters", clip.String(u.ID, 40))
		}
		h, err := s.HashSecret(sec.Password)
		if err != nil {
			return err
		}
		u.PasswordHash = h
	}
	return nil
}

// checkUserRefs checks that the profile a user names exists and, when
// newPartition, the partition of their primary extension.
func (s *Service) checkUserRefs(ctx context.Context, u User, newPartition bool) error {
	if newPartition {
		if err := s.partitionExists(ctx, u.Partition); err != nil {
			return fmt.Errorf("user %q: %w", clip.String(u.ID, 40), err)
		}
	}
	if u.UserProfile == "" {
		return nil
	}
	if _, err := s.store.UserProfile(ctx, u.UserProfile); err != nil {
		return fmt.Errorf("user %q: user profile %q: %w", u.ID, u.UserProfile, err)
	}
	return nil
}

// CreateUser adds a user with hashed secrets.
func (s *Service) CreateUser(ctx context.Context, u User, sec Secrets) (User, error) {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	u.PINHash, u.PasswordHash, u.Credential = "", "", CredentialState{}
	if err := errors.Join(ValidateUser(u), s.applySecrets(&u, sec)); err != nil {
		return User{}, err
	}
	if err := s.checkUserRefs(ctx, u, true); err != nil {
		return User{}, err
	}
	s.dnMu.Lock()
	defer s.dnMu.Unlock()
	if err := s.checkExtensionNow(ctx, u); err != nil {
		return User{}, err
	}
	if err := s.store.CreateUser(ctx, u, nil); err != nil {
		return User{}, err
	}
	return u, nil
}

// checkExtensionNow checks u's primary extension against the current
// auto-registration range; the caller holds dnMu.
func (s *Service) checkExtensionNow(ctx context.Context, u User) error {
	c, err := s.Cluster(ctx)
	if err != nil {
		return err
	}
	return s.checkExtension(ctx, c, u)
}

// UpdateUser replaces a user's details, keeping the stored secrets and
// credential state unless sec sets new secrets.
func (s *Service) UpdateUser(ctx context.Context, u User, sec Secrets) (User, error) {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	old, err := s.store.User(ctx, u.ID)
	if err != nil {
		return User{}, err
	}
	if old.ID != u.ID { // found by self-service ID: not the same user
		return User{}, ErrUserNotFound
	}
	u.PINHash, u.PasswordHash, u.Credential = old.PINHash, old.PasswordHash, old.Credential
	if err := errors.Join(ValidateUser(u), s.applySecrets(&u, sec)); err != nil {
		return User{}, err
	}
	if err := s.checkUserRefs(ctx, u, u.Partition != old.Partition); err != nil {
		return User{}, err
	}
	s.dnMu.Lock()
	defer s.dnMu.Unlock()
	// Only a change is checked: a user whose extension an older range
	// already covers can still be edited otherwise.
	if u.PrimaryExtension != old.PrimaryExtension || u.Partition != old.Partition || u.UserProfile != old.UserProfile {
		if err := s.checkExtensionNow(ctx, u); err != nil {
			return User{}, err
		}
	}
	if err := s.store.UpdateUser(ctx, u); err != nil {
		return User{}, err
	}
	return u, nil
}

// SetAuthCode sets the system authentication code of users-and-admin mode.
func (s *Service) SetAuthCode(ctx context.Context, code string) error {
	_, err := s.SetSelfProvisioning(ctx, "", &code)
	return err
}

// SetSelfProvisioning sets the self-provisioning authentication mode
// ("" keeps it) and, when code is set, the system authentication code
// ("" removes it), in one change of the cluster settings.
func (s *Service) SetSelfProvisioning(ctx context.Context, mode AuthMode, code *string) (Cluster, error) {
	var h string
	if code != nil && *code != "" {
		if len(*code) < 4 || len(*code) > 64 {
			return Cluster{}, invalidf("authentication code must be 4 to 64 characters")
		}
		var err error
		if h, err = s.HashSecret(*code); err != nil {
			return Cluster{}, err
		}
	}
	return s.UpdateCluster(ctx, func(c *Cluster) error {
		if mode != "" {
			c.AuthMode = mode
		}
		if code != nil {
			c.AuthCodeHash = h
		}
		return nil
	})
}

// QuickAdd is a quick user/phone add request.
type QuickAdd struct {
	User                 User
	Secrets              Secrets
	FeatureGroupTemplate string
	// DeviceMAC, when set, adds a desk phone of DeviceModel owned by the
	// user with line 1 the user's primary extension.
	DeviceMAC   string
	DeviceModel int
}

// QuickAdd creates a user with the defaults of a feature group template
// and, optionally, their phone, in one transaction.
func (s *Service) QuickAdd(ctx context.Context, q QuickAdd) (User, *Device, error) {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	fgt, err := s.store.FeatureGroupTemplate(ctx, q.FeatureGroupTemplate)
	if err != nil {
		return User{}, nil, fmt.Errorf("feature group template %q: %w", q.FeatureGroupTemplate, err)
	}
	u := q.User
	u.UserProfile = fgt.UserProfile
	u.PINHash, u.PasswordHash, u.Credential = "", "", CredentialState{}
	if err := errors.Join(ValidateUser(u), s.applySecrets(&u, q.Secrets)); err != nil {
		return User{}, nil, err
	}
	if err := s.partitionExists(ctx, u.Partition); err != nil {
		return User{}, nil, fmt.Errorf("user %q: %w", clip.String(u.ID, 40), err)
	}
	s.dnMu.Lock()
	defer s.dnMu.Unlock()
	if err := s.checkExtensionNow(ctx, u); err != nil {
		return User{}, nil, err
	}
	if q.DeviceMAC == "" {
		if err := s.store.CreateUser(ctx, u, nil); err != nil {
			return User{}, nil, err
		}
		return u, nil, nil
	}
	name, err := DeviceNameFromMAC(q.DeviceMAC)
	if err != nil {
		return User{}, nil, err
	}
	if u.PrimaryExtension == "" {
		return User{}, nil, ErrNoPrimaryExtension
	}
	dev := Device{Name: name, Model: q.DeviceModel}
	p, err := s.plan(ctx, dev, u, checkLimit)
	if err != nil {
		return User{}, nil, err
	}
	now := s.clock.Now()
	d := Device{
		Name:        name,
		Model:       q.DeviceModel,
		Protocol:    "SIP",
		Owner:       u.ID,
		Description: expandUserPattern(p.UDT.DescriptionPattern, u, p.Model, name),
		State:       StateProvisioned,
		UDT:         p.UDT.Name,
		Settings:    s.expandSettings(p.UDT.DeviceSettings, name),
		CreatedAt:   now,
	}
	partition := u.Partition
	if partition == "" {
		partition = p.ULT.RoutePartition
	}
	d.Lines = []Line{s.userLine(1, u, partition, p.ULT, p.Model, name)}
	d.ConfigVersion = newVersion(now)
	if err := s.store.CreateUser(ctx, u, &d); err != nil {
		return User{}, nil, err
	}
	s.log.Info("quick add", "user", u.ID, "device", d.Name, "dn", u.PrimaryExtension, "code", LogCode(nil))
	return u, &d, nil
}

// UDT returns a Universal Device Template.
func (s *Service) UDT(ctx context.Context, name string) (UDT, error) { return s.store.UDT(ctx, name) }

// UDTs lists the Universal Device Templates.
func (s *Service) UDTs(ctx context.Context) ([]UDT, error) { return s.store.UDTs(ctx) }

// ULT returns a Universal Line Template.
func (s *Service) ULT(ctx context.Context, name string) (ULT, error) { return s.store.ULT(ctx, name) }

// ULTs lists the Universal Line Templates.
func (s *Service) ULTs(ctx context.Context) ([]ULT, error) { return s.store.ULTs(ctx) }

// FeatureGroupTemplate returns a feature group template.
func (s *Service) FeatureGroupTemplate(ctx context.Context, name string) (FeatureGroupTemplate, error) {
	return s.store.FeatureGroupTemplate(ctx, name)
}

// FeatureGroupTemplates lists the feature group templates.
func (s *Service) FeatureGroupTemplates(ctx context.Context) ([]FeatureGroupTemplate, error) {
	return s.store.FeatureGroupTemplates(ctx)
}

// Ready reports whether the store answers, for readiness probes.
func (s *Service) Ready(ctx context.Context) error {
	_, err := s.store.Cluster(ctx)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// AddUDT, AddULT, AddUserProfile and AddFeatureGroupTemplate create an
// object that does not exist yet (else DB-239), as AXL's add operations
// do, with the checks of the Put operations, in one step.

func (s *Service) AddUDT(ctx context.Context, t UDT) error {
	return addNamed(ctx, s, t.Name, s.store.UDT, s.putUDT, t)
}

func (s *Service) AddULT(ctx context.Context, t ULT) error {
	return addNamed(ctx, s, t.Name, s.store.ULT, s.putULT, t)
}

func (s *Service) AddUserProfile(ctx context.Context, p UserProfile) error {
	return addNamed(ctx, s, p.Name, s.store.UserProfile, s.putUserProfile, p)
}

func (s *Service) AddFeatureGroupTemplate(ctx context.Context, t FeatureGroupTemplate) error {
	return addNamed(ctx, s, t.Name, s.store.FeatureGroupTemplate, s.putFeatureGroupTemplate, t)
}

func addNamed[T any](ctx context.Context, s *Service, name string, get func(context.Context, string) (T, error), put func(context.Context, T) error, v T) error {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	_, err := get(ctx, name)
	if err == nil {
		return fmt.Errorf("%w: %q exists", ErrDuplicate, clip.String(name, 40))
	}
	if !errors.Is(err, ErrNotFound) {
		return err
	}
	return put(ctx, v)
}
