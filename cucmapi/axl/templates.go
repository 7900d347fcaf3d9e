package axl

import (
	"context"
	"strconv"

	"selfprov/provision"
)

// Named objects (UDT, ULT, UserProfileProvision, FeatureGroupTemplate)
// share one shape of operations: add, get, update, remove and list by
// name, each kind with its AXL element names.

// kind describes one named object to AXL.
type kind[T any] struct {
	elem    string // request and response element: "universalDeviceTemplate"
	what    string // in not-found messages
	name    func(T) string
	setName func(*T, string)
	el      func(T) *El // the object's fields, in AXL's order
	apply   func(*T, *Node) error
	// search gives a field for searchCriteria: name and a description.
	search []string
	field  func(T, string) string

	get    func(context.Context, string) (T, error)
	list   func(context.Context) ([]T, error)
	add    func(context.Context, T) error
	put    func(context.Context, T) error
	remove func(context.Context, string) error
}

func (k kind[T]) render(v T) *El {
	e := k.el(v)
	e.Name = k.elem
	return e.Attr("uuid", uuidOf(k.elem, k.name(v)))
}

func (k kind[T]) ops(svc func(*call) kind[T]) map[string]operation {
	title := string(k.elem[0]-'a'+'A') + k.elem[1:]
	return map[string]operation{
		"add" + title: func(c *call) (*El, error) {
			k := svc(c)
			n := c.req.Child(k.elem)
			if n == nil {
				return nil, required(k.elem)
			}
			var v T
			name := n.Value("name")
			if name == "" {
				return nil, required("name")
			}
			k.setName(&v, name)
			if err := k.apply(&v, n); err != nil {
				return nil, err
			}
			if err := k.add(c.ctx, v); err != nil {
				return nil, faultOf(err, k.what)
			}
			return E("return", uuidOf(k.elem, name)), nil
		},
		"get" + title: func(c *call) (*El, error) {
			k := svc(c)
			v, err := k.byName(c)
			if err != nil {
				return nil, err
			}
			return P("return", returned(k.render(v), c.req.Child("returnedTags"))), nil
		},
		"update" + title: func(c *call) (*El, error) {
			k := svc(c)
			v, err := k.byName(c)
			if err != nil {
				return nil, err
			}
			if nn := c.req.Value("newName"); nn != "" && nn != k.name(v) {
				return nil, clientFault(CodeUnsupported, "newName is not supported: add an object and remove this one")
			}
			if err := k.apply(&v, c.req); err != nil {
				return nil, err
			}
			if err := k.put(c.ctx, v); err != nil {
				return nil, faultOf(err, k.what)
			}
			return E("return", uuidOf(k.elem, k.name(v))), nil
		},
		"remove" + title: func(c *call) (*El, error) {
			k := svc(c)
			v, err := k.byName(c)
			if err != nil {
				return nil, err
			}
			if err := k.remove(c.ctx, k.name(v)); err != nil {
				return nil, faultOf(err, k.what)
			}
			return E("return", uuidOf(k.elem, k.name(v))), nil
		},
		"list" + title: func(c *call) (*El, error) {
			k := svc(c)
			crit, err := criteria(c.req, k.search...)
			if err != nil {
				return nil, err
			}
			pg, err := pageOf(c.req)
			if err != nil {
				return nil, err
			}
			all, err := k.list(c.ctx)
			if err != nil {
				return nil, err
			}
			out := P("return")
			i := 0
			for _, v := range all {
				if !matches(crit, func(f string) string { return k.field(v, f) }) {
					continue
				}
				keep, more := pg.take(i)
				i++
				if keep {
					out.Add(returned(k.render(v), c.req.Child("returnedTags")))
				}
				if !more {
					break
				}
			}
			return out, nil
		},
	}
}

