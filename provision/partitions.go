package provision

import (
	"context"
	"errors"
	"fmt"

	"selfprov/internal/clip"
)

// Calling privileges, as in CUCM: a line lives in a route partition, and
// the calling search space (CSS) of the calling line lists, in order, the
// partitions a call may reach. The empty partition (<None>) is no object:
// every CSS reaches it, and a line or template that names no partition
// lives in it.

// Partition is a route partition.
type Partition struct {
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// CallingSearchSpace is an ordered list of route partitions.
type CallingSearchSpace struct {
	Name        string   `json:"name" yaml:"name"`
	Description string   `json:"description,omitempty" yaml:"description,omitempty"`
	Partitions  []string `json:"partitions" yaml:"partitions"` // in lookup order
}

// MaxCSSPartitions bounds the partitions of one calling search space.
const MaxCSSPartitions = 100

// ValidatePartition checks a route partition on its own.
func ValidatePartition(p Partition) error {
	errs := []error{validName("route partition", p.Name)}
	if p.Name != "" {
		errs = append(errs, validPartition(p.Name))
	}
	if len(p.Description) > 128 {
		errs = append(errs, invalidf("route partition %q: description is longer than 128 characters", clip.String(p.Name, 40)))
	}
	return errors.Join(errs...)
}

// ValidateCallingSearchSpace checks a calling search space on its own: a
// name, partitions named once each and well formed. Whether they exist is
// the Service's check.
func ValidateCallingSearchSpace(c CallingSearchSpace) error {
	errs := []error{validName("calling search space", c.Name), validCSSName(c.Name)}
	name := clip.String(c.Name, 40)
	if len(c.Description) > 128 {
		errs = append(errs, invalidf("calling search space %q: description is longer than 128 characters", name))
	}
	if len(c.Partitions) > MaxCSSPartitions {
		errs = append(errs, invalidf("calling search space %q: more than %d partitions", name, MaxCSSPartitions))
		return errors.Join(errs...)
	}
	seen := make(map[string]bool, len(c.Partitions))
	for i, p := range c.Partitions {
		switch {
		case p == "":
			errs = append(errs, invalidf("calling search space %q: partition %d is empty (<None> is always reached; leave it out)", name, i+1))
		case validPartition(p) != nil:
			errs = append(errs, fmt.Errorf("calling search space %q: %w", name, validPartition(p)))
		case seen[p]:
			errs = append(errs, invalidf("calling search space %q: partition %q is listed twice", name, clip.String(p, 40)))
		}
		seen[p] = true
	}
	return errors.Join(errs...)
}

// validCSSName allows in a CSS name what a partition name allows: both
// are written into XML and SIP Warning texts.
func validCSSName(name string) error {
	if validPartition(name) != nil {
		return invalidf("calling search space %q must be at most 50 characters, without quotes, '<', '>' or '&'", clip.String(name, 40))
	}
	return nil
}

// Partition returns a route partition.
func (s *Service) Partition(ctx context.Context, name string) (Partition, error) {
	return s.store.Partition(ctx, name)
}

// Partitions lists the route partitions by name.
func (s *Service) Partitions(ctx context.Context) ([]Partition, error) {
	return s.store.Partitions(ctx)
}

// PutPartition creates or replaces a route partition.
func (s *Service) PutPartition(ctx context.Context, p Partition) error {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	return s.putPartition(ctx, p)
}

func (s *Service) putPartition(ctx context.Context, p Partition) error {
	if err := ValidatePartition(p); err != nil {
		return err
	}
	return s.store.PutPartition(ctx, p)
}

// AddPartition creates a route partition that does not exist yet (else
// DB-239).
func (s *Service) AddPartition(ctx context.Context, p Partition) error {
	return addNamed(ctx, s, p.Name, s.store.Partition, s.putPartition, p)
}

// CallingSearchSpace returns a calling search space.
func (s *Service) CallingSearchSpace(ctx context.Context, name string) (CallingSearchSpace, error) {
	return s.store.CallingSearchSpace(ctx, name)
}

// CallingSearchSpaces lists the calling search spaces by name.
func (s *Service) CallingSearchSpaces(ctx context.Context) ([]CallingSearchSpace, error) {
	return s.store.CallingSearchSpaces(ctx)
}

// PutCallingSearchSpace creates or replaces a calling search space; every
// partition it lists must exist.
func (s *Service) PutCallingSearchSpace(ctx context.Context, c CallingSearchSpace) error {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	return s.putCallingSearchSpace(ctx, c)
}

func (s *Service) putCallingSearchSpace(ctx context.Context, c CallingSearchSpace) error {
	if c.Partitions == nil {
		c.Partitions = []string{}
	}
	if err := ValidateCallingSearchSpace(c); err != nil {
		return err
	}
	var errs []error
	for _, p := range c.Partitions {
		if err := s.partitionExists(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("calling search space %q: %w", clip.String(c.Name, 40), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.store.PutCallingSearchSpace(ctx, c)
}

// AddCallingSearchSpace creates a calling search space that does not
// exist yet (else DB-239).
func (s *Service) AddCallingSearchSpace(ctx context.Context, c CallingSearchSpace) error {
	return addNamed(ctx, s, c.Name, s.store.CallingSearchSpace, s.putCallingSearchSpace, c)
}

// partitionExists refuses, with ErrNotFound, a route partition that is not
// stored; the empty partition (<None>) always exists.
func (s *Service) partitionExists(ctx context.Context, name string) error {
	if name == "" {
		return nil
	}
	if _, err := s.store.Partition(ctx, name); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: route partition %q does not exist", ErrNotFound, clip.String(name, 40))
		}
		return err
	}
	return nil
}

// checkLinePartitions refuses, with ErrNotFound, lines of a device in a
// route partition that does not exist; keys are the lines new to it.
func (s *Service) checkLinePartitions(ctx context.Context, device string, keys []LineKey) error {
	var errs []error
	for _, k := range keys {
		if err := s.partitionExists(ctx, k.Partition); err != nil {
			errs = append(errs, fmt.Errorf("device %s: line %s: %w", device, k, err))
		}
	}
	return errors.Join(errs...)
}

// partitionLookup returns a test of whether a route partition exists,
// reading each partition once: an import names the same few on every row.
func (s *Service) partitionLookup(ctx context.Context) func(name string) (bool, error) {
	known := map[string]bool{"": true}
	return func(name string) (bool, error) {
		if ok, seen := known[name]; seen {
			return ok, nil
		}
		err := s.partitionExists(ctx, name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return false, err
		}
		known[name] = err == nil
		return err == nil, nil
	}
}

// cssExists refuses, with ErrNotFound, a calling search space that is not
// stored; the empty name (none) always exists.
func (s *Service) cssExists(ctx context.Context, name string) error {
	if name == "" {
		return nil
	}
	if _, err := s.store.CallingSearchSpace(ctx, name); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: calling search space %q does not exist", ErrNotFound, clip.String(name, 40))
		}
		return err
	}
	return nil
}

