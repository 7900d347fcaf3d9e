package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"selfprov/internal/clip"
)

// Devices are edited as CUCM allows: description, owner, the settings
// their Universal Device Template gave them, and their line appearances
// (button → line). Name, model and protocol stay. Every change gets a new
// config version, so the phone's next config fetch sees it, but nothing is
// reset or restarted by it: Apply (restart) and Notify (reset) are asked
// for separately, as CUCM's Save and Apply Config are.

// NewDevice is a device an administrator adds.
type NewDevice struct {
	Name        string
	Model       int
	Owner       string // "" for none
	Description string
	// UDT is the Universal Device Template the settings are copied from.
	UDT string
	// Lines are the appearances, buttons from 1; Contact is assigned.
	Lines []Line
	// Settings, when set, replace the template's settings (filled in as
	// a template's are), for front ends that give them with the device.
	Settings *DeviceSettings
}

// DeviceChange edits a device; nil fields are left as they are.
type DeviceChange struct {
	Description *string
	Owner       *string // "" removes the owner
	// UDT copies the settings of another (or the same, changed) template;
	// Settings sets them directly. Not both.
	UDT      *string
	Settings *DeviceSettings
	// Lines replaces the appearances. An appearance of a line the device
	// already shows keeps its Contact, so the phone's registration stays.
	Lines *[]Line
}

const maxDescriptionLen = 128

// Devices lists devices in name order.
func (s *Service) Devices(ctx context.Context, f DeviceFilter) ([]Device, error) {
	return s.store.Devices(ctx, f)
}

// AddDevice adds a provisioned device with its line appearances in one
// transaction. A name that exists is DB-239; a line that no device shows
// yet is created with empty settings.
func (s *Service) AddDevice(ctx context.Context, nd NewDevice) (dev Device, err error) {
	defer func() {
		s.log.Info("device added", "device", nd.Name, "model", nd.Model, "code", CodeOf(err))
	}()
	name, err := CanonicalDeviceName(nd.Name)
	if err != nil {
		return Device{}, err
	}
	m, ok := s.models[nd.Model]
	if !ok || !m.Supported() {
		return Device{}, fmt.Errorf("%w: model %d", ErrInvalidModel, nd.Model)
	}
	if !strings.HasPrefix(name, m.Prefix) {
		return Device{}, fmt.Errorf("%w: a %s is named %s…, not %s", ErrInvalidModel, m.Name, m.Prefix, name)
	}
	if nd.UDT == "" {
		return Device{}, invalidf("device %s: a universal device template is required", name)
	}
	udt, err := s.store.UDT(ctx, nd.UDT)
	if err != nil {
		return Device{}, fmt.Errorf("device %s: universal device template %q: %w", name, nd.UDT, err)
	}
	now := s.clock.Now()
	d := Device{
		Name: name, Model: nd.Model, Protocol: "SIP", Owner: nd.Owner, Description: nd.Description,
		State: StateProvisioned, UDT: udt.Name, Settings: s.expandSettings(udt.DeviceSettings, name),
		CreatedAt: now, ConfigVersion: newVersion(now),
	}
	if nd.Settings != nil {
		d.Settings = s.expandSettings(*nd.Settings, name)
	}
	if d.Lines, err = s.appearances(name, m, nd.Lines, nil); err != nil {
		return Device{}, err
	}
	if err := errors.Join(s.checkDevice(ctx, d), s.checkLinePartitions(ctx, name, lineKeys(d.Lines, nil))); err != nil {
		return Device{}, err
	}
	s.dnMu.Lock()
	defer s.dnMu.Unlock()
	if err := s.checkLineKeys(ctx, lineKeys(d.Lines, nil)); err != nil {
		return Device{}, err
	}
	if err := s.store.CreateDevice(ctx, d); err != nil {
		return Device{}, err
	}
	return d, nil
}

// UpdateDevice applies ch to a device in one transaction: read, checked
// and written with no other write in between. New lines of the device are
// checked against the auto-registration range as AddLine checks them.
func (s *Service) UpdateDevice(ctx context.Context, name string, ch DeviceChange) (dev Device, err error) {
	canon, err := CanonicalDeviceName(name)
	if err != nil {
		return Device{}, fmt.Errorf("%w: %v", ErrDeviceNotFound, err)
	}
	defer func() { s.log.Info("device updated", "device", canon, "code", CodeOf(err)) }()
	if ch.UDT != nil && ch.Settings != nil {
		return Device{}, invalidf("device %s: give a universal device template or settings, not both", canon)
	}
	var udt UDT
	if ch.UDT != nil {
		if udt, err = s.store.UDT(ctx, *ch.UDT); err != nil {
			return Device{}, fmt.Errorf("device %s: universal device template %q: %w", canon, *ch.UDT, err)
		}
	}
	if ch.Owner != nil && *ch.Owner != "" {
		if _, err := s.User(ctx, *ch.Owner); err != nil {
			return Device{}, fmt.Errorf("device %s: owner: %w", canon, err)
		}
	}
	now := s.clock.Now()
	s.dnMu.Lock()
	defer s.dnMu.Unlock()
	return s.store.UpdateDevice(ctx, canon, func(d Device) (Device, error) {
		old := d
		if ch.Description != nil {
			d.Description = *ch.Description
		}
		if ch.Owner != nil {
			d.Owner = *ch.Owner
		}
		if ch.UDT != nil {
			d.UDT = udt.Name
			d.Settings = s.expandSettings(udt.DeviceSettings, d.Name)
		}
		if ch.Settings != nil {
			// Written as a template's are: #DEVICENAME# and the URL
			// variables filled in.
			d.Settings = s.expandSettings(*ch.Settings, d.Name)
		}
		if ch.Lines != nil {
			m := s.models[d.Model] // a stored model left the catalogue: no line count
			lines, err := s.appearances(d.Name, m, *ch.Lines, old.Lines)
			if err != nil {
				return Device{}, err
			}
			d.Lines = lines
			if err := s.checkLinePartitions(ctx, d.Name, lineKeys(d.Lines, old.Lines)); err != nil {
				return Device{}, err
			}
			if err := s.checkLineKeys(ctx, lineKeys(d.Lines, old.Lines)); err != nil {
				return Device{}, err
			}
		}
		if err := s.checkDevice(ctx, d); err != nil {
			return Device{}, err
		}
		d.ConfigVersion = newVersion(now)
		return d, nil
	})
}

