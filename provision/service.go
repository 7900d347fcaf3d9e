package provision

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Service.
type Options struct {
	Store  Store
	Clock  Clock        // default SystemClock
	Logger *slog.Logger // default slog.Default()
	// Models is the model catalogue.
	Models []Model
	// HashIterations is the PBKDF2 cost of new PINs and passwords (0
	// means DefaultPINHashIterations for PINs and DefaultHashIterations
	// for the others).
	HashIterations int
	// URLVars are placeholders expanded in template URLs when a device is
	// created, e.g. "#SERVICEHOST#" → "192.0.2.10:8080", so stored
	// templates follow the daemon's advertised address.
	URLVars map[string]string
	// FailedLogins limits failed logins per source address (zero value:
	// DefaultFailedLoginsPerSource in DefaultFailedLoginWindow; a negative
	// PerSource: no limit).
	FailedLogins FailedLoginLimit
}

// Service is the provisioning core. Adapters decode their protocol, call a
// method here and encode the answer; the Service decides and persists
// through the Store.
type Service struct {
	store       Store
	clock       Clock
	log         *slog.Logger
	notifier    atomic.Pointer[notifierBox]
	models      map[int]Model
	products    map[string]int // Cisco User-Agent product → model id
	hashCost    int
	pinHashCost int

	clusterMu sync.RWMutex
	cluster   *Cluster // cached; every change goes through SaveCluster

	// refMu is held from check to write by changes to templates, profiles,
	// feature group templates, users and the cluster settings, so that a
	// reference checked (a profile's template exists, a deleted template
	// is named by no profile) still holds when the change is written,
	// whichever front end makes it. Taken before dnMu.
	refMu sync.Mutex

	// dnMu is held from check to write by changes that assign directory
	// numbers outside auto-registration (users' primary extensions) and by
	// cluster changes, so that neither can slip a clash past the other's
	// check. Taken before clusterMu.
	dnMu sync.Mutex

	userLocks [64]sync.Mutex // serialise credential updates per user
	seed      maphash.Seed
	urlVars   *strings.Replacer // Options.URLVars, built once

	sources *sourceGuard // failed logins per source address
	unknown *unknownIDs  // failed logins of IDs that name no user
	// verify checks a secret against a hash (VerifySecret; tests count
	// the calls). Unknown users and missing secrets are verified against
	// the dummy hashes, made at the service's costs, so that every failed
	// login costs the same whoever it names.
	verify                  func(hash, secret string) bool
	dummyPIN, dummyPassword string

	appOK   appLogins // application logins recently verified
	appSalt [32]byte  // keys appOK, so its digests are of no use elsewhere
}

type notifierBox struct{ n Notifier }

