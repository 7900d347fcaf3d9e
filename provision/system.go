package provision

import (
	"context"
	"errors"
)

// EnsureAutoRegistrationTemplate creates the system UDT named
// AutoRegistrationTemplate from t when no UDT of that name exists, so it
// is there from first start whatever the configuration defines. A
// template that exists, changed by the administrator or not, is left as it
// is; one deleted (auto-registration not naming it) comes back at the next
// start. created tells whether it was written.
func (s *Service) EnsureAutoRegistrationTemplate(ctx context.Context, t UDT) (created bool, err error) {
	t.Name = AutoRegistrationTemplate
	s.refMu.Lock()
	defer s.refMu.Unlock()
	_, err = s.store.UDT(ctx, t.Name)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return false, err
	}
	if err := s.putUDT(ctx, t); err != nil {
		return false, err
	}
	s.log.Info("created the system auto-registration template", "udt", t.Name, "idle_url", t.IdleURL, "code", "OK")
	return true, nil
}
