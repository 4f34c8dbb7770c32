"""The demo scenario: users of "Acme Cloud" chatting with its support assistant.

Sessions (1-8 turns) start over the period following a daily and weekly rhythm (weekdays and
office hours, slowly growing traffic); each turn is one trace. :func:`iter_traces` yields the
traces in start order with the facts tests check (see :class:`DemoTrace`). Everything is drawn
from one ``random.Random(config.seed)``, so the output depends only on the config.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections.abc import Iterator

from heron.demo import behaviour as B
from heron.demo import content as C
from heron.demo import phrases as P
from heron.demo.llm import MS, tokens
from heron.demo.model import (
    ABANDON_RATE,
    ACCEPT_RATE,
    BAD_OUTCOMES,
    COPY_RATE,
    DAY_US,
    FEEDBACK_RATE,
    HOUR_US,
    PROMPT_NAME,
    PROMPT_NEW_VERSION,
    PROMPT_OLD_VERSION,
    RATING_COMMENT_RATE,
    RATING_RATE,
    ROUTE_CONVENTION,
    ROUTE_SERVICE,
    SECOND_US,
    SIGNALS,
    SUMMARY_PROMPT_NAME,
    SUMMARY_PROMPT_VERSION,
    THUMBS_DOWN_AFTER,
    THUMBS_DOWN_AFTER_BAD,
    THUMBS_DOWN_RATE,
    DemoConfig,
    DemoTrace,
    DemoUser,
)
from heron.demo.routes import Builder
from heron.demo.session import Session

# Sessions per UTC hour of day (Europe and US office hours) and per weekday (Monday first).
HOUR_WEIGHTS = (
    0.25,
    0.2,
    0.15,
    0.15,
    0.2,
    0.3,
    0.5,
    0.8,
    1.0,
    1.0,
    1.0,
    0.95,
    0.9,
    1.0,
    1.0,
    1.0,
    0.95,
    0.9,
    0.8,
    0.7,
    0.6,
    0.5,
    0.4,
    0.3,
)
WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.9, 0.35, 0.3)
GROWTH = 0.3  # traffic at the end of the period is ~1.3x the start
TURN_WEIGHTS = (0.22, 0.22, 0.18, 0.13, 0.1, 0.07, 0.05, 0.03)  # 1..8 turns per session
MAX_THINK_S = 600.0  # longest pause between two turns (scaled down for periods < 1 day)
MAX_TRACE_S = 200.0  # upper bound of one trace's duration
# Median pause (s) before a message that reacts to a bad answer: users retry at once.
QUICK_REPLY_S = {"retry": 8.0, "rephrase": 15.0, "disagreement": 20.0, "frustration": 12.0}


def make_users(rng: random.Random, n: int) -> tuple[list[DemoUser], list[float]]:
    """Users with stable traits, and cumulative activity weights (a few heavy users)."""
    width = max(4, len(str(n)))
    users: list[DemoUser] = []
    cum: list[float] = []
    total = 0.0
    emails: set[str] = set()
    for i in range(n):
        if rng.random() < 0.2:
            first = C.FIRST_NAMES[rng.randrange(len(C.FIRST_NAMES))]
            last = C.LAST_NAMES[rng.randrange(len(C.LAST_NAMES))]
            company = C.COMPANIES[rng.randrange(len(C.COMPANIES))]
            uid = f"{first}.{last}@{company}"
            if uid in emails:
                uid = f"{first}.{last}{i % 97}@{company}"
            emails.add(uid)
        else:
            uid = f"user_{i:0{width}d}"
        r = rng.random()
        plan = "free" if r < 0.45 else "pro" if r < 0.87 else "enterprise"
        r = rng.random()
        region = "eu-west-1" if r < 0.45 else "us-east-1" if r < 0.85 else "ap-southeast-2"
        r = rng.random()
        channel = "web" if r < 0.7 else "slack" if r < 0.9 else "email"
        seats = {"free": 3, "pro": rng.choice((5, 10, 25)), "enterprise": rng.choice((50, 200))}
        feedback = 0.0 if rng.random() < 0.5 else rng.uniform(0.5, 3.5)
        users.append(
            DemoUser(
                uid,
                plan,
                region,
                channel,
                rng.random() < 0.1,
                seats[plan],
                math.exp(rng.gauss(0.0, 0.4)),
                feedback,
            )
        )
        total += min(rng.paretovariate(1.3), 40.0)
        cum.append(total)
    return users, cum


QA_USERS = tuple(
    DemoUser(f"qa+{i:02d}@acme.cloud", "internal", "eu-west-1", "web", True, 10, 1.0, 2.0)
    for i in (1, 2, 3)
)


def plan_sessions(rng: random.Random, config: DemoConfig) -> list[tuple[int, int]]:
    """(start_us, turns) of every session, sorted by start; turns add up to config.traces."""
    start, end = config.period()
    span_us = end - start
    if span_us < DAY_US // 20:
        raise ValueError("DemoConfig.days must be at least 0.05")
    scale = min(1.0, span_us / DAY_US)
    margin = int(8 * (MAX_THINK_S * scale + MAX_TRACE_S + 31) * SECOND_US)
    usable = span_us - margin
    max_w = 1.0 + GROWTH
    sessions: list[tuple[int, int]] = []
    remaining = config.traces
    cum_turns = list(itertools.accumulate(TURN_WEIGHTS))
    while remaining > 0:
        n = min(bisect.bisect(cum_turns, rng.random() * cum_turns[-1]) + 1, 8, remaining)
        remaining -= n
        while True:
            offset = int(rng.random() * usable)
            t = start + offset
            hour = (t // HOUR_US) % 24
            weekday = (t // DAY_US + 3) % 7  # 1970-01-01 was a Thursday
            w = HOUR_WEIGHTS[hour] * WEEKDAY_WEIGHTS[weekday] * (1.0 + GROWTH * offset / usable)
            if rng.random() * max_w < w:
                break
        sessions.append((t, n))
    sessions.sort()
    return sessions


class _Scenario:
    def __init__(self, config: DemoConfig) -> None:
        self.config = config = config.resolved()
        self.rng = rng = random.Random(config.seed)
        self.users, self.cum = make_users(rng, config.user_count())
        self.builder = Builder(rng, config.incident_window())
        self.switch_us = config.prompt_switch_us()
        rel = config.release_starts()
        self.release_names = [r[0] for r in rel]
        self.release_starts = [r[1] for r in rel]
        start, end = config.period()
        self.think_scale = min(1.0, (end - start) / DAY_US)

    def release_at(self, t: int, env: str) -> str:
        i = bisect.bisect_right(self.release_starts, t) - 1
        if env == "staging":
            i = min(i + 1, len(self.release_names) - 1)
        return self.release_names[max(i, 0)]

    def new_session(self, n_turns: int) -> Session:
        rng = self.rng
        if rng.random() < self.config.staging_fraction:
            user, env = QA_USERS[rng.randrange(len(QA_USERS))], "staging"
        else:
            i = bisect.bisect(self.cum, rng.random() * self.cum[-1])
            user, env = self.users[min(i, len(self.users) - 1)], "production"
        s = Session(user, "sess_" + self.builder.ids.hex(48), env, n_turns)
        s.slots = {
            "invoice": f"INV-2025-{rng.randrange(10_000, 99_999)}",
            "email": user.id if "@" in user.id else f"{user.id.replace('_', '.')}@example.com",
            "n": rng.choice((700, 850, 1200, 2000)),
            "plan": user.plan.title(),
            "fmt": rng.choice(C.FORMATS),
            "hours": rng.choice((3, 5, 8, 14)),
            "idp": rng.choice(C.IDPS),
            "month": C.MONTHS[rng.randrange(12)],
            "seats": user.seats,
            "ticket": "a ticket",
        }
        s.metadata = {"plan": user.plan, "region": user.region, "channel": user.channel}
        tags = []
        if user.plan == "enterprise":
            tags.append("enterprise")
        if user.beta:
            tags.append("beta")
        s.tags = tuple(tags)
        return s

    def pick_topic(self, s: Session) -> None:
        """A new question: often another one on the same topic, never one asked before in
        the session (asking it again would be a retry)."""
        rng = self.rng
        same = [i for i in s.topic.intents if id(i) not in s.intents] if s.topic else []
        if same and rng.random() < 0.5:
            s.intent = same[rng.randrange(len(same))]
        else:
            for _ in range(20):
                topic = rng.choices(C.TOPICS, C.TOPIC_WEIGHTS)[0]
                intent = topic.intents[rng.randrange(len(topic.intents))]
                if id(intent) not in s.intents:
                    break
            s.topic, s.intent = topic, intent
        s.intents.add(id(s.intent))
        s.paraphrase = rng.randrange(len(s.intent.paraphrases))

    def route_and_mode(self, s: Session, k: int, last_user: bool) -> tuple[str, str]:
        rng = self.rng
        if s.ticket_pending:
            return "ticket-triage", "job"
        if k == s.n_turns and s.summarize_last:
            return "summarize-conversation", "job"
        react, s.next_behaviour = s.next_behaviour, None
        if react == "thanks" and last_user and s.abandon:
            react = "question"  # a user about to give up does not say thanks first
        if react in ("retry", "rephrase") and s.prev_user is not None:
            return s.prev_user.route, react
        if react is not None and react != "question":
            return "support-chat", react
        if k > 1 and rng.random() < 0.04:
            return "support-chat", "escalate"
        if rng.random() < (0.2 if k == 1 else 0.05):
            return "kb-search", "question"
        return "support-chat", "question"

    def turn(self, s: Session, t0: int, index: int) -> DemoTrace:
        rng = self.rng
        s.turn += 1
        k = s.turn
        last_user = k == s.n_turns or (k + 1 == s.n_turns and s.summarize_last)
        route, mode = self.route_and_mode(s, k, last_user)
        user_turn = mode != "job"
        if mode == "question":
            self.pick_topic(s)
            question = s.intent.paraphrases[s.paraphrase].format_map(s.slots)
        elif user_turn:
            question = B.message(rng, s, mode, s.prev_user.question if s.prev_user else "")
        else:
            question = s.subject
        if mode in ("question", "rephrase"):
            s.subject = question
        if user_turn:
            s.asked.add(question)
        prompt_name = prompt_version = None
        if route == "support-chat":
            prompt_name = PROMPT_NAME
            prompt_version = PROMPT_NEW_VERSION if t0 >= self.switch_us else PROMPT_OLD_VERSION
        elif route == "summarize-conversation":
            prompt_name, prompt_version = SUMMARY_PROMPT_NAME, SUMMARY_PROMPT_VERSION
        tr = DemoTrace(
            index=index,
            trace_id=self.builder.ids.trace(),
            route=route,
            convention=ROUTE_CONVENTION[route],
            service=ROUTE_SERVICE[route],
            environment=s.env,
            release=self.release_at(t0, s.env),
            user_id=s.user.id,
            session_id=s.id,
            turn=k,
            session_turns=s.n_turns,
            start_us=t0,
            end_us=t0,
            topic=s.topic.name,
            question=question,
            answer="",
            tags=(s.topic.tag, *s.tags),
            metadata=s.metadata,
            prompt_name=prompt_name,
            prompt_version=prompt_version,
            model=None,
        )
        if user_turn:
            tr.behaviour = mode
            tr.reacts_to = s.prev_user.trace_id_hex if s.prev_user else None
            if mode == "rephrase" and s.prev_user is not None:
                tr.rephrase_of = tr.reacts_to
                s.prev_user.rephrased = True
        # the session's last answer: bad when the user is about to give up, else good
        force = ("bad" if s.abandon else "good") if user_turn and last_user else None
        b = self.builder
        if route == "support-chat":
            b.support_chat(tr, s, t0, mode, force)
        elif route == "kb-search":
            b.kb_search(tr, s, t0, force)
        elif route == "ticket-triage":
            b.ticket_triage(tr, s, t0)
        else:
            b.summarize(tr, s, t0)
        if user_turn:
            if mode in SIGNALS:
                s.unhappy = True
            self.after_user_turn(s, tr)
            s.remember(question, tr.answer)
            if route == "support-chat":
                s.transcript.append((question, tr.answer))
            s.prev_user = tr
        if self.config.delivery_quirks and rng.random() < 0.004:
            tr.root_export_delay_us = rng.randint(30, 180) * SECOND_US
        return tr

    def after_user_turn(self, s: Session, tr: DemoTrace) -> None:
        """The user's reaction to this answer (the next message, or leaving), and the
        explicit feedback on it."""
        rng = self.rng
        left = s.n_turns - s.turn - (1 if s.ticket_pending else 0) - (1 if s.summarize_last else 0)
        bad = tr.outcome != "good"
        if left > 0:
            s.next_behaviour = B.react(rng, s, tr)
        else:
            tr.last_user_turn = True
            tr.abandoned = tr.outcome in BAD_OUTCOMES
            if rng.random() < RATING_RATE:
                self.rate(s, tr)
        pv = tr.prompt_version or PROMPT_NEW_VERSION
        if rng.random() < FEEDBACK_RATE * s.user.feedback_factor * (1.5 if bad else 1.0):
            if tr.behaviour == "thanks":
                tr.feedback = 1
            else:
                p_down = THUMBS_DOWN_RATE[pv]
                if bad:
                    p_down = THUMBS_DOWN_AFTER.get(tr.outcome, THUMBS_DOWN_AFTER_BAD)
                tr.feedback = 0 if rng.random() < p_down else 1
        if not bad and tr.route == "support-chat" and tr.behaviour != "thanks":
            tr.copied = rng.random() < COPY_RATE[pv]
            tr.accepted = rng.random() < ACCEPT_RATE

    def rate(self, s: Session, tr: DemoTrace) -> None:
        """The closing survey: 1-5 stars for the conversation, sometimes with a comment."""
        rng = self.rng
        if tr.abandoned or s.unhappy:
            weights = (0.4, 0.3, 0.18, 0.1, 0.02)
        else:
            weights = (0.02, 0.04, 0.12, 0.32, 0.5)
        tr.rating = rng.choices((1, 2, 3, 4, 5), weights)[0]
        if rng.random() < RATING_COMMENT_RATE:
            comments = P.RATING_COMMENTS[tr.rating]
            tr.rating_comment = comments[rng.randrange(len(comments))]

    def gap_us(self, s: Session) -> int:
        """Pause before the next turn: a user thinking, or a background job starting."""
        rng = self.rng
        if s.ticket_pending:
            return rng.randint(1_000, 5_000) * MS
        if s.turn + 1 == s.n_turns and s.summarize_last:
            return rng.randint(5_000, 30_000) * MS
        median = QUICK_REPLY_S.get(s.next_behaviour, 50.0)
        think = min(max(median * math.exp(rng.gauss(0.0, 0.8)), 4.0), MAX_THINK_S)
        return int(think * self.think_scale * SECOND_US) + 1_000 * MS

    def run(self) -> Iterator[DemoTrace]:
        rng = self.rng
        planned = plan_sessions(rng, self.config)
        heap: list[tuple[int, int, Session]] = []
        seq = itertools.count()
        i = 0
        index = 0
        while i < len(planned) or heap:
            if heap and (i >= len(planned) or heap[0][0] <= planned[i][0]):
                t, _, s = heapq.heappop(heap)
            else:
                t, n = planned[i]
                i += 1
                s = self.new_session(n)
                pv = PROMPT_NEW_VERSION if t >= self.switch_us else PROMPT_OLD_VERSION
                s.abandon = rng.random() < ABANDON_RATE[pv]
                s.summarize_last = n >= 3 and not s.abandon and rng.random() < 0.45
            tr = self.turn(s, t, index)
            index += 1
            yield tr
            if s.turn < s.n_turns:
                heapq.heappush(heap, (tr.end_us + self.gap_us(s), next(seq), s))


def iter_traces(config: DemoConfig) -> Iterator[DemoTrace]:
    """The scenario's traces in start order, exactly ``config.traces`` of them."""
    return _Scenario(config).run()


__all__ = ["iter_traces", "make_users", "plan_sessions", "tokens"]
