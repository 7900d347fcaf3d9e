// Package phonesimtest is a small in-memory cluster speaking the phone side
// of the wire (TFTP, HTTP 6970, SIP registrar with auto-registration and
// service-control NOTIFY, self-provisioning screens, client
// auto-provisioning) for testing phonesim without the daemon. It binds
// 127.0.0.1:0 and keeps everything in memory.
package phonesimtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/pin/tftp/v3"

	"selfprov/clientapi"
	"selfprov/phonecfg"
	"selfprov/phonexml"
)

// User is a cluster user.
type User struct {
	ID, PIN, Extension string
}

// Device is what the cluster knows of a phone.
type Device struct {
	Name    string
	DN      string
	Contact string
	Owner   string
	Version int
}

// Binding is a live registration.
type Binding struct {
	CallID    string
	AOR       string
	Transport string
	src       *net.UDPAddr
	conn      net.Conn
	Registers int // REGISTERs seen on this binding, refreshes included
}

// NotifyResult is a phone's answer to a service-control NOTIFY.
type NotifyResult struct {
	Device string
	Action string
	Status int
}

// Cluster is the fake.
type Cluster struct {
	TFTPAddr    string // host:port
	HTTPAddr    string // host:port of the config mirror
	SIPAddr     string // host:port, UDP and TCP
	ServicesURL string // http://host:port

	mu       sync.Mutex
	opts     Options
	users    map[string]User
	devices  map[string]*Device
	bindings map[string]*Binding
	tokens   map[string]string // token -> device|user
	nextDN   int
	notifies chan NotifyResult
	cseq     int

	udp   *net.UDPConn
	tcp   net.Listener
	tftp  *tftp.Server
	tconn net.PacketConn
	cfgS  *http.Server
	svcS  *http.Server
	wg    sync.WaitGroup
}

// Options change how the cluster behaves; see Set.
type Options struct {
	// AutoRegistrationOff serves no XMLDefault and refuses unknown phones
	// with 403 AUTOREG_DISABLED.
	AutoRegistrationOff bool
	// Expires is granted to REGISTERs (default 120).
	Expires int
	// Transport is written into device configs (default tcp).
	Transport string
	// NoHTTPConfig makes the 6970 mirror answer 404, forcing TFTP.
	NoHTTPConfig bool
	// NotifyCallID, if set, replaces the RegisterCallId of NOTIFYs.
	NotifyCallID string
	// Refuse answers this many REGISTERs with 503 and Retry-After: 0.
	Refuse int
}

// Set changes the options while the cluster runs.
func (c *Cluster) Set(fn func(*Options)) {
	c.mu.Lock()
	fn(&c.opts)
	c.mu.Unlock()
}

func (c *Cluster) options() Options {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.opts
	if o.Expires <= 0 {
		o.Expires = 120
	}
	if o.Transport == "" {
		o.Transport = "tcp"
	}
	return o
}

