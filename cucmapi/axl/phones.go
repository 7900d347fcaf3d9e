package axl

import (
	"errors"
	"strconv"
	"strings"

	"selfprov/provision"
)

// Fixed values of fields the core does not model, as CUCM's defaults.
const (
	commonPhoneConfig = "Standard Common Phone Profile"
	location          = "Hub_None"
)

// phoneEl is a device in RPhone/LPhone's element names and order; list
// adds model after product, as LPhone has it.
func phoneEl(d provision.Device, m provision.Model, list bool) *El {
	s := d.Settings
	e := P("phone",
		E("name", d.Name),
		E("description", d.Description),
		E("product", m.Name),
	).Attr("uuid", uuidOf("phone", d.Name))
	if list {
		e.Add(E("model", m.Name))
	}
	e.Add(
		E("class", "Phone"),
		E("protocol", d.Protocol),
		E("protocolSide", "User"),
		E("callingSearchSpaceName", ""),
		E("devicePoolName", s.DevicePool),
		E("commonPhoneConfigName", commonPhoneConfig),
		E("locationName", location),
	)
	if !list {
		e.Add(E("versionStamp", d.ConfigVersion))
	}
	e.Add(E("securityProfileName", s.SecurityProfile), E("sipProfileName", s.SIPProfile))
	if !list {
		lines := P("lines")
		for _, l := range d.Lines {
			lines.Add(P("line",
				E("index", strconv.Itoa(l.Button)),
				E("label", l.Label),
				E("display", l.DisplayName),
				P("dirn", E("pattern", l.DN), E("routePartitionName", l.Partition)).Attr("uuid", uuidOf("line", l.Partition+"\x00"+l.DN)),
				E("maxNumCalls", itoa(l.MaxCalls)),
				E("busyTrigger", itoa(l.BusyTrigger)),
			))
		}
		e.Add(lines)
	}
	e.Add(
		E("phoneTemplateName", s.ButtonTemplate),
		E("userLocale", s.UserLocale),
		E("idleTimeout", itoa(s.IdleTimeout)),
		E("authenticationUrl", s.AuthenticationURL),
		E("directoryUrl", s.DirectoryURL),
		E("idleUrl", s.IdleURL),
		E("servicesUrl", s.ServicesURL),
		E("softkeyTemplateName", s.SoftkeyTemplate),
		E("ownerUserName", d.Owner),
	)
	return e
}

// applySettings writes the settings the request element gives onto s.
func applySettings(s *provision.DeviceSettings, n *Node) (changed bool, err error) {
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"devicePoolName", &s.DevicePool}, {"securityProfileName", &s.SecurityProfile}, {"sipProfileName", &s.SIPProfile},
		{"phoneTemplateName", &s.ButtonTemplate}, {"softkeyTemplateName", &s.SoftkeyTemplate}, {"userLocale", &s.UserLocale},
		{"idleUrl", &s.IdleURL}, {"servicesUrl", &s.ServicesURL}, {"authenticationUrl", &s.AuthenticationURL},
		{"directoryUrl", &s.DirectoryURL},
	} {
		if v, ok := value(n, f.name); ok {
			*f.dst, changed = v, true
		}
	}
	if v, ok := value(n, "idleTimeout"); ok {
		if s.IdleTimeout, err = atoi("idleTimeout", v); err != nil {
			return false, err
		}
		changed = true
	}
	return changed, nil
}

// phoneLines reads a lines (or addLines) element.
func phoneLines(n *Node) ([]provision.Line, error) {
	var out []provision.Line
	for _, l := range n.Kids {
		if l.Name != "line" {
			continue
		}
		dn := l.Value("dirn", "pattern")
		if dn == "" {
			return nil, required("line dirn pattern")
		}
		idx, err := atoi("line index", l.Value("index"))
		if err != nil {
			return nil, err
		}
		if idx == 0 {
			idx = len(out) + 1
		}
		maxCalls, err := atoi("maxNumCalls", l.Value("maxNumCalls"))
		if err != nil {
			return nil, err
		}
		busy, err := atoi("busyTrigger", l.Value("busyTrigger"))
		if err != nil {
			return nil, err
		}
		out = append(out, provision.Line{Button: idx, DN: dn, Partition: l.Value("dirn", "routePartitionName"),
			Label: l.Value("label"), DisplayName: l.Value("display"), MaxCalls: maxCalls, BusyTrigger: busy})
	}
	return out, nil
}

