// Package risport serves RisPort70, CUCM's real-time registration view:
// selectCmDevice and selectCmDeviceExt answer from the registrar's live
// bindings and the core's devices, with CUCM's selection criteria.
package risport

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/cucmapi"
	"selfprov/cucmapi/axl"
	"selfprov/provision"
)

// NS is RisPort's SOAP namespace.
const NS = "http://schemas.cisco.com/ast/soap"

// Binding is a live registration, as the registrar holds it.
type Binding struct {
	DeviceName string
	Source     string // ip:port the REGISTER came from
	Transport  string
	UserAgent  string
	Expires    time.Time
}

// Options configure a Handler.
type Options struct {
	Service *provision.Service
	// Bindings lists the live registrations; nil means none.
	Bindings func() []Binding
	// NodeName is this node's name in CmNodes (CUCM's server name).
	NodeName string
	Logger   *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// MaxQueriesPerMinute emulates CUCM's Allowed Device Queries Per
	// Minute (15 by default there); 0 means no limit.
	MaxQueriesPerMinute int
	// Registerer takes the selfprov_risport_* metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Handler serves RisPort70 requests.
type Handler struct {
	o       Options
	queries *cucmapi.Throttle
	m       *metrics
	mu      sync.Mutex
	// seen remembers, per device, when it was first seen registered and,
	// once its binding is gone, when that was noticed: CUCM lists a
	// device that left as UnRegistered. Bounded by maxRemembered.
	seen map[string]*state
}

type state struct {
	binding  Binding
	since    time.Time // first seen in this state
	gone     bool
	lastSeen time.Time
}

// maxRemembered bounds the devices remembered after they left.
const maxRemembered = 100_000

// MaxReturnedDevices is the most one query returns, CUCM's RisPort70 bound.
const MaxReturnedDevices = 2000

// New returns a Handler.
func New(o Options) (*Handler, error) {
	if o.Service == nil {
		return nil, errors.New("risport: a core service is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.NodeName == "" {
		o.NodeName = "selfprov"
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Handler{o: o, seen: map[string]*state{}, queries: cucmapi.NewThrottle(o.MaxQueriesPerMinute, o.Now), m: m}, nil
}

// fault is a RisPort SOAP fault.
type fault struct {
	status int
	code   string
	msg    string
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	op := "_other"
	body, f := h.serve(r, &op)
	status := http.StatusOK
	if f != nil {
		status = f.status
	}
	h.m.requests.WithLabelValues(op, strconv.Itoa(status)).Inc()
	h.m.duration.Observe(time.Since(start).Seconds())
	if f != nil {
		if f.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="Cisco RisPort"`)
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(f.status)
		w.Write(axl.Envelope(axl.P("soapenv:Fault", axl.E("faultcode", f.code), axl.E("faultstring", f.msg))))
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(axl.Envelope(body))
}

func clientFault(msg string) *fault {
	return &fault{status: http.StatusInternalServerError, code: "soapenv:Client", msg: msg}
}

func (h *Handler) serve(r *http.Request, op *string) (*axl.El, *fault) {
	if r.Method != http.MethodPost {
		return nil, &fault{status: http.StatusMethodNotAllowed, code: "soapenv:Client", msg: "RisPort70 takes SOAP requests by POST"}
	}
	limits := axl.DefaultLimits
	if r.ContentLength > limits.MaxBytes {
		return nil, &fault{status: http.StatusRequestEntityTooLarge, code: "soapenv:Client", msg: "The request is too large"}
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user == "" {
		return nil, &fault{status: http.StatusUnauthorized, code: "soapenv:Client", msg: "Authentication required: HTTP Basic with an application user's ID and password"}
	}
	_, err := h.o.Service.AuthenticateApp(r.Context(), provision.Credentials{UserID: user, Secret: pass, Source: provision.ParseSource(r.RemoteAddr)}, provision.RoleRealtime)
	switch {
	case errors.Is(err, provision.ErrAccessDenied):
		return nil, &fault{status: http.StatusForbidden, code: "soapenv:Client", msg: "The application user may not read real-time information"}
	case errors.Is(err, provision.ErrTooManyAttempts):
		return nil, &fault{status: http.StatusTooManyRequests, code: "soapenv:Client", msg: "Too many failed logins from this address; try again later"}
	case err != nil:
		return nil, &fault{status: http.StatusUnauthorized, code: "soapenv:Client", msg: "Authentication failed: unknown application user or wrong password"}
	}
	if r.Header.Get("SOAPAction") == "" {
		return nil, clientFault("The SOAPAction header is required")
	}
	req, err := axl.DecodeEnvelope(r.Body, limits)
	if errors.Is(err, axl.ErrTooLarge) {
		return nil, &fault{status: http.StatusRequestEntityTooLarge, code: "soapenv:Client", msg: "The request is too large"}
	}
	if err != nil {
		return nil, clientFault(err.Error())
	}
	if req.Space != NS {
		return nil, clientFault("The namespace " + strconv.Quote(req.Space) + " is not the RisPort namespace (" + NS + ")")
	}
	switch req.Name {
	case "selectCmDevice", "selectCmDeviceExt":
		*op = req.Name
	default:
		return nil, clientFault("The operation " + req.Name + " is not supported by this server")
	}
	if ok, _ := h.queries.Allow(); !ok {
		// CUCM's words, its spelling included.
		return nil, &fault{status: http.StatusInternalServerError, code: "soapenv:Server.RateControl",
			msg: "Exceeded allowed rate for Reatime information. Current allowed rate for realtime information is " +
				strconv.Itoa(h.o.MaxQueriesPerMinute) + " requests per minute.SOAP client needs to slow down the rate."}
	}
	c, f := parseCriteria(req)
	if f != nil {
		return nil, f
	}
	res, err := h.selectCmDevice(r.Context(), c)
	if err != nil {
		h.o.Logger.Error("risport query failed", "err", err)
		return nil, &fault{status: http.StatusInternalServerError, code: "soapenv:Server", msg: "Internal error"}
	}
	// The clients read selectCmDeviceResponse for both operations.
	return axl.P("ns1:selectCmDeviceResponse", res).Attr("xmlns:ns1", NS), nil
}

// criteria is a CmSelectionCriteria.
type criteria struct {
	max       int
	class     string
	model     int // 255: any
	status    string
	node      string
	selectBy  string
	items     []string
	protocol  string
	stateInfo string
}

var statuses = []string{"Any", "Registered", "UnRegistered", "Rejected", "PartiallyRegistered", "Unknown"}

func parseCriteria(req *axl.Node) (criteria, *fault) {
	cs := req.Child("CmSelectionCriteria")
	if cs == nil {
		return criteria{}, clientFault("CmSelectionCriteria is required")
	}
	c := criteria{
		max: 1000, class: cs.Value("DeviceClass"), model: 255, status: cs.Value("Status"), node: cs.Value("NodeName"),
		selectBy: cs.Value("SelectBy"), protocol: cs.Value("Protocol"), stateInfo: req.Value("StateInfo"),
	}
	if v := cs.Value("MaxReturnedDevices"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, clientFault("MaxReturnedDevices " + strconv.Quote(v) + " is not a whole number")
		}
		c.max = min(n, MaxReturnedDevices)
	}
	if v := cs.Value("Model"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return c, clientFault("Model " + strconv.Quote(v) + " is not a model number (255 for any)")
		}
		c.model = n
	}
	if c.status == "" {
		c.status = "Any"
	}
	if !slices.Contains(statuses, c.status) {
		return c, clientFault("Status " + strconv.Quote(c.status) + " is not one of " + strings.Join(statuses, ", "))
	}
	if c.selectBy == "" {
		c.selectBy = "Name"
	}
	switch c.selectBy {
	case "Name", "DirNumber", "IPV4Address", "IPV6Address", "Description":
	default:
		return c, clientFault("SelectBy " + strconv.Quote(c.selectBy) + " is not supported (Name, DirNumber, IPV4Address, IPV6Address, Description)")
	}
	if si := cs.Child("SelectItems"); si != nil {
		for _, it := range si.Kids {
			if v := it.Value("Item"); v != "" && v != "*" {
				c.items = append(c.items, v)
			}
		}
	}
	return c, nil
}

// device is one row of the answer.
type device struct {
	name, status, ip, description, owner string
	model                                int
	lines                                []string
	since                                time.Time
}

// snapshot records the bindings of now and returns every device to
// report: those bound, and those remembered as gone.
func (h *Handler) snapshot() []state {
	var bs []Binding
	if h.o.Bindings != nil {
		bs = h.o.Bindings()
	}
	now := h.o.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	live := make(map[string]bool, len(bs))
	for _, b := range bs {
		live[b.DeviceName] = true
		st := h.seen[b.DeviceName]
		if st == nil || st.gone {
			st = &state{since: now}
			h.seen[b.DeviceName] = st
		}
		st.binding, st.lastSeen = b, now
	}
	for name, st := range h.seen {
		if !live[name] && !st.gone {
			st.gone, st.since = true, now
		}
	}
	if len(h.seen) > maxRemembered+len(bs) {
		h.forgetOldest(len(h.seen) - maxRemembered - len(bs))
	}
	out := make([]state, 0, len(h.seen))
	for _, st := range h.seen {
		out = append(out, *st)
	}
	return out
}

// forgetOldest drops n of the devices that left, those gone longest.
func (h *Handler) forgetOldest(n int) {
	var gone []string
	for name, st := range h.seen {
		if st.gone {
			gone = append(gone, name)
		}
	}
	slices.SortFunc(gone, func(a, b string) int { return h.seen[a].since.Compare(h.seen[b].since) })
	for _, name := range gone[:min(n, len(gone))] {
		delete(h.seen, name)
	}
}

func (h *Handler) selectCmDevice(ctx context.Context, c criteria) (*axl.El, error) {
	if c.node != "" && !strings.EqualFold(c.node, h.o.NodeName) {
		return result(h.o.NodeName, 0, nil, ""), nil
	}
	if c.class != "" && c.class != "Any" && c.class != "Phone" {
		return result(h.o.NodeName, 0, nil, ""), nil
	}
	if c.protocol != "" && c.protocol != "Any" && c.protocol != "SIP" {
		return result(h.o.NodeName, 0, nil, ""), nil
	}
	states := h.snapshot()
	slices.SortFunc(states, func(a, b state) int { return cmp.Compare(a.binding.DeviceName, b.binding.DeviceName) })
	after, _ := strings.CutPrefix(c.stateInfo, "after:")
	var found []device
	total, remaining := 0, 0
	for _, st := range states {
		status := "Registered"
		if st.gone {
			status = "UnRegistered"
		}
		if c.status != "Any" && c.status != status {
			continue
		}
		// Cheap criteria first; the device is read only when they pass.
		if c.selectBy == "Name" && !anyItem(c.items, st.binding.DeviceName) {
			continue
		}
		ip := hostOf(st.binding.Source)
		if c.selectBy == "IPV4Address" && (!strings.Contains(ip, ".") || !anyItem(c.items, ip)) {
			continue
		}
		if c.selectBy == "IPV6Address" && (!strings.Contains(ip, ":") || !anyItem(c.items, ip)) {
			continue
		}
		d, err := h.o.Service.Device(ctx, st.binding.DeviceName)
		if errors.Is(err, provision.ErrDeviceNotFound) || errors.Is(err, provision.ErrNotFound) {
			continue // deleted since it registered
		}
		if err != nil {
			return nil, err
		}
		if c.model != 255 && d.Model != c.model {
			continue
		}
		var dns []string
		for _, l := range d.Lines {
			dns = append(dns, l.DN)
		}
		if c.selectBy == "DirNumber" && !slices.ContainsFunc(dns, func(dn string) bool { return anyItem(c.items, dn) }) {
			continue
		}
		if c.selectBy == "Description" && !anyItem(c.items, d.Description) {
			continue
		}
		total++
		if d.Name <= after {
			continue
		}
		if remaining++; len(found) >= c.max {
			continue
		}
		found = append(found, device{name: d.Name, status: status, ip: ip, description: d.Description,
			owner: d.Owner, model: d.Model, lines: dns, since: st.since})
	}
	next := ""
	if remaining > len(found) && len(found) > 0 {
		next = "after:" + found[len(found)-1].name
	}
	return result(h.o.NodeName, total, found, next), nil
}

// anyItem reports whether s matches one of the items ('*' any run of
// characters, case-insensitively); no items match everything.
func anyItem(items []string, s string) bool {
	if len(items) == 0 {
		return true
	}
	for _, it := range items {
		if wildcard(strings.ToLower(it), strings.ToLower(s)) {
			return true
		}
	}
	return false
}

// wildcard matches p's '*' against any run of characters, linearly.
func wildcard(p, s string) bool {
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// result renders selectCmDeviceReturn for one node.
func result(node string, total int, devices []device, stateInfo string) *axl.El {
	cmDevices := axl.P("CmDevices")
	for _, d := range devices {
		dirs := make([]string, len(d.lines))
		lines := axl.P("LinesStatus")
		for i, dn := range d.lines {
			dirs[i] = dn + "-" + d.status
			lines.Add(axl.P("item", axl.E("DirectoryNumber", dn), axl.E("Status", d.status)))
		}
		ipType := "ipv4"
		if strings.Contains(d.ip, ":") {
			ipType = "ipv6"
		}
		model := strconv.Itoa(d.model)
		cmDevices.Add(axl.P("item",
			axl.E("Name", d.name),
			axl.E("DirNumber", strings.Join(dirs, ",")),
			axl.E("DeviceClass", "Phone"),
			axl.E("Protocol", "SIP"),
			axl.E("Model", model),
			axl.E("Product", model),
			axl.E("BoxProduct", "0"),
			axl.E("Httpd", "Yes"),
			axl.E("RegistrationAttempts", "0"),
			axl.E("IsCtiControllable", "true"),
			axl.E("LoginUserId", d.owner),
			axl.E("Status", d.status),
			axl.E("StatusReason", "0"),
			axl.E("PerfMonObject", "2"),
			axl.E("DChannel", "0"),
			axl.E("Description", d.description),
			axl.E("TimeStamp", strconv.FormatInt(d.since.Unix(), 10)),
			axl.E("NumOfLines", strconv.Itoa(len(d.lines))),
			lines,
			axl.E("DownloadStatus", "Unknown"),
			axl.P("IPAddress", axl.P("item", axl.E("IP", d.ip), axl.E("IPAddrType", ipType), axl.E("Attribute", "Unknown"))),
		))
	}
	return axl.P("selectCmDeviceReturn",
		axl.P("SelectCmDeviceResult",
			axl.E("TotalDevicesFound", strconv.Itoa(total)),
			axl.P("CmNodes", axl.P("item",
				axl.E("ReturnCode", "Ok"),
				axl.E("Name", node),
				axl.E("NoChange", "false"),
				cmDevices,
			)),
		),
		axl.E("StateInfo", stateInfo),
	)
}
