package provision

import (
	"context"
	"errors"
	"fmt"

	"selfprov/internal/clip"
)

// CallRequest is what the registrar read from an INVITE.
type CallRequest struct {
	CallingDN string // From URI user
	// CallingDevice is the device the INVITE names (Contact
	// +u.sip!devicename, or a From user that is a device name); "" when
	// none.
	CallingDevice string
	Called        string // Request-URI user (or the To user when the Request-URI has none)
}

// CallRoute is the core's decision on a call.
type CallRoute struct {
	CallingDevice string
	CallingLine   LineKey
	CSS           string   // calling line's effective CSS ("" = none: only the <None> partition)
	Called        LineKey  // the line reached
	Devices       []string // every device showing Called (shared lines fork to all); none for a line no device shows
}

// DNLine is a line found by its directory number alone (Store.LinesByDN).
type DNLine struct {
	DirectoryNumber // with Appearances filled in
	// Stored reports whether the line's settings were ever stored (AddLine,
	// a line edit); only then do they override its template's.
	Stored bool
}

// RouteCall decides an INVITE: who calls, from which line, and which line
// and devices the dialed number reaches. registered reports whether a
// device has a live binding from the INVITE's source address (the
// registrar answers it).
//
// The caller is the device the request names, or else the first
// registered device (in partition, then device order) that shows the
// calling DN; either must be registered, else ErrCallerNotRegistered.
// Its line is the one with the calling DN, else its first. The called DN
// is looked up in the partitions of that line's effective calling search
// space in order, then in the empty partition (<None>), which every CSS
// reaches; a DN found nowhere there is ErrNoRoute, whether it exists
// elsewhere or not. A dialed string that is no DN is ErrInvalid.
//
// The effective CSS is the line's own when its settings are stored;
// otherwise its template's: the auto-registration line template's for an
// auto-registered device, the owner's profile's line template's for an
// owned device (the default profile when the owner names none), else
// none. A CSS name with no stored CSS reaches only <None>, and is logged
// once at warn.
//
// It reads the calling device (cached), the lines of the calling and the
// called DN (one indexed read each) and the calling search space (cached);
// a line without stored settings also reads its template (cached) and the
// owner.
func (s *Service) RouteCall(ctx context.Context, r CallRequest, registered func(device string) bool) (CallRoute, error) {
	// The generation is read before the store: what is computed from the
	// reads that follow is at least as new as it.
	gen := s.store.Generation()
	callers, err := s.routes.callers(gen, r, func() ([]caller, error) { return s.callers(ctx, r) })
	if err != nil {
		return CallRoute{}, err
	}
	var c *caller
	for i := range callers {
		if registered(callers[i].device) {
			c = &callers[i]
			break
		}
	}
	if c == nil {
		if len(callers) == 1 {
			return CallRoute{}, fmt.Errorf("%w: device %s is not registered from this address", ErrCallerNotRegistered, callers[0].device)
		}
		return CallRoute{}, fmt.Errorf("%w: no device with directory number %s is registered from this address", ErrCallerNotRegistered, clip.String(r.CallingDN, 40))
	}
	if err := ValidateDN(r.Called); err != nil {
		return CallRoute{}, err
	}
	target, err := s.routes.reached(gen, c.partitions, r.Called, func() (DNLine, bool, error) {
		called, err := s.store.LinesByDN(ctx, r.Called)
		if err != nil {
			return DNLine{}, false, err
		}
		l, ok := reach(called, c.partitions)
		return l, ok, nil
	})
	if err != nil {
		return CallRoute{}, err
	}
	if target.DN == "" {
		return CallRoute{}, fmt.Errorf("%w: %s from %s", ErrNoRoute, clip.String(r.Called, 40), c.line)
	}
	return CallRoute{CallingDevice: c.device, CallingLine: c.line, CSS: c.css,
		Called: target.Key(), Devices: appearanceDevices(target.Appearances)}, nil
}

// caller is a device a call may come from, with the line it calls from and
// that line's calling privileges.
type caller struct {
	device     string
	line       LineKey
	css        string
	partitions []string // of css, in lookup order; <None> is implied
}

// reach finds the line a CSS's partitions reach among lines of one DN:
// the first of partitions holding one, then the empty partition.
func reach(lines []DNLine, partitions []string) (DNLine, bool) {
	for _, p := range partitions {
		for _, l := range lines {
			if l.Partition == p && p != "" {
				return l, true
			}
		}
	}
	for _, l := range lines {
		if l.Partition == "" {
			return l, true
		}
	}
	return DNLine{}, false
}

// appearanceDevices lists each device showing a line once, in order.
func appearanceDevices(as []LineAppearance) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		dup := false
		for _, d := range out {
			if d == a.Device {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, a.Device)
		}
	}
	return out
}

