package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"selfprov/internal/clip"
	"selfprov/provision"
)

// clusterView is the cluster settings as the API shows them: durations as
// Go duration strings ("30m0s"), the authentication code only as whether
// one is set.
type clusterView struct {
	AutoRegistration autoRegView           `json:"autoRegistration"`
	AuthMode         provision.AuthMode    `json:"authMode"`
	AuthCodeSet      bool                  `json:"authCodeSet"`
	CredentialPolicy credentialView        `json:"credentialPolicy"`
	WebexPolicy      provision.WebexPolicy `json:"webexPolicy"`
	WebexCoolDown    string                `json:"webexCoolDown"`
}

type autoRegView struct {
	Enabled   bool   `json:"enabled"`
	Active    bool   `json:"active"` // enabled and a range whose ends differ
	UDT       string `json:"udt"`
	ULT       string `json:"ult"`
	StartDN   string `json:"startDN"`
	EndDN     string `json:"endDN"`
	Partition string `json:"partition"`
}

type credentialView struct {
	FailedLogonThreshold int    `json:"failedLogonThreshold"`
	ResetCounterAfter    string `json:"resetCounterAfter"`
	LockoutDuration      string `json:"lockoutDuration"`
}

func viewCluster(c provision.Cluster) clusterView {
	ar := c.AutoRegistration
	return clusterView{
		AutoRegistration: autoRegView{
			Enabled: ar.Enabled, Active: ar.Active(), UDT: ar.UDT, ULT: ar.ULT,
			StartDN: ar.Range.Start, EndDN: ar.Range.End, Partition: ar.Partition,
		},
		AuthMode:    c.AuthMode,
		AuthCodeSet: c.AuthCodeHash != "",
		CredentialPolicy: credentialView{
			FailedLogonThreshold: c.CredentialPolicy.FailedLogonThreshold,
			ResetCounterAfter:    c.CredentialPolicy.ResetCounterAfter.String(),
			LockoutDuration:      c.CredentialPolicy.LockoutDuration.String(),
		},
		WebexPolicy:   c.WebexPolicy,
		WebexCoolDown: c.WebexCoolDown.String(),
	}
}

// clusterPatch changes the fields it carries and leaves the others.
type clusterPatch struct {
	AutoRegistration *struct {
		Enabled   *bool   `json:"enabled"`
		UDT       *string `json:"udt"`
		ULT       *string `json:"ult"`
		StartDN   *string `json:"startDN"`
		EndDN     *string `json:"endDN"`
		Partition *string `json:"partition"`
	} `json:"autoRegistration"`
	AuthMode         *provision.AuthMode `json:"authMode"`
	CredentialPolicy *struct {
		FailedLogonThreshold *int      `json:"failedLogonThreshold"`
		ResetCounterAfter    *duration `json:"resetCounterAfter"`
		LockoutDuration      *duration `json:"lockoutDuration"`
	} `json:"credentialPolicy"`
	WebexPolicy   *provision.WebexPolicy `json:"webexPolicy"`
	WebexCoolDown *duration              `json:"webexCoolDown"`
}

func (p *clusterPatch) apply(c *provision.Cluster) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	if a := p.AutoRegistration; a != nil {
		ar := &c.AutoRegistration
		if a.Enabled != nil {
			ar.Enabled = *a.Enabled
		}
		set(&ar.UDT, a.UDT)
		set(&ar.ULT, a.ULT)
		set(&ar.Range.Start, a.StartDN)
		set(&ar.Range.End, a.EndDN)
		set(&ar.Partition, a.Partition)
	}
	if p.AuthMode != nil {
		c.AuthMode = *p.AuthMode
	}
	if cp := p.CredentialPolicy; cp != nil {
		if cp.FailedLogonThreshold != nil {
			c.CredentialPolicy.FailedLogonThreshold = *cp.FailedLogonThreshold
		}
		if cp.ResetCounterAfter != nil {
			c.CredentialPolicy.ResetCounterAfter = time.Duration(*cp.ResetCounterAfter)
		}
		if cp.LockoutDuration != nil {
			c.CredentialPolicy.LockoutDuration = time.Duration(*cp.LockoutDuration)
		}
	}
	if p.WebexPolicy != nil {
		c.WebexPolicy = *p.WebexPolicy
	}
	if p.WebexCoolDown != nil {
		c.WebexCoolDown = time.Duration(*p.WebexCoolDown)
	}
}

// duration is a Go duration string in JSON: "30m", "90s", "0".
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return invalid(fmt.Sprintf("duration %s must be a string such as \"30m\" or \"90s\"", clip.String(string(b), 64)))
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return invalid(fmt.Sprintf("duration %q is not valid; use a form such as \"30m\" or \"90s\"", clip.String(s, 64)))
	}
	*d = duration(v)
	return nil
}

func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) {
	c, err := s.svc.Cluster(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewCluster(c))
}

// patchCluster applies a partial change in one validated step: on any
// error nothing changes. The core's cached settings are replaced, so the
// change is live for the next phone without a restart.
func (s *Server) patchCluster(w http.ResponseWriter, r *http.Request) {
	var p clusterPatch
	if err := s.decodeBody(w, r, &p); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	// The core refuses a range over assigned DNs (DN_IN_AUTOREG_RANGE).
	c, err := s.svc.UpdateCluster(ctx, func(c *provision.Cluster) error {
		p.apply(c)
		return nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, viewCluster(c))
}

type authCodeInput struct {
	AuthCode *string `json:"authCode"`
}

// putAuthCode sets the system authentication code of users-and-admin
// mode; an empty string clears it.
func (s *Server) putAuthCode(w http.ResponseWriter, r *http.Request) {
	var in authCodeInput
	if err := s.decodeBody(w, r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.AuthCode == nil {
		s.writeError(w, r, invalid(`field "authCode" is required ("" clears the code)`))
		return
	}
	if err := s.svc.SetAuthCode(r.Context(), *in.AuthCode); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
