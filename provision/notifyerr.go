package provision

// Outcomes of a reset or restart that did not reach the phone.
const (
	CodeNotRegistered = "NOT_REGISTERED"
	CodeNotifyFailed  = "NOTIFY_FAILED"
)

var (
	// ErrNotRegistered: the device has no live registration to send a
	// NOTIFY to.
	ErrNotRegistered = &Error{CodeNotRegistered, "device is not registered"}
	// ErrNotifyFailed: the NOTIFY could not be written to the phone's
	// connection or address.
	ErrNotifyFailed = &Error{CodeNotifyFailed, "the NOTIFY could not be sent to the phone"}
)
