// Package configs holds the selfprovd configuration: schema, defaults,
// strict YAML decoding, validation and seeding of the store, plus the demo
// configuration and the model catalogue.
package configs

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
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
	// AppPassword is the password of the application user administrator
	// (AXL, RisPort70); generated into <dataDir>/app-password when empty.
	AppPassword string `yaml:"appPassword"`
	StaticDir   string `yaml:"staticDir"` // read-only folder served over TFTP/HTTP (firmware, ring lists)
	Listen      Listen `yaml:"listen"`
	TLS         TLS    `yaml:"tls"`
	// HTTPS names the certificate of the HTTPS listener (AXL, RisPort70,
	// UDS); when unset a self-signed one is generated into the data
	// directory at first start and reused.
	HTTPS TLS `yaml:"https"`
	// CUCM emulates CUCM's throttles of its administrative interfaces.
	CUCM     CUCMLimits `yaml:"cucm"`
	SIP      SIP        `yaml:"sip"`
	TFTP     TFTP       `yaml:"tftp"`
	LogLevel string     `yaml:"logLevel"` // debug, info, warn, error

	SelfProvisioning SelfProvisioning `yaml:"selfProvisioning"`

	Cluster ClusterConfig `yaml:"cluster"`
	// Partitions and CallingSearchSpaces are the calling privileges the
	// line templates and lines name.
	Partitions            []provision.Partition            `yaml:"partitions"`
	CallingSearchSpaces   []provision.CallingSearchSpace   `yaml:"callingSearchSpaces"`
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
	HTTPS    string `yaml:"https"` // AXL, RisPort70, UDS: CUCM's Tomcat port
}

// CUCMLimits switch on CUCM's throttles of AXL and RisPort70, for rigs
// that must meet them; 0 is no limit (the default).
type CUCMLimits struct {
	// MaxAXLWritesPerMinute is CUCM's MaxAXLWritesPerMinute (20 there).
	MaxAXLWritesPerMinute int `yaml:"maxAXLWritesPerMinute"`
	// RisPortQueriesPerMinute is CUCM's Allowed Device Queries Per
	// Minute (15 there).
	RisPortQueriesPerMinute int `yaml:"risPortQueriesPerMinute"`
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
	// AutoRegPerSource bounds the devices auto-registration creates for
	// one source address, so one host cannot drain the DN range.
	AutoRegPerSource AutoRegLimit `yaml:"autoRegPerSource"`

	// MaxConnectionsPerSource bounds the TCP+TLS connections of one source
	// address; a site behind one NAT address needs one per phone.
	MaxConnectionsPerSource int `yaml:"maxConnectionsPerSource"`
	// IdleTimeout closes a TCP or TLS connection with no binding that has
	// sent nothing for this long.
	IdleTimeout time.Duration `yaml:"idleTimeout"`
}

// AutoRegLimit is a token bucket of new devices per source address.
type AutoRegLimit struct {
	PerMinute int `yaml:"perMinute"` // new devices a minute after the burst; 0 = no limit
	Burst     int `yaml:"burst"`     // new devices at once; 0 = one minute's worth
}

// SelfProvisioning holds limits of the logins of every flow (phone
// screens, UDS, Webex App sign-in), kept in each daemon's memory.
type SelfProvisioning struct {
	// FailedLoginsPerSource bounds failed logins from one source address
	// (an IPv6 /64) across all user IDs in FailedLoginWindow; over it every
	// login from the source is refused until the window has passed.
	// 0 = no limit.
	FailedLoginsPerSource int           `yaml:"failedLoginsPerSource"`
	FailedLoginWindow     time.Duration `yaml:"failedLoginWindow"`
}

