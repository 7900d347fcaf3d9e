package axl

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"selfprov/provision"
)

// Fault is an AXL error as CUCM returns it: a SOAP fault whose detail is
// an axlError with axlcode, axlmessage and the request's name.
type Fault struct {
	HTTPStatus int    // 500 for SOAP faults, as SOAP 1.1 says; 401, 403, 413 before any operation
	Code       string // faultcode: soapenv:Client or soapenv:Server
	AXLCode    int
	Message    string
}

func (f *Fault) Error() string { return fmt.Sprintf("axl fault %d: %s", f.AXLCode, f.Message) }

// AXL error codes, CUCM's where CUCM has one.
const (
	CodeDuplicate   = -239 // duplicate value in a UNIQUE INDEX column
	CodeItemInvalid = 5007 // "Item not valid: The specified … was not found"
	CodeInvalid     = 5003 // a value CUCM refuses
	CodeRequired    = 5002 // a required element is missing
	CodeUnsupported = 5000 // an operation or request this server does not serve
	CodeAuth        = 401  // HTTP Basic refused
	CodeThrottled   = 503  // over the emulated MaxAXLWritesPerMinute
	CodeInternal    = -1
)

func clientFault(code int, format string, args ...any) *Fault {
	return &Fault{HTTPStatus: http.StatusInternalServerError, Code: "soapenv:Client", AXLCode: code, Message: fmt.Sprintf(format, args...)}
}

func serverFault(code int, msg string) *Fault {
	return &Fault{HTTPStatus: http.StatusInternalServerError, Code: "soapenv:Server", AXLCode: code, Message: msg}
}

// notFound is the fault for an object the request names but the store
// does not hold, in CUCM's words.
func notFound(what string) *Fault {
	return serverFault(CodeItemInvalid, "Item not valid: The specified "+what+" was not found")
}

// required is the fault for a missing element.
func required(what string) *Fault {
	return clientFault(CodeRequired, "%s is required", what)
}

// faultOf maps a core error to its AXL fault: one table for every
// operation; what names the object for not-found messages.
func faultOf(err error, what string) *Fault {
	var f *Fault
	if errors.As(err, &f) {
		return f
	}
	switch provision.CodeOf(err) {
	case provision.CodeDuplicate:
		return serverFault(CodeDuplicate, "Could not insert new row - duplicate value in a UNIQUE INDEX column (Unique Index:).")
	case provision.CodeUserNotFound:
		return notFound("User")
	case provision.CodeNotFound, provision.CodeDeviceNotFound:
		return notFound(what)
	case provision.CodeInvalid, provision.CodeInvalidModel, provision.CodeDNInAutoRegRange, provision.CodeInUse,
		provision.CodeNoPrimaryExtension, provision.CodeTemplateNotFound:
		return serverFault(CodeInvalid, err.Error())
	case provision.CodeUnavailable:
		return &Fault{HTTPStatus: http.StatusServiceUnavailable, Code: "soapenv:Server", AXLCode: CodeInternal, Message: "Service unavailable, try again later"}
	}
	return serverFault(CodeInternal, "Internal error")
}

// body renders the fault's SOAP body element.
func (f *Fault) body(request string) *El {
	return P("soapenv:Fault",
		E("faultcode", f.Code),
		E("faultstring", f.Message),
		P("detail", P("axlError",
			E("axlcode", strconv.Itoa(f.AXLCode)),
			E("axlmessage", f.Message),
			E("request", request),
		)),
	)
}