// Start starts a cluster with auto-registration on and the given users.
func Start(users ...User) (*Cluster, error) {
	c := &Cluster{
		users: map[string]User{}, devices: map[string]*Device{}, bindings: map[string]*Binding{},
		tokens: map[string]string{}, nextDN: 1000, notifies: make(chan NotifyResult, 100000)}
	for _, u := range users {
		c.users[u.ID] = u
	}
	var err error
	// UDP and TCP on one port, as phones expect; retry when the TCP side
	// of the kernel's pick is taken.
	for range 20 {
		if c.udp, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			return nil, err
		}
		c.SIPAddr = c.udp.LocalAddr().String()
		if c.tcp, err = net.Listen("tcp", c.SIPAddr); err == nil {
			break
		}
		c.udp.Close()
	}
	if err != nil {
		return nil, err
	}
	if c.tconn, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
		c.Close()
		return nil, err
	}
	c.TFTPAddr = c.tconn.LocalAddr().String()
	c.tftp = tftp.NewServer(c.tftpRead, nil)
	c.tftp.SetTimeout(time.Second)
	cfgLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.Close()
		return nil, err
	}
	c.HTTPAddr = cfgLn.Addr().String()
	svcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cfgLn.Close()
		c.Close()
		return nil, err
	}
	c.ServicesURL = "http://" + svcLn.Addr().String()
	c.cfgS = &http.Server{Handler: http.HandlerFunc(c.serveConfig), ReadHeaderTimeout: 5 * time.Second}
	mux := http.NewServeMux()
	mux.HandleFunc("/xps/idle", c.idle)
	mux.HandleFunc("/xps/login", c.login)
	mux.HandleFunc("/xps/confirm", c.confirm)
	mux.HandleFunc("POST "+clientapi.PathCreateDevice, c.createDevice)
	c.svcS = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	c.wg.Add(5)
	go func() { defer c.wg.Done(); c.readUDP() }()
	go func() { defer c.wg.Done(); c.acceptTCP() }()
	go func() { defer c.wg.Done(); _ = c.tftp.Serve(c.tconn) }()
	go func() { defer c.wg.Done(); _ = c.cfgS.Serve(cfgLn) }()
	go func() { defer c.wg.Done(); _ = c.svcS.Serve(svcLn) }()
	return c, nil
}

// Close stops everything.
func (c *Cluster) Close() {
	if c.tftp != nil {
		c.tftp.Shutdown()
	}
	if c.cfgS != nil {
		c.cfgS.Close()
		c.svcS.Close()
	}
	if c.tcp != nil {
		c.tcp.Close()
	}
	if c.udp != nil {
		c.udp.Close()
	}
	c.mu.Lock()
	for _, b := range c.bindings {
		if b.conn != nil {
			b.conn.Close()
		}
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// Device returns a copy of a device.
func (c *Cluster) Device(name string) (Device, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.devices[name]
	if !ok {
		return Device{}, false
	}
	return *d, true
}

// Binding returns a copy of a device's binding.
func (c *Cluster) Binding(name string) (Binding, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.bindings[name]
	if !ok {
		return Binding{}, false
	}
	return *b, true
}

// SourceIP is the address the binding's REGISTERs came from.
func (b Binding) SourceIP() string {
	switch {
	case b.src != nil:
		return b.src.IP.String()
	case b.conn != nil:
		host, _, _ := net.SplitHostPort(b.conn.RemoteAddr().String())
		return host
	}
	return ""
}

// Notifies delivers the phones' answers to NOTIFYs.
func (c *Cluster) Notifies() <-chan NotifyResult { return c.notifies }

// Touch changes a device's config version stamp.
func (c *Cluster) Touch(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.devices[name]; d != nil {
		d.Version++
	}
}

// DropConnections closes every SIP TCP connection, as a restarting
// registrar would.
func (c *Cluster) DropConnections() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bindings {
		if b.conn != nil {
			b.conn.Close()
		}
	}
}

// Reset sends a service-control NOTIFY with action to a registered device.
func (c *Cluster) Reset(name, action string) error {
	c.mu.Lock()
	b, ok := c.bindings[name]
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s is not registered", name)
	}
	c.notify(name, b, action)
	return nil
}

// --- config delivery

var macName = regexp.MustCompile(`(?i)^SEP[0-9A-F]{12}$`)

