package transcode

import (
	"math"
	"sort"
	"testing"

	"github.com/webtrunk/webtrunk/telephony"
)

// The reference below is built from the text of ITU-T G.711 (Tables 1 and
// 2): eight segments per sign, sixteen equal quantisation intervals per
// segment, the interval width doubling from one segment to the next,
// decoding to the middle of the interval, and the bit inversions of the
// transmitted code. Inputs are 16-bit PCM whose top 13 (A-law) or 14
// (mu-law) bits are the G.711 uniform code, as in ITU-T G.191.

// g711Interval is one quantisation interval of one sign, in 16-bit units.
type g711Interval struct {
	lo   int // first magnitude of the interval
	code int // 7-bit segment/step before inversion
	out  int // decoder output magnitude
}

// aLawIntervals: magnitude m = x for x >= 0, -x-1 (ones' complement) for
// x < 0. Segment 0 and 1 have intervals of 16 (2 in 12-bit units), segment
// s >= 2 intervals of 16 << (s-1); segment s starts at 0, 256, 512 ...
// (G.711 Table 1: decision values 0, 2, 4 ... 32, 64 ... 4096 in 13-bit
// half-units). The output value is the interval midpoint.
func aLawIntervals() []g711Interval {
	var iv []g711Interval
	for seg := 0; seg < 8; seg++ {
		start, step := 0, 16
		if seg > 0 {
			start, step = 256<<(seg-1), 16<<(seg-1)
		}
		for q := 0; q < 16; q++ {
			lo := start + q*step
			iv = append(iv, g711Interval{lo: lo, code: seg<<4 | q, out: lo + step/2})
		}
	}
	return iv
}

// muLawIntervals: in 14-bit units (x >> 2) the magnitude m (ones'
// complement for negatives) plus 33 lies in segment s, [32<<s, 64<<s),
// with 16 intervals of width 2<<s; so the first interval of segment 0 is
// narrower (decision values 0, 1, 3, 5 ... 31, 35 ... in G.711 Table 2).
// Output values are the midpoints, (2q+33)<<s - 33 in 14-bit units.
func muLawIntervals() []g711Interval {
	var iv []g711Interval
	for seg := 0; seg < 8; seg++ {
		for q := 0; q < 16; q++ {
			// Lower decision value: segment s starts at biased value
			// 32<<s, intervals are 2<<s wide, the bias is 33.
			lo14 := max(0, (16+q)<<(seg+1)-33)
			out14 := (2*q+33)<<seg - 33
			iv = append(iv, g711Interval{lo: lo14, code: seg<<4 | q, out: out14})
		}
	}
	return iv
}

// referenceEncode quantises magnitude m with the interval table (sorted by
// lo), clipping to the last interval.
func referenceEncode(iv []g711Interval, m int) g711Interval {
	i := sort.Search(len(iv), func(i int) bool { return iv[i].lo > m }) - 1
	return iv[i]
}

func refEncodeALaw(x int16) byte {
	m, positive := int(x), x >= 0
	if !positive {
		m = -m - 1
	}
	c := referenceEncode(aLawIntervals(), m).code
	if positive {
		c |= 0x80
	}
	return byte(c) ^ 0x55 // even bits inverted (G.711 section 2.1)
}

func refEncodeMuLaw(x int16) byte {
	v := int(x) >> 2 // 14-bit uniform code
	m, positive := v, v >= 0
	if !positive {
		m = -v - 1
	}
	c := referenceEncode(muLawIntervals(), m).code
	c = ^c & 0x7F // all magnitude bits inverted (G.711 section 3.1)
	if positive {
		c |= 0x80
	}
	return byte(c)
}

func refDecodeALaw(b byte) int16 {
	c := int(b ^ 0x55)
	out := aLawIntervals()[c&0x7F].out
	if c&0x80 == 0 {
		out = -out
	}
	return int16(out)
}