// DeletePartition removes a route partition that no calling search space,
// line template, line, user or the auto-registration setting names
// (ErrInUse, naming one of them).
func (s *Service) DeletePartition(ctx context.Context, name string) error {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	if _, err := s.store.Partition(ctx, name); err != nil {
		return err
	}
	inUse := func(format string, args ...any) error {
		return fmt.Errorf("%w: route partition %q "+format, append([]any{ErrInUse, name}, args...)...)
	}
	csss, err := s.store.CallingSearchSpaces(ctx)
	if err != nil {
		return err
	}
	for _, c := range csss {
		for _, p := range c.Partitions {
			if p == name {
				return inUse("is in calling search space %q", c.Name)
			}
		}
	}
	ults, err := s.store.ULTs(ctx)
	if err != nil {
		return err
	}
	for _, t := range ults {
		if t.RoutePartition == name {
			return inUse("is the route partition of universal line template %q", t.Name)
		}
	}
	c, err := s.Cluster(ctx)
	if err != nil {
		return err
	}
	if c.AutoRegistration.Partition == name {
		return inUse("is the auto-registration partition")
	}
	// Lines are listed in (partition, DN) order: the first after
	// (name, "") is the partition's first line, if it has one.
	lines, err := s.store.Lines(ctx, LineFilter{After: LineKey{Partition: name}, Limit: 1})
	if err != nil {
		return err
	}
	if len(lines) > 0 && lines[0].Partition == name {
		return inUse("holds line %s", lines[0].DN)
	}
	u, found, err := s.findUser(ctx, func(u User) bool { return u.Partition == name })
	if err != nil {
		return err
	}
	if found {
		return inUse("is the partition of user %q's primary extension", u.ID)
	}
	return s.store.DeletePartition(ctx, name)
}

// DeleteCallingSearchSpace removes a calling search space that no line
// template and no line names (ErrInUse, naming one of them).
func (s *Service) DeleteCallingSearchSpace(ctx context.Context, name string) error {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	if _, err := s.store.CallingSearchSpace(ctx, name); err != nil {
		return err
	}
	ults, err := s.store.ULTs(ctx)
	if err != nil {
		return err
	}
	for _, t := range ults {
		if t.CallingSearchSpace == name {
			return fmt.Errorf("%w: calling search space %q is used by universal line template %q", ErrInUse, name, t.Name)
		}
	}
	const page = 1000
	f := LineFilter{Limit: page}
	for {
		lines, err := s.store.Lines(ctx, f)
		if err != nil {
			return err
		}
		for _, l := range lines {
			if l.CallingSearchSpace == name {
				return fmt.Errorf("%w: calling search space %q is used by line %s", ErrInUse, name, l.Key())
			}
		}
		if len(lines) < page {
			break
		}
		f.After = lines[len(lines)-1].Key()
	}
	return s.store.DeleteCallingSearchSpace(ctx, name)
}
