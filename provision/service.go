package provision

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
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

	// missingCSS holds the names of calling search spaces a call found
	// missing, each logged once.
	missingCSS sync.Map
	// routes remembers RouteCall's store reads while the store is unchanged.
	routes routeMemo

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
	if ar := c.AutoRegistration; ar.Partition != old.Partition {
		if err := s.partitionExists(ctx, ar.Partition); err != nil {
			return Cluster{}, fmt.Errorf("auto-registration: %w", err)
		}
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
