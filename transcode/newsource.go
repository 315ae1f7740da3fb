package transcode

// NewSource tells the downlink that the packets from the next one on come
// from another RTP source (RFC 3550 section 8.2: a new SSRC, for example
// another party after a transfer): its sequence numbers and timestamps
// are unrelated to the old source's. Packets the jitter buffer holds are
// decoded first, its jitter estimate starts afresh, and the next packet
// is decoded as the one that follows the audio already queued, with no
// gap concealed and no packet dropped as late. It does not allocate.
func (d *Downlink) NewSource() { d.p.newSource() }

// newSource is NewSource for either direction's pipeline.
func (p *pipeline) newSource() {
	if p.jb != nil {
		_ = p.jb.flush() // a failed packet is counted in Stats
		p.jb.rx.Reset()
		p.jb.started = false
	}
	if p.seq.started() {
		p.seq.resync = true
	}
}