// New returns a Service over opts.Store.
func New(opts Options) (*Service, error) {
	if opts.Store == nil {
		return nil, errors.New("provision: a store is required")
	}
	s := &Service{
		store:    opts.Store,
		clock:    opts.Clock,
		log:      opts.Logger,
		models:   make(map[int]Model, len(opts.Models)),
		hashCost: opts.HashIterations,
		seed:     maphash.MakeSeed(),
	}
	if s.clock == nil {
		s.clock = SystemClock
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.pinHashCost = s.hashCost
	if s.hashCost <= 0 {
		s.hashCost = DefaultHashIterations
		s.pinHashCost = DefaultPINHashIterations
	}
	var pairs []string
	for k, v := range opts.URLVars {
		pairs = append(pairs, k, v)
	}
	s.urlVars = strings.NewReplacer(pairs...)
	limit := opts.FailedLogins
	if limit.PerSource == 0 {
		limit.PerSource = DefaultFailedLoginsPerSource
	}
	s.sources = newSourceGuard(limit)
	s.unknown = newUnknownIDs()
	s.verify = VerifySecret
	if _, err := rand.Read(s.appSalt[:]); err != nil {
		return nil, err
	}
	var err error
	if s.dummyPIN, err = s.HashPIN(newUUID()); err != nil {
		return nil, err
	}
	if s.dummyPassword, err = s.HashSecret(newUUID()); err != nil {
		return nil, err
	}
	for _, m := range opts.Models {
		if err := ValidateModel(m); err != nil {
			return nil, err
		}
		s.models[m.ID] = m
	}
	s.products = productModels(s.models)
	s.SetNotifier(NopNotifier{})
	return s, nil
}

// SetNotifier sets the port used to reset and restart devices. The
// registrar is built after the Service, so it is set late.
func (s *Service) SetNotifier(n Notifier) {
	if n == nil {
		n = NopNotifier{}
	}
	s.notifier.Store(&notifierBox{n})
}

// Model looks a model up in the catalogue.
func (s *Service) Model(id int) (Model, bool) {
	m, ok := s.models[id]
	return m, ok
}

// Models returns the catalogue.
func (s *Service) Models() []Model {
	out := make([]Model, 0, len(s.models))
	for _, m := range s.models {
		out = append(out, m)
	}
	return out
}

// HashSecret hashes a password or authentication code at the Service's
// cost.
func (s *Service) HashSecret(secret string) (string, error) {
	return HashSecret(secret, s.hashCost)
}

// HashPIN hashes a PIN at the Service's PIN cost.
func (s *Service) HashPIN(pin string) (string, error) {
	return HashSecret(pin, s.pinHashCost)
}

// Cluster returns the cluster settings, cached after the first read.
func (s *Service) Cluster(ctx context.Context) (Cluster, error) {
	s.clusterMu.RLock()
	c := s.cluster
	s.clusterMu.RUnlock()
	if c != nil {
		return *c, nil
	}
	got, err := s.storedCluster(ctx)
	if err != nil {
		return Cluster{}, err
	}
	s.clusterMu.Lock()
	s.cluster = &got
	s.clusterMu.Unlock()
	return got, nil
}

// UpdateCluster applies change to the cluster settings, validates and
// stores the result. Nothing changes if change or validation fails.
//
// An auto-registration range that becomes active, or changes while
// active, must not cover a DN assigned outside auto-registration
// (DN_IN_AUTOREG_RANGE, see CheckDNRange).
func (s *Service) UpdateCluster(ctx context.Context, change func(*Cluster) error) (Cluster, error) {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	s.dnMu.Lock()
	defer s.dnMu.Unlock()
	s.clusterMu.Lock()
	defer s.clusterMu.Unlock()
	c, err := s.storedCluster(ctx)
	if err != nil {
		return Cluster{}, err
	}
	old := c.AutoRegistration
	if err := change(&c); err != nil {
		return Cluster{}, err
	}
	if err := s.validateCluster(ctx, c); err != nil {
		return Cluster{}, err
	}
	if ar := c.AutoRegistration; ar.Active() && (!old.Active() || old.Range != ar.Range || old.Partition != ar.Partition || old.ULT != ar.ULT) {
		if err := s.CheckDNRange(ctx, ar); err != nil {
			return Cluster{}, err
		}
	}
	if err := s.store.SaveCluster(ctx, c); err != nil {
		return Cluster{}, err
	}
	s.cluster = &c
	return c, nil
}

func (s *Service) storedCluster(ctx context.Context) (Cluster, error) {
	c, err := s.store.Cluster(ctx)
	if errors.Is(err, ErrNotFound) {
		return DefaultCluster(), nil
	}
	return c, err
}

// ClusterSeeded reports whether cluster settings were ever saved.
func (s *Service) ClusterSeeded(ctx context.Context) (bool, error) {
	_, err := s.store.Cluster(ctx)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Device returns the device named name (case-insensitively).
func (s *Service) Device(ctx context.Context, name string) (Device, error) {
	canon, err := CanonicalDeviceName(name)
	if err != nil {
		return Device{}, fmt.Errorf("%w: %v", ErrDeviceNotFound, err)
	}
	return s.store.Device(ctx, canon)
}

// DeleteDevice removes a device and releases its auto-registration DN.
func (s *Service) DeleteDevice(ctx context.Context, name string) error {
	canon, err := CanonicalDeviceName(name)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDeviceNotFound, err)
	}
	return s.store.DeleteDevice(ctx, canon, s.clock.Now())
}

