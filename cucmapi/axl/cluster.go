package axl

import (
	"errors"
	"strings"

	"selfprov/provision"
)

// The cluster's auto-registration settings are CUCM's CallManager's
// autoRegistration; this node is its one CallManager, "CM_<node>".

func (c *call) callManagerName() string { return "CM_" + c.node }

func (c *call) isCallManager(name string) bool {
	return strings.EqualFold(name, c.callManagerName()) || strings.EqualFold(name, c.node)
}

func callManagerEl(c *call, cl provision.Cluster) *El {
	ar := cl.AutoRegistration
	enabled := "false"
	if ar.Enabled {
		enabled = "true"
	}
	return P("callManager",
		E("name", c.callManagerName()),
		E("description", c.node),
		P("autoRegistration",
			E("startDn", ar.Range.Start),
			E("endDn", ar.Range.End),
			E("nextDn", ar.Range.Start),
			E("routePartitionName", ar.Partition),
			E("autoRegistrationEnabled", enabled),
			E("universalDeviceTemplate", ar.UDT),
			E("lineTemplate", ar.ULT),
		),
		P("ports", E("ethernetPhonePort", "2000"), P("sipPorts", E("sipPhonePort", "5060"), E("sipPhoneSecurePort", "5061"))),
		E("processNodeName", c.node),
	).Attr("uuid", uuidOf("callManager", c.callManagerName()))
}

func getCallManager(c *call) (*El, error) {
	name := c.req.Value("name")
	if name == "" {
		return nil, required("name")
	}
	if !c.isCallManager(name) {
		return nil, notFound("CallManager")
	}
	cl, err := c.svc.Cluster(c.ctx)
	if err != nil {
		return nil, err
	}
	return P("return", returned(callManagerEl(c, cl), c.req.Child("returnedTags"))), nil
}

func listCallManager(c *call) (*El, error) {
	crit, err := criteria(c.req, "name", "description")
	if err != nil {
		return nil, err
	}
	out := P("return")
	cl, err := c.svc.Cluster(c.ctx)
	if err != nil {
		return nil, err
	}
	if matches(crit, func(k string) string {
		if k == "name" {
			return c.callManagerName()
		}
		return c.node
	}) {
		out.Add(returned(callManagerEl(c, cl), c.req.Child("returnedTags")))
	}
	return out, nil
}

func updateCallManager(c *call) (*El, error) {
	name := c.req.Value("name")
	if name == "" {
		return nil, required("name")
	}
	if !c.isCallManager(name) {
		return nil, notFound("CallManager")
	}
	ar := c.req.Child("autoRegistration")
	if ar == nil {
		return E("return", uuidOf("callManager", c.callManagerName())), nil
	}
	_, err := c.svc.UpdateCluster(c.ctx, func(cl *provision.Cluster) error {
		a := &cl.AutoRegistration
		set := func(dst *string, name string) {
			if v, ok := value(ar, name); ok {
				*dst = v
			}
		}
		set(&a.Range.Start, "startDn")
		set(&a.Range.End, "endDn")
		set(&a.Partition, "routePartitionName")
		set(&a.UDT, "universalDeviceTemplate")
		set(&a.ULT, "lineTemplate")
		if v, ok := value(ar, "autoRegistrationEnabled"); ok {
			a.Enabled = boolOf(v)
		}
		return nil
	})
	if err != nil {
		return nil, faultOf(err, "CallManager")
	}
	return E("return", uuidOf("callManager", c.callManagerName())), nil
}

// updateSelfProvisioning sets the authentication of self-provisioning:
// requireAuthentication false is mode none; true with allowAuthentication
// (administrators' authentication code allowed) is users-and-admin, else
// users.
func updateSelfProvisioning(c *call) (*El, error) {
	var mode provision.AuthMode
	if v, ok := value(c.req, "requireAuthentication"); ok {
		switch {
		case !boolOf(v):
			mode = provision.AuthNone
		case boolOf(c.req.Value("allowAuthentication")):
			mode = provision.AuthUsersAndAdmin
		default:
			mode = provision.AuthUsers
		}
	} else if v, ok := value(c.req, "allowAuthentication"); ok {
		mode = provision.AuthUsers
		if boolOf(v) {
			mode = provision.AuthUsersAndAdmin
		}
	}
	var code *string
	if v, ok := value(c.req, "authenticationCode"); ok {
		code = &v
	}
	if _, err := c.svc.SetSelfProvisioning(c.ctx, mode, code); err != nil {
		return nil, faultOf(err, "SelfProvisioning")
	}
	return E("return", uuidOf("selfProvisioning", "")), nil
}

// doAuthenticateUser checks an end user's password or PIN, as CUCM's does,
// through the core's credential policy.
func doAuthenticateUser(c *call) (*El, error) {
	id := c.req.Value("userid")
	if id == "" {
		return nil, required("userid")
	}
	secret := c.req.Value("password")
	if secret == "" {
		secret = c.req.Value("pin")
	}
	_, err := c.svc.AuthenticateUser(c.ctx, provision.Credentials{UserID: id, Secret: secret, Source: c.source})
	ok, code := "true", "0"
	switch {
	case err == nil:
	case errors.Is(err, provision.ErrAuthFailed), errors.Is(err, provision.ErrAccountLocked), errors.Is(err, provision.ErrTooManyAttempts):
		ok, code = "false", "1"
		if errors.Is(err, provision.ErrAccountLocked) {
			code = "2"
		}
	default:
		return nil, faultOf(err, "User")
	}
	return P("return", E("userAuthenticated", ok), E("code", code), E("daysToExpiry", "0"), E("isWarningNeeded", "false")), nil
}
