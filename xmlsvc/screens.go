package xmlsvc

import (
	"errors"
	"strings"

	"selfprov/phonexml"
	"selfprov/provision"
)

const title = "Self Provisioning"

// Built-in soft key actions [XSI].
const (
	keySubmit    = "SoftKey:Submit"
	keyBackspace = "SoftKey:<<"
	keyExit      = "SoftKey:Exit"
)

// phoneMessages is what a phone shows for each outcome code, one table for
// the adapter. A code missing here shows the core's message.
var phoneMessages = map[string]string{
	provision.CodeInvalid:            "The request is not valid.",
	provision.CodeDeviceNotFound:     "This phone is not known to the system.",
	provision.CodeDeviceNotAutoReg:   "This phone is already provisioned.",
	provision.CodeAuthFailed:         "User ID or PIN not valid.",
	provision.CodeAccountLocked:      "This account is locked. Try again later or ask your administrator.",
	provision.CodeNotAllowed:         "You are not allowed to provision phones.",
	provision.CodeNoPrimaryExtension: "You have no primary extension. Ask your administrator.",
	provision.CodeDeviceLimit:        "You already have the maximum number of phones.",
	provision.CodeInvalidModel:       "This phone model cannot be provisioned.",
	provision.CodeTemplateNotFound:   "Your profile has no device template for this phone. Ask your administrator.",
	provision.CodeDuplicate:          provision.CodeDuplicate + " " + provision.ErrDuplicate.Message, // the product's words
	provision.CodeUserNotFound:       "User ID or PIN not valid.",
	provision.CodeUnavailable:        "The service is busy. Try again shortly.",
	provision.CodeTooManyAttempts:    "Too many failed logins from this network. Try again later.",
	"INTERNAL":                       "The system could not complete this. Try again later.",
}

// phoneMessage picks the text for err: adapter-made errors carry their
// own message; core errors use the table, never the wrapped detail, which
// may name internals.
func phoneMessage(err error) string {
	var pe *provision.Error
	if errors.As(err, &pe) && !isSentinel(pe) {
		return pe.Message
	}
	if m, ok := phoneMessages[provision.CodeOf(err)]; ok {
		return m
	}
	if pe != nil {
		return pe.Message
	}
	return phoneMessages["INTERNAL"]
}

// isSentinel tells the core's sentinel errors from the adapter's own
// *provision.Error values, which carry a message written for the phone.
func isSentinel(pe *provision.Error) bool {
	for _, s := range []*provision.Error{
		provision.ErrInvalid, provision.ErrDeviceNotFound, provision.ErrDeviceNotAutoReg, provision.ErrAuthFailed,
		provision.ErrAccountLocked, provision.ErrNotAllowed, provision.ErrNoPrimaryExtension, provision.ErrDeviceLimit,
		provision.ErrInvalidModel, provision.ErrTemplateNotFound, provision.ErrDuplicate, provision.ErrUserNotFound,
		provision.ErrUnavailable, provision.ErrTooManyAttempts,
	} {
		if pe == s {
			return true
		}
	}
	return false
}

func loginScreen(c *call, mode provision.AuthMode) *phonexml.Input {
	l := c.layout()
	in := &phonexml.Input{
		Title: title,
		URL:   c.url(c.f.login),
		Items: []phonexml.InputItem{{DisplayName: "User ID", QueryStringParam: "userid", InputFlags: "A"}},
		SoftKeys: []phonexml.SoftKeyItem{
			{Name: "Submit", URL: keySubmit, Position: l.selectKey},
			{Name: "<<", URL: keyBackspace, Position: l.otherKey},
			{Name: "Exit", URL: keyExit, Position: l.exitKey},
		},
	}
	switch mode {
	case provision.AuthNone:
		in.Prompt = "Enter your user ID"
	case provision.AuthUsersAndAdmin:
		in.Prompt = "Enter user ID and PIN or code"
		// The system authentication code may hold letters.
		in.Items = append(in.Items, phonexml.InputItem{DisplayName: "PIN or code", QueryStringParam: "pin", InputFlags: "AP"})
	default:
		in.Prompt = "Enter user ID and PIN"
		in.Items = append(in.Items, phonexml.InputItem{DisplayName: "PIN", QueryStringParam: "pin", InputFlags: "NP"})
	}
	sortKeys(in.SoftKeys)
	return in
}

func confirmScreen(c *call, p provision.Plan, token string) *phonexml.Text {
	l := c.layout()
	who := strings.TrimSpace(p.User.FirstName + " " + p.User.LastName)
	if who == "" {
		who = p.User.ID
	}
	text := "Provision this phone with extension " + p.Extension + " for " + who + " (" + p.User.ID + ")?"
	if l.compact {
		text = "Provision this phone with extension " + p.Extension + "?"
	}
	t := &phonexml.Text{
		Title:  title,
		Prompt: "Confirm",
		Text:   text,
		SoftKeys: []phonexml.SoftKeyItem{
			{Name: "Continue", URL: c.url(c.f.confirm, "token", token), Position: l.selectKey},
			{Name: "Exit", URL: c.url(c.f.exit, "token", token), Position: l.exitKey},
		},
	}
	sortKeys(t.SoftKeys)
	return t
}

func successScreen(c *call, d provision.Device) *phonexml.Text {
	ext := ""
	if len(d.Lines) > 0 {
		ext = d.Lines[0].DN
	}
	return &phonexml.Text{
		Title:    title,
		Prompt:   "Provisioned",
		Text:     "This phone now has extension " + ext + ". It restarts now.",
		SoftKeys: []phonexml.SoftKeyItem{{Name: "Exit", URL: keyExit, Position: c.layout().exitKey}},
	}
}

func exitScreen(c *call) *phonexml.Text {
	return &phonexml.Text{
		Title:    title,
		Prompt:   "Cancelled",
		Text:     "Nothing was changed on this phone.",
		SoftKeys: []phonexml.SoftKeyItem{{Name: "Exit", URL: keyExit, Position: c.layout().exitKey}},
	}
}

// outcomeScreen names the code of a refused step. Where starting again can
// help, a Retry key leads back to the login screen.
func outcomeScreen(c *call, code, msg string) *phonexml.Text {
	l := c.layout()
	text := msg
	if !strings.HasPrefix(msg, code+" ") {
		text += " (" + code + ")"
	}
	t := &phonexml.Text{
		Title:    title,
		Prompt:   code,
		Text:     text,
		SoftKeys: []phonexml.SoftKeyItem{{Name: "Exit", URL: keyExit, Position: l.exitKey}},
	}
	switch code {
	case provision.CodeAuthFailed, provision.CodeInvalid, codeTokenInvalid:
		if c.device != "" {
			t.SoftKeys = append(t.SoftKeys, phonexml.SoftKeyItem{Name: "Retry", URL: c.url(c.f.idle), Position: l.selectKey})
		}
	}
	sortKeys(t.SoftKeys)
	return t
}

// sortKeys orders soft keys by position, as phones list them.
func sortKeys(k []phonexml.SoftKeyItem) {
	for i := 1; i < len(k); i++ {
		for j := i; j > 0 && k[j].Position < k[j-1].Position; j-- {
			k[j], k[j-1] = k[j-1], k[j]
		}
	}
}