func (k kind[T]) byName(c *call) (T, error) {
	var zero T
	name := c.req.Value("name")
	if name == "" {
		if c.req.Has("uuid") {
			return zero, clientFault(CodeUnsupported, "%s by uuid is not supported; give the name", c.op)
		}
		return zero, required("name")
	}
	v, err := k.get(c.ctx, name)
	if err != nil {
		return zero, faultOf(err, k.what)
	}
	return v, nil
}

// setter writes the text of the named child, when given, to dst.
func setter(n *Node) func(dst *string, name string) {
	return func(dst *string, name string) {
		if v, ok := value(n, name); ok {
			*dst = v
		}
	}
}

func setInt(n *Node, dst *int, name string) error {
	v, ok := value(n, name)
	if !ok {
		return nil
	}
	x, err := atoi(name, v)
	*dst = x
	return err
}

func boolText(b bool) string { return strconv.FormatBool(b) }

func udtKind(c *call) kind[provision.UDT] {
	return kind[provision.UDT]{
		elem: "universalDeviceTemplate", what: "UniversalDeviceTemplate",
		name: func(t provision.UDT) string { return t.Name }, setName: func(t *provision.UDT, n string) { t.Name = n },
		el: func(t provision.UDT) *El {
			return P("", E("name", t.Name), E("deviceDescription", t.DescriptionPattern), E("devicePool", t.DevicePool),
				E("deviceSecurityProfile", t.SecurityProfile), E("sipProfile", t.SIPProfile), E("phoneButtonTemplate", t.ButtonTemplate),
				E("softkeyTemplate", t.SoftkeyTemplate), E("userLocale", t.UserLocale), E("servicesUrl", t.ServicesURL),
				E("idle", t.IdleURL), E("idleTimer", itoa(t.IdleTimeout)))
		},
		apply: func(t *provision.UDT, n *Node) error {
			set := setter(n)
			set(&t.DescriptionPattern, "deviceDescription")
			set(&t.DevicePool, "devicePool")
			set(&t.SecurityProfile, "deviceSecurityProfile")
			set(&t.SIPProfile, "sipProfile")
			set(&t.ButtonTemplate, "phoneButtonTemplate")
			set(&t.SoftkeyTemplate, "softkeyTemplate")
			set(&t.UserLocale, "userLocale")
			set(&t.ServicesURL, "servicesUrl")
			set(&t.IdleURL, "idle")
			return setInt(n, &t.IdleTimeout, "idleTimer")
		},
		search: []string{"name", "deviceDescription"},
		field: func(t provision.UDT, f string) string {
			if f == "name" {
				return t.Name
			}
			return t.DescriptionPattern
		},
		get: c.svc.UDT, list: c.svc.UDTs, add: c.svc.AddUDT, put: c.svc.PutUDT, remove: c.svc.DeleteUDT,
	}
}

func ultKind(c *call) kind[provision.ULT] {
	return kind[provision.ULT]{
		elem: "universalLineTemplate", what: "UniversalLineTemplate",
		name: func(t provision.ULT) string { return t.Name }, setName: func(t *provision.ULT, n string) { t.Name = n },
		el: func(t provision.ULT) *El {
			return P("", E("name", t.Name), E("lineDescription", t.LabelPattern), E("routePartition", t.RoutePartition),
				E("voiceMailProfile", t.VoicemailProfile), E("callingSearchSpace", t.CallingSearchSpace), E("alertingName", t.DisplayPattern),
				E("forwardDestAllCalls", t.CallForwardAll))
		},
		apply: func(t *provision.ULT, n *Node) error {
			set := setter(n)
			set(&t.LabelPattern, "lineDescription")
			set(&t.RoutePartition, "routePartition")
			set(&t.VoicemailProfile, "voiceMailProfile")
			set(&t.CallingSearchSpace, "callingSearchSpace")
			set(&t.DisplayPattern, "alertingName")
			set(&t.CallForwardAll, "forwardDestAllCalls")
			return nil
		},
		search: []string{"name", "lineDescription"},
		field: func(t provision.ULT, f string) string {
			if f == "name" {
				return t.Name
			}
			return t.LabelPattern
		},
		get: c.svc.ULT, list: c.svc.ULTs, add: c.svc.AddULT, put: c.svc.PutULT, remove: c.svc.DeleteULT,
	}
}

