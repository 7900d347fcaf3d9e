package provision

import (
	"errors"
	"fmt"
)

// Error is an outcome the core refuses with. Code is the product's outcome
// code, shown on phone screens, in SIP Warning headers, in JSON errors and in
// logs; adapters map it to their protocol's answer in one table each.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Outcome codes. Spellings are the product's and are part of the contract.
const (
	CodeAutoRegDisabled     = "AUTOREG_DISABLED"
	CodeAutoRegExhausted    = "AUTOREG_DN_RANGE_EXHAUSTED"
	CodeAutoRegRateLimited  = "AUTOREG_RATE_LIMITED"
	CodeAuthFailed          = "AUTH_FAILED"
	CodeAccountLocked       = "ACCOUNT_LOCKED"
	CodeNotAllowed          = "SELFPROV_NOT_ALLOWED"
	CodeNoPrimaryExtension  = "NO_PRIMARY_EXTENSION"
	CodeDeviceLimit         = "SELFPROV_DEVICE_LIMIT"
	CodeInvalidModel        = "INVALID_DEVICE_MODEL"
	CodeTemplateNotFound    = "MODEL_PHONETEMPELATE_NOT_FOUND"
	CodeDuplicate           = "DB-239"
	CodeDeviceNotFound      = "DEVICE_NOT_FOUND"
	CodeDeviceNotAutoReg    = "DEVICE_NOT_AUTOREGISTERED"
	CodeUserNotFound        = "USER_NOT_FOUND"
	CodeNotFound            = "NOT_FOUND"
	CodeInvalid             = "INVALID_ARGUMENT"
	CodeInUse               = "IN_USE"
	CodeAutoProvNoTemplate  = "AUTOPROV_NO_TEMPLATE"
	CodeAutoProvVersion     = "AUTOPROV_UNSUPPORTED_VERSION"
	CodeAutoProvPlatform    = "AUTOPROV_INVALID_PLATFORM"
	CodeAutoProvPolicy      = "AUTOPROV_POLICY_DENIED"
	CodeAutoProvEmail       = "AUTOPROV_EMAIL_MISMATCH"
	CodeAutoProvCoolDown    = "AUTOPROV_COOL_DOWN"
	CodeUnavailable         = "UNAVAILABLE"
	CodeDNInAutoRegRange    = "DN_IN_AUTOREG_RANGE"
	CodeCallerNotRegistered = "CALLER_NOT_REGISTERED"
	CodeNoRoute             = "DN_NOT_FOUND"
)

// Sentinel errors. Match them with errors.Is; CodeOf gives the code of any
// error that wraps one.
var (
	ErrAutoRegDisabled    = &Error{CodeAutoRegDisabled, "auto-registration is disabled"}
	ErrAutoRegExhausted   = &Error{CodeAutoRegExhausted, "auto-registration directory number range is used up"}
	ErrAutoRegRateLimited = &Error{CodeAutoRegRateLimited, "too many new devices from this address; try again later"}
	ErrAuthFailed         = &Error{CodeAuthFailed, "user ID or PIN not valid"}
	ErrAccountLocked      = &Error{CodeAccountLocked, "account is locked"}
	ErrNotAllowed         = &Error{CodeNotAllowed, "user is not allowed to provision phones"}
	ErrNoPrimaryExtension = &Error{CodeNoPrimaryExtension, "user has no primary extension"}
	ErrDeviceLimit        = &Error{CodeDeviceLimit, "user already owns the maximum number of phones"}
	ErrInvalidModel       = &Error{CodeInvalidModel, "device model is not known or not supported"}
	ErrTemplateNotFound   = &Error{CodeTemplateNotFound, "user profile has no universal device template for this phone"}
	ErrDuplicate          = &Error{CodeDuplicate, "duplicate value in a UNIQUE INDEX column (assign)"}
	ErrDeviceNotFound     = &Error{CodeDeviceNotFound, "device not found"}
	ErrDeviceNotAutoReg   = &Error{CodeDeviceNotAutoReg, "device is not auto-registered"}
	ErrUserNotFound       = &Error{CodeUserNotFound, "user not found"}
	ErrNotFound           = &Error{CodeNotFound, "not found"}
	ErrInvalid            = &Error{CodeInvalid, "invalid argument"}
	ErrInUse              = &Error{CodeInUse, "object is in use"}
	ErrAutoProvNoTemplate = &Error{CodeAutoProvNoTemplate, "no device template for the client device"}
	ErrAutoProvVersion    = &Error{CodeAutoProvVersion, "Webex App version is older than 41.12"}
	ErrAutoProvPlatform   = &Error{CodeAutoProvPlatform, "unknown client platform"}
	ErrAutoProvPolicy     = &Error{CodeAutoProvPolicy, "auto-provisioning policy does not allow this device class"}
	ErrAutoProvEmail      = &Error{CodeAutoProvEmail, "email does not match the user"}
	ErrAutoProvCoolDown   = &Error{CodeAutoProvCoolDown, "a device of this type was deleted recently"}
	ErrUnavailable        = &Error{CodeUnavailable, "service unavailable"}
	// ErrDNInAutoRegRange refuses a directory number assigned inside the
	// active auto-registration range, or a range over assigned ones:
	// auto-registration would hand the DN to a phone, and its owner's next
	// provisioning would fail with DB-239.
	ErrDNInAutoRegRange = &Error{CodeDNInAutoRegRange, "directory number is inside the auto-registration range"}
	// ErrCallerNotRegistered refuses a call from an address where no
	// device of the caller is registered, so calls are not relayed for
	// strangers.
	ErrCallerNotRegistered = &Error{CodeCallerNotRegistered, "the calling device is not registered from this address"}
	// ErrNoRoute refuses a call to a directory number that no line has in
	// the calling line's calling search space, unknown or only out of
	// reach: the same answer, so a call does not reveal which.
	ErrNoRoute = &Error{CodeNoRoute, "directory number not found"}
)

// CodeOf returns the outcome code carried by err, or "" for nil and
// "INTERNAL" for errors that carry none.
func CodeOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "INTERNAL"
}

// LogCode is the code a log line carries for err: CodeOf, and "OK" for
// success, so every provisioning step logs a code.
func LogCode(err error) string {
	if err == nil {
		return "OK"
	}
	return CodeOf(err)
}

// invalidf wraps ErrInvalid with a description of what is wrong.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
