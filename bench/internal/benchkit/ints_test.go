package benchkit

import (
	"slices"
	"strings"
	"testing"
)

func TestInts(t *testing.T) {
	got, err := Ints("c", "64, 1,16", 1, 1024, "connections")
	if err != nil || !slices.Equal(got, []int{64, 1, 16}) {
		t.Fatalf("Ints = %v, %v", got, err)
	}
	for _, bad := range []string{"0", "1025", "64,", "x", "2,-1"} {
		_, err := Ints("c", bad, 1, 1024, "connections")
		if err == nil || !strings.Contains(err.Error(), "-c ") || !strings.Contains(err.Error(), "connections must be 1 to 1024") {
			t.Errorf("Ints(%q): %v", bad, err)
		}
	}
}
