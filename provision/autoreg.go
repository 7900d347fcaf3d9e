package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"selfprov/internal/clip"
)

// ModelThirdPartySIP is CUCM's model id of "Third-party SIP Device
// (Advanced)": what a SEP device that names no Cisco model (a softphone
// registering as SEP<MAC>) auto-registers as (SPEC §7). Without it in the
// catalogue such a device gets model 0, which self-provisioning refuses.
const ModelThirdPartySIP = 374

// Registration is what a phone's REGISTER says about the phone, as the
// registrar reads it; the core decides what it may become.
type Registration struct {
	// Name is the device name as sent.
	Name string
	// Model is the Cisco model id the phone sent (+u.sip!model); 0 if none.
	Model int
	// Product is the Cisco product a User-Agent names ("8845" of
	// "Cisco-CP8845/14.2.1"), read when Model is 0.
	Product string
	// NoCreate says the adapter's limit on new devices from this source is
	// reached: a device that exists is still returned, a new one is
	// refused with ErrAutoRegRateLimited before any DN is taken.
	NoCreate bool
}

// AutoRegisterPhone is AutoRegister for what a REGISTER says.
func (s *Service) AutoRegisterPhone(ctx context.Context, r Registration) (dev Device, created bool, err error) {
	ar, err := s.prepareAutoRegister(ctx, r)
	if err != nil || ar.known != nil {
		return ar.knownDevice(), false, err
	}
	// AutoRegisterAsync waited for, for a caller that answers one phone at
	// a time.
	type result struct {
		dev     Device
		created bool
		err     error
	}
	done := make(chan result, 1) // buffered: the store's batch never waits on this caller
	s.store.AutoRegisterAsync(ctx, ar.name, ar.r, ar.partition, ar.build, func(dev Device, created bool, err error) {
		s.logAutoRegister(ar.name, ar.model, dev, created, err)
		done <- result{dev, created, err}
	})
	select {
	case r := <-done:
		return r.dev, r.created, r.err
	case <-ctx.Done():
		return Device{}, false, ctx.Err()
	}
}

// admit applies the rules of SPEC §7 that come before the store: only SEP
// names auto-register, a Cisco model must be in the catalogue, a SEP
// device naming no Cisco model is a third-party one, and a source over its
// limit creates nothing. It returns the model a new device gets, or the
// device when a rule leaves room only for one that exists. The store is
// read only to refuse, so a new phone costs no extra read.
func (s *Service) admit(ctx context.Context, canon string, r Registration, active bool) (model int, known *Device, err error) {
	var refusal error
	if !MayAutoRegister(canon) {
		refusal = fmt.Errorf("%w: %s; only SEP devices auto-register", ErrDeviceNotFound, canon)
	} else if model, refusal = s.claimedModel(r); refusal == nil && r.NoCreate && active {
		refusal = ErrAutoRegRateLimited
	}
	if refusal == nil {
		return model, nil, nil
	}
	d, err := s.store.Device(ctx, canon)
	if err == nil {
		return 0, &d, nil
	}
	if !errors.Is(err, ErrDeviceNotFound) {
		return 0, nil, err
	}
	return 0, nil, refusal
}

// claimedModel is the model a new SEP device gets: the Cisco model it
// names, which must be in the catalogue (CUCM refuses a device type it has
// no device pack for), else the third-party model.
func (s *Service) claimedModel(r Registration) (int, error) {
	switch {
	case r.Model > 0:
		if _, ok := s.models[r.Model]; ok {
			return r.Model, nil
		}
		return 0, fmt.Errorf("%w: model %d is not in the catalogue", ErrInvalidModel, r.Model)
	case r.Product != "":
		if id, ok := s.products[strings.ToUpper(r.Product)]; ok {
			return id, nil
		}
		return 0, fmt.Errorf("%w: product %q is not in the catalogue", ErrInvalidModel, clip.String(r.Product, 40))
	}
	if _, ok := s.models[ModelThirdPartySIP]; ok {
		return ModelThirdPartySIP, nil
	}
	return 0, nil
}

// productModels maps the product part of a Cisco User-Agent ("8845") to
// model ids, from the catalogue names ("Cisco 8845").
func productModels(ms map[int]Model) map[string]int {
	out := make(map[string]int, len(ms))
	for _, m := range ms {
		if p, ok := strings.CutPrefix(m.Name, "Cisco "); ok && !strings.Contains(p, " ") {
			out[strings.ToUpper(p)] = m.ID
		}
	}
	return out
}

