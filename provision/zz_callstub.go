package provision

import (
	"context"
	"errors"
)

// Placeholder of the core's routing decision (same API, partition
// <None> only) so that the proxy builds before it lands: delete this file
// when the real RouteCall of provision is merged.

var (
	ErrCallerNotRegistered = &Error{"CALLER_NOT_REGISTERED", "the calling device is not registered from this address"}
	ErrNoRoute             = &Error{"DN_NOT_FOUND", "no route to the directory number"}
)

type CallRequest struct {
	CallingDN     string
	CallingDevice string
	Called        string
}

type CallRoute struct {
	CallingDevice string
	CallingLine   LineKey
	CSS           string
	Called        LineKey
	Devices       []string
}

func (s *Service) RouteCall(ctx context.Context, r CallRequest, registered func(device string) bool) (CallRoute, error) {
	var rt CallRoute
	if r.CallingDevice != "" && registered(r.CallingDevice) {
		rt.CallingDevice = r.CallingDevice
	} else if l, err := s.Line(ctx, LineKey{DN: r.CallingDN}); err == nil {
		for _, a := range l.Appearances {
			if registered(a.Device) {
				rt.CallingDevice = a.Device
				break
			}
		}
	}
	if rt.CallingDevice == "" {
		return rt, ErrCallerNotRegistered
	}
	rt.CallingLine = LineKey{DN: r.CallingDN}
	if ValidateDN(r.Called) != nil {
		return rt, ErrNoRoute
	}
	l, err := s.Line(ctx, LineKey{DN: r.Called})
	if errors.Is(err, ErrNotFound) {
		return rt, ErrNoRoute
	}
	if err != nil {
		return rt, err
	}
	rt.Called = l.Key()
	for _, a := range l.Appearances {
		rt.Devices = append(rt.Devices, a.Device)
	}
	return rt, nil
}