func refDecodeMuLaw(b byte) int16 {
	out := muLawIntervals()[int(^b&0x7F)].out * 4
	if b&0x80 == 0 {
		out = -out
	}
	return int16(out)
}

func TestG711AgainstReference(t *testing.T) {
	t.Parallel()
	codecs := []struct {
		name   string
		enc    func([]byte, []int16) int
		dec    func([]int16, []byte) int
		refEnc func(int16) byte
		refDec func(byte) int16
	}{
		{"PCMU", EncodePCMU, DecodePCMU, refEncodeMuLaw, refDecodeMuLaw},
		{"PCMA", EncodePCMA, DecodePCMA, refEncodeALaw, refDecodeALaw},
	}
	for _, c := range codecs {
		t.Run(c.name+" all 65536 inputs", func(t *testing.T) {
			pcm := make([]int16, 65536)
			for i := range pcm {
				pcm[i] = int16(i - 32768)
			}
			got := make([]byte, len(pcm))
			if n := c.enc(got, pcm); n != len(pcm) {
				t.Fatalf("encoded %d samples", n)
			}
			var bad int
			for i, x := range pcm {
				if want := c.refEnc(x); got[i] != want {
					if bad++; bad <= 5 {
						t.Errorf("encode(%d) = %#02x, G.711 gives %#02x", x, got[i], want)
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of 65536 inputs encoded wrongly", bad)
			}
		})
		t.Run(c.name+" all 256 codes", func(t *testing.T) {
			codes := make([]byte, 256)
			for i := range codes {
				codes[i] = byte(i)
			}
			got := make([]int16, 256)
			if n := c.dec(got, codes); n != 256 {
				t.Fatalf("decoded %d codes", n)
			}
			for i, b := range codes {
				if want := c.refDec(b); got[i] != want {
					t.Errorf("decode(%#02x) = %d, G.711 gives %d", b, got[i], want)
				}
				// Decoding then encoding returns the code (except the
				// negative zero of mu-law, which encodes as positive zero).
				var back [1]byte
				c.enc(back[:], got[i:i+1])
				if back[0] != b && (c.name != "PCMU" || b != 0x7F) {
					t.Errorf("encode(decode(%#02x)) = %#02x", b, back[0])
				}
			}
		})
	}
}

func TestG711Spot(t *testing.T) {
	// Well-known values from G.711: silence codes, the extremes.
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"PCMU 0 encodes 0xFF", int(refEncodeMuLaw(0)), 0xFF},
		{"PCMA 0 encodes 0xD5", int(refEncodeALaw(0)), 0xD5},
		{"PCMU 0x80 decodes +32124", int(refDecodeMuLaw(0x80)), 32124},
		{"PCMU 0x00 decodes -32124", int(refDecodeMuLaw(0x00)), -32124},
		{"PCMA 0xAA decodes +32256", int(refDecodeALaw(0xAA)), 32256},
		{"PCMA 0x2A decodes -32256", int(refDecodeALaw(0x2A)), -32256},
		{"PCMU max encodes 0x80", int(refEncodeMuLaw(math.MaxInt16)), 0x80},
		{"PCMA min encodes 0x2A", int(refEncodeALaw(math.MinInt16)), 0x2A},
		{"silence byte PCMU", int(silenceByte(telephony.PCMU)), int(refEncodeMuLaw(0))},
		{"silence byte PCMA", int(silenceByte(telephony.PCMA)), int(refEncodeALaw(0))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %d (%#x), want %d (%#x)", tc.got, tc.got, tc.want, tc.want)
			}
		})
	}
}

func TestG711ShortBuffers(t *testing.T) {
	pcm := []int16{0, 1000, -1000}
	dst := make([]byte, 2)
	if n := EncodePCMU(dst, pcm); n != 2 {
		t.Errorf("EncodePCMU into 2 bytes wrote %d", n)
	}
	out := make([]int16, 1)
	if n := DecodePCMA(out, []byte{0xD5, 0xD5}); n != 1 {
		t.Errorf("DecodePCMA into 1 sample wrote %d", n)
	}
}
