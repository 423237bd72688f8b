// An agent's page: open the folded groups that hold an error, and "Hear this voice", which
// asks the server for the greeting (or a usual line) said in the chosen voice, and plays it.
(() => {
  "use strict";
  for (const details of document.querySelectorAll("#agent_form fieldset details")) {
    if (details.querySelector(".errorlist, .errors")) details.open = true;
  }
  const button = document.getElementById("hear-voice");
  if (!button) return;
  const state = document.getElementById("hear-voice-state");
  const audio = document.getElementById("hear-voice-audio");
  const csrf = document.querySelector("[name=csrfmiddlewaretoken]").value;
  let url = null;
  button.addEventListener("click", async () => {
    const body = new FormData();
    const voice = document.getElementById("id_voice");
    body.append("voice", voice ? voice.value : button.dataset.voice);
    body.append("text", (document.getElementById("id_greeting") || {}).value || "");
    button.disabled = true;
    state.textContent = "Making the sample…";
    try {
      const response = await fetch(button.dataset.url, {
        method: "POST", body, headers: { "X-CSRFToken": csrf }, credentials: "same-origin",
      });
      if (!response.ok) {
        let said = `The server answered ${response.status}.`;
        try { said = (await response.json()).error || said; } catch (e) { /* not JSON */ }
        state.textContent = said;
        return;
      }
      if (url) URL.revokeObjectURL(url);
      url = URL.createObjectURL(await response.blob());
      audio.src = url;
      try {
        await audio.play();
        state.textContent = "Playing the greeting in this voice.";
      } catch (e) {
        audio.controls = true; // the browser wants a press of its own
        state.textContent = "Press play to hear it.";
      }
    } catch (e) {
      state.textContent = "The sample could not be played: is the server still running?";
    } finally {
      button.disabled = false;
    }
  });
  audio.addEventListener("ended", () => { state.textContent = ""; });
})();