func (c *Cluster) file(name string) ([]byte, bool) {
	o := c.options()
	if strings.EqualFold(name, phonecfg.DefaultFile) {
		if o.AutoRegistrationOff {
			return nil, false
		}
		host, port, _ := net.SplitHostPort(c.SIPAddr)
		p, _ := strconv.Atoi(port)
		b, err := phonecfg.RenderDefault(phonecfg.Default{CallManagerGroup: "Default",
			CallManagers: []phonecfg.CallManager{{Host: host, SIPPort: p}}, AutoRegistration: true,
			Loads: []phonecfg.Load{{Model: 36224, ModelName: "Cisco 8845", Load: "sip8845_65.14-2-1-0201-10"}}})
		return b, err == nil
	}
	dev, ok := strings.CutSuffix(name, phonecfg.Suffix)
	if !ok {
		return nil, false
	}
	c.mu.Lock()
	d, ok := c.devices[strings.ToUpper(dev)]
	var cp Device
	if ok {
		cp = *d
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	host, port, _ := net.SplitHostPort(c.SIPAddr)
	p, _ := strconv.Atoi(port)
	cfg := phonecfg.Device{Name: cp.Name, DevicePool: "Default", CallManagerGroup: "Default",
		CallManagers: []phonecfg.CallManager{{Host: host, SIPPort: p}}, Transport: o.Transport,
		RegisterExpires: 3600, VersionStamp: fmt.Sprintf("%d-%s", cp.Version, cp.Contact),
		Lines: []phonecfg.Line{{Button: 1, DN: cp.DN, Label: cp.DN, DisplayName: cp.DN, Contact: cp.Contact}}}
	if cp.Owner == "" && macName.MatchString(cp.Name) {
		cfg.IdleURL = c.ServicesURL + "/xps/idle?name=" + cp.Name
		cfg.IdleTimeout = 5
	}
	b, err := phonecfg.RenderDevice(cfg)
	return b, err == nil
}

func (c *Cluster) tftpRead(name string, rf io.ReaderFrom) error {
	b, ok := c.file(name)
	if !ok {
		return errors.New("file not found")
	}
	_, err := rf.ReadFrom(bytes.NewReader(b))
	return err
}

func (c *Cluster) serveConfig(w http.ResponseWriter, r *http.Request) {
	b, ok := c.file(strings.TrimPrefix(r.URL.Path, "/"))
	if !ok || c.options().NoHTTPConfig {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Write(b)
}

// --- SIP

func (c *Cluster) readUDP() {
	buf := make([]byte, 65535)
	p := sip.NewParser()
	for {
		n, src, err := c.udp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg, err := p.ParseSIP(buf[:n])
		if err != nil {
			continue
		}
		c.handle(msg, src, nil)
	}
}

func (c *Cluster) acceptTCP() {
	for {
		conn, err := c.tcp.Accept()
		if err != nil {
			return
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer conn.Close()
			stream := sip.NewParser().NewSIPStream()
			buf := make([]byte, 65535)
			for {
				n, err := conn.Read(buf)
				if err != nil {
					return
				}
				stream.Write(buf[:n])
				for stream.Buffer().Len() > 0 {
					msg, _, err := stream.ParseNext()
					if err != nil {
						break
					}
					c.handle(msg, nil, conn)
				}
			}
		}()
	}
}

func (c *Cluster) send(b []byte, src *net.UDPAddr, conn net.Conn) {
	if conn != nil {
		conn.Write(b)
		return
	}
	c.udp.WriteToUDP(b, src)
}

var devParam = regexp.MustCompile(`devicename\.ccm\.cisco\.com="([^"]+)"`)

func (c *Cluster) handle(msg sip.Message, src *net.UDPAddr, conn net.Conn) {
	if res, ok := msg.(*sip.Response); ok {
		if res.CSeq() != nil && res.CSeq().MethodName == sip.NOTIFY {
			parts := strings.SplitN(res.CallID().Value(), "|", 3)
			if len(parts) == 3 {
				c.notifies <- NotifyResult{Device: parts[1], Action: parts[2], Status: res.StatusCode}
			}
		}
		return
	}
	req := msg.(*sip.Request)
	if req.Method != sip.REGISTER {
		c.send([]byte(sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil).String()), src, conn)
		return
	}
	m := devParam.FindStringSubmatch(req.String())
	if m == nil {
		c.send([]byte(sip.NewResponseFromRequest(req, 400, "No Device Identity", nil).String()), src, conn)
		return
	}
	name := strings.ToUpper(m[1])
	o := c.options()
	expires := 3600
	if h := req.GetHeader("Expires"); h != nil {
		expires, _ = strconv.Atoi(h.Value())
	}
	c.mu.Lock()
	if c.opts.Refuse > 0 {
		c.opts.Refuse--
		c.mu.Unlock()
		res := sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", "0"))
		c.send([]byte(res.String()), src, conn)
		return
	}
	d, known := c.devices[name]
	created := false
	if !known {
		if o.AutoRegistrationOff || !macName.MatchString(name) {
			c.mu.Unlock()
			res := sip.NewResponseFromRequest(req, 403, "Forbidden", nil)
			res.AppendHeader(sip.NewHeader("Warning", `399 fake "AUTOREG_DISABLED"`))
			c.send([]byte(res.String()), src, conn)
			return
		}
		d = &Device{Name: name, DN: strconv.Itoa(c.nextDN), Contact: fmt.Sprintf("auto-%d", c.nextDN)}
		c.nextDN++
		c.devices[name] = d
		created = true
	}
	var b *Binding
	if expires == 0 {
		delete(c.bindings, name)
	} else {
		b = c.bindings[name]
		if b == nil || b.CallID != req.CallID().Value() {
			b = &Binding{CallID: req.CallID().Value()}
			c.bindings[name] = b
		}
		b.AOR = req.To().Address.User
		b.Transport = req.Transport()
		b.src, b.conn = src, conn
		b.Registers++
	}
	c.mu.Unlock()
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.To().Params.Add("tag", "fake")
	granted := min(expires, o.Expires)
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(granted)))
	c.send([]byte(res.String()), src, conn)
	if created {
		go c.notify(name, b, "restart")
	}
}