// Notify sends a reset or restart to a registered device. It returns once
// the NOTIFY has left, or with the reason it could not (see Notifier); it
// does not wait for the phone's answer.
func (s *Service) Notify(ctx context.Context, name string, action Action) error {
	if action != ActionReset && action != ActionRestart {
		return invalidf("action %q must be reset or restart", action)
	}
	d, err := s.Device(ctx, name)
	if err != nil {
		return err
	}
	err = s.notifier.Load().n.Notify(ctx, d.Name, action)
	s.log.Info("notify", "device", d.Name, "action", string(action), "code", LogCode(err))
	return err
}

// AutoRegister creates an auto-registered device for an unknown phone with
// the lowest free DN of the range, or returns the existing device. created
// tells which. It is idempotent per device name. model is the Cisco model
// the phone names, 0 for none (see AutoRegisterPhone).
func (s *Service) AutoRegister(ctx context.Context, name string, model int) (dev Device, created bool, err error) {
	return s.AutoRegisterPhone(ctx, Registration{Name: name, Model: model})
}

// AutoRegisterAsync is AutoRegisterPhone for a caller that answers many
// phones: done gets the result, possibly on another goroutine, and must
// not block (see Store.AutoRegisterAsync).
func (s *Service) AutoRegisterAsync(ctx context.Context, r Registration, done func(dev Device, created bool, err error)) {
	ar, err := s.prepareAutoRegister(ctx, r)
	if err != nil || ar.known != nil {
		done(ar.knownDevice(), false, err)
		return
	}
	s.store.AutoRegisterAsync(ctx, ar.name, ar.r, ar.partition, ar.build, func(dev Device, created bool, err error) {
		s.logAutoRegister(ar.name, ar.model, dev, created, err)
		done(dev, created, err)
	})
}

// autoRegistration is what the store needs to auto-register one phone.
type autoRegistration struct {
	name      string // canonical
	model     int    // of a new device
	r         DNRange
	partition string
	build     func(dn string) Device
	known     *Device // set when auto-registration is off and the device exists
}

func (a autoRegistration) knownDevice() Device {
	if a.known == nil {
		return Device{}
	}
	return *a.known
}

// prepareAutoRegister finds what the store needs to auto-register the
// phone, and logs a refusal.
func (s *Service) prepareAutoRegister(ctx context.Context, r Registration) (autoRegistration, error) {
	canon, err := CanonicalDeviceName(r.Name)
	if err != nil {
		return autoRegistration{}, err
	}
	ar, err := s.autoRegistrationFor(ctx, canon, r)
	if err != nil {
		s.logAutoRegister(canon, r.Model, Device{}, false, err)
	}
	return ar, err
}

func (s *Service) autoRegistrationFor(ctx context.Context, canon string, r Registration) (autoRegistration, error) {
	c, err := s.Cluster(ctx)
	if err != nil {
		return autoRegistration{}, err
	}
	ar := c.AutoRegistration
	model, known, err := s.admit(ctx, canon, r, ar.Active())
	if err != nil || known != nil {
		return autoRegistration{known: known}, err
	}
	if !ar.Active() {
		// A device that exists keeps working when auto-registration is off.
		if d, err := s.store.Device(ctx, canon); err == nil {
			return autoRegistration{known: &d}, nil
		}
		return autoRegistration{}, ErrAutoRegDisabled
	}
	udt, err := s.store.UDT(ctx, ar.UDT)
	if err != nil {
		return autoRegistration{}, fmt.Errorf("auto-registration template %q: %w", ar.UDT, err)
	}
	ult, err := s.store.ULT(ctx, ar.ULT)
	if err != nil {
		return autoRegistration{}, fmt.Errorf("auto-registration line template %q: %w", ar.ULT, err)
	}
	partition := ar.Partition
	if partition == "" {
		partition = ult.RoutePartition
	}
	now := s.clock.Now()
	build := func(dn string) Device {
		d := Device{
			Name:        canon,
			Model:       model,
			Protocol:    "SIP",
			Description: "Auto " + dn,
			State:       StateAutoRegistered,
			UDT:         udt.Name,
			Settings:    s.expandSettings(udt.DeviceSettings, canon),
			CreatedAt:   now,
		}
		d.Lines = []Line{s.newLine(1, dn, partition, ult, "Auto "+dn)}
		d.ConfigVersion = newVersion(now)
		return d
	}
	return autoRegistration{name: canon, model: model, r: ar.Range, partition: partition, build: build}, nil
}

