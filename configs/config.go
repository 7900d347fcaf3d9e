// Package configs holds the selfprovd configuration: schema, defaults,
// strict YAML decoding, validation and seeding of the store, plus the demo
// configuration and the model catalogue.
package configs

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"selfprov/provision"
)

//go:embed demo.yaml
var demoYAML []byte

//go:embed models.yaml
var modelsYAML []byte

// Config is the whole configuration file. Every listen address and path can
// also be set by a selfprovd flag of the same dotted name.
type Config struct {
	Advertise  string `yaml:"advertise"`  // host or IP written into configs and URLs
	DataDir    string `yaml:"dataDir"`    // holds selfprov.db and the admin token
	AdminToken string `yaml:"adminToken"` // generated into the data directory when empty
	StaticDir  string `yaml:"staticDir"`  // read-only folder served over TFTP/HTTP (firmware, ring lists)
	Listen     Listen `yaml:"listen"`
	TLS        TLS    `yaml:"tls"`
	SIP        SIP    `yaml:"sip"`
	TFTP       TFTP   `yaml:"tftp"`
	LogLevel   string `yaml:"logLevel"` // debug, info, warn, error

	Cluster               ClusterConfig                    `yaml:"cluster"`
	UDTs                  []provision.UDT                  `yaml:"udts"`
	ULTs                  []provision.ULT                  `yaml:"ults"`
	UserProfiles          []provision.UserProfile          `yaml:"userProfiles"`
	FeatureGroupTemplates []provision.FeatureGroupTemplate `yaml:"featureGroupTemplates"`
	Users                 []UserConfig                     `yaml:"users"`
	// Models extend or override the built-in catalogue by id.
	Models []provision.Model `yaml:"models"`
}

// Listen holds the listen addresses.
type Listen struct {
	TFTP     string `yaml:"tftp"`
	Config   string `yaml:"config"` // HTTP mirror of the TFTP files
	SIP      string `yaml:"sip"`    // UDP and TCP
	SIPTLS   string `yaml:"sipTLS"` // used when tls.cert is set
	Services string `yaml:"services"`
	Admin    string `yaml:"admin"`
}

// TLS names the certificate for SIP over TLS.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// SIP holds registrar settings.
type SIP struct {
	DefaultExpires int `yaml:"defaultExpires"` // seconds granted to phones; CUCM's keepalive is 120
	MinExpires     int `yaml:"minExpires"`     // shorter requests get 423
	RatePerSource  int `yaml:"ratePerSource"`  // requests per second per source address; 0 = no limit
}

// TFTP holds config delivery settings.
type TFTP struct {
	// MaxTransfersPerSource bounds the TFTP transfers one IP address holds
	// at once, out of 512; 0 = no bound.
	MaxTransfersPerSource int `yaml:"maxTransfersPerSource"`
}

// ClusterConfig seeds the cluster settings.
type ClusterConfig struct {
	AutoRegistration provision.AutoRegistration `yaml:"autoRegistration"`
	AuthMode         provision.AuthMode         `yaml:"authMode"`
	AuthCode         string                     `yaml:"authCode"`
	CredentialPolicy provision.CredentialPolicy `yaml:"credentialPolicy"`
	WebexPolicy      provision.WebexPolicy      `yaml:"webexPolicy"`
	WebexCoolDown    time.Duration              `yaml:"webexCoolDown"`
}

// UserConfig is a user with plain-text secrets, hashed when seeded.
type UserConfig struct {
	ID               string                `yaml:"userId"`
	FirstName        string                `yaml:"firstName"`
	LastName         string                `yaml:"lastName"`
	Email            string                `yaml:"email"`
	SelfServiceID    string                `yaml:"selfServiceId"`
	PrimaryExtension string                `yaml:"primaryExtension"`
	Partition        string                `yaml:"partition"`
	UserProfile      string                `yaml:"userProfile"`
	WebexPolicy      provision.WebexPolicy `yaml:"webexPolicy"`
	PIN              string                `yaml:"pin"`
	Password         string                `yaml:"password"`
}

// User returns the domain user without secrets.
func (u UserConfig) User() provision.User {
	return provision.User{
		ID: u.ID, FirstName: u.FirstName, LastName: u.LastName, Email: u.Email,
		SelfServiceID: u.SelfServiceID, PrimaryExtension: u.PrimaryExtension,
		Partition: u.Partition, UserProfile: u.UserProfile, WebexPolicy: u.WebexPolicy,
	}
}

