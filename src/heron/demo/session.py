"""State of one user session while its turns are generated."""

from __future__ import annotations

from typing import Any

from heron.demo import content as C
from heron.demo.llm import tokens
from heron.demo.model import DemoTrace, DemoUser

HISTORY_TURNS = 3  # earlier turns sent to the model as conversation history


class Session:
    """State of one user session while its turns are generated."""

    __slots__ = (
        "abandon",
        "asked",
        "env",
        "follow_up",
        "history",
        "history_tokens",
        "id",
        "intent",
        "intents",
        "metadata",
        "n_turns",
        "next_behaviour",
        "paraphrase",
        "prev_user",
        "slots",
        "subject",
        "summarize_last",
        "tags",
        "ticket",
        "ticket_pending",
        "topic",
        "transcript",
        "turn",
        "unhappy",
        "user",
    )

    def __init__(self, user: DemoUser, sid: str, env: str, n_turns: int) -> None:
        self.user = user
        self.id = sid
        self.env = env
        self.n_turns = n_turns
        self.turn = 0
        self.topic: C.Topic | None = None
        self.intent: C.Intent | None = None
        self.paraphrase = 0
        self.history: list[tuple[str, str]] = []
        self.history_tokens = 0
        self.unhappy = False  # the user showed dissatisfaction in this session
        self.prev_user: DemoTrace | None = None  # the last user turn (not a background job)
        self.next_behaviour: str | None = None  # how the next user message reacts
        self.follow_up: tuple[str, str] | None = None  # (question, answer) of a follow-up
        self.asked: set[str] = set()  # every message the user sent in this session
        self.intents: set[int] = set()  # ids of the intents asked about
        self.transcript: list[tuple[str, str]] = []  # every chat exchange, for the app's input
        self.ticket: str | None = None
        self.ticket_pending = False
        self.abandon = False
        self.summarize_last = False
        self.slots: dict[str, Any] = {}
        self.subject = ""  # the last real question (tickets and summaries refer to it)
        self.tags: tuple[str, ...] = ()
        self.metadata: dict[str, str] = {}

    def remember(self, question: str, answer: str) -> None:
        self.history.append((question, answer))
        if len(self.history) > HISTORY_TURNS:
            del self.history[0]
        self.history_tokens = sum(tokens(q) + tokens(a) + 8 for q, a in self.history)

    def history_messages(self) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for q, a in self.history:
            out.append(("user", q))
            out.append(("assistant", a))
        return out