// FailedLoginLimit is the core's per-source limit of failed logins.
func (c *Config) FailedLoginLimit() provision.FailedLoginLimit {
	l := provision.FailedLoginLimit{PerSource: c.SelfProvisioning.FailedLoginsPerSource, Window: c.SelfProvisioning.FailedLoginWindow}
	if l.PerSource == 0 {
		l.PerSource = -1 // the core's zero value is its default
	}
	return l
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
			Services: ":8080", Admin: "127.0.0.1:9080", HTTPS: ":8443",
		},
		// 200 new devices at once from one address (a floor behind one NAT
		// address, a phonesim fleet of 200), then one a second.
		SIP: SIP{DefaultExpires: 120, MinExpires: 60, RatePerSource: 200,
			AutoRegPerSource:        AutoRegLimit{PerMinute: 60, Burst: 200},
			MaxConnectionsPerSource: 128, IdleTimeout: 30 * time.Second},
		TFTP: TFTP{MaxTransfersPerSource: 128},
		SelfProvisioning: SelfProvisioning{
			FailedLoginsPerSource: provision.DefaultFailedLoginsPerSource,
			FailedLoginWindow:     provision.DefaultFailedLoginWindow,
		},
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
// and validates. Every problem is reported at once, type errors and
// semantic ones together, each with its line and key path.
func parse(data []byte, name string) (*Config, error) {
	c := Default()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, withFile(name, yamlProblems(err))
	}
	lines := map[string]int{}
	nodeLines(&doc, "", lines)
	var ps Problems
	checkTypes(&doc, reflect.TypeFor[Config](), "", func(line int, path, msg string) {
		ps = append(ps, Problem{Line: line, Path: path, Msg: msg})
	})
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file (io.EOF) means all defaults. The decoder goes on past
	// a value of the wrong type, so what it could decode is validated too.
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) && len(ps) == 0 {
		ps = append(ps, yamlProblems(err)...)
	}
	builtin, err := builtinModels()
	if err != nil {
		return nil, err
	}
	c.Models = mergeModels(builtin, c.Models)
	if err := c.Validate(); err != nil {
		var vs Problems
		errors.As(err, &vs)
		typeProblems := slices.Clone(ps)
		for _, v := range vs {
			if v.Line == 0 {
				v.Line = lineOf(lines, v.Path)
			}
			// A value the type check refused is at its default here: a
			// complaint about the default would only confuse.
			if !slices.ContainsFunc(typeProblems, func(p Problem) bool { return p.Path != "" && strings.HasPrefix(v.Path+".", p.Path+".") }) {
				ps = append(ps, v)
			}
		}
	}
	if len(ps) > 0 {
		return nil, withFile(name, ps)
	}
	return c, nil
}