// logAutoRegister logs a created device or a refusal.
func (s *Service) logAutoRegister(name string, model int, dev Device, created bool, err error) {
	if errors.Is(err, ErrAutoRegRateLimited) {
		// One line per refused REGISTER of a flooding source would flood the log.
		s.log.Debug("autoregister", "device", name, "model", model, "code", CodeOf(err))
		return
	}
	if err != nil || created {
		s.log.Info("autoregister", "device", name, "model", model, "dn", firstDN(dev), "code", LogCode(err))
	}
}

func firstDN(d Device) string {
	if len(d.Lines) == 0 {
		return ""
	}
	return d.Lines[0].DN
}

// Authenticate checks a login of the self-provisioning flow (phone screens,
// IVR): the user's PIN or password, or in users-and-admin mode also the
// system authentication code, or in none mode nothing, under the
// credential policy and the per-source limit of failed logins.
//
// A locked account answers ErrAccountLocked whatever the secret, so a
// lockout never reveals whether a PIN was right. An ID that names no user
// fails and locks as a real account does, after the same hash work, so
// answers and timing do not tell whether a user exists.
func (s *Service) Authenticate(ctx context.Context, c Credentials) (User, error) {
	return s.authenticate(ctx, c, false)
}

// AuthenticateUser checks a user's own credentials (PIN or password), as
// the user-facing HTTP APIs and AXL's doAuthenticateUser need them,
// whatever the self-provisioning authentication mode. Policy and limits
// are those of Authenticate.
func (s *Service) AuthenticateUser(ctx context.Context, c Credentials) (User, error) {
	return s.authenticate(ctx, c, true)
}

func (s *Service) authenticate(ctx context.Context, c Credentials, own bool) (User, error) {
	src := sourceKey(c.Source)
	retry, err := s.sources.begin(ctx, src, s.clock.Now)
	if err != nil {
		return User{}, err
	}
	if retry > 0 {
		return User{}, tooManyAttemptsError{retry}
	}
	u, err := s.checkCredentials(ctx, c.UserID, c.Secret, own)
	failed := errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrAccountLocked)
	if s.sources.end(src, failed, s.clock.Now()) {
		s.log.Warn("failed logins from one source reached the limit; its logins are refused for the window",
			"source", src.String(), "limit", s.sources.limit.PerSource, "window", s.sources.limit.Window.String(), "code", CodeTooManyAttempts)
	}
	return u, err
}

func (s *Service) checkCredentials(ctx context.Context, userID, secret string, own bool) (User, error) {
	c, err := s.Cluster(ctx)
	if err != nil {
		return User{}, err
	}
	mode := c.AuthMode
	if own {
		mode = AuthUsers
	}
	if mode == AuthNone {
		secret = "" // the login screen asks for none in this mode
	}
	if userID == "" || len(userID) > maxClientField || len(secret) > 128 {
		s.secretMatches(nil, secret, c, mode)
		return User{}, ErrAuthFailed
	}
	now := s.clock.Now()
	policy := c.CredentialPolicy
	u, unlock, err := s.lockUser(ctx, userID)
	if errors.Is(err, ErrUserNotFound) {
		if mode == AuthNone {
			return User{}, ErrAuthFailed
		}
		if s.unknown.locked(userID, policy, now) {
			return User{}, ErrAccountLocked
		}
		s.secretMatches(nil, secret, c, mode)
		locked := s.unknown.fail(userID, policy, now)
		// The write a real account's failure makes, here matching no row,
		// so that the store's share of the time is alike too (without it an
		// unknown ID answered ~10% faster). A user created with this ID
		// meanwhile has this empty state anyway.
		if err := s.store.SetCredentialState(ctx, userID, CredentialState{}); err != nil && !errors.Is(err, ErrUserNotFound) {
			return User{}, err
		}
		if locked {
			s.log.Warn("unknown user ID locked", "user", clip(userID), "code", CodeAccountLocked)
			return User{}, ErrAccountLocked
		}
		return User{}, ErrAuthFailed
	}
	if err != nil {
		return User{}, err
	}
	defer unlock()
	if mode == AuthNone {
		return u, nil
	}
	st, locked := policy.current(u.Credential, now)
	if locked {
		return User{}, ErrAccountLocked
	}
	if s.secretMatches(&u, secret, c, mode) {
		if st != u.Credential || st.FailedAttempts > 0 {
			if err := s.store.SetCredentialState(ctx, u.ID, CredentialState{}); err != nil {
				return User{}, err
			}
		}
		u.Credential = CredentialState{}
		return u, nil
	}
	st, locked = policy.failed(st, now)
	if err := s.store.SetCredentialState(ctx, u.ID, st); err != nil {
		return User{}, err
	}
	if locked {
		s.log.Warn("account locked", "user", u.ID, "failed_attempts", st.FailedAttempts, "code", CodeAccountLocked)
		return User{}, ErrAccountLocked
	}
	return User{}, ErrAuthFailed
}

