// Package secretfile keeps a secret the daemon generates for itself (the
// admin token, the default application user's password) in a file of the
// data directory: made once with mode 0600, reused on every start, and
// refused when other users could read it.
package secretfile

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Secret describes one secret: where it lives and how it is named in
// errors ("<Owner>: <Name> file ...", "<Owner>: <Key> is shorter ...").
type Secret struct {
	Owner       string // the package that reports errors, e.g. "admin"
	Key         string // the configuration key that sets it instead, e.g. "adminToken"
	Name        string // what it is, e.g. "token"
	File        string // its file name in the data directory
	MinLen      int    // shortest value accepted, configured or read back
	RandomBytes int    // entropy of a generated value
}

// Load returns the configured value if set, else the one in
// <dataDir>/<File>, else a new random one written there. generated tells
// whether the file was just written.
func (s Secret) Load(configured, dataDir string) (value string, generated bool, err error) {
	if configured != "" {
		if len(configured) < s.MinLen {
			return "", false, fmt.Errorf("%s: %s is shorter than %d characters", s.Owner, s.Key, s.MinLen)
		}
		return configured, false, nil
	}
	path := filepath.Join(dataDir, s.File)
	value, err = s.read(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return value, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", false, fmt.Errorf("%s: %w", s.Owner, err)
	}
	buf := make([]byte, s.RandomBytes)
	if _, err := rand.Read(buf); err != nil {
		return "", false, fmt.Errorf("%s: generating a %s: %w", s.Owner, s.Name, err)
	}
	value = base64.RawURLEncoding.EncodeToString(buf)
	if err := WriteNew(path, []byte(value+"\n"), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) { // another process wrote it meanwhile: use its value
			value, err = s.read(path)
			return value, false, err
		}
		return "", false, fmt.Errorf("%s: writing the %s: %w", s.Owner, s.Name, err)
	}
	return value, true, nil
}

func (s Secret) read(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%s: %s file %s is readable by other users (mode %04o); run chmod 600 %s", s.Owner, s.Name, path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.Owner, err)
	}
	value := strings.TrimSpace(string(data))
	if len(value) < s.MinLen {
		return "", fmt.Errorf("%s: %s file %s holds fewer than %d characters; delete it to have a new %s generated", s.Owner, s.Name, path, s.MinLen, s.Name)
	}
	return value, nil
}

// WriteNew writes data to a file that must not exist yet (fs.ErrExist
// otherwise), synced; a half-written file is removed, since it would lock
// its user out.
func WriteNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
