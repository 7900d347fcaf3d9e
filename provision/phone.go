package provision

import (
	"context"
	"strings"
)

// LoginPrompt opens a phone's self-provisioning flow: the device must be
// auto-registered (the first check of the flow), and the login screen
// asks for what the authentication mode needs. The device is returned
// whenever it exists, also with ErrDeviceNotAutoReg.
func (s *Service) LoginPrompt(ctx context.Context, deviceName string) (Device, AuthMode, error) {
	dev, err := s.autoRegisteredDevice(ctx, deviceName)
	if err != nil {
		return dev, "", err
	}
	c, err := s.Cluster(ctx)
	if err != nil {
		return dev, "", err
	}
	return dev, c.AuthMode, nil
}

// AuthorizePush decides a phone's authenticationURL request (a pushed
// XML object or a service asking the user to confirm): the user's own PIN
// or password, and the user owns the device (user IDs compared without
// case, as the product does). In authentication mode none nothing is
// checked when a phone is provisioned, so no push is ever authorised then
// (ErrAuthFailed, before any credential is read). The device is returned
// whenever it was found.
func (s *Service) AuthorizePush(ctx context.Context, deviceName string, c Credentials) (Device, error) {
	cl, err := s.Cluster(ctx)
	if err != nil {
		return Device{}, err
	}
	if cl.AuthMode == AuthNone {
		return Device{}, ErrAuthFailed
	}
	// The user's own credentials: the system authentication code opens
	// the login screen in users-and-admin mode, not the user's phone.
	u, err := s.AuthenticateUser(ctx, c)
	if err != nil {
		return Device{}, err
	}
	dev, err := s.Device(ctx, deviceName)
	if err != nil {
		return Device{}, err
	}
	if !strings.EqualFold(dev.Owner, u.ID) {
		return dev, ErrNotAllowed
	}
	return dev, nil
}
