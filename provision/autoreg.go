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
