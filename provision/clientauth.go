package provision

import (
	"context"
	"errors"
)

// The user-facing HTTP APIs (Webex App createDevice, the UDS user device
// list, self-provisioning under the UDS private path) act for the user
// whose own credentials they carry (SPEC §7), and only on that user.

// SelfProvisionAs is SelfProvision for a request carrying the credentials
// of userID, the user the provisioning was confirmed for (USER_MISMATCH
// for anyone else).
func (s *Service) SelfProvisionAs(ctx context.Context, deviceName, userID string, c Credentials) (Device, error) {
	u, err := s.AuthenticateUser(ctx, c)
	if err != nil {
		return Device{}, err
	}
	if u.ID != userID {
		return Device{}, ErrUserMismatch
	}
	return s.SelfProvision(ctx, deviceName, userID)
}

// SignInClient is AutoProvisionClient for a Webex App client presenting
// the user's credentials: they must be right (AuthenticateUser) and be
// those of the user the request names (USER_MISMATCH otherwise); a
// request that names no user is about the credentials' user.
func (s *Service) SignInClient(ctx context.Context, c Credentials, req ClientRequest) (Device, bool, error) {
	u, err := s.AuthenticateUser(ctx, c)
	if err != nil {
		return Device{}, false, err
	}
	if err := validClientField("user ID", req.User, 128); err != nil {
		return Device{}, false, err
	}
	if req.User == "" {
		req.User = u.ID // the credentials name the user
	} else if err := s.sameUser(ctx, u, req.User); err != nil {
		return Device{}, false, err
	}
	return s.AutoProvisionClient(ctx, req)
}

// OwnDevices is UserDevices for a client presenting the credentials of
// the user it asks about.
func (s *Service) OwnDevices(ctx context.Context, c Credentials, userID string) (User, []Device, error) {
	u, err := s.AuthenticateUser(ctx, c)
	if err != nil {
		return User{}, nil, err
	}
	if err := validClientField("user ID", userID, 128); err != nil {
		return User{}, nil, err
	}
	if err := s.sameUser(ctx, u, userID); err != nil {
		return User{}, nil, err
	}
	return s.UserDevices(ctx, u.ID)
}

// sameUser checks that id (user ID, self-service ID or email) names u. An
// ID that names nobody gets the same answer as one that names another
// user, so the check reveals no user.
func (s *Service) sameUser(ctx context.Context, u User, id string) error {
	if id == "" {
		return ErrUserMismatch
	}
	other, err := s.clientUser(ctx, id)
	if errors.Is(err, ErrUserNotFound) || err == nil && other.ID != u.ID {
		return ErrUserMismatch
	}
	return err
}