// AutoRegister creates an auto-registered device for an unknown phone with
// the lowest free DN of the range, or returns the existing device. created
// tells which. It is idempotent per device name. model is the Cisco model
// the phone names, 0 for none (see AutoRegisterPhone).
func (s *Service) AutoRegister(ctx context.Context, name string, model int) (dev Device, created bool, err error) {
	return s.AutoRegisterPhone(ctx, Registration{Name: name, Model: model})
}

// AutoRegisterAsync is AutoRegisterPhone for a caller that answers many
// phones: done gets the result, possibly on another goroutine, and must
// not block (see Store.AutoRegisterAsync).
func (s *Service) AutoRegisterAsync(ctx context.Context, r Registration, done func(dev Device, created bool, err error)) {
	ar, err := s.prepareAutoRegister(ctx, r)
	if err != nil || ar.known != nil {
		done(ar.knownDevice(), false, err)
		return
	}
	s.store.AutoRegisterAsync(ctx, ar.name, ar.r, ar.partition, ar.build, func(dev Device, created bool, err error) {
		s.logAutoRegister(ar.name, ar.model, dev, created, err)
		done(dev, created, err)
	})
}

// autoRegistration is what the store needs to auto-register one phone.
type autoRegistration struct {
	name      string // canonical
	model     int    // of a new device
	r         DNRange
	partition string
	build     func(dn string) Device
	known     *Device // set when auto-registration is off and the device exists
}

func (a autoRegistration) knownDevice() Device {
	if a.known == nil {
		return Device{}
	}
	return *a.known
}

// prepareAutoRegister finds what the store needs to auto-register the
// phone, and logs a refusal.
func (s *Service) prepareAutoRegister(ctx context.Context, r Registration) (autoRegistration, error) {
	canon, err := CanonicalDeviceName(r.Name)
	if err != nil {
		return autoRegistration{}, err
	}
	ar, err := s.autoRegistrationFor(ctx, canon, r)
	if err != nil {
		s.logAutoRegister(canon, r.Model, Device{}, false, err)
	}
	return ar, err
}

func (s *Service) autoRegistrationFor(ctx context.Context, canon string, r Registration) (autoRegistration, error) {
	c, err := s.Cluster(ctx)
	if err != nil {
		return autoRegistration{}, err
	}
	ar := c.AutoRegistration
	model, known, err := s.admit(ctx, canon, r, ar.Active())
	if err != nil || known != nil {
		return autoRegistration{known: known}, err
	}
	if !ar.Active() {
		// A device that exists keeps working when auto-registration is off.
		if d, err := s.store.Device(ctx, canon); err == nil {
			return autoRegistration{known: &d}, nil
		}
		return autoRegistration{}, ErrAutoRegDisabled
	}
	udt, err := s.store.UDT(ctx, ar.UDT)
	if err != nil {
		return autoRegistration{}, fmt.Errorf("auto-registration template %q: %w", ar.UDT, err)
	}
	ult, err := s.store.ULT(ctx, ar.ULT)
	if err != nil {
		return autoRegistration{}, fmt.Errorf("auto-registration line template %q: %w", ar.ULT, err)
	}
	partition := ar.Partition
	if partition == "" {
		partition = ult.RoutePartition
	}
	now := s.clock.Now()
	build := func(dn string) Device {
		d := Device{
			Name:        canon,
			Model:       model,
			Protocol:    "SIP",
			Description: "Auto " + dn,
			State:       StateAutoRegistered,
			UDT:         udt.Name,
			Settings:    s.expandSettings(udt.DeviceSettings, canon),
			CreatedAt:   now,
		}
		d.Lines = []Line{s.newLine(1, dn, partition, ult, "Auto "+dn)}
		d.ConfigVersion = newVersion(now)
		return d
	}
	return autoRegistration{name: canon, model: model, r: ar.Range, partition: partition, build: build}, nil
}

// logAutoRegister logs a created device or a refusal.
func (s *Service) logAutoRegister(name string, model int, dev Device, created bool, err error) {
	if errors.Is(err, ErrAutoRegRateLimited) {
		// One line per refused REGISTER of a flooding source would flood the log.
		s.log.Debug("autoregister", "device", name, "model", model, "code", CodeOf(err))
		return
	}
	if err != nil || created {
		s.log.Info("autoregister", "device", name, "model", model, "dn", firstDN(dev), "code", LogCode(err))
	}
}

func firstDN(d Device) string {
	if len(d.Lines) == 0 {
		return ""
	}
	return d.Lines[0].DN
}
