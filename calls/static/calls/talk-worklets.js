// The audio threads of "Talk to this agent" (calls/talk.py). The AudioContext runs at the
// call's rate (8 or 16 kHz), so the browser resamples the microphone and the speakers itself
// and these only cut and queue frames.

// The microphone: 20 ms frames of S16LE, as a phone line's media server sends them.
class MicCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.frame = new Float32Array(options.processorOptions.frameSamples);
    this.filled = 0;
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    let at = 0;
    while (at < input.length) {
      const n = Math.min(input.length - at, this.frame.length - this.filled);
      this.frame.set(input.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      if (this.filled === this.frame.length) {
        this.send();
        this.filled = 0;
      }
    }
    return true;
  }

  send() {
    const pcm = new Int16Array(this.frame.length);
    let energy = 0;
    for (let i = 0; i < this.frame.length; i++) {
      const s = Math.max(-1, Math.min(1, this.frame[i]));
      energy += s * s;
      pcm[i] = s < 0 ? s * 0x8000 : s * 0x7fff;
    }
    const rms = Math.sqrt(energy / this.frame.length);
    this.port.postMessage({ pcm: pcm.buffer, rms }, [pcm.buffer]);
  }
}

// The agent's voice: a small jitter buffer. Playing starts once `startMs` is queued and stops
// (to fill up again) when the queue runs dry; {flush: true} (killAudio: the caller spoke over
// the agent) drops everything queued at once. What the speakers got from the first answer on,
// silences included, is kept (keepSeconds at most) for the page to measure.
class ReplyPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const rate = options.processorOptions.rate;
    this.startSamples = Math.round((rate * options.processorOptions.startMs) / 1000);
    this.chunks = [];
    this.offset = 0; // into chunks[0]
    this.queued = 0;
    this.playing = false;
    this.played = new Float32Array(rate * options.processorOptions.keepSeconds);
    this.playedSamples = 0;
    this.starved = 0;
    this.flushes = 0;
    this.port.onmessage = ({ data }) => this.receive(data);
  }

  receive(data) {
    if (data.pcm) {
      const pcm = new Int16Array(data.pcm);
      const chunk = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) chunk[i] = pcm[i] / 0x8000;
      this.chunks.push(chunk);
      this.queued += chunk.length;
    } else if (data.flush) {
      this.chunks = [];
      this.offset = 0;
      this.queued = 0;
      this.playing = false;
      this.flushes++;
    } else if (data.report) {
      const kept = this.played.slice(0, Math.min(this.playedSamples, this.played.length));
      this.port.postMessage(
        { played: kept, playedSamples: this.playedSamples, starved: this.starved,
          flushes: this.flushes, queued: this.queued },
        [kept.buffer],
      );
    }
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    out.fill(0);
    if (!this.playing && this.queued >= this.startSamples && this.queued > 0) {
      this.playing = true;
    }
    if (this.playing) this.play(out);
    if (this.playing || this.playedSamples) this.keep(out);
    return true;
  }

  play(out) {
    let at = 0;
    while (at < out.length && this.chunks.length) {
      const chunk = this.chunks[0];
      const n = Math.min(out.length - at, chunk.length - this.offset);
      out.set(chunk.subarray(this.offset, this.offset + n), at);
      at += n;
      this.offset += n;
      this.queued -= n;
      if (this.offset === chunk.length) {
        this.chunks.shift();
        this.offset = 0;
      }
    }
    if (at < out.length) {
      this.playing = false; // ran dry: the answer ended, or the network is late
      this.starved++;
    }
  }

  keep(samples) {
    const room = this.played.length - this.playedSamples;
    if (room > 0) this.played.set(samples.subarray(0, room), this.playedSamples);
    this.playedSamples += samples.length;
  }
}

registerProcessor("mic-capture", MicCapture);
registerProcessor("reply-player", ReplyPlayer);
