package provision

import (
	"context"
	"errors"
	"fmt"
)

// Plan is what self-provisioning will do: the auto-registered device, the
// user, and the extension the phone will get.
type Plan struct {
	Device    Device
	User      User
	Extension string
	Model     Model
	UDT       UDT
	ULT       ULT
	Profile   UserProfile
}

// Login runs the self-provisioning checks in the product's order for a
// phone and the credentials typed on it. The returned Plan is shown on the
// confirm screen.
func (s *Service) Login(ctx context.Context, deviceName string, c Credentials) (Plan, error) {
	return s.login(ctx, deviceName, c, false)
}

// LoginUser is Login with the user's own credentials whatever the
// authentication mode (AuthenticateUser), for the UDS private resources.
func (s *Service) LoginUser(ctx context.Context, deviceName string, c Credentials) (Plan, error) {
	return s.login(ctx, deviceName, c, true)
}

func (s *Service) login(ctx context.Context, deviceName string, c Credentials, own bool) (Plan, error) {
	dev, err := s.autoRegisteredDevice(ctx, deviceName)
	if err != nil {
		return Plan{}, err
	}
	u, err := s.authenticate(ctx, c, own)
	if err != nil {
		return Plan{}, err
	}
	return s.plan(ctx, dev, u, checkPermission|checkLimit)
}

func (s *Service) checkSelfProvision(ctx context.Context, deviceName, userID string, checks planChecks) (Plan, error) {
	dev, err := s.autoRegisteredDevice(ctx, deviceName)
	if err != nil {
		return Plan{}, err
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return Plan{}, err
	}
	return s.plan(ctx, dev, u, checks)
}

// SelfProvision replaces the auto-registered device with one owned by the
// user, in one transaction: built from the user's UDT and ULT, line 1 the
// primary extension, the auto-registration DN released. The caller resets
// the phone afterwards (see Notify).
func (s *Service) SelfProvision(ctx context.Context, deviceName, userID string) (dev Device, err error) {
	defer func() {
		s.log.Info("selfprovision", "device", deviceName, "user", userID, "dn", firstDN(dev), "code", LogCode(err))
	}()
	// The device limit is checked by ReplaceDevice, in the transaction
	// that would break it.
	p, err := s.checkSelfProvision(ctx, deviceName, userID, checkPermission)
	if err != nil {
		return Device{}, err
	}
	now := s.clock.Now()
	d := Device{
		Name:        p.Device.Name,
		Model:       p.Device.Model,
		Protocol:    "SIP",
		Owner:       p.User.ID,
		Description: expandUserPattern(p.UDT.DescriptionPattern, p.User, p.Model, p.Device.Name),
		State:       StateProvisioned,
		UDT:         p.UDT.Name,
		Settings:    s.expandSettings(p.UDT.DeviceSettings, p.Device.Name),
		CreatedAt:   now,
	}
	partition := p.User.Partition
	if partition == "" {
		partition = p.ULT.RoutePartition
	}
	d.Lines = []Line{s.userLine(1, p.User, partition, p.ULT, p.Model, d.Name)}
	d.ConfigVersion = newVersion(now)
	if err := s.store.ReplaceDevice(ctx, p.Device.Name, d, p.Profile.Limit()); err != nil {
		return Device{}, err
	}
	return d, nil
}

// autoRegisteredDevice finds a device self-provisioning may replace; the
// device is returned with ErrDeviceNotAutoReg too.
func (s *Service) autoRegisteredDevice(ctx context.Context, name string) (Device, error) {
	dev, err := s.Device(ctx, name)
	if err != nil {
		return Device{}, err
	}
	if dev.State != StateAutoRegistered {
		return dev, ErrDeviceNotAutoReg
	}
	return dev, nil
}

// planChecks are the checks of plan a caller asks for.
type planChecks uint8

const (
	// checkPermission: the user's profile allows self-provisioning. An
	// administrator's quick add skips it.
	checkPermission planChecks = 1 << iota
	// checkLimit: the user owns fewer devices than the profile's limit.
	// Skipped where the store checks it in the write itself.
	checkLimit
)

// plan runs the checks after credentials, in the product's order.
func (s *Service) plan(ctx context.Context, dev Device, u User, checks planChecks) (Plan, error) {
	p := Plan{Device: dev, User: u}
	prof, err := s.profileOf(ctx, u)
	if err != nil {
		return Plan{}, err
	}
	p.Profile = prof
	if checks&checkPermission != 0 && !prof.AllowSelfProvision {
		return Plan{}, ErrNotAllowed
	}
	if u.PrimaryExtension == "" {
		return Plan{}, ErrNoPrimaryExtension
	}
	p.Extension = u.PrimaryExtension
	if checks&checkLimit != 0 {
		n, err := s.store.CountOwnedDevices(ctx, u.ID)
		if err != nil {
			return Plan{}, err
		}
		if n >= prof.Limit() {
			return Plan{}, ErrDeviceLimit
		}
	}
	m, ok := s.models[dev.Model]
	if !ok || !m.Supported() || m.Class != ClassDesk {
		return Plan{}, fmt.Errorf("%w: model %d", ErrInvalidModel, dev.Model)
	}
	p.Model = m
	if prof.DeskPhoneUDT == "" {
		return Plan{}, ErrTemplateNotFound
	}
	udt, err := s.store.UDT(ctx, prof.DeskPhoneUDT)
	if errors.Is(err, ErrNotFound) {
		return Plan{}, fmt.Errorf("%w: %q", ErrTemplateNotFound, prof.DeskPhoneUDT)
	}
	if err != nil {
		return Plan{}, err
	}
	p.UDT = udt
	if prof.ULT != "" {
		if p.ULT, err = s.store.ULT(ctx, prof.ULT); err != nil {
			return Plan{}, fmt.Errorf("user profile %q line template: %w", prof.Name, err)
		}
	}
	return p, nil
}
