package transcode

import "github.com/webtrunk/webtrunk/telephony"

// silenceByte returns the G.711 code of a zero sample for c (0xFF for
// PCMU, 0xD5 for PCMA, ITU-T G.711 tables 1 and 2), used to fill gaps when
// G.711 is relayed untouched.
func silenceByte(c telephony.Codec) byte {
	if c.IsPCMA() {
		return SilencePCMA
	}
	return SilencePCMU
}