// Apply asks a registered device to restart and fetch its config, as
// CUCM's Apply Config does after a change.
func (s *Service) Apply(ctx context.Context, name string) error {
	return s.Notify(ctx, name, ActionRestart)
}

// appearances checks the appearances asked for and fills what the core
// decides: buttons in order, a Contact for each (the one it had on old,
// if the device showed the line already).
func (s *Service) appearances(device string, m Model, in []Line, old []Line) ([]Line, error) {
	var errs []error
	out := make([]Line, 0, len(in))
	buttons := map[int]bool{}
	keys := map[LineKey]bool{}
	for _, l := range in {
		k := LineKey{DN: l.DN, Partition: l.Partition}
		if err := errors.Join(ValidateDN(l.DN), validPartition(l.Partition)); err != nil {
			errs = append(errs, fmt.Errorf("device %s button %d: %w", device, l.Button, err))
			continue
		}
		switch {
		case l.Button < 1:
			errs = append(errs, invalidf("device %s: button %d: buttons start at 1", device, l.Button))
		case m.Lines > 0 && l.Button > m.Lines:
			errs = append(errs, invalidf("device %s: button %d: a %s has %d line keys", device, l.Button, m.Name, m.Lines))
		case buttons[l.Button]:
			errs = append(errs, invalidf("device %s: button %d is given twice", device, l.Button))
		case keys[k]:
			errs = append(errs, invalidf("device %s: line %s appears twice", device, k))
		}
		buttons[l.Button], keys[k] = true, true
		if len(l.Label) > 50 || len(l.DisplayName) > 50 {
			errs = append(errs, invalidf("device %s button %d: label and display are at most 50 characters", device, l.Button))
		}
		if l.MaxCalls < 0 || l.BusyTrigger < 0 || l.MaxCalls > 200 || (l.MaxCalls > 0 && l.BusyTrigger > l.MaxCalls) {
			errs = append(errs, invalidf("device %s button %d: maxCalls must be 0 to 200 and busyTrigger 0 to maxCalls", device, l.Button))
		}
		l.Contact = ""
		for _, o := range old {
			if o.DN == l.DN && o.Partition == l.Partition {
				l.Contact = o.Contact
			}
		}
		if l.Contact == "" {
			l.Contact = newUUID()
		}
		out = append(out, l)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Line) int { return cmp.Compare(a.Button, b.Button) })
	return out, nil
}

// checkDevice checks what a device carries besides its lines.
func (s *Service) checkDevice(ctx context.Context, d Device) error {
	var errs []error
	if len(d.Description) > maxDescriptionLen || strings.ContainsRune(d.Description, 0) {
		errs = append(errs, invalidf("device %s: description is longer than %d characters", d.Name, maxDescriptionLen))
	}
	if err := ValidateUDT(UDT{Name: "device " + d.Name, DeviceSettings: d.Settings}); err != nil {
		errs = append(errs, err)
	}
	if d.Owner != "" {
		if _, err := s.User(ctx, d.Owner); err != nil {
			errs = append(errs, fmt.Errorf("device %s: owner: %w", d.Name, err))
		}
	}
	return errors.Join(errs...)
}

// lineKeys lists the lines of lines that old does not show.
func lineKeys(lines, old []Line) []LineKey {
	var out []LineKey
	for _, l := range lines {
		if !slices.ContainsFunc(old, func(o Line) bool { return o.DN == l.DN && o.Partition == l.Partition }) {
			out = append(out, LineKey{DN: l.DN, Partition: l.Partition})
		}
	}
	return out
}

// User returns the user with this user ID. Unlike a login, it does not
// match a self-service ID: an administrator's path names one user only.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	u, err := s.store.User(ctx, id)
	if err != nil {
		return User{}, err
	}
	if u.ID != id {
		return User{}, fmt.Errorf("%w: no user with ID %q", ErrUserNotFound, clip.String(id, 40))
	}
	return u, nil
}

// Users lists users in ID order after the given ID.
func (s *Service) Users(ctx context.Context, after string, limit int) ([]User, error) {
	return s.store.Users(ctx, after, limit)
}

// DeleteUser removes a user. Their devices stay, without an owner, in the
// same transaction.
func (s *Service) DeleteUser(ctx context.Context, id string) error {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	if _, err := s.User(ctx, id); err != nil {
		return err
	}
	err := s.store.DeleteUser(ctx, id, func(d Device) Device {
		d.Owner = ""
		return d
	})
	s.log.Info("user deleted", "user", clip.String(id, 40), "code", CodeOf(err))
	return err
}
