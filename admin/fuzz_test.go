package admin

import (
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"selfprov/provision"
)

// FuzzDeviceFilter: any query string gives a filter within bounds or an
// INVALID_ARGUMENT error, and a filter written back as a query reads the same.
func FuzzDeviceFilter(f *testing.F) {
	for _, seed := range []string{
		"",                                   // defaults
		"prefix=SEP0A&state=auto-registered", // the common admin query
		"owner=alice&model=36224&limit=1000&after=SEP0A0000000001",
		"limit=0",                   // below the bound
		"limit=1001",                // above it
		"model=-5",                  // not a model id
		"state=registered",          // not a state
		"state=provisioned&state=x", // repeated
		"%zz",                       // bad escape
		"prefix=%00%FF&owner=a;b",   // odd bytes and the old separator
		"unknown=1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		flt, err := deviceFilter(raw)
		if err != nil {
			if provision.CodeOf(err) != provision.CodeInvalid || err.Error() == "" {
				t.Fatalf("%q: error %v is not INVALID_ARGUMENT", raw, err)
			}
			return
		}
		if flt.Limit < 1 || flt.Limit > maxPage || flt.Model < 0 {
			t.Fatalf("%q: filter out of bounds: %+v", raw, flt)
		}
		switch flt.State {
		case "", provision.StateAutoRegistered, provision.StateProvisioned:
		default:
			t.Fatalf("%q: state %q", raw, flt.State)
		}
		q := url.Values{}
		set := func(k, v string) {
			if v != "" {
				q.Set(k, v)
			}
		}
		set("prefix", flt.NamePrefix)
		set("owner", flt.Owner)
		set("after", flt.After)
		set("state", string(flt.State))
		if flt.Model != 0 {
			q.Set("model", strconv.Itoa(flt.Model))
		}
		q.Set("limit", strconv.Itoa(flt.Limit))
		again, err := deviceFilter(q.Encode())
		if err != nil || again != flt {
			t.Fatalf("%q: round trip %+v -> %q -> %+v, %v", raw, flt, q.Encode(), again, err)
		}
	})
}

// FuzzDecodeClusterPatch: any body is a patch or a clear client error,
// never INTERNAL; a decoded patch encodes and decodes to itself.
func FuzzDecodeClusterPatch(f *testing.F) {
	for _, seed := range []string{
		`{"autoRegistration":{"enabled":true,"startDN":"1000","endDN":"1999"}}`, // the common change
		`{"credentialPolicy":{"lockoutDuration":"0","resetCounterAfter":"1h30m"}}`,
		`{"webexCoolDown":"10m","webexPolicy":"desktop-only","authMode":"none"}`,
		`{"webexCoolDown":600}`,       // a number where a duration string goes
		`{"webexCoolDown":"forever"}`, // not a duration
		`{"bogus":1}`,                 // unknown field
		`{"authMode":"none"} {}`,      // two values
		`[1,2]`,                       // not an object
		`{"autoRegistration":null}`,   // null leaves the field alone
		``,
		`{"autoRegistration":{"enabled":"yes"}}`,
		"{\"authMode\":\"\xff\"}", // invalid UTF-8
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var p clusterPatch
		err := decodeJSON(strings.NewReader(string(body)), &p)
		if err != nil {
			var pe *provision.Error
			if !errors.As(err, &pe) || pe.Code != provision.CodeInvalid || pe.Message == "" {
				t.Fatalf("%q: error %v is not a clear INVALID_ARGUMENT", body, err)
			}
			return
		}
		enc, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("%q: encoding the patch: %v", body, err)
		}
		var again clusterPatch
		if err := decodeJSON(strings.NewReader(string(enc)), &again); err != nil {
			t.Fatalf("%q: re-decoding %s: %v", body, enc, err)
		}
		if !reflect.DeepEqual(p, again) {
			t.Fatalf("%q: round trip changed the patch:\n%s", body, enc)
		}
		// Applying it never panics.
		c := provision.DefaultCluster()
		p.apply(&c)
	})
}