func profileKind(c *call) kind[provision.UserProfile] {
	return kind[provision.UserProfile]{
		elem: "userProfileProvision", what: "UserProfileProvision",
		name: func(p provision.UserProfile) string { return p.Name }, setName: func(p *provision.UserProfile, n string) { p.Name = n },
		el: func(p provision.UserProfile) *El {
			return P("", E("name", p.Name), E("description", ""), E("deskPhones", p.DeskPhoneUDT), E("mobileDevices", p.MobileDesktopUDT),
				E("profile", p.RemoteDestinationUDT), E("universalLineTemplate", p.ULT), E("allowProvision", boolText(p.AllowSelfProvision)),
				E("limitProvision", strconv.Itoa(p.Limit())), E("defaultUserProfile", boolText(p.DefaultSystemProfile)))
		},
		apply: func(p *provision.UserProfile, n *Node) error {
			set := setter(n)
			set(&p.DeskPhoneUDT, "deskPhones")
			set(&p.MobileDesktopUDT, "mobileDevices")
			set(&p.RemoteDestinationUDT, "profile")
			set(&p.ULT, "universalLineTemplate")
			if v, ok := value(n, "allowProvision"); ok {
				p.AllowSelfProvision = boolOf(v)
			}
			if v, ok := value(n, "defaultUserProfile"); ok {
				p.DefaultSystemProfile = boolOf(v)
			}
			return setInt(n, &p.DeviceLimit, "limitProvision")
		},
		search: []string{"name", "description"},
		field: func(p provision.UserProfile, f string) string {
			if f == "name" {
				return p.Name
			}
			return ""
		},
		get: c.svc.UserProfile, list: c.svc.UserProfiles, add: c.svc.AddUserProfile, put: c.svc.PutUserProfile, remove: c.svc.DeleteUserProfile,
	}
}

func fgtKind(c *call) kind[provision.FeatureGroupTemplate] {
	return kind[provision.FeatureGroupTemplate]{
		elem: "featureGroupTemplate", what: "FeatureGroupTemplate",
		name:    func(t provision.FeatureGroupTemplate) string { return t.Name },
		setName: func(t *provision.FeatureGroupTemplate, n string) { t.Name = n },
		el: func(t provision.FeatureGroupTemplate) *El {
			return P("", E("name", t.Name), E("description", t.Description), E("userProfile", t.UserProfile))
		},
		apply: func(t *provision.FeatureGroupTemplate, n *Node) error {
			set := setter(n)
			set(&t.Description, "description")
			set(&t.UserProfile, "userProfile")
			return nil
		},
		search: []string{"name", "description"},
		field: func(t provision.FeatureGroupTemplate, f string) string {
			if f == "name" {
				return t.Name
			}
			return t.Description
		},
		get: c.svc.FeatureGroupTemplate, list: c.svc.FeatureGroupTemplates, add: c.svc.AddFeatureGroupTemplate,
		put: c.svc.PutFeatureGroupTemplate, remove: c.svc.DeleteFeatureGroupTemplate,
	}
}

func init() {
	for _, ops := range []map[string]operation{
		kind[provision.UDT]{elem: "universalDeviceTemplate"}.ops(udtKind),
		kind[provision.ULT]{elem: "universalLineTemplate"}.ops(ultKind),
		kind[provision.UserProfile]{elem: "userProfileProvision"}.ops(profileKind),
		kind[provision.FeatureGroupTemplate]{elem: "featureGroupTemplate"}.ops(fgtKind),
	} {
		for name, op := range ops {
			operations[name] = op
		}
	}
}
