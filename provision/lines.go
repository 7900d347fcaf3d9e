package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"selfprov/internal/clip"
)

// A line is an object of its own, as in CUCM: a directory number in a
// route partition, with the settings every device sharing it sees (its
// calling search space, call forwarding, alerting name). A device shows it
// through a line appearance (Line: button, label, display, calls), so one
// line may appear on a desk phone and on the owner's Webex clients.
//
// A line exists once it is added (AddLine) or once a device appears on it:
// auto-registration, self-provisioning, Webex auto-provisioning and a
// device added or edited with a DN that no line has yet create it with the
// settings left empty, as CUCM's phone page does with "Add a new DN". Its
// settings are stored the first time they are set. A line whose settings
// were never set lives as long as a device shows it; unlike CUCM, which
// keeps such a DN as "unassigned", it goes with its last appearance, so a
// released auto-registration DN is free again. A line that has settings
// stays until RemoveLine, and auto-registration never hands out its DN.

// DirectoryNumber is a line: the DN in its partition and the line's own
// settings (AXL's Line).
type DirectoryNumber struct {
	DN                  string `json:"dn"`
	Partition           string `json:"partition,omitempty"`
	Description         string `json:"description,omitempty"`
	AlertingName        string `json:"alertingName,omitempty"`
	CallingSearchSpace  string `json:"callingSearchSpace,omitempty"`
	CallForwardAll      string `json:"callForwardAll,omitempty"`
	CallForwardBusy     string `json:"callForwardBusy,omitempty"`
	CallForwardNoAnswer string `json:"callForwardNoAnswer,omitempty"`
	VoicemailProfile    string `json:"voicemailProfile,omitempty"`
	// Appearances are the devices showing the line, filled in when one
	// line is read; never stored with it.
	Appearances []LineAppearance `json:"-"`
}

// Key is the line's identity.
func (l DirectoryNumber) Key() LineKey { return LineKey{DN: l.DN, Partition: l.Partition} }

// LineKey names a line: unique per (DN, partition).
type LineKey struct {
	DN        string
	Partition string
}

func (k LineKey) String() string {
	if k.Partition == "" {
		return k.DN + " (no partition)"
	}
	return k.DN + " in " + k.Partition
}

// LineAppearance is one device's button showing a line.
type LineAppearance struct {
	Device string
	Button int
}

// LineFilter pages through the lines in (partition, DN) order.
type LineFilter struct {
	After LineKey // continue after this line; zero starts at the first
	Limit int     // 0 means the store's default
}

// maxDNLen is the longest directory number accepted.
const maxDNLen = 24

// ValidateDN checks a directory number: digits, optionally a leading '+',
// and '*' or '#' as feature codes use them.
func ValidateDN(dn string) error {
	if dn == "" || len(dn) > maxDNLen {
		return invalidf("directory number %q must be 1 to %d characters", clip.String(dn, 40), maxDNLen)
	}
	for i := 0; i < len(dn); i++ {
		c := dn[i]
		if !('0' <= c && c <= '9' || c == '*' || c == '#' || c == '+' && i == 0) {
			return invalidf("directory number %q may hold only digits, '*', '#' and a leading '+'", clip.String(dn, 40))
		}
	}
	return nil
}

func validPartition(p string) error {
	if len(p) > 50 || strings.ContainsAny(p, "\x00\r\n\t<>&\"'") {
		return invalidf("route partition %q must be at most 50 characters, without quotes, '<', '>' or '&'", clip.String(p, 40))
	}
	return nil
}

// ValidateLine checks a line's DN, partition and settings.
func ValidateLine(l DirectoryNumber) error {
	errs := []error{ValidateDN(l.DN), validPartition(l.Partition)}
	for field, v := range map[string]string{
		"description": l.Description, "alertingName": l.AlertingName, "callingSearchSpace": l.CallingSearchSpace,
		"callForwardAll": l.CallForwardAll, "callForwardBusy": l.CallForwardBusy, "callForwardNoAnswer": l.CallForwardNoAnswer,
		"voicemailProfile": l.VoicemailProfile,
	} {
		if len(v) > 128 || strings.ContainsRune(v, 0) {
			errs = append(errs, invalidf("line %s: %s is longer than 128 characters", clip.String(l.DN, 40), field))
		}
	}
	for _, fwd := range []string{l.CallForwardAll, l.CallForwardBusy, l.CallForwardNoAnswer} {
		if fwd != "" && ValidateDN(fwd) != nil {
			errs = append(errs, invalidf("line %s: call forward destination %q is not a directory number", clip.String(l.DN, 40), clip.String(fwd, 40)))
		}
	}
	return errors.Join(errs...)
}

// Line returns a line with the devices that show it.
func (s *Service) Line(ctx context.Context, k LineKey) (DirectoryNumber, error) {
	if err := errors.Join(ValidateDN(k.DN), validPartition(k.Partition)); err != nil {
		return DirectoryNumber{}, fmt.Errorf("%w: line %s: %v", ErrNotFound, k, err)
	}
	return s.store.Line(ctx, k)
}

// Lines lists lines in (partition, DN) order.
func (s *Service) Lines(ctx context.Context, f LineFilter) ([]DirectoryNumber, error) {
	return s.store.Lines(ctx, f)
}

