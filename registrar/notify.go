package registrar

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"selfprov/provision"
)

var _ provision.Notifier = (*Server)(nil)

// Notify asks a registered device to reset or restart (SPEC §3) with a
// service-control NOTIFY carrying the Call-ID of its REGISTER. It waits
// until the NOTIFY is written (a local write, bounded by the stream write
// timeout), never for the phone's answer: an error means no NOTIFY left,
// ErrNotRegistered without a binding, ErrNotifyFailed when the write
// failed (the phone's connection is gone). The phone's answer is logged
// and counted in selfprov_sip_notifies_total.
func (s *Server) Notify(ctx context.Context, deviceName string, action provision.Action) error {
	if action != provision.ActionReset && action != provision.ActionRestart {
		return fmt.Errorf("%w: action %q must be reset or restart", provision.ErrInvalid, action)
	}
	name, err := provision.CanonicalDeviceName(deviceName)
	if err != nil {
		return err
	}
	if _, ok := s.table.get(name); !ok {
		s.m.notify(notifyNoBinding)
		return fmt.Errorf("%w: %s has no live registration", provision.ErrNotRegistered, name)
	}
	// The versionStamp of the device's config file goes in the NOTIFY, so
	// the phone sees which configuration it is to fetch; when neither the
	// file nor the store can answer, the zero stamp makes it fetch
	// everything.
	version := ""
	if s.opts.ConfigStamp != nil {
		if v, err := s.opts.ConfigStamp(ctx, name); err == nil {
			version = v
		}
	}
	if version == "" {
		if d, err := s.core.Device(ctx, name); err == nil {
			version = d.ConfigVersion
		}
	}
	sent := make(chan error, 1)
	if !s.notifier.send(outgoing{name: name, action: action, version: version, sent: sent}) {
		return fmt.Errorf("%w: too many NOTIFYs in flight", provision.ErrUnavailable)
	}
	select {
	case err := <-sent:
		return err
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", provision.ErrUnavailable, ctx.Err())
	case <-s.shutdown:
		return fmt.Errorf("%w: the registrar is shutting down", provision.ErrUnavailable)
	}
}

// notifier sends NOTIFYs from one goroutine and matches the phones'
// answers by Via branch. UDP NOTIFYs are retransmitted (Timer E: 500 ms
// doubling to 4 s) until an answer or NotifyTimeout. Pending NOTIFYs are
// bounded by MaxPendingNotifies; beyond that they are dropped and counted.
type notifier struct {
	s     *Server
	queue chan outgoing

	mu      sync.Mutex
	pending map[string]*pending // by branch
	stopped bool
}

type outgoing struct {
	name    string
	action  provision.Action
	version string // the versionStamp of the device's config; "" for the zero stamp
	// sent, if set, gets the outcome of the first write: nil once the
	// NOTIFY has left.
	sent chan<- error
}

// done reports the outcome of the first write to whoever waits for it.
func (o outgoing) done(err error) {
	if o.sent != nil {
		o.sent <- err
	}
}

type pending struct {
	name     string
	action   provision.Action
	data     []byte
	b        Binding
	sent     time.Time
	interval time.Duration
	timer    *time.Timer
}

const (
	timerT1 = 500 * time.Millisecond
	timerT2 = 4 * time.Second
)

func newNotifier(s *Server) *notifier {
	return &notifier{s: s, queue: make(chan outgoing, s.opts.MaxPendingNotifies), pending: map[string]*pending{}}
}

// send queues a NOTIFY without blocking; false when the queue is full.
func (n *notifier) send(o outgoing) bool {
	select {
	case n.queue <- o:
		return true
	default:
		n.s.m.notify(notifyDropped)
		n.s.log.Debug("notify dropped: too many in flight", "device", o.name, "action", string(o.action))
		return false
	}
}

func (n *notifier) run(shutdown <-chan struct{}) {
	defer n.stop()
	for {
		select {
		case <-shutdown:
			return
		case o := <-n.queue:
			n.sendNow(o)
		}
	}
}

func (n *notifier) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stopped = true
	for k, p := range n.pending {
		p.timer.Stop()
		delete(n.pending, k)
	}
}

func (n *notifier) sendNow(o outgoing) {
	branch, p := n.prepare(o, nil)
	if p == nil {
		return
	}
	err := n.s.writeTo(p.b, p.data)
	n.written(o, branch, err)
	if err != nil {
		err = fmt.Errorf("%w: %v", provision.ErrNotifyFailed, err)
	}
	o.done(err)
}

