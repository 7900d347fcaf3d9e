package tftpd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"selfprov/phonecfg"
	"selfprov/provision"
)

// ErrNotFound is wrapped when a name is allowed but has nothing to serve:
// an unknown device, XMLDefault with auto-registration off, a file absent
// from the static folder.
var ErrNotFound = fmt.Errorf("tftpd: %w", fs.ErrNotExist)

// Core is the part of the provisioning core config delivery reads.
type Core interface {
	Device(ctx context.Context, name string) (provision.Device, error)
	Cluster(ctx context.Context) (provision.Cluster, error)
	Model(id int) (provision.Model, bool)
	Models() []provision.Model
}

var _ Core = (*provision.Service)(nil)

// deviceWatcher is a Core that can report device writes (see
// provision.Service.WatchDevices).
type deviceWatcher interface {
	WatchDevices(fn func(name string)) bool
}

var _ deviceWatcher = (*provision.Service)(nil)

// file is one thing to send: a generated config or an open static file.
type file struct {
	kind    Kind
	name    string
	size    int64
	modTime time.Time
	r       io.ReadSeeker
	close   func() error
	// data and length are a generated file's bytes and its
	// Content-Length value, which HTTP writes as they are.
	data   []byte
	length []string
}

func (f *file) Close() error {
	if f.close != nil {
		return f.close()
	}
	return nil
}

// content resolves classified requests to bytes. Generated configs are
// cached per device and reused while the device renders the same; a
// changed device (new version stamp or any other field) renders anew on
// its next fetch.
type content struct {
	core            Core
	cms             []phonecfg.CallManager
	registerExpires int
	static          *os.Root // nil: no static folder
	staticIndex     map[string]string
	seed            maphash.Seed
	cache           *configCache
	log             *slog.Logger
	// watched: the core reports every device write, so a cached config
	// is served without reading its device (see configCache).
	watched bool

	mu  sync.RWMutex
	def *cachedDefault
}

type cachedDefault struct {
	in  phonecfg.Default
	out *cached
}

func newContent(core Core, cms []phonecfg.CallManager, registerExpires int, staticDir string, maxCached int) (*content, error) {
	c := &content{
		core: core, cms: cms, registerExpires: registerExpires,
		seed: maphash.MakeSeed(), cache: newConfigCache(maxCached),
		log: slog.New(slog.DiscardHandler),
	}
	if w, ok := core.(deviceWatcher); ok {
		c.watched = w.WatchDevices(c.cache.forget)
	}
	if staticDir != "" {
		root, err := os.OpenRoot(staticDir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// An absent folder means no static files, so a default
			// configuration works on any machine.
		case err != nil:
			return nil, fmt.Errorf("static folder: %w", err)
		default:
			c.static = root
			c.staticIndex = indexFolder(root.FS())
		}
	}
	return c, nil
}

// maxIndexed bounds the case-insensitive index of the static folder.
const maxIndexed = 100_000

// indexFolder maps lower-cased relative paths to their real spelling, so
// static names match case-insensitively like the generated ones.
func indexFolder(fsys fs.FS) map[string]string {
	idx := map[string]string{}
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || len(idx) >= maxIndexed {
			return fs.SkipDir
		}
		if d.Type().IsRegular() {
			idx[strings.ToLower(p)] = p
		}
		return nil
	})
	return idx
}

func (c *content) close() error {
	if c.static != nil {
		return c.static.Close()
	}
	return nil
}

func (c *content) open(ctx context.Context, req Request) (*file, error) {
	switch req.Kind {
	case KindDevice:
		return c.device(ctx, req.Name)
	case KindDefault:
		return c.defaults(ctx)
	case KindTrust, KindStatic:
		return c.staticFile(req)
	}
	return nil, ErrNotFound
}

// errNoDevice answers a device name known to be absent (see configCache).
var errNoDevice = fmt.Errorf("%w: no such device", ErrNotFound)

// cachedDevice returns the config rendered for a device request when the
// core reports writes and the config is kept, or absent=true when the
// core had no such device and none was written since: current without a
// read either way.
func (c *content) cachedDevice(req Request) (e *cached, absent bool) {
	if req.Kind != KindDevice || !c.watched {
		return nil, false
	}
	return c.cache.find(strings.ToUpper(req.Name))
}

// absent reports a device request the core had no device for, with no
// write to that name since (see configCache): certainly not found now.
func (c *content) absent(req Request) bool {
	_, absent := c.cachedDevice(req)
	return absent
}

