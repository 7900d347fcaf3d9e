package admin

import "selfprov/internal/secretfile"

// TokenFile is the file in the data directory that holds the generated
// admin token.
const TokenFile = "admin-token"

// adminToken: a configured one must not be guessable in a few thousand tries;
// a generated one has 256 bits.
var adminToken = secretfile.Secret{Owner: "admin", Key: "adminToken", Name: "token", File: TokenFile, MinLen: 16, RandomBytes: 32}

// LoadToken returns the admin token: the configured one if set, else the
// one in <dataDir>/admin-token, else a new random token written there with
// mode 0600 so that only the daemon's user can read it. generated tells
// whether the file was just written.
func LoadToken(configured, dataDir string) (token string, generated bool, err error) {
	return adminToken.Load(configured, dataDir)
}