// modelNamed finds a catalogue model by its product name.
func modelNamed(c *call, product string) (provision.Model, bool) {
	for _, m := range c.svc.Models() {
		if strings.EqualFold(m.Name, product) {
			return m, true
		}
	}
	return provision.Model{}, false
}

// templateFor picks the Universal Device Template a new phone's settings
// start from: one whose device pool the request names (the
// auto-registration template last, its idle URL being the
// self-provisioning screen), else the auto-registration template.
func templateFor(c *call, pool string) (provision.UDT, error) {
	udts, err := c.svc.UDTs(c.ctx)
	if err != nil {
		return provision.UDT{}, err
	}
	cl, err := c.svc.Cluster(c.ctx)
	if err != nil {
		return provision.UDT{}, err
	}
	auto := cl.AutoRegistration.UDT
	var fallback *provision.UDT
	for i, t := range udts {
		if pool != "" && t.DevicePool == pool && t.Name != auto {
			return t, nil
		}
		if t.Name == auto || (fallback == nil && i == len(udts)-1) {
			fallback = &udts[i]
		}
	}
	if fallback == nil {
		return provision.UDT{}, serverFault(CodeInvalid, "No universal device template exists to take the phone's settings from")
	}
	return *fallback, nil
}

func addPhone(c *call) (*El, error) {
	n := c.req.Child("phone")
	if n == nil {
		return nil, required("phone")
	}
	name := n.Value("name")
	if name == "" {
		return nil, required("name")
	}
	product := n.Value("product")
	if product == "" {
		return nil, required("product")
	}
	m, ok := modelNamed(c, product)
	if !ok {
		return nil, serverFault(CodeInvalid, "Product "+product+" is not supported: no device pack for it")
	}
	if p := n.Value("protocol"); p != "" && !strings.EqualFold(p, "SIP") {
		return nil, serverFault(CodeInvalid, "Protocol "+p+" is not supported; phones register over SIP")
	}
	udt, err := templateFor(c, n.Value("devicePoolName"))
	if err != nil {
		return nil, err
	}
	settings := udt.DeviceSettings
	if _, err := applySettings(&settings, n); err != nil {
		return nil, err
	}
	var lines []provision.Line
	if ln := n.Child("lines"); ln != nil {
		if lines, err = phoneLines(ln); err != nil {
			return nil, err
		}
	}
	d, err := c.svc.AddDevice(c.ctx, provision.NewDevice{
		Name: name, Model: m.ID, Owner: n.Value("ownerUserName"), Description: n.Value("description"),
		UDT: udt.Name, Lines: lines, Settings: &settings,
	})
	if err != nil {
		return nil, faultOf(err, "Phone")
	}
	return E("return", uuidOf("phone", d.Name)), nil
}

func phoneName(c *call) (string, error) {
	name := c.req.Value("name")
	if name == "" {
		if id := c.req.Value("uuid"); id != "" {
			return phoneByUUID(c, id)
		}
		return "", required("name")
	}
	return name, nil
}

func getPhone(c *call) (*El, error) {
	name, err := phoneName(c)
	if err != nil {
		return nil, err
	}
	d, err := c.svc.Device(c.ctx, name)
	if err != nil {
		return nil, faultOf(err, name)
	}
	m, _ := c.svc.Model(d.Model)
	return P("return", returned(phoneEl(d, m, false), c.req.Child("returnedTags"))), nil
}

func updatePhone(c *call) (*El, error) {
	name, err := phoneName(c)
	if err != nil {
		return nil, err
	}
	if v := c.req.Value("newName"); v != "" && !strings.EqualFold(v, name) {
		return nil, clientFault(CodeUnsupported, "newName is not supported: a phone's name does not change")
	}
	d, err := c.svc.Device(c.ctx, name)
	if err != nil {
		return nil, faultOf(err, name)
	}
	var ch provision.DeviceChange
	if v, ok := value(c.req, "description"); ok {
		ch.Description = &v
	}
	if v, ok := value(c.req, "ownerUserName"); ok {
		ch.Owner = &v
	}
	settings := d.Settings
	changed, err := applySettings(&settings, c.req)
	if err != nil {
		return nil, err
	}
	if changed {
		ch.Settings = &settings
	}
	if lines, ok, err := lineChanges(c.req, d.Lines); err != nil {
		return nil, err
	} else if ok {
		ch.Lines = &lines
	}
	if _, err := c.svc.UpdateDevice(c.ctx, d.Name, ch); err != nil {
		return nil, faultOf(err, name)
	}
	return E("return", uuidOf("phone", d.Name)), nil
}

