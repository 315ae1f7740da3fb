package signaling

// TypeQuality is the server-to-client message that raises or clears a
// call quality warning.
const TypeQuality Type = "quality"

// QualityWarning names what a [Quality] message warns about.
type QualityWarning string

// The quality warnings the gateway raises (docs/protocol.md, "quality").
const (
	// WarningHighLoss: a direction lost more than quality.max_loss_percent
	// of its packets over the last measurement interval.
	WarningHighLoss QualityWarning = "high_loss"
	// WarningHighJitter: a direction's interarrival jitter (RFC 3550
	// appendix A.8) is above quality.max_jitter.
	WarningHighJitter QualityWarning = "high_jitter"
	// WarningLowMOS: a direction's estimated mean opinion score (ITU-T
	// G.107 E-model, simplified) is below quality.min_mos.
	WarningLowMOS QualityWarning = "low_mos"
)

// Directions of a [Quality] message.
const (
	// QualityUplink is the browser's audio towards the trunk, as the
	// gateway receives it from the browser and the trunk reports receiving
	// it from the gateway (RTCP).
	QualityUplink = "uplink"
	// QualityDownlink is the trunk's audio towards the browser, as the
	// gateway receives it from the trunk.
	QualityDownlink = "downlink"
)

// Quality raises (Raised true) or clears (false) the warning Name of call
// CallID about one Direction of its audio, measured by the gateway every
// quality.interval: Value is the figure measured (loss as a fraction 0 to
// 1, jitter in milliseconds, MOS 1 to 4.5) and Threshold the limit it
// crossed. A warning is raised once and cleared once; a call that ends
// clears nothing.
type Quality struct {
	CallID    string         `json:"call_id"`
	Name      QualityWarning `json:"name"`
	Raised    bool           `json:"raised"`
	Direction string         `json:"direction"`
	Value     float64        `json:"value"`
	Threshold float64        `json:"threshold"`
}

// MessageType returns [TypeQuality].
func (Quality) MessageType() Type { return TypeQuality }

func (m Quality) validate() *DecodeError {
	if err := checkCallID("call_id", m.CallID); err != nil {
		return err
	}
	switch m.Name {
	case WarningHighLoss, WarningHighJitter, WarningLowMOS:
	default:
		return invalid(CodeBadRequest, "name", "unknown quality warning")
	}
	if m.Direction != QualityUplink && m.Direction != QualityDownlink {
		return invalid(CodeBadRequest, "direction", "must be uplink or downlink")
	}

	return nil
}