// device serves a device's config. Its versionStamp follows every byte of
// the file (phonecfg.RenderDeviceStamped), so a new SIP port or address
// changes it as a device change does; it is computed only on a render.
func (c *content) device(ctx context.Context, name string) (*file, error) {
	key := strings.ToUpper(name)
	if c.watched {
		if e, absent := c.cache.find(key); e != nil {
			return cachedFile(e), nil
		} else if absent {
			return nil, errNoDevice
		}
		slot := c.cache.reserve(key)
		d, in, err := c.read(ctx, name)
		if errors.Is(err, ErrNotFound) {
			c.cache.markAbsent(key, slot)
			return nil, err
		}
		if err != nil {
			c.cache.forget(key)
			return nil, err
		}
		data, err := phonecfg.RenderDeviceStamped(in)
		if err != nil {
			return nil, err
		}
		return cachedFile(c.cache.fill(key, slot, phonecfg.FileName(d.Name), data)), nil
	}
	d, in, err := c.read(ctx, name)
	if err != nil {
		return nil, err
	}
	sum := c.fingerprint(in)
	if e, ok := c.cache.get(key, sum); ok {
		return cachedFile(e), nil
	}
	data, err := phonecfg.RenderDeviceStamped(in)
	if err != nil {
		return nil, err
	}
	return cachedFile(c.cache.put(key, sum, phonecfg.FileName(d.Name), data)), nil
}

// read reads a device from the core and maps it onto its config.
func (c *content) read(ctx context.Context, name string) (provision.Device, phonecfg.Device, error) {
	d, err := c.core.Device(ctx, name)
	if err != nil {
		if errors.Is(err, provision.ErrDeviceNotFound) || errors.Is(err, provision.ErrNotFound) {
			return d, phonecfg.Device{}, fmt.Errorf("%w: no device %s", ErrNotFound, name)
		}
		return d, phonecfg.Device{}, err
	}
	return d, c.deviceInput(d), nil
}

// fingerprint hashes every field a config is rendered from, so any change
// to the device (its stored version or anything else) renders anew.
func (c *content) fingerprint(d phonecfg.Device) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	str := func(ss ...string) {
		for _, s := range ss {
			var n [4]byte
			binary.LittleEndian.PutUint32(n[:], uint32(len(s)))
			h.Write(n[:])
			h.WriteString(s)
		}
	}
	num := func(ns ...int) {
		for _, n := range ns {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], uint64(n))
			h.Write(b[:])
		}
	}
	str(d.Name, d.DevicePool, d.CallManagerGroup, d.Transport, d.IdleURL, d.ServicesURL,
		d.AuthenticationURL, d.DirectoryURL, d.LoadInformation, d.UserLocale, d.VersionStamp)
	num(d.RegisterExpires, d.IdleTimeout, len(d.CallManagers), len(d.Lines))
	for _, cm := range d.CallManagers {
		str(cm.Host)
		num(cm.SIPPort, cm.SecuredSIPPort)
	}
	for _, l := range d.Lines {
		str(l.DN, l.Label, l.DisplayName, l.Contact, l.Proxy)
		num(l.Button, l.FeatureID, l.Port, l.MaxCalls, l.BusyTrigger)
	}
	return h.Sum64()
}

// deviceInput maps the core's device onto what the config file carries.
func (c *content) deviceInput(d provision.Device) phonecfg.Device {
	in := phonecfg.Device{
		Name:              d.Name,
		DevicePool:        d.Settings.DevicePool,
		CallManagerGroup:  d.Settings.CallManagerGroup,
		CallManagers:      c.cms,
		Transport:         strings.ToLower(d.Settings.Transport),
		RegisterExpires:   c.registerExpires,
		IdleURL:           d.Settings.IdleURL,
		IdleTimeout:       d.Settings.IdleTimeout,
		ServicesURL:       d.Settings.ServicesURL,
		AuthenticationURL: d.Settings.AuthenticationURL,
		DirectoryURL:      d.Settings.DirectoryURL,
		UserLocale:        d.Settings.UserLocale,
		VersionStamp:      d.ConfigVersion,
	}
	if m, ok := c.core.Model(d.Model); ok {
		in.LoadInformation = m.Load
	}
	in.Lines = make([]phonecfg.Line, 0, len(d.Lines))
	for _, l := range d.Lines {
		in.Lines = append(in.Lines, phonecfg.Line{
			Button: l.Button, DN: l.DN, Label: l.Label, DisplayName: l.DisplayName,
			Contact: l.Contact, MaxCalls: l.MaxCalls, BusyTrigger: l.BusyTrigger,
		})
	}
	return in
}