// AddLine creates a line that no line or device has yet (else DB-239),
// in a route partition and with a calling search space that exist.
// Like a user's primary extension, it may not lie in the active
// auto-registration range and partition (DN_IN_AUTOREG_RANGE).
func (s *Service) AddLine(ctx context.Context, l DirectoryNumber) (DirectoryNumber, error) {
	l.Appearances = nil
	if err := ValidateLine(l); err != nil {
		return DirectoryNumber{}, err
	}
	s.refMu.Lock()
	defer s.refMu.Unlock()
	if err := errors.Join(s.partitionExists(ctx, l.Partition), s.cssExists(ctx, l.CallingSearchSpace)); err != nil {
		return DirectoryNumber{}, fmt.Errorf("line %s: %w", l.Key(), err)
	}
	s.dnMu.Lock()
	defer s.dnMu.Unlock()
	if err := s.checkLineKeys(ctx, []LineKey{l.Key()}); err != nil {
		return DirectoryNumber{}, err
	}
	if err := s.store.CreateLine(ctx, l); err != nil {
		return DirectoryNumber{}, err
	}
	s.log.Info("line added", "dn", l.DN, "partition", l.Partition, "code", "")
	return l, nil
}

// UpdateLine changes the settings of an existing line (ErrNotFound if no
// line has that DN and partition; a new calling search space must exist)
// in one transaction: change sees the
// line as stored and may not move it to another DN or partition. The
// devices showing it keep their appearances; nothing is reset.
func (s *Service) UpdateLine(ctx context.Context, k LineKey, change func(*DirectoryNumber) error) (DirectoryNumber, error) {
	if err := errors.Join(ValidateDN(k.DN), validPartition(k.Partition)); err != nil {
		return DirectoryNumber{}, fmt.Errorf("%w: line %s: %v", ErrNotFound, k, err)
	}
	s.refMu.Lock()
	defer s.refMu.Unlock()
	_, err := s.store.UpdateLine(ctx, k, func(l DirectoryNumber) (DirectoryNumber, error) {
		l.Appearances = nil
		oldCSS := l.CallingSearchSpace
		if err := change(&l); err != nil {
			return DirectoryNumber{}, err
		}
		if l.Key() != k {
			return DirectoryNumber{}, invalidf("line %s: the DN and partition of a line do not change; add a line and remove this one", k)
		}
		l.Appearances = nil
		if err := ValidateLine(l); err != nil {
			return DirectoryNumber{}, err
		}
		if l.CallingSearchSpace != oldCSS {
			if err := s.cssExists(ctx, l.CallingSearchSpace); err != nil {
				return DirectoryNumber{}, fmt.Errorf("line %s: %w", k, err)
			}
		}
		return l, nil
	})
	s.log.Info("line updated", "dn", k.DN, "partition", k.Partition, "code", CodeOf(err))
	if err != nil {
		return DirectoryNumber{}, err
	}
	return s.Line(ctx, k)
}

// RemoveLine deletes a line and, as CUCM's removeLine does, its
// appearances on every device, in one transaction: each device keeps its
// other lines and gets a new config version, so its next config fetch (or
// an explicit apply or reset) drops the line. An auto-registration DN so
// removed is free again.
func (s *Service) RemoveLine(ctx context.Context, k LineKey) error {
	now := s.clock.Now()
	err := s.store.DeleteLine(ctx, k, func(d Device) Device {
		kept := d.Lines[:0:0]
		for _, l := range d.Lines {
			if l.DN != k.DN || l.Partition != k.Partition {
				kept = append(kept, l)
			}
		}
		d.Lines = kept
		d.ConfigVersion = newVersion(now)
		return d
	})
	s.log.Info("line removed", "dn", k.DN, "partition", k.Partition, "code", CodeOf(err))
	return err
}

// checkLineKeys refuses lines inside the active auto-registration range in
// its partition; the caller holds dnMu.
func (s *Service) checkLineKeys(ctx context.Context, keys []LineKey) error {
	c, err := s.Cluster(ctx)
	if err != nil {
		return err
	}
	ar := c.AutoRegistration
	if !ar.Active() || len(keys) == 0 {
		return nil
	}
	inRange, err := rangeTest(ar.Range)
	if err != nil {
		return nil // an unusable stored range hands out nothing
	}
	partition, err := s.autoRegPartition(ctx, ar, pending{})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Partition == partition && inRange(k.DN) {
			return dnClash(fmt.Sprintf("line %s is inside the auto-registration range %s", k, rangeText(ar.Range)))
		}
	}
	return nil
}

// ApplyLine restarts every device showing the line, as CUCM's Apply
// Config on a directory number does, so each fetches its config. It
// returns the devices asked to restart and those that could not be (not
// registered, say); the error is the first failure when no device could
// be restarted, nil otherwise.
func (s *Service) ApplyLine(ctx context.Context, k LineKey) (restarted, failed []string, err error) {
	l, err := s.Line(ctx, k)
	if err != nil {
		return nil, nil, err
	}
	var first error
	seen := map[string]bool{}
	for _, a := range l.Appearances {
		if seen[a.Device] {
			continue
		}
		seen[a.Device] = true
		if err := s.Notify(ctx, a.Device, ActionRestart); err != nil {
			failed = append(failed, a.Device)
			if first == nil {
				first = err
			}
			continue
		}
		restarted = append(restarted, a.Device)
	}
	if len(restarted) == 0 && first != nil {
		return nil, failed, first
	}
	return restarted, failed, nil
}
