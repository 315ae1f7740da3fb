package telephony

import "testing"

func TestG711ByName(t *testing.T) {
	tests := []struct {
		name   string
		want   Codec
		wantOK bool
	}{
		{"PCMU", PCMU, true},
		{"pcmu", PCMU, true},
		{"PcMa", PCMA, true},
		{"G729", Codec{}, false},
		{"", Codec{}, false},
		{"PCMU/8000", Codec{}, false},
		{"opus", Codec{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := G711ByName(tt.name)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("G711ByName(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestCodecFormats(t *testing.T) {
	tests := []struct {
		c                              Codec
		str                            string
		pcmu, pcma, g711, opus, events bool
	}{
		{PCMU, "PCMU/8000 pt 0", true, false, true, false, false},
		{PCMA.WithPayloadType(98), "PCMA/8000 pt 98", false, true, true, false, false},
		{Codec{Name: "pcmu", ClockRate: 8000, PayloadType: 0}, "pcmu/8000 pt 0", true, false, true, false, false},
		{Opus.WithPayloadType(109), "opus/48000/2 pt 109", false, false, false, true, false},
		{TelephoneEvent8k, "telephone-event/8000 pt 101", false, false, false, false, true},
		{Codec{Name: "PCMU", ClockRate: 16000}, "PCMU/16000 pt 0", false, false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			if got := tt.c.String(); got != tt.str {
				t.Errorf("String = %q, want %q", got, tt.str)
			}
			got := [...]bool{tt.c.IsPCMU(), tt.c.IsPCMA(), tt.c.IsG711(), tt.c.IsOpus(), tt.c.IsTelephoneEvent()}
			want := [...]bool{tt.pcmu, tt.pcma, tt.g711, tt.opus, tt.events}
			if got != want {
				t.Errorf("IsPCMU/IsPCMA/IsG711/IsOpus/IsTelephoneEvent = %v, want %v", got, want)
			}
		})
	}
	if !PCMU.SameFormat(PCMU.WithPayloadType(96)) || PCMU.SameFormat(PCMA) {
		t.Error("SameFormat must ignore payload types and tell PCMU from PCMA")
	}
}