// lineChanges applies lines (replace), removeLines and addLines, in that
// order, to the phone's appearances.
func lineChanges(req *Node, cur []provision.Line) ([]provision.Line, bool, error) {
	lines := append([]provision.Line(nil), cur...)
	changed := false
	if n := req.Child("lines"); n != nil {
		l, err := phoneLines(n)
		if err != nil {
			return nil, false, err
		}
		lines, changed = l, true
	}
	if n := req.Child("removeLines"); n != nil {
		rm, err := phoneLines(n)
		if err != nil {
			return nil, false, err
		}
		kept := lines[:0:0]
		for _, l := range lines {
			drop := false
			for _, r := range rm {
				drop = drop || (r.DN == l.DN && r.Partition == l.Partition)
			}
			if !drop {
				kept = append(kept, l)
			}
		}
		lines, changed = kept, true
	}
	if n := req.Child("addLines"); n != nil {
		add, err := phoneLines(n)
		if err != nil {
			return nil, false, err
		}
		lines, changed = append(lines, add...), true
	}
	return lines, changed, nil
}

func removePhone(c *call) (*El, error) {
	name, err := phoneName(c)
	if err != nil {
		return nil, err
	}
	if err := c.svc.DeleteDevice(c.ctx, name); err != nil {
		return nil, faultOf(err, name)
	}
	return E("return", uuidOf("phone", name)), nil
}

func listPhone(c *call) (*El, error) {
	crit, err := criteria(c.req, "name", "description", "protocol", "callingSearchSpaceName", "devicePoolName", "securityProfileName")
	if err != nil {
		return nil, err
	}
	pg, err := pageOf(c.req)
	if err != nil {
		return nil, err
	}
	rt := c.req.Child("returnedTags")
	out := P("return")
	i := 0
	f := provision.DeviceFilter{Limit: 1000}
	// A name pattern with a literal start narrows the store's scan.
	if p := crit["name"]; p != "" {
		if j := strings.IndexAny(p, "%_"); j != 0 {
			if j < 0 {
				j = len(p)
			}
			f.NamePrefix = strings.ToUpper(p[:j])
		}
	}
	for {
		ds, err := c.svc.Devices(c.ctx, f)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if !matches(crit, func(k string) string {
				switch k {
				case "name":
					return d.Name
				case "description":
					return d.Description
				case "protocol":
					return d.Protocol
				case "devicePoolName":
					return d.Settings.DevicePool
				case "securityProfileName":
					return d.Settings.SecurityProfile
				}
				return ""
			}) {
				continue
			}
			keep, more := pg.take(i)
			i++
			if keep {
				m, _ := c.svc.Model(d.Model)
				out.Add(returned(phoneEl(d, m, true), rt))
			}
			if !more {
				return out, nil
			}
		}
		if len(ds) < 1000 {
			return out, nil
		}
		f.After = ds[len(ds)-1].Name
	}
}

// reset sends a reset or restart. A phone that is not registered has
// nothing to reset: CUCM answers success, and so does this.
func reset(c *call, name string, action provision.Action) (*El, error) {
	if name == "" {
		return nil, required("name")
	}
	err := c.svc.Notify(c.ctx, name, action)
	if err != nil && !errors.Is(err, provision.ErrNotRegistered) {
		return nil, faultOf(err, name)
	}
	return E("return", uuidOf("phone", name)), nil
}

func doDeviceReset(c *call) (*El, error) {
	action := provision.ActionRestart
	if boolOf(c.req.Value("isHardReset")) || strings.EqualFold(c.req.Value("deviceResetType"), "Reset") {
		action = provision.ActionReset
	}
	return reset(c, c.req.Value("deviceName"), action)
}

func resetPhone(c *call) (*El, error) {
	return reset(c, c.req.Value("name"), provision.ActionReset)
}

func restartPhone(c *call) (*El, error) {
	return reset(c, c.req.Value("name"), provision.ActionRestart)
}

// applyPhone is CUCM's Apply Config: the phone restarts and fetches its
// config.
func applyPhone(c *call) (*El, error) {
	return reset(c, c.req.Value("name"), provision.ActionRestart)
}