// callers lists the devices a call may come from, in the order the first
// registered one is taken: the device the request names, or every device
// showing the calling DN (in partition, then device order).
func (s *Service) callers(ctx context.Context, r CallRequest) ([]caller, error) {
	name := r.CallingDevice
	if name == "" && IsDeviceName(r.CallingDN) {
		name = r.CallingDN // a From user that is a device name
	}
	if name != "" {
		d, line, err := s.callingLineOfDevice(ctx, name, r.CallingDN)
		if err != nil {
			return nil, err
		}
		c, err := s.privileges(ctx, d, line)
		if err != nil {
			return nil, err
		}
		return []caller{c}, nil
	}
	if err := ValidateDN(r.CallingDN); err != nil {
		return nil, err
	}
	lines, err := s.store.LinesByDN(ctx, r.CallingDN)
	if err != nil {
		return nil, err
	}
	var out []caller
	for _, l := range lines {
		for _, a := range l.Appearances {
			d, err := s.store.Device(ctx, a.Device)
			if errors.Is(err, ErrDeviceNotFound) {
				continue // deleted since the lines were read
			}
			if err != nil {
				return nil, err
			}
			c, err := s.privileges(ctx, d, l)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no device has directory number %s", ErrCallerNotRegistered, clip.String(r.CallingDN, 40))
	}
	return out, nil
}

// privileges is a caller: the device, its line and the line's effective
// calling search space.
func (s *Service) privileges(ctx context.Context, d Device, l DNLine) (caller, error) {
	css, err := s.effectiveCSS(ctx, d, l)
	if err != nil {
		return caller{}, err
	}
	partitions, err := s.cssPartitions(ctx, css)
	if err != nil {
		return caller{}, err
	}
	return caller{device: d.Name, line: l.Key(), css: css, partitions: partitions}, nil
}

// callingLineOfDevice is the line a named device calls from: the one with
// the calling DN, else its first.
func (s *Service) callingLineOfDevice(ctx context.Context, name, dn string) (Device, DNLine, error) {
	canon, err := CanonicalDeviceName(name)
	if err != nil {
		return Device{}, DNLine{}, fmt.Errorf("%w: %q is no device name", ErrCallerNotRegistered, clip.String(name, 40))
	}
	d, err := s.store.Device(ctx, canon)
	if errors.Is(err, ErrDeviceNotFound) {
		return Device{}, DNLine{}, fmt.Errorf("%w: no device %s", ErrCallerNotRegistered, canon)
	}
	if err != nil {
		return Device{}, DNLine{}, err
	}
	var from *Line
	for i := range d.Lines { // the line with the calling DN, else the first
		l := &d.Lines[i]
		switch {
		case from == nil:
			from = l
		case (l.DN == dn) != (from.DN == dn):
			if l.DN == dn {
				from = l
			}
		case l.Button < from.Button:
			from = l
		}
	}
	if from == nil {
		return Device{}, DNLine{}, fmt.Errorf("%w: device %s has no line to call from", ErrCallerNotRegistered, d.Name)
	}
	lines, err := s.store.LinesByDN(ctx, from.DN)
	if err != nil {
		return Device{}, DNLine{}, err
	}
	for _, l := range lines {
		if l.Partition == from.Partition {
			return d, l, nil
		}
	}
	// A partition LinesByDN does not look in (one stored before
	// partitions were objects): the line as the device shows it, no
	// settings of its own.
	return d, DNLine{DirectoryNumber: DirectoryNumber{DN: from.DN, Partition: from.Partition}}, nil
}

// effectiveCSS is the calling search space a line calls with: its own
// when its settings are stored, else its template's.
func (s *Service) effectiveCSS(ctx context.Context, d Device, l DNLine) (string, error) {
	if l.Stored {
		return l.CallingSearchSpace, nil
	}
	var ultName string
	switch {
	case d.State == StateAutoRegistered:
		c, err := s.Cluster(ctx)
		if err != nil {
			return "", err
		}
		ultName = c.AutoRegistration.ULT
	case d.Owner != "":
		u, err := s.store.User(ctx, d.Owner)
		if errors.Is(err, ErrUserNotFound) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		p, err := s.profileOf(ctx, u)
		if errors.Is(err, ErrNotAllowed) {
			return "", nil // no profile: no template
		}
		if err != nil {
			return "", err
		}
		ultName = p.ULT
	}
	if ultName == "" {
		return "", nil
	}
	t, err := s.store.ULT(ctx, ultName)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return t.CallingSearchSpace, err
}

// cssPartitions lists the partitions a CSS reaches besides <None>. A name
// no stored CSS has (a template written before CSSs were objects) reaches
// none; that is logged once per name.
func (s *Service) cssPartitions(ctx context.Context, css string) ([]string, error) {
	if css == "" {
		return nil, nil
	}
	c, err := s.store.CallingSearchSpace(ctx, css)
	if errors.Is(err, ErrNotFound) {
		if _, seen := s.missingCSS.LoadOrStore(css, true); !seen {
			s.log.Warn("calling search space does not exist; its lines reach only the <None> partition", "css", clip.String(css, 60))
		}
		return nil, nil
	}
	return c.Partitions, err
}