func (c *Cluster) notify(name string, b *Binding, action string) {
	o := c.options()
	c.mu.Lock()
	c.cseq++
	cseq := c.cseq
	// The binding is read under the lock: the phone may register again
	// meanwhile.
	aor, src, conn := b.AOR, b.src, b.conn
	contactUser := name
	if d := c.devices[name]; d != nil && aor == d.DN {
		contactUser = d.Contact
	}
	callID := b.CallID
	if o.NotifyCallID != "" {
		callID = o.NotifyCallID
	}
	c.mu.Unlock()
	tp := "UDP"
	if conn != nil {
		tp = "TCP"
	}
	body := fmt.Sprintf("action=%s\r\nRegisterCallId={%s}\r\nConfigVersionStamp={00000000-0000-0000-0000-000000000000}\r\nDialplanVersionStamp={00000000-0000-0000-0000-000000000000}\r\nSoftkeyVersionStamp={00000000-0000-0000-0000-000000000000}\r\n", action, callID)
	host := hostOnly(c.SIPAddr)
	msg := fmt.Sprintf("NOTIFY sip:%s@%s SIP/2.0\r\nVia: SIP/2.0/%s %s;branch=z9hG4bKfake%d\r\nFrom: <sip:%s>;tag=fake%d\r\nTo: <sip:%s@%s>\r\nCall-ID: n%d|%s|%s\r\nCSeq: %d NOTIFY\r\nMax-Forwards: 70\r\nEvent: service-control\r\nSubscription-State: active\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
		contactUser, host, tp, c.SIPAddr, cseq, host, cseq, aor, host, cseq, name, action, cseq, len(body), body)
	c.send([]byte(msg), src, conn)
}

func hostOnly(hp string) string {
	h, _, _ := net.SplitHostPort(hp)
	return h
}

// --- self-provisioning screens

func (c *Cluster) render(w http.ResponseWriter, obj phonexml.Object) {
	b, err := phonexml.Render(obj)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Header().Set("Content-Type", phonexml.ContentType)
	w.Write(b)
}