// Default returns the defaults every configuration is decoded onto.
func Default() *Config {
	return &Config{
		DataDir: "./data",
		Listen: Listen{
			TFTP: ":69", Config: ":6970", SIP: ":5060", SIPTLS: ":5061",
			Services: ":8080", Admin: "127.0.0.1:9080",
		},
		SIP:      SIP{DefaultExpires: 120, MinExpires: 60, RatePerSource: 200},
		TFTP:     TFTP{MaxTransfersPerSource: 128},
		LogLevel: "info",
		Cluster: ClusterConfig{
			AuthMode:         provision.AuthUsers,
			CredentialPolicy: provision.DefaultCredentialPolicy,
			WebexPolicy:      provision.WebexDesktopAndMobile,
			WebexCoolDown:    provision.DefaultWebexCoolDown,
		},
	}
}

// Demo returns the demo configuration.
func Demo() (*Config, error) { return parse(demoYAML, "demo.yaml") }

// Load reads and validates a configuration file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(data, path)
}

// parse decodes YAML strictly onto the defaults, merges the model catalogue
// and validates. Every problem is reported at once.
func parse(data []byte, name string) (*Config, error) {
	c := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file (io.EOF) means all defaults.
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	builtin, err := builtinModels()
	if err != nil {
		return nil, err
	}
	c.Models = mergeModels(builtin, c.Models)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

func builtinModels() ([]provision.Model, error) {
	var m struct {
		Models []provision.Model `yaml:"models"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(modelsYAML))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("models.yaml: %w", err)
	}
	return m.Models, nil
}

// mergeModels overrides built-in entries by id and appends new ones.
func mergeModels(base, extra []provision.Model) []provision.Model {
	out := slices.Clone(base)
	for _, m := range extra {
		i := slices.IndexFunc(out, func(b provision.Model) bool { return b.ID == m.ID })
		if i >= 0 {
			out[i] = m
		} else {
			out = append(out, m)
		}
	}
	return out
}

// Validate checks everything that can be checked without a store and
// returns all problems joined.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for name, addr := range map[string]string{
		"listen.tftp": c.Listen.TFTP, "listen.config": c.Listen.Config, "listen.sip": c.Listen.SIP,
		"listen.services": c.Listen.Services, "listen.admin": c.Listen.Admin,
	} {
		if _, port, err := net.SplitHostPort(addr); err != nil {
			add(fmt.Errorf("%s: %q is not host:port: %w", name, addr, err))
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			add(fmt.Errorf("%s: port %q is not 0 to 65535", name, port))
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		add(errors.New("tls: cert and key must be set together"))
	}
	if c.SIP.DefaultExpires < 1 || c.SIP.MinExpires < 0 || c.SIP.MinExpires > c.SIP.DefaultExpires {
		add(fmt.Errorf("sip: defaultExpires %d must be positive and not below minExpires %d", c.SIP.DefaultExpires, c.SIP.MinExpires))
	}
	if c.TFTP.MaxTransfersPerSource < 0 {
		add(fmt.Errorf("tftp: maxTransfersPerSource %d must be 0 (no bound) or more", c.TFTP.MaxTransfersPerSource))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add(fmt.Errorf("logLevel %q must be debug, info, warn or error", c.LogLevel))
	}
	add(provision.ValidateCluster(c.cluster()))
	if c.Cluster.AuthCode != "" && (len(c.Cluster.AuthCode) < 4 || len(c.Cluster.AuthCode) > 64) {
		add(errors.New("cluster.authCode must be 4 to 64 characters"))
	}

	udts := map[string]bool{}
	for i, t := range c.UDTs {
		add(wrapItem("udts", i, provision.ValidateUDT(t)))
		udts[t.Name] = true
	}
	ults := map[string]bool{}
	for i, t := range c.ULTs {
		add(wrapItem("ults", i, provision.ValidateULT(t)))
		ults[t.Name] = true
	}
	ar := c.Cluster.AutoRegistration
	if ar.UDT != "" && !udts[ar.UDT] {
		add(fmt.Errorf("cluster.autoRegistration.udt: %q is not one of udts", ar.UDT))
	}
	if ar.ULT != "" && !ults[ar.ULT] {
		add(fmt.Errorf("cluster.autoRegistration.ult: %q is not one of ults", ar.ULT))
	}
	profiles := map[string]bool{}
	for i, p := range c.UserProfiles {
		add(wrapItem("userProfiles", i, provision.ValidateUserProfile(p)))
		profiles[p.Name] = true
		for _, u := range []string{p.DeskPhoneUDT, p.MobileDesktopUDT, p.RemoteDestinationUDT} {
			if u != "" && !udts[u] {
				add(fmt.Errorf("userProfiles[%d] %q: device template %q is not one of udts", i, p.Name, u))
			}
		}
		if p.ULT != "" && !ults[p.ULT] {
			add(fmt.Errorf("userProfiles[%d] %q: line template %q is not one of ults", i, p.Name, p.ULT))
		}
	}
	for i, f := range c.FeatureGroupTemplates {
		if f.Name == "" {
			add(fmt.Errorf("featureGroupTemplates[%d]: name is required", i))
		}
		if !profiles[f.UserProfile] {
			add(fmt.Errorf("featureGroupTemplates[%d] %q: user profile %q is not one of userProfiles", i, f.Name, f.UserProfile))
		}
	}
	ids := map[string]bool{}
	for i, u := range c.Users {
		add(wrapItem("users", i, provision.ValidateUser(u.User())))
		if ids[u.ID] {
			add(fmt.Errorf("users[%d]: user ID %q appears twice", i, u.ID))
		}
		ids[u.ID] = true
		if u.UserProfile != "" && !profiles[u.UserProfile] {
			add(fmt.Errorf("users[%d] %q: user profile %q is not one of userProfiles", i, u.ID, u.UserProfile))
		}
		if u.PIN != "" {
			if _, err := strconv.ParseUint(u.PIN, 10, 64); err != nil {
				add(fmt.Errorf("users[%d] %q: PIN must be digits", i, u.ID))
			}
		}
	}
	seen := map[int]bool{}
	for i, m := range c.Models {
		add(wrapItem("models", i, provision.ValidateModel(m)))
		if seen[m.ID] {
			add(fmt.Errorf("models[%d]: id %d appears twice", i, m.ID))
		}
		seen[m.ID] = true
	}
	return errors.Join(errs...)
}

func wrapItem(list string, i int, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s[%d]: %w", list, i, err)
}

func (c *Config) cluster() provision.Cluster {
	return provision.Cluster{
		AutoRegistration: c.Cluster.AutoRegistration,
		AuthMode:         c.Cluster.AuthMode,
		CredentialPolicy: c.Cluster.CredentialPolicy,
		WebexPolicy:      c.Cluster.WebexPolicy,
		WebexCoolDown:    c.Cluster.WebexCoolDown,
	}
}

// URLVars are the placeholders the core expands in template URLs.
func (c *Config) URLVars() map[string]string {
	host := c.Advertise
	_, port, _ := net.SplitHostPort(c.Listen.Services)
	return map[string]string{"#SERVICEHOST#": net.JoinHostPort(host, port)}
}

// Seed creates what the configuration defines and the database lacks.
// Objects that exist are left alone, so restarting with the same
// configuration changes nothing and keeps every run-time change.
func (c *Config) Seed(ctx context.Context, svc *provision.Service) error {
	st := svc.Store()
	for _, t := range c.UDTs {
		if err := seedOne(ctx, func() error { _, err := st.UDT(ctx, t.Name); return err }, func() error { return svc.PutUDT(ctx, t) }); err != nil {
			return fmt.Errorf("seed udt %q: %w", t.Name, err)
		}
	}
	for _, t := range c.ULTs {
		if err := seedOne(ctx, func() error { _, err := st.ULT(ctx, t.Name); return err }, func() error { return svc.PutULT(ctx, t) }); err != nil {
			return fmt.Errorf("seed ult %q: %w", t.Name, err)
		}
	}
	for _, p := range c.UserProfiles {
		if err := seedOne(ctx, func() error { _, err := st.UserProfile(ctx, p.Name); return err }, func() error { return svc.PutUserProfile(ctx, p) }); err != nil {
			return fmt.Errorf("seed user profile %q: %w", p.Name, err)
		}
	}
	for _, f := range c.FeatureGroupTemplates {
		if err := seedOne(ctx, func() error { _, err := st.FeatureGroupTemplate(ctx, f.Name); return err }, func() error { return svc.PutFeatureGroupTemplate(ctx, f) }); err != nil {
			return fmt.Errorf("seed feature group template %q: %w", f.Name, err)
		}
	}
	for _, u := range c.Users {
		create := func() error {
			_, err := svc.CreateUser(ctx, u.User(), provision.Secrets{PIN: u.PIN, Password: u.Password})
			return err
		}
		if err := seedOne(ctx, func() error { _, err := st.User(ctx, u.ID); return err }, create); err != nil {
			return fmt.Errorf("seed user %q: %w", u.ID, err)
		}
	}
	return c.seedCluster(ctx, svc)
}

// seedCluster writes the cluster settings on first start only.
func (c *Config) seedCluster(ctx context.Context, svc *provision.Service) error {
	seeded, err := svc.ClusterSeeded(ctx)
	if err != nil || seeded {
		return err
	}
	if _, err := svc.UpdateCluster(ctx, func(cl *provision.Cluster) error {
		*cl = c.cluster()
		return nil
	}); err != nil {
		return fmt.Errorf("seed cluster: %w", err)
	}
	if c.Cluster.AuthCode != "" {
		return svc.SetAuthCode(ctx, c.Cluster.AuthCode)
	}
	return nil
}

func seedOne(ctx context.Context, get, create func() error) error {
	err := get()
	if err == nil {
		return nil
	}
	var pe *provision.Error
	if !errors.As(err, &pe) || (pe != provision.ErrNotFound && pe != provision.ErrUserNotFound) {
		return err
	}
	return create()
}
