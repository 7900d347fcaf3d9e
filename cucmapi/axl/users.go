package axl

import (
	"selfprov/provision"
)

// userEl is an end user in RUser/LUser's element names and order.
func userEl(u provision.User, devices []string) *El {
	e := P("user",
		E("firstName", u.FirstName),
		E("lastName", u.LastName),
		E("userid", u.ID),
		E("mailid", u.Email),
	).Attr("uuid", uuidOf("user", u.ID))
	ad := P("associatedDevices")
	for _, d := range devices {
		ad.Add(E("device", d))
	}
	e.Add(ad, P("primaryExtension", E("pattern", u.PrimaryExtension), E("routePartitionName", u.Partition)))
	groups := P("associatedGroups")
	for _, g := range u.Groups {
		groups.Add(P("userGroup", E("name", g)))
	}
	e.Add(groups, E("selfService", u.SelfServiceID), E("userProfile", u.UserProfile))
	return e
}

// applyUser writes the fields the request element gives onto u.
func applyUser(u *provision.User, n *Node) provision.Secrets {
	set := func(dst *string, path ...string) {
		if v, ok := value(n, path...); ok {
			*dst = v
		}
	}
	set(&u.FirstName, "firstName")
	set(&u.LastName, "lastName")
	set(&u.Email, "mailid")
	set(&u.PrimaryExtension, "primaryExtension", "pattern")
	set(&u.Partition, "primaryExtension", "routePartitionName")
	set(&u.SelfServiceID, "selfService")
	set(&u.UserProfile, "userProfile")
	if g := n.Child("associatedGroups"); g != nil {
		u.Groups = nil
		for _, ug := range g.Kids {
			if name := ug.Value("name"); ug.Name == "userGroup" && name != "" {
				u.Groups = append(u.Groups, name)
			}
		}
	}
	return provision.Secrets{PIN: n.Value("pin"), Password: n.Value("password")}
}

func addUser(c *call) (*El, error) {
	n := c.req.Child("user")
	if n == nil {
		return nil, required("user")
	}
	u := provision.User{ID: n.Value("userid")}
	if u.ID == "" {
		return nil, required("userid")
	}
	sec := applyUser(&u, n)
	if _, err := c.svc.CreateUser(c.ctx, u, sec); err != nil {
		return nil, faultOf(err, "User")
	}
	return E("return", uuidOf("user", u.ID)), nil
}

// ownedDevices lists the names of the devices u owns.
func ownedDevices(c *call, id string) ([]string, error) {
	var names []string
	f := provision.DeviceFilter{Owner: id, Limit: 1000}
	for {
		ds, err := c.svc.Devices(c.ctx, f)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			names = append(names, d.Name)
		}
		if len(ds) < 1000 {
			return names, nil
		}
		f.After = ds[len(ds)-1].Name
	}
}

func findUser(c *call) (provision.User, error) {
	id := c.req.Value("userid")
	if id == "" {
		uuid := c.req.Value("uuid")
		if uuid == "" {
			return provision.User{}, required("userid")
		}
		var err error
		if id, err = userByUUID(c, uuid); err != nil {
			return provision.User{}, err
		}
	}
	u, err := c.svc.User(c.ctx, id)
	if err != nil {
		return provision.User{}, faultOf(err, "User")
	}
	return u, nil
}

func getUser(c *call) (*El, error) {
	u, err := findUser(c)
	if err != nil {
		return nil, err
	}
	devices, err := ownedDevices(c, u.ID)
	if err != nil {
		return nil, err
	}
	return P("return", returned(userEl(u, devices), c.req.Child("returnedTags"))), nil
}

func updateUser(c *call) (*El, error) {
	u, err := findUser(c)
	if err != nil {
		return nil, err
	}
	if v := c.req.Value("newUserid"); v != "" && v != u.ID {
		return nil, clientFault(CodeUnsupported, "newUserid is not supported: a user ID does not change")
	}
	sec := applyUser(&u, c.req)
	if _, err := c.svc.UpdateUser(c.ctx, u, sec); err != nil {
		return nil, faultOf(err, "User")
	}
	return E("return", uuidOf("user", u.ID)), nil
}

func removeUser(c *call) (*El, error) {
	u, err := findUser(c)
	if err != nil {
		return nil, err
	}
	if err := c.svc.DeleteUser(c.ctx, u.ID); err != nil {
		return nil, faultOf(err, "User")
	}
	return E("return", uuidOf("user", u.ID)), nil
}

func listUser(c *call) (*El, error) {
	crit, err := criteria(c.req, "firstName", "lastName", "userid", "department")
	if err != nil {
		return nil, err
	}
	pg, err := pageOf(c.req)
	if err != nil {
		return nil, err
	}
	rt := c.req.Child("returnedTags")
	out := P("return")
	field := func(u provision.User) func(string) string {
		return func(k string) string {
			switch k {
			case "firstName":
				return u.FirstName
			case "lastName":
				return u.LastName
			case "userid":
				return u.ID
			}
			return ""
		}
	}
	i, after := 0, ""
	for {
		us, err := c.svc.Users(c.ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			if !matches(crit, field(u)) {
				continue
			}
			keep, more := pg.take(i)
			i++
			if keep {
				// A list shows no associated devices, as LUser has none.
				e := userEl(u, nil)
				e.Kids = removeNamed(e.Kids, "associatedDevices", "associatedGroups", "selfService", "userProfile")
				out.Add(returned(e, rt))
			}
			if !more {
				return out, nil
			}
		}
		if len(us) < 1000 {
			return out, nil
		}
		after = us[len(us)-1].ID
	}
}

func removeNamed(kids []*El, names ...string) []*El {
	out := kids[:0:0]
	for _, k := range kids {
		drop := false
		for _, n := range names {
			drop = drop || k.Name == n
		}
		if !drop {
			out = append(out, k)
		}
	}
	return out
}