// secretMatches verifies secret against the user's PIN, then password,
// then (users-and-admin mode) the system authentication code, stopping at
// the first match. A missing hash, or a nil user, is verified against a
// dummy of the same cost, so a failure does the same work for every user
// and for none.
func (s *Service) secretMatches(u *User, secret string, c Cluster, mode AuthMode) bool {
	var pin, password string
	if u != nil {
		pin, password = u.PINHash, u.PasswordHash
	}
	check := func(hash, dummy string) bool {
		if hash == "" {
			s.verify(dummy, secret)
			return false
		}
		return s.verify(hash, secret)
	}
	ok := check(pin, s.dummyPIN) || check(password, s.dummyPassword)
	if !ok && mode == AuthUsersAndAdmin && c.AuthCodeHash != "" {
		ok = s.verify(c.AuthCodeHash, secret)
	}
	return ok && u != nil && secret != ""
}

// lockUser reads a user by ID, self-service ID or email under the user's
// credential lock, so the state read is the latest: a concurrent failure
// may just have locked the account. The lock is keyed by the user ID, so
// a user typed by self-service ID is read again under that lock.
func (s *Service) lockUser(ctx context.Context, userID string) (User, func(), error) {
	mu := s.userLock(userID)
	mu.Lock()
	u, err := s.store.User(ctx, userID)
	if errors.Is(err, ErrUserNotFound) && strings.Contains(userID, "@") {
		u, err = s.userByEmail(ctx, userID)
	}
	if err == nil && u.ID != userID {
		mu.Unlock()
		mu = s.userLock(u.ID)
		mu.Lock()
		u, err = s.store.User(ctx, u.ID)
	}
	if err != nil {
		mu.Unlock()
		return User{}, nil, err
	}
	return u, mu.Unlock, nil
}

func (s *Service) userLock(id string) *sync.Mutex {
	return &s.userLocks[maphash.String(s.seed, id)%uint64(len(s.userLocks))]
}

// Unlock clears a user's failed-logon state and lockout.
func (s *Service) Unlock(ctx context.Context, userID string) error {
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return err
	}
	return s.store.SetCredentialState(ctx, u.ID, CredentialState{})
}

// Plan is what self-provisioning will do: the auto-registered device, the
// user, and the extension the phone will get.
type Plan struct {
	Device    Device
	User      User
	Extension string
	Model     Model
	UDT       UDT
	ULT       ULT
	Profile   UserProfile
}

// Login runs the self-provisioning checks in the product's order for a
// phone and the credentials typed on it. The returned Plan is shown on the
// confirm screen.
func (s *Service) Login(ctx context.Context, deviceName string, c Credentials) (Plan, error) {
	return s.login(ctx, deviceName, c, false)
}

// LoginUser is Login with the user's own credentials whatever the
// authentication mode (AuthenticateUser), for the UDS private resources.
func (s *Service) LoginUser(ctx context.Context, deviceName string, c Credentials) (Plan, error) {
	return s.login(ctx, deviceName, c, true)
}

