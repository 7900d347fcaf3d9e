package cucmapi

import "selfprov/internal/secretfile"

// PasswordFile is the file in the data directory that holds the generated
// password of the application user administrator.
const PasswordFile = "app-password"

var appPassword = secretfile.Secret{Owner: "cucmapi", Key: "appPassword", Name: "password", File: PasswordFile, MinLen: 8, RandomBytes: 18}

// LoadAppPassword returns the password of the default application user:
// the configured one if set, else the one in <dataDir>/app-password, else
// a new random one written there with mode 0600. generated tells whether
// the file was just written.
func LoadAppPassword(configured, dataDir string) (password string, generated bool, err error) {
	return appPassword.Load(configured, dataDir)
}
