"""What OpenAI is saying on a call: each answer (an assistant item) as its audio arrives, which
one the caller is hearing, and which were cut short by the caller."""

from __future__ import annotations

from dataclasses import dataclass

from streaming.core.audio.pcm import REALTIME_RATE, bytes_to_ms


@dataclass
class Answer:
    item_id: str
    received: int = 0  # bytes of 24 kHz audio OpenAI sent for it
    done: bool = False

    def sent_ms(self) -> int:
        return int(bytes_to_ms(self.received, REALTIME_RATE))


class Answers:
    def __init__(self) -> None:
        self._answers: dict[str, Answer] = {}
        self._speaking: Answer | None = None
        self._cut: set[str] = set()
        self._responses_with_audio: set[str] = set()

    def audio(self, item_id: str, response_id: str, size: int) -> bool:
        """OpenAI sent `size` bytes of an answer; False if the caller already cut it off."""
        if item_id in self._cut:
            return False
        if response_id:
            self._responses_with_audio.add(response_id)
        answer = self._answers.get(item_id)
        if answer is None:
            answer = self._answers[item_id] = Answer(item_id)
        answer.received += size
        self._speaking = answer
        return True

    def finish(self, item_id: str) -> bool:
        """OpenAI sent all of an answer; False if there is nothing (more) to end."""
        answer = self._answers.get(item_id)
        if answer is None or answer.done or item_id in self._cut:
            return False
        answer.done = True
        return True

    def unfinished(self) -> list[str]:
        return [a.item_id for a in self._answers.values() if not a.done]

    def all_finished(self) -> bool:
        return all(a.done for a in self._answers.values())

    def had_audio(self, response_id: str) -> bool:
        return response_id in self._responses_with_audio

    def sent_ms(self, item_id: str) -> int:
        answer = self._answers.get(item_id)
        return answer.sent_ms() if answer else 0

    def speaking(self, still_playing: bool) -> Answer | None:
        """The answer a caller who starts talking now would interrupt, if any: the latest one,
        unless it was cut already or was sent in full and has been heard (`still_playing`)."""
        answer = self._speaking
        if answer is None or answer.item_id in self._cut:
            return None
        if answer.done and not still_playing:
            return None
        return answer

    def cut(self, answer: Answer) -> None:
        """The caller talked over it: nothing more of it is played, whatever still arrives."""
        self._cut.add(answer.item_id)
        answer.done = True
        self._speaking = None