func (s *Service) login(ctx context.Context, deviceName string, c Credentials, own bool) (Plan, error) {
	dev, err := s.autoRegisteredDevice(ctx, deviceName)
	if err != nil {
		return Plan{}, err
	}
	u, err := s.authenticate(ctx, c, own)
	if err != nil {
		return Plan{}, err
	}
	return s.plan(ctx, dev, u, checkPermission|checkLimit)
}

func (s *Service) checkSelfProvision(ctx context.Context, deviceName, userID string, checks planChecks) (Plan, error) {
	dev, err := s.autoRegisteredDevice(ctx, deviceName)
	if err != nil {
		return Plan{}, err
	}
	u, err := s.store.User(ctx, userID)
	if err != nil {
		return Plan{}, err
	}
	return s.plan(ctx, dev, u, checks)
}

// SelfProvision replaces the auto-registered device with one owned by the
// user, in one transaction: built from the user's UDT and ULT, line 1 the
// primary extension, the auto-registration DN released. The caller resets
// the phone afterwards (see Notify).
func (s *Service) SelfProvision(ctx context.Context, deviceName, userID string) (dev Device, err error) {
	defer func() {
		s.log.Info("selfprovision", "device", deviceName, "user", userID, "dn", firstDN(dev), "code", LogCode(err))
	}()
	// The device limit is checked by ReplaceDevice, in the transaction
	// that would break it.
	p, err := s.checkSelfProvision(ctx, deviceName, userID, checkPermission)
	if err != nil {
		return Device{}, err
	}
	now := s.clock.Now()
	d := Device{
		Name:        p.Device.Name,
		Model:       p.Device.Model,
		Protocol:    "SIP",
		Owner:       p.User.ID,
		Description: expandUserPattern(p.UDT.DescriptionPattern, p.User, p.Model, p.Device.Name),
		State:       StateProvisioned,
		UDT:         p.UDT.Name,
		Settings:    s.expandSettings(p.UDT.DeviceSettings, p.Device.Name),
		CreatedAt:   now,
	}
	partition := p.User.Partition
	if partition == "" {
		partition = p.ULT.RoutePartition
	}
	d.Lines = []Line{s.userLine(1, p.User, partition, p.ULT, p.Model, d.Name)}
	d.ConfigVersion = newVersion(now)
	if err := s.store.ReplaceDevice(ctx, p.Device.Name, d, p.Profile.Limit()); err != nil {
		return Device{}, err
	}
	return d, nil
}

// autoRegisteredDevice finds a device self-provisioning may replace; the
// device is returned with ErrDeviceNotAutoReg too.
func (s *Service) autoRegisteredDevice(ctx context.Context, name string) (Device, error) {
	dev, err := s.Device(ctx, name)
	if err != nil {
		return Device{}, err
	}
	if dev.State != StateAutoRegistered {
		return dev, ErrDeviceNotAutoReg
	}
	return dev, nil
}

// planChecks are the checks of plan a caller asks for.
type planChecks uint8

const (
	// checkPermission: the user's profile allows self-provisioning. An
	// administrator's quick add skips it.
	checkPermission planChecks = 1 << iota
	// checkLimit: the user owns fewer devices than the profile's limit.
	// Skipped where the store checks it in the write itself.
	checkLimit
)

