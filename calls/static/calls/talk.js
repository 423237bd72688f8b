// "Talk to this agent" (calls/talk.py): the browser as a phone. The microphone goes up as
// 20 ms frames of S16LE at the call's rate over a WebSocket into the same bridge a phone call
// uses; the agent's audio comes back the same way and plays through a small jitter buffer.
(() => {
  "use strict";
  const root = document.getElementById("talk");
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const $ = (id) => document.getElementById(id);
  const startButton = $("talk-start");
  const muteButton = $("talk-mute");
  const hangupButton = $("talk-hangup");
  const meter = $("talk-meter");
  const SUBPROTOCOL = "audio.drachtio.org"; // the stream protocol a phone call's socket speaks
  const START_MS = 60; // queued before the agent's audio starts playing
  const KEEP_SECONDS = 30; // of what was played, kept for window.talk.report()
  const WAIT_FOR_RECORD_MS = 10000;

  let socket = null;
  let context = null;
  let microphone = null;
  let player = null;
  let muted = false;
  let call = null;
  let ending = null;
  const stats = { framesSent: 0, framesReceived: 0, kills: 0, loudest: 0 };

  const say = (text) => { $("talk-state").textContent = text; };

  function line(role, text, id) {
    const lines = $("talk-lines");
    let item = id ? lines.querySelector(`[data-item="${CSS.escape(id)}"]`) : null;
    if (!item) {
      item = document.createElement("li");
      item.className = role;
      if (id) item.dataset.item = id;
      lines.appendChild(item);
    }
    const who = { caller: "You", agent: "Agent", tool: "Tool" }[role] || "";
    item.textContent = who ? `${who}: ${text}` : text;
  }

  // What to do when the microphone cannot be had, by why the browser said no.
  function microphoneTrouble(error) {
    const again = "then press Start talking again.";
    switch (error.name) {
      case "Insecure":
        return "This browser gives the microphone only to pages served over https (or from " +
          "this computer). Ask your administrator to serve the admin over https.";
      case "NotAllowedError":
      case "SecurityError":
        return "The browser was not allowed to use the microphone. Click the icon at the left " +
          `of the address bar, allow the microphone for this site, ${again}`;
      case "NotFoundError":
      case "OverconstrainedError":
        return "No microphone was found. Plug in a headset or a microphone (or choose one in " +
          `the computer's sound settings), ${again}`;
      case "NotReadableError":
      case "AbortError":
        return "The microphone is busy or blocked: another program (a video call?) may be " +
          `using it. Close that program, ${again}`;
      default:
        return `The microphone could not be used (${error.name}: ${error.message}). Check ` +
          `that one is connected and allowed for this site, ${again}`;
    }
  }

  async function start() {
    startButton.disabled = true;
    say("Asking for the microphone…");
    try {
      if (!navigator.mediaDevices) throw Object.assign(new Error("insecure"), { name: "Insecure" });
      // The microphone first: the agent may greet as soon as the call starts.
      microphone = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true,
                 autoGainControl: true },
      });
    } catch (error) {
      say(microphoneTrouble(error));
      startButton.disabled = false;
      return;
    }
    say("Connecting…");
    const version = document.querySelector("input[name=version]:checked").value;
    const response = await fetch(root.dataset.startUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrf },
      body: new URLSearchParams({ version }),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      say(`Could not start: ${answer.error || response.statusText}`);
      stopMicrophone();
      startButton.disabled = false;
      return;
    }
    call = answer;
    await startAudio(call.sample_rate);
    open(call);
  }

  async function startAudio(rate) {
    context = new AudioContext({ sampleRate: rate });
    await context.audioWorklet.addModule(root.dataset.worklets);
    const source = context.createMediaStreamSource(microphone);
    const capture = new AudioWorkletNode(context, "mic-capture", {
      processorOptions: { frameSamples: rate / 50 },
    });
    const silent = context.createGain(); // keeps the capture running, sends nothing out
    silent.gain.value = 0;
    source.connect(capture).connect(silent).connect(context.destination);
    capture.port.onmessage = ({ data }) => heard(data);
    player = new AudioWorkletNode(context, "reply-player", {
      outputChannelCount: [1],
      processorOptions: { rate, startMs: START_MS, keepSeconds: KEEP_SECONDS },
    });
    player.connect(context.destination);
    await context.resume();
  }

  function heard({ pcm, rms }) {
    const db = rms > 0 ? 20 * Math.log10(rms) : -100;
    meter.value = muted ? 0 : Math.max(0, (db + 60) / 60); // -60 dBFS empty, 0 dBFS full
    stats.loudest = Math.max(stats.loudest, meter.value);
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    // Muted sends silence, as a phone does: the line stays open and timed.
    socket.send(muted ? new ArrayBuffer(pcm.byteLength) : pcm);
    stats.framesSent++;
  }

  function open(call) {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + call.socket, [SUBPROTOCOL]);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      say(`Connected to v${call.version}. Speak when you are ready.`);
      socket.send(JSON.stringify({ source: "browser", sampleRate: context.sampleRate,
                                   userAgent: navigator.userAgent }));
      muteButton.disabled = false;
      hangupButton.disabled = false;
    };
    socket.onmessage = ({ data }) => {
      if (data instanceof ArrayBuffer) {
        stats.framesReceived++;
        player.port.postMessage({ pcm: data }, [data]);
        return;
      }
      let message;
      try { message = JSON.parse(data); } catch { return; }
      if (message.type === "killAudio") {
        stats.kills++;
        player.port.postMessage({ flush: true });
      } else if (message.type === "transcript") {
        line(message.role, message.text, message.item_id);
      } else if (message.type === "ended") {
        ending = message;
      }
    };
    socket.onclose = (event) => closed(event);
  }

  async function closed(event) {
    muteButton.disabled = hangupButton.disabled = true;
    stopMicrophone();
    if (context) context.close();
    // In words for people; the technical reason is on the call's page, under "Technical detail".
    const why = ending ? ending.words || ending.reason
      : event.code === 1000 ? "The call ended." : "The connection to the server was lost.";
    const handedOver = ending && ending.transfer_to
      ? ` On a phone the caller would now be put through to ${ending.transfer_to}.` : "";
    say(`Call over. ${why}${handedOver} Opening its page…`);
    line("note", `Call over. ${why}`);
    await recordKept();
    location.assign(call.call_page);
  }

  async function recordKept() {
    // The call's page shows its record once stored: wait for that, not for ever.
    const deadline = Date.now() + WAIT_FOR_RECORD_MS;
    while (Date.now() < deadline) {
      try {
        const state = await (await fetch(call.status)).json();
        if (state.over) return;
      } catch { /* try again */ }
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }

  function stopMicrophone() {
    if (microphone) microphone.getTracks().forEach((track) => track.stop());
  }

  startButton.addEventListener("click", () => { start(); });
  hangupButton.addEventListener("click", () => {
    say("Hanging up…");
    if (socket) socket.close(1000, "hung up");
  });
  muteButton.addEventListener("click", () => {
    muted = !muted;
    muteButton.setAttribute("aria-pressed", String(muted));
    muteButton.textContent = muted ? "Unmute" : "Mute";
  });

  // For whoever checks the page (the browser tests): counts, and what the speakers played.
  window.talk = {
    stats,
    report: () => new Promise((resolve) => {
      player.port.onmessage = ({ data }) => resolve({ ...data, played: Array.from(data.played),
                                                      rate: context.sampleRate });
      player.port.postMessage({ report: true });
    }),
  };
})();