// withFile names the file in every problem and orders them by line.
func withFile(name string, ps Problems) Problems {
	for i := range ps {
		ps[i].File = name
	}
	slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
	return ps
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
// returns every problem as Problems, each with its key path.
func (c *Config) Validate() error {
	var ps Problems
	add := func(path string, err error) { ps = append(ps, problemsOf(path, err)...) }
	addf := func(path, format string, args ...any) { add(path, fmt.Errorf(format, args...)) }
	for _, l := range []struct{ key, addr string }{
		{"tftp", c.Listen.TFTP}, {"config", c.Listen.Config}, {"sip", c.Listen.SIP},
		{"sipTLS", c.Listen.SIPTLS}, {"services", c.Listen.Services}, {"admin", c.Listen.Admin},
		{"https", c.Listen.HTTPS},
	} {
		if _, port, err := net.SplitHostPort(l.addr); err != nil {
			addf("listen."+l.key, "%q is not host:port: %v", l.addr, err)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			addf("listen."+l.key, "port %q is not 0 to 65535", port)
		}
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		addf("tls", "cert and key must be set together")
	}
	if (c.HTTPS.Cert == "") != (c.HTTPS.Key == "") {
		addf("https", "cert and key must be set together")
	}
	if c.CUCM.MaxAXLWritesPerMinute < 0 {
		addf("cucm.maxAXLWritesPerMinute", "%d must not be negative (0 means no limit)", c.CUCM.MaxAXLWritesPerMinute)
	}
	if c.CUCM.RisPortQueriesPerMinute < 0 {
		addf("cucm.risPortQueriesPerMinute", "%d must not be negative (0 means no limit)", c.CUCM.RisPortQueriesPerMinute)
	}
	if c.SIP.DefaultExpires < 1 || c.SIP.MinExpires < 0 || c.SIP.MinExpires > c.SIP.DefaultExpires {
		addf("sip.defaultExpires", "%d must be positive and not below minExpires %d", c.SIP.DefaultExpires, c.SIP.MinExpires)
	}
	if c.SIP.RatePerSource < 0 {
		addf("sip.ratePerSource", "%d must not be negative (0 means no limit)", c.SIP.RatePerSource)
	}
	if sp := c.SelfProvisioning; sp.FailedLoginsPerSource < 0 {
		addf("selfProvisioning.failedLoginsPerSource", "%d must not be negative (0 means no limit)", sp.FailedLoginsPerSource)
	}
	if sp := c.SelfProvisioning; sp.FailedLoginWindow <= 0 {
		addf("selfProvisioning.failedLoginWindow", "%s must be positive", sp.FailedLoginWindow)
	}
	if l := c.SIP.AutoRegPerSource; l.PerMinute < 0 || l.Burst < 0 {
		addf("sip.autoRegPerSource", "perMinute %d and burst %d must not be negative", l.PerMinute, l.Burst)
	}
	if c.SIP.MaxConnectionsPerSource < 1 {
		addf("sip.maxConnectionsPerSource", "%d must be at least 1", c.SIP.MaxConnectionsPerSource)
	}
	if c.SIP.IdleTimeout < time.Second {
		addf("sip.idleTimeout", "%s must be at least 1s", c.SIP.IdleTimeout)
	}
	if c.TFTP.MaxTransfersPerSource < 0 {
		addf("tftp.maxTransfersPerSource", "%d must be 0 (no bound) or more", c.TFTP.MaxTransfersPerSource)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		addf("logLevel", "%q must be debug, info, warn or error", c.LogLevel)
	}
	for _, p := range problemsOf("cluster", provision.ValidateCluster(c.cluster())) {
		p.Path = clusterPath(p.Msg)
		ps = append(ps, p)
	}
	if c.Cluster.AuthCode != "" && (len(c.Cluster.AuthCode) < 4 || len(c.Cluster.AuthCode) > 64) {
		addf("cluster.authCode", "must be 4 to 64 characters")
	}

	partitions := map[string]bool{"": true} // <None> is no object
	for i, p := range c.Partitions {
		add(item("partitions", i), provision.ValidatePartition(p))
		if partitions[p.Name] && p.Name != "" {
			addf(item("partitions", i)+".name", "route partition %q appears twice", p.Name)
		}
		partitions[p.Name] = true
	}
	csss := map[string]bool{"": true} // none
	for i, cs := range c.CallingSearchSpaces {
		add(item("callingSearchSpaces", i), provision.ValidateCallingSearchSpace(cs))
		if csss[cs.Name] && cs.Name != "" {
			addf(item("callingSearchSpaces", i)+".name", "calling search space %q appears twice", cs.Name)
		}
		csss[cs.Name] = true
		for j, p := range cs.Partitions {
			if !partitions[p] {
				addf(item(item("callingSearchSpaces", i)+".partitions", j), "route partition %q is not one of partitions", p)
			}
		}
	}
	udts := map[string]bool{provision.AutoRegistrationTemplate: true} // exists from first start
	for i, t := range c.UDTs {
		add(item("udts", i), provision.ValidateUDT(t))
		udts[t.Name] = true
	}
	ults := map[string]bool{}
	for i, t := range c.ULTs {
		add(item("ults", i), provision.ValidateULT(t))
		ults[t.Name] = true
		if !partitions[t.RoutePartition] {
			addf(item("ults", i)+".routePartition", "route partition %q is not one of partitions", t.RoutePartition)
		}
		if !csss[t.CallingSearchSpace] {
			addf(item("ults", i)+".callingSearchSpace", "calling search space %q is not one of callingSearchSpaces", t.CallingSearchSpace)
		}
	}
	ar := c.Cluster.AutoRegistration
	if ar.UDT != "" && !udts[ar.UDT] {
		addf("cluster.autoRegistration.udt", "%q is not one of udts", ar.UDT)
	}
	if ar.ULT != "" && !ults[ar.ULT] {
		addf("cluster.autoRegistration.ult", "%q is not one of ults", ar.ULT)
	}
	if !partitions[ar.Partition] {
		addf("cluster.autoRegistration.partition", "route partition %q is not one of partitions", ar.Partition)
	}
	profiles := map[string]bool{}
	for i, p := range c.UserProfiles {
		add(item("userProfiles", i), provision.ValidateUserProfile(p))
		profiles[p.Name] = true
		for _, u := range []struct{ key, name string }{{"deskPhoneUDT", p.DeskPhoneUDT}, {"mobileDesktopUDT", p.MobileDesktopUDT}, {"remoteDestinationUDT", p.RemoteDestinationUDT}} {
			if u.name != "" && !udts[u.name] {
				addf(item("userProfiles", i)+"."+u.key, "device template %q is not one of udts", u.name)
			}
		}
		if p.ULT != "" && !ults[p.ULT] {
			addf(item("userProfiles", i)+".ult", "line template %q is not one of ults", p.ULT)
		}
	}
	for i, f := range c.FeatureGroupTemplates {
		if f.Name == "" {
			addf(item("featureGroupTemplates", i)+".name", "is required")
		}
		if !profiles[f.UserProfile] {
			addf(item("featureGroupTemplates", i)+".userProfile", "user profile %q is not one of userProfiles", f.UserProfile)
		}
	}
	ids := map[string]bool{}
	for i, u := range c.Users {
		add(item("users", i), provision.ValidateUser(u.User()))
		if ids[u.ID] {
			addf(item("users", i)+".userId", "user ID %q appears twice", u.ID)
		}
		ids[u.ID] = true
		if !partitions[u.Partition] {
			addf(item("users", i)+".partition", "route partition %q is not one of partitions", u.Partition)
		}
		if u.UserProfile != "" && !profiles[u.UserProfile] {
			addf(item("users", i)+".userProfile", "user profile %q is not one of userProfiles", u.UserProfile)
		}
		if u.PIN != "" {
			if _, err := strconv.ParseUint(u.PIN, 10, 64); err != nil {
				addf(item("users", i)+".pin", "PIN must be digits")
			}
		}
	}
	seen := map[int]bool{}
	for i, m := range c.Models {
		add(item("models", i), provision.ValidateModel(m))
		if seen[m.ID] {
			addf(item("models", i)+".id", "id %d appears twice", m.ID)
		}
		seen[m.ID] = true
	}
	if len(ps) == 0 {
		return nil
	}
	return ps
}

func item(list string, i int) string { return list + "[" + strconv.Itoa(i) + "]" }

// clusterPath names the key of a cluster settings problem by its words;
// the core checks the settings as a whole.
func clusterPath(msg string) string {
	for _, k := range []struct{ words, path string }{
		{"authentication mode", "cluster.authMode"},
		{"Webex", "cluster.webexPolicy"},
		{"webex", "cluster.webexPolicy"},
		{"auto-registration", "cluster.autoRegistration"},
		{"failed logon", "cluster.credentialPolicy.failedLogonThreshold"},
		{"lockout", "cluster.credentialPolicy.lockoutDuration"},
		{"durations", "cluster.credentialPolicy"},
	} {
		if strings.Contains(msg, k.words) {
			return k.path
		}
	}
	return "cluster"
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

// AutoRegistrationTemplate is the system UDT created at first start when
// the configuration does not define it: the idle URL opens
// self-provisioning on this daemon's services port at the advertised
// address ("#SERVICEHOST#", expanded when a device is created).
func AutoRegistrationTemplate() provision.UDT {
	return provision.UDT{
		Name: provision.AutoRegistrationTemplate,
		DeviceSettings: provision.DeviceSettings{
			DevicePool:        "Default",
			CallManagerGroup:  "Default",
			IdleURL:           "http://#SERVICEHOST#/xps/idle?name=#DEVICENAME#",
			IdleTimeout:       5,
			AuthenticationURL: "http://#SERVICEHOST#/xps/authenticate",
			SecurityProfile:   provision.UniversalSecurityProfile,
			SIPProfile:        "Standard SIP Profile",
			Transport:         "tcp",
			UserLocale:        "English_United_States",
		},
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
	// Partitions, then the CSSs that list them, then the templates that
	// name both.
	for _, p := range c.Partitions {
		if err := seedOne(ctx, func() error { _, err := svc.Partition(ctx, p.Name); return err }, func() error { return svc.PutPartition(ctx, p) }); err != nil {
			return fmt.Errorf("seed partition %q: %w", p.Name, err)
		}
	}
	for _, cs := range c.CallingSearchSpaces {
		if err := seedOne(ctx, func() error { _, err := svc.CallingSearchSpace(ctx, cs.Name); return err }, func() error { return svc.PutCallingSearchSpace(ctx, cs) }); err != nil {
			return fmt.Errorf("seed calling search space %q: %w", cs.Name, err)
		}
	}
	for _, t := range c.UDTs {
		if err := seedOne(ctx, func() error { _, err := svc.UDT(ctx, t.Name); return err }, func() error { return svc.PutUDT(ctx, t) }); err != nil {
			return fmt.Errorf("seed udt %q: %w", t.Name, err)
		}
	}
	// After the configured ones, so a configuration may define it.
	if _, err := svc.EnsureAutoRegistrationTemplate(ctx, AutoRegistrationTemplate()); err != nil {
		return fmt.Errorf("seed udt %q: %w", provision.AutoRegistrationTemplate, err)
	}
	for _, t := range c.ULTs {
		if err := seedOne(ctx, func() error { _, err := svc.ULT(ctx, t.Name); return err }, func() error { return svc.PutULT(ctx, t) }); err != nil {
			return fmt.Errorf("seed ult %q: %w", t.Name, err)
		}
	}
	for _, p := range c.UserProfiles {
		if err := seedOne(ctx, func() error { _, err := svc.UserProfile(ctx, p.Name); return err }, func() error { return svc.PutUserProfile(ctx, p) }); err != nil {
			return fmt.Errorf("seed user profile %q: %w", p.Name, err)
		}
	}
	for _, f := range c.FeatureGroupTemplates {
		if err := seedOne(ctx, func() error { _, err := svc.FeatureGroupTemplate(ctx, f.Name); return err }, func() error { return svc.PutFeatureGroupTemplate(ctx, f) }); err != nil {
			return fmt.Errorf("seed feature group template %q: %w", f.Name, err)
		}
	}
	if err := c.seedUsers(ctx, svc); err != nil {
		return err
	}
	return c.seedCluster(ctx, svc)
}

// seedUsers creates the configured users the database lacks. Many (a lab's
// or a load test's thousands) go in as one bulk import: its secrets hashed
// on every core, its rows in one transaction (10,000 users: a first
// start of 2.3-2.9 s here, 4.5-5.1 s one at a time). A refused import is
// retried user by user, so that a refusal names its user as the
// configuration does.
func (c *Config) seedUsers(ctx context.Context, svc *provision.Service) error {
	var missing []UserConfig
	for _, u := range c.Users {
		_, err := svc.User(ctx, u.ID)
		switch {
		case err == nil:
		case isNotFound(err):
			missing = append(missing, u)
		default:
			return fmt.Errorf("seed user %q: %w", u.ID, err)
		}
	}
	if len(missing) > 1 {
		if _, err := svc.ImportUsers(ctx, usersCSV(missing)); err == nil {
			return nil
		}
	}
	for _, u := range missing {
		if _, err := svc.CreateUser(ctx, u.User(), provision.Secrets{PIN: u.PIN, Password: u.Password}); err != nil {
			return fmt.Errorf("seed user %q: %w", u.ID, err)
		}
	}
	return nil
}

// usersCSV writes users as a users import file.
func usersCSV(users []UserConfig) io.Reader {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(provision.UserImportColumns)
	row := make([]string, len(provision.UserImportColumns))
	for _, u := range users {
		fields := map[string]string{
			"userId": u.ID, "lastName": u.LastName, "firstName": u.FirstName, "email": u.Email,
			"selfServiceId": u.SelfServiceID, "primaryExtension": u.PrimaryExtension, "partition": u.Partition,
			"userProfile": u.UserProfile, "webexPolicy": string(u.WebexPolicy), "pin": u.PIN, "password": u.Password,
		}
		for i, col := range provision.UserImportColumns {
			row[i] = fields[col]
		}
		w.Write(row)
	}
	w.Flush()
	return &b
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
	if !isNotFound(err) {
		return err
	}
	return create()
}

// isNotFound reports whether err says the object is not in the database.
func isNotFound(err error) bool {
	var pe *provision.Error
	return errors.As(err, &pe) && (pe == provision.ErrNotFound || pe == provision.ErrUserNotFound)
}
