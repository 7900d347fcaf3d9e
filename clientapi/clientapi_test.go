package clientapi_test

import (
	"encoding/json"
	"encoding/xml"
	"reflect"
	"testing"

	"selfprov/clientapi"
	"selfprov/internal/testkit"
)

// Simulated clients import this package, so it stays on the standard
// library and never reaches the core or the store.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	testkit.OnlyImports(t, "selfprov/clientapi")
}

func TestPathUserDevicesEscapes(t *testing.T) {
	if got := clientapi.PathUserDevices("a b/c"); got != "/cucm-uds/user/a%20b%2Fc/devices" {
		t.Fatal(got)
	}
}

func TestDevicesRoundTrip(t *testing.T) {
	in := clientapi.Devices{URI: "/cucm-uds/user/alice/devices", Version: "1.0", UserID: "alice", Devices: []clientapi.UDSDevice{{
		URI: "/cucm-uds/user/alice/device/CSFalice", ID: "CSFalice", Name: "CSFalice", Description: "<A & B>", Model: "Cisco Unified Client Services Framework",
		ModelNumber: 503, Type: "desktop", Protocol: "SIP", Lines: []clientapi.DeviceLine{{Button: 1, DN: "2001", Label: "2001"}},
	}}}
	for name, codec := range map[string]struct {
		marshal   func(any) ([]byte, error)
		unmarshal func([]byte, any) error
	}{"xml": {xml.Marshal, xml.Unmarshal}, "json": {json.Marshal, json.Unmarshal}} {
		b, err := codec.marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out clientapi.Devices
		if err := codec.unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		out.XMLName = in.XMLName
		if !reflect.DeepEqual(in, out) {
			t.Errorf("%s round trip:\n%+v\n%+v", name, in, out)
		}
	}
}