// plan runs the checks after credentials, in the product's order.
func (s *Service) plan(ctx context.Context, dev Device, u User, checks planChecks) (Plan, error) {
	p := Plan{Device: dev, User: u}
	prof, err := s.profileOf(ctx, u)
	if err != nil {
		return Plan{}, err
	}
	p.Profile = prof
	if checks&checkPermission != 0 && !prof.AllowSelfProvision {
		return Plan{}, ErrNotAllowed
	}
	if u.PrimaryExtension == "" {
		return Plan{}, ErrNoPrimaryExtension
	}
	p.Extension = u.PrimaryExtension
	if checks&checkLimit != 0 {
		n, err := s.store.CountOwnedDevices(ctx, u.ID)
		if err != nil {
			return Plan{}, err
		}
		if n >= prof.Limit() {
			return Plan{}, ErrDeviceLimit
		}
	}
	m, ok := s.models[dev.Model]
	if !ok || !m.Supported() || m.Class != ClassDesk {
		return Plan{}, fmt.Errorf("%w: model %d", ErrInvalidModel, dev.Model)
	}
	p.Model = m
	if prof.DeskPhoneUDT == "" {
		return Plan{}, ErrTemplateNotFound
	}
	udt, err := s.store.UDT(ctx, prof.DeskPhoneUDT)
	if errors.Is(err, ErrNotFound) {
		return Plan{}, fmt.Errorf("%w: %q", ErrTemplateNotFound, prof.DeskPhoneUDT)
	}
	if err != nil {
		return Plan{}, err
	}
	p.UDT = udt
	if prof.ULT != "" {
		if p.ULT, err = s.store.ULT(ctx, prof.ULT); err != nil {
			return Plan{}, fmt.Errorf("user profile %q line template: %w", prof.Name, err)
		}
	}
	return p, nil
}

// profileOf returns the user's profile, or the default system profile,
// with the defaults applied.
func (s *Service) profileOf(ctx context.Context, u User) (UserProfile, error) {
	if u.UserProfile != "" {
		p, err := s.store.UserProfile(ctx, u.UserProfile)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return p.withDefaults(), err
		}
	}
	all, err := s.store.UserProfiles(ctx)
	if err != nil {
		return UserProfile{}, err
	}
	for _, p := range all {
		if p.DefaultSystemProfile {
			return p.withDefaults(), nil
		}
	}
	return UserProfile{}, ErrNotAllowed // no profile: nothing allows self-provisioning
}

func (s *Service) newLine(button int, dn, partition string, ult ULT, display string) Line {
	return Line{
		Button:      button,
		DN:          dn,
		Partition:   partition,
		Label:       dn,
		DisplayName: display,
		Contact:     newUUID(),
		MaxCalls:    ult.MaxCalls,
		BusyTrigger: ult.BusyTrigger,
	}
}

// userLine is the line of a user's primary extension, labelled from the ULT.
func (s *Service) userLine(button int, u User, partition string, ult ULT, m Model, device string) Line {
	l := s.newLine(button, u.PrimaryExtension, partition, ult, "")
	display := ult.DisplayPattern
	if display == "" {
		display = "#FirstName# #LastName#"
	}
	l.DisplayName = expandUserPattern(display, u, m, device)
	if ult.LabelPattern != "" {
		l.Label = expandUserPattern(ult.LabelPattern, u, m, device)
	}
	return l
}

// expandSettings fills the device name and the URL variables into the
// template's URLs.
func (s *Service) expandSettings(ds DeviceSettings, device string) DeviceSettings {
	expand := func(v string) string {
		if !strings.Contains(v, "#") {
			return v
		}
		// A device name is letters and digits, so it brings no token in.
		return s.urlVars.Replace(strings.ReplaceAll(v, "#DEVICENAME#", device))
	}
	ds.IdleURL = expand(ds.IdleURL)
	ds.ServicesURL = expand(ds.ServicesURL)
	ds.AuthenticationURL = expand(ds.AuthenticationURL)
	ds.DirectoryURL = expand(ds.DirectoryURL)
	return ds
}

// expandUserPattern expands the template tokens of description, display
// and label patterns.
func expandUserPattern(pattern string, u User, m Model, device string) string {
	if pattern == "" {
		pattern = "#FirstName# #LastName# (#Product#)"
	}
	out := strings.NewReplacer(
		"#FirstName#", u.FirstName,
		"#LastName#", u.LastName,
		"#UserID#", u.ID,
		"#Product#", m.Name,
		"#Extension#", u.PrimaryExtension,
		"#DEVICENAME#", device,
	).Replace(pattern)
	return strings.TrimSpace(strings.Join(strings.Fields(out), " "))
}

// newVersion makes a config version stamp in CUCM's shape, <epoch>-<uuid>.
func newVersion(now time.Time) string {
	var b [64]byte
	v := strconv.AppendInt(b[:0], now.Unix(), 10)
	return string(appendUUID(append(v, '-')))
}
