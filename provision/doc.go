// Package provision is the core of selfprov: the domain of a CUCM cluster's
// phone-facing side (templates, user profiles, users, devices, lines,
// route partitions and calling search spaces, the cluster settings) and
// every rule about it.
//
// Adapters (SIP, TFTP and HTTP config delivery, the phone XML services,
// the Webex client endpoints, the admin API, later AXL) decode their wire,
// call one operation of Service and encode the answer; configs seeds
// through the same operations. None of them reads or writes the Store:
// each operation checks and writes under one rule, the check and the
// write in one store transaction (or under the Service's own locks where
// several objects are read first), so a second front end, or a second
// node sharing the database, cannot break an invariant.
//
// The operations, by concern:
//   - phones: AutoRegister(Async), LoginPrompt, Login, SelfProvision,
//     AuthorizePush, AutoProvisionClient (Webex App clients);
//   - credentials: Authenticate, AuthenticateUser, Unlock, under the
//     credential policy and a per-source limit of failed logins;
//   - administration: templates and profiles (Put…, Delete…, refused while
//     in use), users (CreateUser, UpdateUser, DeleteUser, QuickAdd),
//     devices (AddDevice, UpdateDevice, DeleteDevice) and lines (AddLine,
//     UpdateLine, RemoveLine), calling privileges (route partitions and
//     calling search spaces: Put…, Add…, Delete…, refused while in use),
//     the cluster (UpdateCluster, SetAuthCode);
//   - calls: RouteCall decides an INVITE by the calling line's calling
//     search space (the registrar forks the call to the devices it names);
//   - phones told to act: Apply and ApplyLine (restart) and Notify (reset
//     or restart).
//     No change resets a phone by itself.
//
// Refusals are *Error values carrying the product's outcome code (ErrDuplicate
// is CUCM's DB-239); adapters map codes to their protocol's answer in one
// table each. The ports the core needs are Store, Notifier and Clock. The
// package imports only the standard library.
package provision
