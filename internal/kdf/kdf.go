// Package kdf derives keys from secrets with PBKDF2-HMAC-SHA256, the hash
// of every stored password and PIN. It gives the same bytes as
// crypto/pbkdf2 with crypto/sha256, and imports only the standard library,
// so the core may use it.
//
// Why not crypto/pbkdf2 alone: at the PIN cost (1,024 iterations) each
// iteration is two SHA-256 blocks, and the standard library spends 2.5
// times the blocks' own time around them (restoring the pad states from
// their marshaled form, copying and padding digests for Sum). A phone's
// login in a boot storm was a fifth of selfprovd's CPU for that reason.
// On amd64 with the SHA extensions the iterations here run as one loop
// over the two blocks, pad states held in registers; elsewhere, and if
// the fast loop ever disagreed with crypto/pbkdf2 at start, Key is
// crypto/pbkdf2.
package kdf

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/binary"
	"errors"
)

// Key returns keyLen bytes derived from secret and salt with iter
// iterations of HMAC-SHA256: crypto/pbkdf2.Key(sha256.New, ...).
func Key(secret string, salt []byte, iter, keyLen int) ([]byte, error) {
	if !fast || iter < 1 || keyLen < 1 || keyLen > 1<<20 {
		return pbkdf2.Key(sha256.New, secret, salt, iter, keyLen)
	}
	return fastKey(secret, salt, iter, keyLen), nil
}

// fast says the loop in iterate may be used: the CPU has what it needs and
// it agreed with crypto/pbkdf2 at start.
var fast = hasSHAExtensions() && selfTest()

// errSelfTest is what selfTest found, for the test that runs it.
var errSelfTest error

func selfTest() bool {
	salt := []byte("selfprov kdf self-test salt")
	for _, iter := range []int{1, 2, 3, 17} {
		want, err := pbkdf2.Key(sha256.New, "self-test secret", salt, iter, 40)
		if err != nil {
			errSelfTest = err
			return false
		}
		if got := fastKey("self-test secret", salt, iter, 40); string(got) != string(want) {
			errSelfTest = errors.New("kdf: SHA extensions loop disagrees with crypto/pbkdf2")
			return false
		}
	}
	return true
}

// iv is SHA-256's initial state (FIPS 180-4, 5.3.3).
var iv = [8]uint32{
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}

// k256 holds SHA-256's round constants (FIPS 180-4, 4.2.2); the assembly
// reads them.
var k256 = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// digestPad is the second half of the one block an HMAC-SHA256 hash of a
// 32-byte digest takes after its 64-byte pad: the padding bit, zeros and
// the message length, (64+32)*8 bits.
var digestPad = [8]uint32{0x80000000, 0, 0, 0, 0, 0, 0, (64 + 32) * 8}

// fastKey is PBKDF2-HMAC-SHA256 with the iterations in iterate. Each
// block's first iteration (salt and block index: any length) is
// crypto/hmac's.
func fastKey(secret string, salt []byte, iter, keyLen int) []byte {
	key := []byte(secret)
	if len(key) > 64 {
		sum := sha256.Sum256(key)
		key = sum[:]
	}
	var ipad, opad [64]byte
	copy(ipad[:], key)
	copy(opad[:], key)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	istate, ostate := iv, iv
	compress(&istate, words(ipad[:]))
	compress(&ostate, words(opad[:]))

	prf := hmac.New(sha256.New, []byte(secret))
	out := make([]byte, 0, (keyLen+31)/32*32)
	var index [4]byte
	var u1 []byte
	for block := uint32(1); len(out) < keyLen; block++ {
		prf.Reset()
		prf.Write(salt)
		binary.BigEndian.PutUint32(index[:], block)
		prf.Write(index[:])
		u1 = prf.Sum(u1[:0])
		var u, t [8]uint32
		for i := range u {
			u[i] = binary.BigEndian.Uint32(u1[4*i:])
		}
		t = u
		for left := iter - 1; left > 0; left -= iterateChunk {
			iterateChunkOf(&istate, &ostate, &u, &t, min(left, iterateChunk))
		}
		for _, w := range t {
			out = binary.BigEndian.AppendUint32(out, w)
		}
	}
	return out[:keyLen]
}

// iterateChunk bounds one call of iterate (~40 µs): the runtime cannot
// preempt assembly, and a stored hash may ask for millions of iterations,
// which in one call would hold up every goroutine waiting on a
// stop-the-world pause of the garbage collector.
const iterateChunk = 256

// iterateChunkOf calls iterate from a function the runtime can stop at:
// unlike a leaf (iterate, or this function inlined), it checks its stack
// on entry, which is where a pending preemption takes the goroutine.
//
//go:noinline
func iterateChunkOf(istate, ostate, u, t *[8]uint32, n int) {
	iterate(istate, ostate, u, t, n)
}

// words reads a 64-byte block as SHA-256's sixteen big-endian words.
func words(b []byte) *[16]uint32 {
	var w [16]uint32
	for i := range w {
		w[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return &w
}
