package axl

import (
	"strings"

	"selfprov/provision"
)

// Objects are keyed by name; a request naming one by the uuid it was
// shown (uuidOf of its name) is served by looking through the objects of
// its kind, which suits a lab's thousands, not a large cluster's.

// sameUUID compares UUIDs written with or without braces, in any case.
func sameUUID(a, b string) bool {
	norm := func(s string) string { return strings.ToUpper(strings.Trim(strings.TrimSpace(s), "{}")) }
	return norm(a) == norm(b)
}

func phoneByUUID(c *call, id string) (string, error) {
	f := provision.DeviceFilter{Limit: 1000}
	for {
		ds, err := c.svc.Devices(c.ctx, f)
		if err != nil {
			return "", err
		}
		for _, d := range ds {
			if sameUUID(uuidOf("phone", d.Name), id) {
				return d.Name, nil
			}
		}
		if len(ds) < 1000 {
			return "", notFound("Phone")
		}
		f.After = ds[len(ds)-1].Name
	}
}

func userByUUID(c *call, id string) (string, error) {
	after := ""
	for {
		us, err := c.svc.Users(c.ctx, after, 1000)
		if err != nil {
			return "", err
		}
		for _, u := range us {
			if sameUUID(uuidOf("user", u.ID), id) {
				return u.ID, nil
			}
		}
		if len(us) < 1000 {
			return "", notFound("User")
		}
		after = us[len(us)-1].ID
	}
}

func lineByUUID(c *call, id string) (provision.LineKey, error) {
	f := provision.LineFilter{Limit: 1000}
	for {
		ls, err := c.svc.Lines(c.ctx, f)
		if err != nil {
			return provision.LineKey{}, err
		}
		for _, l := range ls {
			if sameUUID(uuidOf("line", l.Partition+"\x00"+l.DN), id) {
				return l.Key(), nil
			}
		}
		if len(ls) < 1000 {
			return provision.LineKey{}, notFound("Line")
		}
		f.After = ls[len(ls)-1].Key()
	}
}