// prepare builds the NOTIFY and records it as pending; nil when it is not
// to be sent (no binding, too many pending, shutting down), already counted.
// With stream set, the NOTIFY is appended to it instead of kept in p.data:
// the answers of a batch to a stream connection go out in one write, and
// a NOTIFY on a stream is never sent again, so it is not kept.
func (n *notifier) prepare(o outgoing, stream *bytes.Buffer) (branch string, p *pending) {
	s := n.s
	b, seq, ok := s.table.nextNotifySeq(o.name)
	if !ok {
		n.result(o.name, o.action, notifyNoBinding, nil)
		o.done(fmt.Errorf("%w: %s has no live registration", provision.ErrNotRegistered, o.name))
		return "", nil
	}
	branch = "z9hG4bK" + randHex(8)
	p = &pending{name: o.name, action: o.action, b: b, sent: time.Now(), interval: timerT1}
	before := 0
	if stream != nil && b.Transport != UDP {
		before = stream.Len()
		stream.Write(s.appendNotify(stream.AvailableBuffer(), b, o, branch, seq))
	} else {
		stream = nil
		p.data = s.appendNotify(nil, b, o, branch, seq)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	refuse := func() {
		if stream != nil {
			stream.Truncate(before)
		}
	}
	if n.stopped {
		refuse()
		o.done(fmt.Errorf("%w: the registrar is shutting down", provision.ErrUnavailable))
		return "", nil
	}
	if len(n.pending) >= s.opts.MaxPendingNotifies {
		refuse()
		n.result(o.name, o.action, notifyDropped, nil)
		o.done(fmt.Errorf("%w: too many NOTIFYs awaiting an answer", provision.ErrUnavailable))
		return "", nil
	}
	n.pending[branch] = p
	first := s.opts.NotifyTimeout
	if b.Transport == UDP {
		first = min(timerT1, first)
	}
	p.timer = time.AfterFunc(first, func() { n.tick(branch) })
	return branch, p
}

// written records the outcome of a prepared NOTIFY's first write.
func (n *notifier) written(o outgoing, branch string, err error) {
	if err != nil && n.take(branch) != nil {
		n.result(o.name, o.action, notifySendError, err)
	}
}

// tick retransmits a UDP NOTIFY or gives up after NotifyTimeout.
func (n *notifier) tick(branch string) {
	n.mu.Lock()
	p, ok := n.pending[branch]
	if !ok {
		n.mu.Unlock()
		return
	}
	elapsed := time.Since(p.sent)
	if p.b.Transport != UDP || elapsed >= n.s.opts.NotifyTimeout {
		delete(n.pending, branch)
		n.mu.Unlock()
		n.result(p.name, p.action, notifyTimeout, nil)
		return
	}
	p.interval = min(2*p.interval, timerT2)
	p.timer.Reset(min(p.interval, n.s.opts.NotifyTimeout-elapsed))
	n.mu.Unlock()
	_ = n.s.writeTo(p.b, p.data)
}

func (n *notifier) take(branch string) *pending {
	n.mu.Lock()
	defer n.mu.Unlock()
	p, ok := n.pending[branch]
	if !ok {
		return nil
	}
	p.timer.Stop()
	delete(n.pending, branch)
	return p
}

// onResponse matches a phone's answer to a pending NOTIFY.
func (n *notifier) onResponse(res *sip.Response) {
	if res.StatusCode < 200 {
		return
	}
	via := res.Via()
	cseq := res.CSeq()
	if via == nil || cseq == nil || cseq.MethodName != sip.NOTIFY {
		return
	}
	branch, _ := via.Params.Get("branch")
	p := n.take(branch)
	if p == nil {
		return // a retransmitted answer, or not ours
	}
	if res.StatusCode < 300 {
		n.result(p.name, p.action, notifyOK, nil)
		return
	}
	if res.StatusCode == 481 || res.StatusCode == 489 {
		// A softphone (a third-party device) has no service-control: no
		// subscription (481) or no such event package (489). That is the
		// phone's nature, not a failed reset.
		n.s.m.notify(notifyUnsupported)
		n.s.log.Info("notify not supported by the phone", "device", p.name, "action", string(p.action), "status", res.StatusCode)
		return
	}
	n.result(p.name, p.action, notifyRejected, fmt.Errorf("%d %s", res.StatusCode, res.Reason))
}

func (n *notifier) result(name string, action provision.Action, result string, err error) {
	n.s.m.notify(result)
	if result == notifyOK || result == notifyDropped { // drops are counted; a flood must not flood the log
		n.s.log.Debug("notify", "device", name, "action", string(action), "result", result)
		return
	}
	n.s.log.Warn("notify failed", "device", name, "action", string(action), "result", result, "err", err)
}

// writeTo sends raw bytes to a binding: UDP to the address the REGISTER
// came from, TCP and TLS on the phone's own connection.
func (s *Server) writeTo(b Binding, data []byte) error {
	f, ok := flowOf(b)
	if !ok {
		return fmt.Errorf("registrar: binding source %q is no address", b.Source)
	}
	return s.sendFlow(f, data)
}

// zeroStamp makes the phone re-fetch everything.
const zeroStamp = "{00000000-0000-0000-0000-000000000000}"

// notifyBody is the service-control body of SPEC §3 (protocol.md §4):
// action, RegisterCallId and the three version stamps, nothing more (a
// CP-8861 answers a FeatureControlVersionStamp line with 400). The config
// stamp is the device's config version, the versionStamp of its
// SEP<MAC>.cnf.xml; there are no dial plan or softkey files to stamp.
func notifyBody(action provision.Action, callID, version string) string {
	configStamp := zeroStamp
	if version != "" {
		configStamp = "{" + version + "}"
	}
	return "action=" + string(action) + "\r\n" +
		"RegisterCallId={" + callID + "}\r\n" +
		"ConfigVersionStamp=" + configStamp + "\r\n" +
		"DialplanVersionStamp=" + zeroStamp + "\r\n" +
		"SoftkeyVersionStamp=" + zeroStamp + "\r\n"
}

// appendNotify appends the NOTIFY to m: to the binding's Contact, From without a
// user part, and the Call-ID of the binding's REGISTER, so the phone (and
// a SIPp scenario) ties it to its registration.
func (s *Server) appendNotify(m []byte, b Binding, o outgoing, branch string, seq uint32) []byte {
	host, hostPort, tr := s.advertisedHost(), s.hostPort(b.Transport), viaTransport(b.Transport)
	var toHost string // the Contact's host when To carries the AOR
	if b.AOR != "" {
		var u sip.Uri
		if sip.ParseUri(b.Contact, &u) == nil {
			toHost = u.Host
			if strings.Contains(toHost, ":") && !strings.HasPrefix(toHost, "[") {
				toHost = "[" + toHost + "]"
			}
		}
	}
	body := notifyBody(o.action, b.CallID, o.version)
	var tag [6]byte
	_, _ = rand.Read(tag[:])
	// Appended into one buffer: this runs once per auto-registration, and
	// string concatenation had made it a seventh of the bytes allocated.
	m = slices.Grow(m, 512+len(b.Contact)+len(b.CallID)+len(body))
	m = append(m, "NOTIFY "...)
	m = append(m, b.Contact...)
	m = append(m, " SIP/2.0\r\nVia: SIP/2.0/"...)
	m = append(m, tr...)
	m = append(m, ' ')
	m = append(m, hostPort...)
	m = append(m, ";branch="...)
	m = append(m, branch...)
	m = append(m, ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:"...)
	m = append(m, host...)
	m = append(m, ">;tag="...)
	m = hex.AppendEncode(m, tag[:])
	m = append(m, "\r\nTo: <"...)
	if toHost != "" {
		m = append(m, "sip:"...)
		m = append(m, b.AOR...)
		m = append(m, '@')
		m = append(m, toHost...)
	} else {
		m = append(m, b.Contact...)
	}
	m = append(m, ">\r\nCall-ID: "...)
	m = append(m, b.CallID...)
	m = append(m, "\r\nCSeq: "...)
	m = strconv.AppendUint(m, uint64(seq), 10)
	m = append(m, " NOTIFY\r\nEvent: service-control\r\nSubscription-State: active\r\nContact: <sip:"...)
	m = append(m, hostPort...)
	m = append(m, ";transport="...)
	m = append(m, strings.ToLower(tr)...)
	m = append(m, ">\r\nUser-Agent: "...)
	m = append(m, s.opts.ServerName...)
	m = append(m, "\r\nContent-Type: text/plain\r\nContent-Length: "...)
	m = strconv.AppendInt(m, int64(len(body)), 10)
	m = append(m, "\r\n\r\n"...)
	m = append(m, body...)
	return m
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
