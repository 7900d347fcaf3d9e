package provision

// DeviceWatcher is a Store that sees every device write, because it is its
// database's only writer. Adapters that keep something derived from a
// device (a rendered config) rely on it to drop exactly what changed
// instead of reading the device again on every use.
type DeviceWatcher interface {
	// WatchDevices makes the Store call fn with the upper-cased name of
	// every device written or deleted from now on: after the write
	// commits, in commit order, before the next write begins. fn must be
	// quick and must not call the Store.
	WatchDevices(fn func(name string))
}

// WatchDevices registers fn with the Store when it is a DeviceWatcher
// (see there) and reports whether it is. Without one, a caller must read
// the device whenever it needs it as it is now.
func (s *Service) WatchDevices(fn func(name string)) bool {
	w, ok := s.store.(DeviceWatcher)
	if ok {
		w.WatchDevices(fn)
	}
	return ok
}
