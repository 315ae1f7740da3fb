package transcode

import "github.com/zaf/g711"

// G.711 encodings of a zero sample (ITU-T G.711 tables 1 and 2): the byte a
// silent PCMU or PCMA payload is made of.
const (
	SilencePCMU byte = 0xFF
	SilencePCMA byte = 0xD5
)

// EncodePCMU encodes 16-bit linear PCM samples at 8000 Hz into G.711 mu-law
// (ITU-T G.711, RFC 3551 section 4.5.14), one byte per sample, into dst.
// It writes min(len(dst), len(pcm)) bytes and returns that count. It does
// not allocate.
func EncodePCMU(dst []byte, pcm []int16) int { return mapSamples(dst, pcm, g711.EncodeUlawFrame) }

// DecodePCMU decodes a G.711 mu-law payload into 16-bit linear PCM samples
// at 8000 Hz in dst. It writes min(len(dst), len(payload)) samples and
// returns that count. It does not allocate.
func DecodePCMU(dst []int16, payload []byte) int {
	return mapSamples(dst, payload, g711.DecodeUlawFrame)
}

// EncodePCMA encodes 16-bit linear PCM samples at 8000 Hz into G.711 A-law
// (ITU-T G.711, RFC 3551 section 4.5.14), one byte per sample, into dst.
// It writes min(len(dst), len(pcm)) bytes and returns that count. It does
// not allocate.
func EncodePCMA(dst []byte, pcm []int16) int { return mapSamples(dst, pcm, g711.EncodeAlawFrame) }

// DecodePCMA decodes a G.711 A-law payload into 16-bit linear PCM samples
// at 8000 Hz in dst. It writes min(len(dst), len(payload)) samples and
// returns that count. It does not allocate.
func DecodePCMA(dst []int16, payload []byte) int {
	return mapSamples(dst, payload, g711.DecodeAlawFrame)
}

// mapSamples writes law(src[i]) to dst[i] for the first min(len(dst),
// len(src)) elements and returns that count; law is one G.711 frame
// function of zaf/g711. It does not allocate.
func mapSamples[S, D any](dst []D, src []S, law func(S) D) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, x := range src {
		dst[i] = law(x)
	}
	return n
}

// encodeFrame is EncodePCMA when pcma, else EncodePCMU.
func encodeFrame(dst []byte, pcm []int16, pcma bool) int {
	if pcma {
		return EncodePCMA(dst, pcm)
	}
	return EncodePCMU(dst, pcm)
}

// decodeFrame is DecodePCMA when pcma, else DecodePCMU.
func decodeFrame(dst []int16, payload []byte, pcma bool) int {
	if pcma {
		return DecodePCMA(dst, payload)
	}
	return DecodePCMU(dst, payload)
}

// decodeSample decodes one G.711 byte, A-law when pcma, else mu-law.
func decodeSample(b byte, pcma bool) int16 {
	if pcma {
		return g711.DecodeAlawFrame(b)
	}
	return g711.DecodeUlawFrame(b)
}

// encodeSample encodes one 16-bit sample to G.711, A-law when pcma, else
// mu-law.
func encodeSample(v int16, pcma bool) byte {
	if pcma {
		return g711.EncodeAlawFrame(v)
	}
	return g711.EncodeUlawFrame(v)
}

// codesToPCM decodes G.711 codes held as slots (A-law when pcma, else
// mu-law) into PCM in dst, which may be codes itself.
func codesToPCM(dst, codes []int16, pcma bool) {
	for i, v := range codes {
		dst[i] = decodeSample(byte(v), pcma)
	}
}

// pcmToCodes encodes PCM slots in place into G.711 codes held as slots.
func pcmToCodes(slots []int16, pcma bool) {
	for i, v := range slots {
		slots[i] = int16(encodeSample(v, pcma))
	}
}
