package provision

import (
	"context"
	"errors"
	"strings"
)

// profileOf returns the user's profile, or the default system profile,
// with the defaults applied.
func (s *Service) profileOf(ctx context.Context, u User) (UserProfile, error) {
	if u.UserProfile != "" {
		p, err := s.store.UserProfile(ctx, u.UserProfile)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return p.withDefaults(), err
		}
	}
	all, err := s.store.UserProfiles(ctx)
	if err != nil {
		return UserProfile{}, err
	}
	for _, p := range all {
		if p.DefaultSystemProfile {
			return p.withDefaults(), nil
		}
	}
	return UserProfile{}, ErrNotAllowed // no profile: nothing allows self-provisioning
}

func (s *Service) newLine(button int, dn, partition string, ult ULT, display string) Line {
	return Line{
		Button:      button,
		DN:          dn,
		Partition:   partition,
		Label:       dn,
		DisplayName: display,
		Contact:     newUUID(),
		MaxCalls:    ult.MaxCalls,
		BusyTrigger: ult.BusyTrigger,
	}
}

// userLine is the line of a user's primary extension, labelled from the ULT.
func (s *Service) userLine(button int, u User, partition string, ult ULT, m Model, device string) Line {
	l := s.newLine(button, u.PrimaryExtension, partition, ult, "")
	display := ult.DisplayPattern
	if display == "" {
		display = "#FirstName# #LastName#"
	}
	l.DisplayName = expandUserPattern(display, u, m, device)
	if ult.LabelPattern != "" {
		l.Label = expandUserPattern(ult.LabelPattern, u, m, device)
	}
	return l
}

// expandSettings fills the device name and the URL variables into the
// template's URLs.
func (s *Service) expandSettings(ds DeviceSettings, device string) DeviceSettings {
	expand := func(v string) string {
		if !strings.Contains(v, "#") {
			return v
		}
		// A device name is letters and digits, so it brings no token in.
		return s.urlVars.Replace(strings.ReplaceAll(v, "#DEVICENAME#", device))
	}
	ds.IdleURL = expand(ds.IdleURL)
	ds.ServicesURL = expand(ds.ServicesURL)
	ds.AuthenticationURL = expand(ds.AuthenticationURL)
	ds.DirectoryURL = expand(ds.DirectoryURL)
	return ds
}

// expandUserPattern expands the template tokens of description, display
// and label patterns. Tokens are replaced left to right, as a
// strings.Replacer would, without building one for every device.
func expandUserPattern(pattern string, u User, m Model, device string) string {
	if pattern == "" {
		pattern = "#FirstName# #LastName# (#Product#)"
	}
	tokens := [...]struct{ token, value string }{
		{"#FirstName#", u.FirstName},
		{"#LastName#", u.LastName},
		{"#UserID#", u.ID},
		{"#Product#", m.Name},
		{"#Extension#", u.PrimaryExtension},
		{"#DEVICENAME#", device},
	}
	var b strings.Builder
	b.Grow(len(pattern) + 32)
next:
	for i := 0; i < len(pattern); {
		j := strings.IndexByte(pattern[i:], '#')
		if j < 0 {
			b.WriteString(pattern[i:])
			break
		}
		b.WriteString(pattern[i : i+j])
		i += j
		for _, t := range tokens {
			if strings.HasPrefix(pattern[i:], t.token) {
				b.WriteString(t.value)
				i += len(t.token)
				continue next
			}
		}
		b.WriteByte('#')
		i++
	}
	out := b.String()
	return strings.TrimSpace(strings.Join(strings.Fields(out), " "))
}