// defaults serves XMLDefault.cnf.xml while auto-registration is active;
// otherwise an unknown phone must not find a call manager to register to.
func (c *content) defaults(ctx context.Context) (*file, error) {
	cl, err := c.core.Cluster(ctx)
	if err != nil {
		return nil, err
	}
	if !cl.AutoRegistration.Active() {
		return nil, fmt.Errorf("%w: auto-registration is off", ErrNotFound)
	}
	in := phonecfg.Default{
		CallManagerGroup:           "Default",
		CallManagers:               c.cms,
		AutoRegistration:           true,
		SelfProvisioningSecureMode: cl.AuthMode != provision.AuthNone,
		AdminProvisionMode:         cl.AuthMode == provision.AuthUsersAndAdmin,
	}
	c.mu.RLock()
	hit := c.def
	c.mu.RUnlock()
	if hit != nil && hit.in.SelfProvisioningSecureMode == in.SelfProvisioningSecureMode && hit.in.AdminProvisionMode == in.AdminProvisionMode {
		return memFile(KindDefault, hit.out), nil
	}
	in.Loads = c.loads()
	// The stamp follows the content, so it is the same on every start.
	h := fnv.New64a()
	fmt.Fprint(h, in)
	in.VersionStamp = fmt.Sprintf("%016x", h.Sum64())
	data, err := phonecfg.RenderDefault(in)
	if err != nil {
		return nil, err
	}
	out := &cached{fileName: phonecfg.DefaultFile, data: data, length: []string{strconv.Itoa(len(data))}}
	c.mu.Lock()
	c.def = &cachedDefault{in: in, out: out}
	c.mu.Unlock()
	return memFile(KindDefault, out), nil
}

// loads lists the supported desk phone models by id, for a stable file.
func (c *content) loads() []phonecfg.Load {
	models := c.core.Models()
	var out []phonecfg.Load
	for _, m := range models {
		if m.Load != "" && m.Supported() {
			out = append(out, phonecfg.Load{Model: m.ID, ModelName: m.Name, Load: m.Load})
		}
	}
	sortLoads(out)
	return out
}

func sortLoads(l []phonecfg.Load) {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j].Model < l[j-1].Model; j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

// missing reports a trust or static file that is certainly not there.
// It runs in the TFTP accept loop, so it asks the file system at most
// one stat.
func (c *content) missing(req Request) bool {
	if req.Kind != KindTrust && req.Kind != KindStatic {
		return false
	}
	if c.static == nil {
		return true
	}
	name := req.Name
	if real, ok := c.staticIndex[strings.ToLower(name)]; ok {
		name = real
	}
	_, err := c.static.Stat(name)
	return errors.Is(err, fs.ErrNotExist)
}

// staticFile opens a file of the static folder through os.Root, which
// refuses any path (or symlink) that leaves the folder.
func (c *content) staticFile(req Request) (*file, error) {
	if c.static == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, req.Name)
	}
	name := req.Name
	if real, ok := c.staticIndex[strings.ToLower(name)]; ok {
		name = real
	}
	f, err := c.static.Open(name)
	if err != nil {
		// A symlink leaving the folder is answered like a missing name,
		// so the answer tells nothing about the file system around it.
		if !errors.Is(err, fs.ErrNotExist) {
			level := slog.LevelDebug
			if errors.Is(err, fs.ErrPermission) {
				level = slog.LevelWarn // the operator's to fix
			}
			c.log.Log(context.Background(), level, "static file not served", "file", clip(req.Name), "err", err)
		}
		return nil, fmt.Errorf("%w: %s", ErrNotFound, req.Name)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s", ErrNotFound, req.Name)
	}
	return &file{kind: req.Kind, name: path.Base(name), size: st.Size(), modTime: st.ModTime(), r: f, close: f.Close}, nil
}

// memFile is a generated file. It has no modification time, so HTTP
// answers carry no Last-Modified and a changed device is never hidden
// behind a 304.
func memFile(kind Kind, e *cached) *file {
	return &file{kind: kind, name: e.fileName, size: int64(len(e.data)), r: bytes.NewReader(e.data),
		data: e.data, length: e.length}
}

func cachedFile(e *cached) *file { return memFile(KindDevice, e) }
