package phonesim

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Model is a phone model as it shows on the wire.
type Model struct {
	Name     string // short name, "8845"
	ID       int    // +u.sip!model and loadInformation<ID>
	Load     string // firmware load the phone reports running
	Firmware string // version in User-Agent
	Agent    string // User-Agent when not Cisco-CP<Name>/<Firmware> (Webex clients)
}

// Models are the desk phone models the simulator knows, keyed by short name.
var Models = map[string]Model{
	"7811": {"7811", 36213, "sip78xx.14-2-1-0201-10", "14.2.1", ""},
	"7821": {"7821", 621, "sip78xx.14-2-1-0201-10", "14.2.1", ""},
	"7841": {"7841", 622, "sip78xx.14-2-1-0201-10", "14.2.1", ""},
	"7861": {"7861", 623, "sip78xx.14-2-1-0201-10", "14.2.1", ""},
	"7832": {"7832", 36247, "sip7832.14-2-1-0201-10", "14.2.1", ""},
	"8811": {"8811", 36217, "sip88xx.14-2-1-0201-10", "14.2.1", ""},
	"8832": {"8832", 36258, "sip8832.14-2-1-0201-10", "14.2.1", ""},
	"8841": {"8841", 683, "sip88xx.14-2-1-0201-10", "14.2.1", ""},
	"8851": {"8851", 684, "sip88xx.14-2-1-0201-10", "14.2.1", ""},
	"8861": {"8861", 685, "sip88xx.14-2-1-0201-10", "14.2.1", ""},
	"8845": {"8845", 36224, "sip8845_65.14-2-1-0201-10", "14.2.1", ""},
	"8865": {"8865", 36225, "sip8845_65.14-2-1-0201-10", "14.2.1", ""},
}

// ClientModels are the Webex App device types, keyed by platform.
var ClientModels = map[string]Model{
	"windows": {"CSF", 503, "", "45.6.0", "Cisco-CSF"},
	"mac":     {"CSF", 503, "", "45.6.0", "Cisco-CSF"},
	"android": {"BOT", 575, "", "45.6.0", "Cisco-BOT"},
	"iphone":  {"TCT", 562, "", "45.6.0", "Cisco-TCT"},
	"ipad":    {"TAB", 652, "", "45.6.0", "Cisco-TAB"},
}

// UserAgent is the SIP User-Agent of the model.
func (m Model) UserAgent() string {
	if m.Agent != "" {
		return m.Agent
	}
	return "Cisco-CP" + m.Name + "/" + m.Firmware
}

// HTTPModelName is the x-CiscoIPPhoneModelName header value.
func (m Model) HTTPModelName() string { return "CP-" + m.Name }

// ModelMix is a weighted choice of models.
type ModelMix []ModelWeight

// ModelWeight is one entry of a ModelMix.
type ModelWeight struct {
	Model  Model
	Weight int
}

// ParseModelMix reads "8845:50,7841:30,8851" (weight 1 when left out).
func ParseModelMix(s string) (ModelMix, error) {
	var mix ModelMix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, hasW := strings.Cut(part, ":")
		m, ok := Models[strings.TrimPrefix(strings.TrimPrefix(name, "CP-"), "Cisco ")]
		if !ok {
			return nil, fmt.Errorf("phonesim: unknown model %q (known: %s)", name, knownModels())
		}
		weight := 1
		if hasW {
			n, err := strconv.Atoi(w)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("phonesim: model %q: weight %q must be a positive integer", name, w)
			}
			weight = n
		}
		mix = append(mix, ModelWeight{m, weight})
	}
	if len(mix) == 0 {
		return nil, fmt.Errorf("phonesim: empty model mix")
	}
	return mix, nil
}

func knownModels() string {
	names := make([]string, 0, len(Models))
	for n := range Models {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// Pick returns the model of phone i: a deterministic spread by weight.
func (mix ModelMix) Pick(i int) Model {
	total := 0
	for _, w := range mix {
		total += w.Weight
	}
	n := i % total
	for _, w := range mix {
		if n < w.Weight {
			return w.Model
		}
		n -= w.Weight
	}
	return mix[0].Model
}

// MAC is a phone's Ethernet address.
type MAC [6]byte

// FleetMAC is the MAC of phone i of a fleet: a locally administered
// prefix plus the run's seed and the index, so fleets run with different
// seeds do not collide.
func FleetMAC(seed uint16, i int) MAC {
	var m MAC
	m[0] = 0x0A
	m[1] = byte(seed >> 8)
	m[2] = byte(seed)
	m[3] = byte(i >> 16)
	m[4] = byte(i >> 8)
	m[5] = byte(i)
	return m
}

// ParseMAC reads 12 hex digits, with or without separators or a SEP prefix.
func ParseMAC(s string) (MAC, error) {
	var m MAC
	t := strings.TrimPrefix(strings.ToUpper(s), "SEP")
	t = strings.NewReplacer(":", "", "-", "", ".", "").Replace(t)
	if len(t) != 12 {
		return m, fmt.Errorf("phonesim: MAC %q: want 12 hex digits", s)
	}
	if _, err := hex.Decode(m[:], []byte(t)); err != nil {
		return m, fmt.Errorf("phonesim: MAC %q: %w", s, err)
	}
	return m, nil
}

// Upper is the MAC as 12 upper-case hex digits.
func (m MAC) Upper() string { return strings.ToUpper(hex.EncodeToString(m[:])) }

// Lower is the MAC as 12 lower-case hex digits.
func (m MAC) Lower() string { return hex.EncodeToString(m[:]) }

// DeviceName is SEP<MAC>.
func (m MAC) DeviceName() string { return "SEP" + m.Upper() }

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func rand32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// callID builds a Call-ID shaped like a Cisco phone's:
// <mac 8>-<mac 4>00NN-<8 hex>-<8 hex>@<ip>.
func callID(m MAC, boot int, ip string) string {
	l := m.Lower()
	return fmt.Sprintf("%s-%s%04x-%s-%s@%s", l[:8], l[8:], boot&0xffff, randHex(8), randHex(8), ip)
}

// fromTag builds a From tag shaped like a Cisco phone's: <mac><4 hex>-<8 hex>.
func fromTag(m MAC) string { return m.Lower() + randHex(4) + "-" + randHex(8) }

func branch() string { return "z9hG4bK" + randHex(16) }

// hostOf returns the host of a host:port, or the input.
func hostOf(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	return h
}