func (c *Cluster) idle(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	c.render(w, &phonexml.Input{Title: "Self Provisioning", Prompt: "Enter user ID and PIN",
		URL: c.ServicesURL + "/xps/login?name=" + name,
		Items: []phonexml.InputItem{
			{DisplayName: "User ID", QueryStringParam: "userid", InputFlags: "A"},
			{DisplayName: "PIN", QueryStringParam: "pin", InputFlags: "NP"},
		}})
}

func (c *Cluster) login(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name, id, pin := q.Get("name"), q.Get("userid"), q.Get("pin")
	c.mu.Lock()
	u, ok := c.users[id]
	d := c.devices[name]
	c.mu.Unlock()
	if !ok || u.PIN != pin {
		c.render(w, &phonexml.Text{Title: "Self Provisioning", Text: "Wrong user ID or PIN (AUTH_FAILED)",
			SoftKeys: []phonexml.SoftKeyItem{{Name: "Exit", URL: "SoftKey:Exit", Position: 1}}})
		return
	}
	if d == nil || d.Owner != "" {
		c.render(w, &phonexml.Text{Title: "Self Provisioning", Text: "DEVICE_NOT_AUTO_REGISTERED",
			SoftKeys: []phonexml.SoftKeyItem{{Name: "Exit", URL: "SoftKey:Exit", Position: 1}}})
		return
	}
	tok := fmt.Sprintf("t%d", time.Now().UnixNano())
	c.mu.Lock()
	c.tokens[tok] = name + "|" + id
	c.mu.Unlock()
	c.render(w, &phonexml.Text{Title: "Self Provisioning", Text: "Provision this phone with extension " + u.Extension + "?",
		SoftKeys: []phonexml.SoftKeyItem{
			{Name: "Exit", URL: "SoftKey:Exit", Position: 1},
			{Name: "Continue", URL: c.ServicesURL + "/xps/confirm?name=" + name + "&token=" + tok, Position: 2},
		}})
}

func (c *Cluster) confirm(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	c.mu.Lock()
	v, ok := c.tokens[tok]
	delete(c.tokens, tok)
	var b *Binding
	var name string
	if ok {
		var id string
		name, id, _ = strings.Cut(v, "|")
		u := c.users[id]
		d := c.devices[name]
		d.Owner, d.DN, d.Contact = id, u.Extension, "user-"+u.Extension
		d.Version++
		b = c.bindings[name]
	}
	c.mu.Unlock()
	if !ok {
		c.render(w, &phonexml.Text{Title: "Self Provisioning", Text: "TOKEN_INVALID"})
		return
	}
	c.render(w, &phonexml.Text{Title: "Self Provisioning", Text: "Done; the phone resets now."})
	if b != nil {
		go c.notify(name, b, "reset")
	}
}

func (c *Cluster) createDevice(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(clientapi.ErrorBody{Error: clientapi.ErrorDetail{Code: code, Message: code}})
	}
	var in clientapi.CreateRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil {
		fail(400, "BAD_REQUEST")
		return
	}
	id, pin, hasAuth := r.BasicAuth()
	c.mu.Lock()
	u, ok := c.users[in.UserID]
	switch {
	case !hasAuth:
		c.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="phonesimtest"`)
		fail(401, "AUTH_REQUIRED")
		return
	case c.users[id].PIN != pin || c.users[id].ID == "":
		c.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="phonesimtest"`)
		fail(401, "AUTH_FAILED")
		return
	case !ok || id != u.ID:
		c.mu.Unlock()
		fail(403, "USER_MISMATCH")
		return
	}
	name := "CSF" + strings.ToUpper(u.ID)
	created := c.devices[name] == nil
	if created {
		c.devices[name] = &Device{Name: name, DN: u.Extension, Contact: "csf-" + u.Extension, Owner: u.ID}
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(clientapi.CreateResponse{DeviceName: name, DeviceType: "CSF", Created: created, Owner: u.ID,
		ConfigFile: name + ".cnf.xml", Lines: []clientapi.DeviceLine{{Button: 1, DN: u.Extension}}})
}
