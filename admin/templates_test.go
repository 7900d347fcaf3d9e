package admin

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"selfprov/provision"
)

// The views of templates and profiles are the API's own types, yet today
// they show exactly what the core's types did: same keys, same order, same
// values, and what is written is what the core gets.
func TestTemplateViewsKeepTheContract(t *testing.T) {
	settings := provision.DeviceSettings{
		DevicePool: "dp", CallManagerGroup: "cmg", IdleURL: "http://i", IdleTimeout: 60, ServicesURL: "http://s",
		AuthenticationURL: "http://a", DirectoryURL: "http://d", SecurityProfile: "sec", SIPProfile: "sip",
		SoftkeyTemplate: "sk", ButtonTemplate: "bt", Transport: "tcp", UserLocale: "English_United_States",
		DescriptionPattern: "#FirstName#",
	}
	check := func(name string, core, view any, back any) {
		t.Helper()
		want, _ := json.Marshal(core)
		got, _ := json.Marshal(view)
		if !bytes.Equal(got, want) {
			t.Errorf("%s view\n got %s\nwant %s", name, got, want)
		}
		if !reflect.DeepEqual(back, core) {
			t.Errorf("%s: view back to the core gives %+v, want %+v", name, back, core)
		}
	}
	udt := provision.UDT{Name: "u", DeviceSettings: settings}
	check("UDT", udt, viewUDT(udt), viewUDT(udt).udt())
	ult := provision.ULT{Name: "l", RoutePartition: "p", CallingSearchSpace: "css", DisplayPattern: "#FirstName#",
		LabelPattern: "#Extension#", CallForwardAll: "cfa", VoicemailProfile: "vm", MaxCalls: 4, BusyTrigger: 2}
	check("ULT", ult, viewULT(ult), viewULT(ult).ult())
	up := provision.UserProfile{Name: "p", DeskPhoneUDT: "d", MobileDesktopUDT: "m", RemoteDestinationUDT: "r", ULT: "l",
		AllowSelfProvision: true, DeviceLimit: 3, DefaultSystemProfile: true, WebexPolicy: "desktop-only"}
	check("UserProfile", up, viewUserProfile(up), viewUserProfile(up).userProfile())
	fgt := provision.FeatureGroupTemplate{Name: "f", UserProfile: "p", Description: "d"}
	check("FeatureGroupTemplate", fgt, viewFeatureGroupTemplate(fgt), viewFeatureGroupTemplate(fgt).featureGroupTemplate())
	// Left-out fields stay left out.
	check("empty UDT", provision.UDT{Name: "e"}, viewUDT(provision.UDT{Name: "e"}), viewUDT(provision.UDT{Name: "e"}).udt())
}
