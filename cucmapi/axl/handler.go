// Package axl serves CUCM's AXL SOAP interface: each operation decodes its
// request element, calls the core and encodes CUCM's response element.
// Element names are AXL's own.
package axl

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"selfprov/cucmapi"
	"selfprov/provision"
)

// Versions are the AXL schema versions served; the request's namespace
// picks one.
var Versions = []string{"11.0", "11.5", "12.0", "12.5", "14.0", "15.0"}

// NSPrefix is the AXL namespace without its version.
const NSPrefix = "http://www.cisco.com/AXL/API/"

// Options configure a Handler.
type Options struct {
	Service *provision.Service
	Logger  *slog.Logger
	// Limits bound request decoding; the zero value is DefaultLimits.
	Limits Limits
	// NodeName names this node, the one CallManager ("CM_<NodeName>").
	NodeName string
	// MaxWritesPerMinute emulates CUCM's MaxAXLWritesPerMinute (20 by
	// default there): add, update, remove and reset operations over it
	// are refused for the rest of the minute. 0 means no limit.
	MaxWritesPerMinute int
	// Now is the clock of the limit; nil is time.Now.
	Now func() time.Time
	// Registerer takes the selfprov_axl_* metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Handler serves AXL requests.
type Handler struct {
	svc    *provision.Service
	log    *slog.Logger
	limits Limits
	node   string
	writes *cucmapi.Throttle
	m      *metrics
}

// New returns a Handler.
func New(o Options) (*Handler, error) {
	if o.Service == nil {
		return nil, errors.New("axl: a core service is required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits
	}
	if o.NodeName == "" {
		o.NodeName = "selfprov"
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	return &Handler{svc: o.Service, log: o.Logger, limits: o.Limits, node: o.NodeName,
		writes: cucmapi.NewThrottle(o.MaxWritesPerMinute, o.Now), m: m}, nil
}

// soapAction is CUCM's SOAPAction: "CUCM:DB ver=14.0 getPhone".
var soapAction = regexp.MustCompile(`^"?CUCM:DB ver=([0-9]+\.[0-9]+) ([A-Za-z0-9]+)"?$`)

// call is one request being served.
type call struct {
	ctx     context.Context
	svc     *provision.Service
	req     *Node
	op      string
	version string
	node    string
	source  netip.Addr
}

type operation func(c *call) (*El, error)

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	op, f := h.serve(w, r)
	if f != nil {
		h.writeFault(w, f, op)
	}
	code := "OK"
	if f != nil {
		code = strconv.Itoa(f.AXLCode)
	}
	d := time.Since(start)
	h.m.requests.WithLabelValues(opLabel(op), code).Inc()
	h.m.duration.WithLabelValues(opLabel(op)).Observe(d.Seconds())
	h.log.Debug("axl request", "op", op, "remote_addr", r.RemoteAddr, "code", code, "duration_seconds", d.Seconds())
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (string, *Fault) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET, POST")
		return "", &Fault{HTTPStatus: http.StatusMethodNotAllowed, Code: "soapenv:Client", AXLCode: CodeUnsupported, Message: "AXL takes SOAP requests by POST"}
	}
	if r.ContentLength > h.limits.MaxBytes {
		return "", &Fault{HTTPStatus: http.StatusRequestEntityTooLarge, Code: "soapenv:Client", AXLCode: CodeInvalid, Message: "The request is larger than " + strconv.FormatInt(h.limits.MaxBytes, 10) + " bytes"}
	}
	if f := h.authenticate(r); f != nil {
		if f.HTTPStatus == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="Cisco AXL"`)
		}
		return "", f
	}
	if r.Method == http.MethodGet {
		// Rigs check that AXL answers with a GET, as CUCM's page says.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, "<html><head><title>Cisco CallManager: AXL Web Service</title></head><body><h1>Cisco CallManager: AXL Web Service</h1>"+
			"<p>The AXL Web Service is working and accepting requests. Use HTTP POST to send a request.</p></body></html>\n")
		return "", nil
	}
	action := r.Header.Get("SOAPAction")
	m := soapAction.FindStringSubmatch(strings.TrimSpace(action))
	if action == "" {
		return "", clientFault(CodeUnsupported, "The SOAPAction header is required, as \"CUCM:DB ver=<version> <operation>\"")
	}
	req, err := DecodeEnvelope(r.Body, h.limits)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return "", &Fault{HTTPStatus: http.StatusRequestEntityTooLarge, Code: "soapenv:Client", AXLCode: CodeInvalid, Message: "The request is larger than " + strconv.FormatInt(h.limits.MaxBytes, 10) + " bytes"}
		}
		return "", clientFault(CodeInvalid, "%s", err.Error())
	}
	op := req.Name
	version, ok := strings.CutPrefix(req.Space, NSPrefix)
	if !ok || !supported(version) {
		return op, clientFault(CodeUnsupported, "The namespace %q is not an AXL namespace this server serves (%s%s)", req.Space, NSPrefix, strings.Join(Versions, ", "))
	}
	if m == nil || m[2] != op {
		return op, clientFault(CodeUnsupported, "The SOAPAction %q does not name the operation %s", action, op)
	}
	fn, ok := operations[op]
	if !ok {
		return op, clientFault(CodeUnsupported, "The operation %s is not supported by this server", op)
	}
	if isWrite(op) {
		if ok, retry := h.writes.Allow(); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())+1))
			return op, &Fault{HTTPStatus: http.StatusServiceUnavailable, Code: "soapenv:Server", AXLCode: CodeThrottled,
				Message: "AXL write rejected: more than the allowed writes per minute (MaxAXLWritesPerMinute); retry later"}
		}
	}
	resp, err := fn(&call{ctx: r.Context(), svc: h.svc, req: req, op: op, version: version, node: h.node,
		source: provision.ParseSource(r.RemoteAddr)})
	if err != nil {
		f := faultOf(err, "")
		if f.AXLCode == CodeInternal {
			h.log.Error("axl operation failed", "op", op, "err", err)
		}
		return op, f
	}
	res := P("ns:"+op+"Response", resp).Attr("xmlns:ns", NSPrefix+version)
	if seq := attr(req, "sequence"); seq != "" {
		res.Attr("sequence", seq)
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(Envelope(res))
	return op, nil
}

func (h *Handler) authenticate(r *http.Request) *Fault {
	auth := r.Header.Get("Authorization")
	user, pass, ok := r.BasicAuth()
	if auth == "" || !ok || user == "" {
		return &Fault{HTTPStatus: http.StatusUnauthorized, Code: "soapenv:Client", AXLCode: CodeAuth, Message: "Authentication required: HTTP Basic with an application user's ID and password"}
	}
	_, err := h.svc.AuthenticateApp(r.Context(), provision.Credentials{UserID: user, Secret: pass, Source: provision.ParseSource(r.RemoteAddr)}, provision.RoleAXL)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, provision.ErrAccessDenied):
		return &Fault{HTTPStatus: http.StatusForbidden, Code: "soapenv:Client", AXLCode: http.StatusForbidden, Message: "The application user does not have the Standard AXL API Access role"}
	case errors.Is(err, provision.ErrAuthFailed):
		return &Fault{HTTPStatus: http.StatusUnauthorized, Code: "soapenv:Client", AXLCode: CodeAuth, Message: "Authentication failed: unknown application user or wrong password"}
	case errors.Is(err, provision.ErrTooManyAttempts):
		return &Fault{HTTPStatus: http.StatusTooManyRequests, Code: "soapenv:Client", AXLCode: CodeAuth, Message: "Too many failed logins from this address; try again later"}
	}
	return faultOf(err, "")
}

func (h *Handler) writeFault(w http.ResponseWriter, f *Fault, op string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(f.HTTPStatus)
	w.Write(Envelope(f.body(op)))
}

// isWrite tells the operations CUCM's write limit counts.
func isWrite(op string) bool {
	for _, p := range []string{"add", "update", "remove", "do", "reset", "restart", "apply"} {
		if strings.HasPrefix(op, p) && op != "doAuthenticateUser" {
			return true
		}
	}
	return false
}

func supported(v string) bool {
	for _, s := range Versions {
		if s == v {
			return true
		}
	}
	return false
}

func attr(n *Node, name string) string {
	for _, a := range n.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}
