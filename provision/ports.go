package provision

import (
	"context"
	"time"
)

// Store persists the domain. Implementations keep every multi-row change in
// one transaction and report uniqueness violations as ErrDuplicate and
// missing rows as ErrNotFound (or a more specific not-found sentinel).
//
// The callbacks some methods take (build, edit, clear) run inside the
// store's write transaction: they decide, and may read through the store,
// but must not write through it.
//
// Uniqueness: device names (case-insensitively); one line per button of a
// device; and a directory number (DN, partition) taken by auto-registration
// belongs to that device alone. Other lines may be shared between devices
// (a user's desk phone and Webex clients share the primary extension); a
// line itself, (DN, partition), is one object, created once.
type Store interface {
	// Cluster returns the settings, ErrNotFound before they are first saved.
	Cluster(ctx context.Context) (Cluster, error)
	SaveCluster(ctx context.Context, c Cluster) error

	UDT(ctx context.Context, name string) (UDT, error)
	UDTs(ctx context.Context) ([]UDT, error)
	PutUDT(ctx context.Context, t UDT) error
	DeleteUDT(ctx context.Context, name string) error
	ULT(ctx context.Context, name string) (ULT, error)
	ULTs(ctx context.Context) ([]ULT, error)
	PutULT(ctx context.Context, t ULT) error
	DeleteULT(ctx context.Context, name string) error
	UserProfile(ctx context.Context, name string) (UserProfile, error)
	UserProfiles(ctx context.Context) ([]UserProfile, error)
	PutUserProfile(ctx context.Context, p UserProfile) error
	DeleteUserProfile(ctx context.Context, name string) error
	FeatureGroupTemplate(ctx context.Context, name string) (FeatureGroupTemplate, error)
	FeatureGroupTemplates(ctx context.Context) ([]FeatureGroupTemplate, error)
	PutFeatureGroupTemplate(ctx context.Context, t FeatureGroupTemplate) error
	DeleteFeatureGroupTemplate(ctx context.Context, name string) error

	Partition(ctx context.Context, name string) (Partition, error)
	Partitions(ctx context.Context) ([]Partition, error)
	PutPartition(ctx context.Context, p Partition) error
	DeletePartition(ctx context.Context, name string) error
	CallingSearchSpace(ctx context.Context, name string) (CallingSearchSpace, error)
	CallingSearchSpaces(ctx context.Context) ([]CallingSearchSpace, error)
	PutCallingSearchSpace(ctx context.Context, c CallingSearchSpace) error
	DeleteCallingSearchSpace(ctx context.Context, name string) error

	// User finds a user by user ID or, failing that, by self-service ID.
	User(ctx context.Context, id string) (User, error)
	Users(ctx context.Context, after string, limit int) ([]User, error)
	// CreateUser fails with ErrDuplicate when the ID exists. A non-nil d is
	// created in the same transaction (quick user/phone add).
	CreateUser(ctx context.Context, u User, d *Device) error
	// UpdateUser replaces a user's record; ErrUserNotFound when absent.
	UpdateUser(ctx context.Context, u User) error
	// DeleteUser removes a user and rewrites, in the same transaction,
	// each device they own through clear (which removes the owner).
	DeleteUser(ctx context.Context, id string, clear func(Device) Device) error
	SetCredentialState(ctx context.Context, id string, s CredentialState) error

	Device(ctx context.Context, name string) (Device, error)
	Devices(ctx context.Context, f DeviceFilter) ([]Device, error)
	CountOwnedDevices(ctx context.Context, owner string) (int, error)
	// CreateDevice inserts a device with its lines.
	CreateDevice(ctx context.Context, d Device) error
	// UpdateDevice reads a device, hands it to edit and writes what edit
	// returns in one transaction, with the checks of CreateDevice; an
	// error from edit leaves the device as it was.
	UpdateDevice(ctx context.Context, name string, edit func(Device) (Device, error)) (Device, error)
	// DeleteDevice removes a device, releasing its auto-registration DN and
	// recording at as its owner's last deletion of that device type.
	DeleteDevice(ctx context.Context, name string, at time.Time) error

	// AutoRegisterAsync creates the device build returns for the lowest DN
	// of r that no line uses in partition, in one transaction, and hands
	// the result to done. If a device named name exists it is handed back
	// unchanged with created false, so a retried REGISTER never takes a
	// second DN. A range with no free DN gives ErrAutoRegExhausted. done
	// may run on another goroutine (one that serves other requests: done
	// must not block) or, when the answer is known at once, on the caller's.
	AutoRegisterAsync(ctx context.Context, name string, r DNRange, partition string, build func(dn string) Device, done func(dev Device, created bool, err error))
	// ReplaceDevice removes the auto-registered device oldName and inserts d
	// in one transaction. It fails with ErrDeviceNotAutoReg if oldName is no
	// longer auto-registered (another phone won), ErrDeviceNotFound if it is
	// gone, and ErrDeviceLimit if d.Owner would then own more than limit
	// devices (limit <= 0 means no limit).
	ReplaceDevice(ctx context.Context, oldName string, d Device, limit int) error
	// Import inserts users, then devices with their lines, in one
	// transaction: all of them or, on the first failure, none. row is the
	// index of the failing user, or len(users) plus the index of the
	// failing device; -1 when the failure belongs to no row.
	Import(ctx context.Context, users []User, devices []Device) (row int, err error)
	// Line reads a line with its appearances; ErrNotFound when neither a
	// stored line nor a device's appearance has that DN and partition.
	Line(ctx context.Context, k LineKey) (DirectoryNumber, error)
	// Lines lists lines in (partition, DN) order, those only appearances
	// name included, without their appearances.
	Lines(ctx context.Context, f LineFilter) ([]DirectoryNumber, error)
	// LinesByDN returns, in one indexed read, the lines with the DN in
	// the empty partition and in every stored partition (the partitions a
	// calling search space can name), in partition order, each with its
	// appearances (device names as the devices spell them) and whether
	// its settings are stored. None is no error. Routing a call reads it.
	LinesByDN(ctx context.Context, dn string) ([]DNLine, error)
	// CreateLine stores a new line; ErrDuplicate if a line or an
	// appearance has its DN and partition.
	CreateLine(ctx context.Context, l DirectoryNumber) error
	// UpdateLine reads a line, hands it to edit and stores what edit
	// returns in one transaction; ErrNotFound if no line has k.
	UpdateLine(ctx context.Context, k LineKey, edit func(DirectoryNumber) (DirectoryNumber, error)) (DirectoryNumber, error)
	// DeleteLine removes a line and its appearances in one transaction,
	// rewriting each device that showed it through edit.
	DeleteLine(ctx context.Context, k LineKey, edit func(Device) Device) error

	// AppUser reads an application user; ErrNotFound when absent.
	AppUser(ctx context.Context, id string) (AppUser, error)
	// AppUsers lists the application users in ID order.
	AppUsers(ctx context.Context) ([]AppUser, error)
	// PutAppUser creates or replaces an application user.
	PutAppUser(ctx context.Context, u AppUser) error
	// DeleteAppUser removes an application user; ErrNotFound when absent.
	DeleteAppUser(ctx context.Context, id string) error

	// Generation is a number that grows with every committed write and
	// stays the same while nothing is written, so what was computed from
	// reads made after it was read holds while it does not change.
	Generation() uint64

	// LastDeletion tells when a device with the name prefix owned by owner
	// was last deleted; zero if never.
	LastDeletion(ctx context.Context, owner, prefix string) (time.Time, error)
}

// Notifier asks a registered device to reset (hard) or restart (soft).
// Implementations may wait for the NOTIFY to be written (bounded), never
// for the phone's answer; an error means no NOTIFY left (ErrNotRegistered,
// ErrNotifyFailed, ErrUnavailable).
type Notifier interface {
	Notify(ctx context.Context, deviceName string, action Action) error
}

// Action is a service-control action.
type Action string

const (
	ActionReset   Action = "reset"
	ActionRestart Action = "restart"
)

// Clock is the source of time, replaced in tests.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the wall clock.
var SystemClock Clock = systemClock{}

// NopNotifier drops notifications; it is used until a registrar is wired.
type NopNotifier struct{}

func (NopNotifier) Notify(context.Context, string, Action) error { return nil }
