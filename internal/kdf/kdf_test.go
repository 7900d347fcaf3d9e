package kdf

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestFastPathInUse fails where the SHA extensions are there but Key would
// not use them: a start-up self-test that disagreed, or detection gone wrong.
func TestFastPathInUse(t *testing.T) {
	if runtime.GOARCH != "amd64" || !hasSHAExtensions() {
		t.Skipf("%s CPU without the SHA extensions: Key is crypto/pbkdf2 here", runtime.GOARCH)
	}
	if errSelfTest != nil {
		t.Fatalf("self-test: %v", errSelfTest)
	}
	if !fast {
		t.Fatal("the CPU has the SHA extensions but Key does not use them")
	}
}

func requireFast(t testing.TB) {
	if !fast {
		t.Skip("no SHA extensions: nothing but crypto/pbkdf2 to compare")
	}
}

// TestCompress checks one block against crypto/sha256: a message of up to
// 55 bytes is one padded block from the initial state.
func TestCompress(t *testing.T) {
	requireFast(t)
	for n := 0; n <= 55; n++ {
		msg := bytes.Repeat([]byte{byte(n*7 + 1)}, n)
		var blk [64]byte
		copy(blk[:], msg)
		blk[n] = 0x80
		binary.BigEndian.PutUint64(blk[56:], uint64(n)*8)
		state := iv
		compress(&state, words(blk[:]))
		var got [32]byte
		for i, w := range state {
			binary.BigEndian.PutUint32(got[4*i:], w)
		}
		if want := sha256.Sum256(msg); got != want {
			t.Fatalf("%d bytes: %x, want %x", n, got, want)
		}
	}
}

func TestKeyMatchesPBKDF2(t *testing.T) {
	secrets := []string{"", "1", "12345", "pa55w0rd!", strings.Repeat("s", 63), strings.Repeat("s", 64), strings.Repeat("é", 40)}
	salts := [][]byte{nil, []byte("s"), bytes.Repeat([]byte{0xa5}, 16), bytes.Repeat([]byte{1}, 55), bytes.Repeat([]byte{2}, 200)}
	for _, secret := range secrets {
		for _, salt := range salts {
			for _, iter := range []int{1, 2, 3, 64, iterateChunk, iterateChunk + 1, iterateChunk + 2, 1024} {
				for _, keyLen := range []int{1, 16, 31, 32, 33, 64, 100} {
					want, err := pbkdf2.Key(sha256.New, secret, salt, iter, keyLen)
					if err != nil {
						t.Fatal(err)
					}
					got, err := Key(secret, salt, iter, keyLen)
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("Key(%q, %x, %d, %d) = %x, %v; want %x", secret, salt, iter, keyLen, got, err, want)
					}
				}
			}
		}
	}
}

// TestLongKeyLetsTheCollectorStop: a hash asking for millions of
// iterations must not keep the runtime from stopping the world, which it
// cannot do while a goroutine is in assembly. The collection started
// while Key runs has to end before Key does.
func TestLongKeyLetsTheCollectorStop(t *testing.T) {
	requireFast(t)
	started, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		close(started)
		if _, err := Key("12345", []byte("salt"), 8_000_000, 32); err != nil {
			t.Error(err)
		}
	}()
	<-started
	time.Sleep(20 * time.Millisecond) // into its loop
	runtime.GC()
	select {
	case <-done:
		t.Fatal("the garbage collector waited for Key to end")
	default:
	}
	<-done
}

// TestKeyRefusesWhatPBKDF2Refuses: the bounds are crypto/pbkdf2's.
func TestKeyRefusesWhatPBKDF2Refuses(t *testing.T) {
	for _, c := range []struct{ iter, keyLen int }{{1, 0}, {1, -1}, {0, 32}, {-5, 32}} {
		_, wantErr := pbkdf2.Key(sha256.New, "x", []byte("salt"), c.iter, c.keyLen)
		got, err := Key("x", []byte("salt"), c.iter, c.keyLen)
		if (err == nil) != (wantErr == nil) {
			t.Errorf("iter %d keyLen %d: %x, %v; crypto/pbkdf2 says %v", c.iter, c.keyLen, got, err, wantErr)
		}
	}
}

func FuzzKey(f *testing.F) {
	f.Add("12345", []byte("0123456789abcdef"), uint16(1024), uint8(32))
	f.Add("", []byte{}, uint16(1), uint8(1))
	f.Add(strings.Repeat("k", 100), bytes.Repeat([]byte{9}, 70), uint16(3), uint8(65))
	f.Fuzz(func(t *testing.T, secret string, salt []byte, iter uint16, keyLen uint8) {
		it, kl := int(iter%2048)+1, int(keyLen)+1
		want, err := pbkdf2.Key(sha256.New, secret, salt, it, kl)
		if err != nil {
			t.Skip(err)
		}
		got, err := Key(secret, salt, it, kl)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Key(%q, %x, %d, %d) = %x, %v; want %x", secret, salt, it, kl, got, err, want)
		}
	})
}

// BenchmarkKey is a PIN check (1,024 iterations) here and with
// crypto/pbkdf2.
func BenchmarkKey(b *testing.B) {
	salt := []byte("0123456789abcdef")
	for _, iter := range []int{1024, 4096} {
		b.Run(fmt.Sprintf("kdf/%d", iter), func(b *testing.B) {
			for b.Loop() {
				if _, err := Key("12345", salt, iter, 32); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("crypto-pbkdf2/%d", iter), func(b *testing.B) {
			for b.Loop() {
				if _, err := pbkdf2.Key(sha256.New, "12345", salt, iter, 32); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
