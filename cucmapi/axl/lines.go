package axl

import (
	"selfprov/provision"
)

func forward(name, dest string) *El {
	return P(name, E("forwardToVoiceMail", "false"), E("callingSearchSpaceName", ""), E("destination", dest))
}

// lineEl is a line in RLine/LLine's element names and order. The line's
// calling search space is AXL's shareLineAppearanceCssName.
func lineEl(l provision.DirectoryNumber, withDevices bool) *El {
	e := P("line",
		E("pattern", l.DN),
		E("description", l.Description),
		E("usage", "Device"),
		E("routePartitionName", l.Partition),
		forward("callForwardAll", l.CallForwardAll),
		forward("callForwardBusy", l.CallForwardBusy),
		forward("callForwardNoAnswer", l.CallForwardNoAnswer),
		E("alertingName", l.AlertingName),
		E("asciiAlertingName", l.AlertingName),
		E("shareLineAppearanceCssName", l.CallingSearchSpace),
		E("voiceMailProfileName", l.VoicemailProfile),
	).Attr("uuid", uuidOf("line", l.Partition+"\x00"+l.DN))
	if withDevices {
		ad := P("associatedDevices")
		seen := map[string]bool{}
		for _, a := range l.Appearances {
			if !seen[a.Device] {
				seen[a.Device] = true
				ad.Add(E("device", a.Device))
			}
		}
		e.Add(ad)
	}
	return e
}

func applyLine(l *provision.DirectoryNumber, n *Node) {
	set := func(dst *string, path ...string) {
		if v, ok := value(n, path...); ok {
			*dst = v
		}
	}
	set(&l.Description, "description")
	set(&l.AlertingName, "alertingName")
	set(&l.CallingSearchSpace, "shareLineAppearanceCssName")
	set(&l.CallForwardAll, "callForwardAll", "destination")
	set(&l.CallForwardBusy, "callForwardBusy", "destination")
	set(&l.CallForwardNoAnswer, "callForwardNoAnswer", "destination")
	set(&l.VoicemailProfile, "voiceMailProfileName")
}

func lineKey(c *call, n *Node) (provision.LineKey, error) {
	k := provision.LineKey{DN: n.Value("pattern"), Partition: n.Value("routePartitionName")}
	if k.DN == "" {
		if id := n.Value("uuid"); id != "" {
			return lineByUUID(c, id)
		}
		return k, required("pattern")
	}
	return k, nil
}

func addLine(c *call) (*El, error) {
	n := c.req.Child("line")
	if n == nil {
		return nil, required("line")
	}
	k, err := lineKey(c, n)
	if err != nil {
		return nil, err
	}
	l := provision.DirectoryNumber{DN: k.DN, Partition: k.Partition}
	applyLine(&l, n)
	if _, err := c.svc.AddLine(c.ctx, l); err != nil {
		return nil, faultOf(err, "Line")
	}
	return E("return", uuidOf("line", k.Partition+"\x00"+k.DN)), nil
}

func getLine(c *call) (*El, error) {
	k, err := lineKey(c, c.req)
	if err != nil {
		return nil, err
	}
	l, err := c.svc.Line(c.ctx, k)
	if err != nil {
		return nil, faultOf(err, "Line")
	}
	return P("return", returned(lineEl(l, true), c.req.Child("returnedTags"))), nil
}

func updateLine(c *call) (*El, error) {
	k, err := lineKey(c, c.req)
	if err != nil {
		return nil, err
	}
	if c.req.Value("newPattern") != "" || c.req.Has("newRoutePartitionName") {
		return nil, clientFault(CodeUnsupported, "newPattern and newRoutePartitionName are not supported: add a line and remove this one")
	}
	if _, err := c.svc.UpdateLine(c.ctx, k, func(l *provision.DirectoryNumber) error {
		applyLine(l, c.req)
		return nil
	}); err != nil {
		return nil, faultOf(err, "Line")
	}
	return E("return", uuidOf("line", k.Partition+"\x00"+k.DN)), nil
}

func removeLine(c *call) (*El, error) {
	k, err := lineKey(c, c.req)
	if err != nil {
		return nil, err
	}
	if err := c.svc.RemoveLine(c.ctx, k); err != nil {
		return nil, faultOf(err, "Line")
	}
	return E("return", uuidOf("line", k.Partition+"\x00"+k.DN)), nil
}

func listLine(c *call) (*El, error) {
	crit, err := criteria(c.req, "pattern", "description", "usage", "routePartitionName")
	if err != nil {
		return nil, err
	}
	pg, err := pageOf(c.req)
	if err != nil {
		return nil, err
	}
	rt := c.req.Child("returnedTags")
	out := P("return")
	i := 0
	f := provision.LineFilter{Limit: 1000}
	for {
		ls, err := c.svc.Lines(c.ctx, f)
		if err != nil {
			return nil, err
		}
		for _, l := range ls {
			if !matches(crit, func(k string) string {
				switch k {
				case "pattern":
					return l.DN
				case "description":
					return l.Description
				case "usage":
					return "Device"
				}
				return l.Partition
			}) {
				continue
			}
			keep, more := pg.take(i)
			i++
			if keep {
				out.Add(returned(lineEl(l, false), rt))
			}
			if !more {
				return out, nil
			}
		}
		if len(ls) < 1000 {
			return out, nil
		}
		f.After = ls[len(ls)-1].Key()
	}
}
