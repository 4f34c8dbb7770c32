"""The span tree of each route: support-chat, kb-search, ticket-triage, summarize-conversation.

Each builder fills ``trace.spans`` (root first, children in start order, all sequential under
the root) and sets ``trace.answer`` / ``trace.end_us``.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from heron.demo import content as C
from heron.demo import phrases as P
from heron.demo.llm import MS, CallSim, Ids, lat_us, tokens
from heron.demo.model import (
    APP_TIMEOUT_US,
    BAD_OUTCOMES,
    CLARIFY_RATE,
    EMPTY_RATE,
    KB_NON_ANSWER_RATE,
    KIND_EMBEDDING,
    KIND_GUARDRAIL,
    KIND_RETRIEVER,
    KIND_ROOT,
    KIND_SPAN,
    KIND_TOOL,
    LLM_ERROR_RATE,
    LLM_LATENCY_FACTOR,
    NON_ANSWER_RATE,
    OTHER_LLM_ERROR_RATE,
    REFUSAL_RATE,
    SUMMARY_PROMPT_NAME,
    SUMMARY_PROMPT_VERSION,
    TOOL_ERROR_RATE,
    WRONG_FACTOR,
    WRONG_RATE,
    DemoSpan,
    DemoTrace,
)
from heron.demo.session import Session

INFRA_ERROR_RATE = 0.025  # the part of LLM_ERROR_RATE that does not depend on the prompt
TOOL_DEFS_TOKENS = 190  # the three tool schemas sent with every support-chat call
EMBEDDING_MODEL = "text-embedding-3-small"

SYSTEM_TOKENS = {v: tokens(p) for v, p in C.SYSTEM_PROMPTS.items()}


def _intent_tool(intent: C.Intent) -> str | None:
    a = intent.answer
    if "{invoice}" in a:
        return "lookup_order"
    if "{ticket}" in a:
        return "create_ticket"
    if "{email}" in a or "{seats}" in a:
        return "get_account_status"
    return None


INTENT_TOOLS = {id(i): _intent_tool(i) for t in C.TOPICS for i in t.intents}
DOC_CONTEXT = {d.id: f"[{d.id}] {d.title}\n{d.content}" for d in C.ALL_DOCS}
DOC_CONTEXT_TOKENS = {k: tokens(v) for k, v in DOC_CONTEXT.items()}
TOOL_LATENCY_MS = {
    "lookup_order": (160, 80, 800),
    "get_account_status": (110, 50, 600),
    "create_ticket": (380, 150, 800),
    "update_crm_case": (200, 80, 700),
}
TOOL_ERRORS = {
    "lookup_order": (
        "acme.billing.NotFoundError",
        "billing service returned 404: invoice not found",
    ),
    "get_account_status": ("TimeoutError", "account service did not respond within 2s"),
    "create_ticket": ("acme.helpdesk.HelpdeskError", "helpdesk API returned 502 Bad Gateway"),
    "update_crm_case": ("acme.crm.CrmError", "CRM API returned 409 Conflict: case is locked"),
}
GUARDRAIL_OK = orjson.dumps({"flagged": False, "categories": []}).decode()
GUARDRAIL_BLOCK = orjson.dumps({"flagged": True, "categories": ["prompt_injection"]}).decode()
GUARDRAIL_PII = orjson.dumps({"flagged": True, "categories": ["pii"]}).decode()
KB_NOTHING_FOUND = "None of the articles answer this query."
CLIENT_GONE = "client disconnected before the answer was sent (front-end timeout, 20 s)"


def _chat(exchanges: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for q, a in exchanges:
        out.append(("user", q))
        out.append(("assistant", a))
    return out


class Builder:
    def __init__(self, rng: random.Random, incident: tuple[int, int] | None) -> None:
        self.rng = rng
        self.ids = Ids(rng)
        self.sim = CallSim(rng, self.ids, incident)

    # --- shared pieces ---
    def _root(self, tr: DemoTrace, name: str, t0: int, input_text: str) -> DemoSpan:
        root = DemoSpan(self.ids.span(), None, name, KIND_ROOT, t0, t0, input_text=input_text)
        tr.spans.append(root)
        return root

    def _finish(self, tr: DemoTrace, root: DemoSpan, t: int, answer: str) -> None:
        root.end_us = t + lat_us(self.rng, 4, 0.5, 1, 20)
        root.output_text = answer
        tr.answer = answer
        tr.end_us = root.end_us
        if tr.failed:
            root.error_type = "acme.assist.AssistantError"
            root.status_message = "LLM call failed after retry"

    def _retrieve(self, tr: DemoTrace, parent: bytes, t: int, query: str, topic: C.Topic, k: int):
        rng = self.rng
        docs = list(topic.docs[: k - 1])
        other = C.ALL_DOCS[rng.randrange(len(C.ALL_DOCS))]
        if other not in docs:
            docs.append(other)
        rng.shuffle(docs)
        scores = sorted((round(rng.uniform(0.55, 0.93), 4) for _ in docs), reverse=True)
        # the topic's documents usually rank first
        docs.sort(key=lambda d: d not in topic.docs)
        span = DemoSpan(self.ids.span(), parent, "vector-search", KIND_RETRIEVER, t, 0)
        span.end_us = t + lat_us(rng, 60, 0.5, 20, 200)
        span.input_text = query
        span.documents = list(zip(docs, scores, strict=True))
        tr.spans.append(span)
        return span, docs

    def _embed(self, tr: DemoTrace, parent: bytes, t: int, text: str) -> DemoSpan:
        span = DemoSpan(
            self.ids.span(),
            parent,
            f"embeddings {EMBEDDING_MODEL}",
            KIND_EMBEDDING,
            t,
            t + lat_us(self.rng, 90, 0.45, 40, 250),
        )
        span.model = EMBEDDING_MODEL
        span.response_model = EMBEDDING_MODEL
        span.provider = "openai"
        span.input_text = text
        span.input_tokens = tokens(text)
        tr.spans.append(span)
        return span

    def _tool(self, tr: DemoTrace, s: Session, parent: bytes, t: int, name: str, call_id: str):
        rng = self.rng
        med, lo, hi = TOOL_LATENCY_MS[name]
        label = f"execute_tool {name}" if tr.convention == "otel" else name
        span = DemoSpan(
            self.ids.span(), parent, label, KIND_TOOL, t, t + lat_us(rng, med, 0.5, lo, hi)
        )
        span.tool_name = name
        span.tool_call_id = call_id
        sl = s.slots
        if name == "lookup_order":
            args: dict[str, Any] = {"invoice_id": sl["invoice"]}
            charge = "ch_" + sl["invoice"][-5:]
            result: Any = {
                "invoice_id": sl["invoice"],
                "status": "paid",
                "amount_usd": 49.0,
                "charges": [
                    {"id": charge + "a", "state": "settled"},
                    {"id": charge + "b", "state": "voided"},
                ],
            }
        elif name == "get_account_status":
            u = s.user
            args = {"user_id": u.id}
            result = {
                "user_id": u.id,
                "plan": u.plan,
                "sso_enforced": u.plan == "enterprise",
                "locked": False,
                "seats_used": u.seats,
                "seats_total": u.seats,
            }
        elif name == "create_ticket":
            if s.ticket is None:
                s.ticket = f"TCK-{rng.randrange(10_000, 99_999)}"
            sl["ticket"] = "ticket " + s.ticket
            args = {
                "subject": (s.subject or "support request")[:80],
                "priority": "P2",
                "user_id": s.user.id,
            }
            result = {"ticket_id": s.ticket, "status": "open"}
        else:
            args = {"session_id": s.id, "status": "summarized"}
            result = {"ok": True}
        span.tool_args = args
        if rng.random() < TOOL_ERROR_RATE:
            span.error_type, span.status_message = TOOL_ERRORS[name]
            result = {"error": span.status_message}
            tr.tool_errors += 1
        span.tool_result = result
        tr.spans.append(span)
        return span

    def _cached(self, model: str, n_in: int, prefix: int, release: str) -> int:
        if not model.startswith(("gpt-", "o4")) or n_in < 1024:
            return 0
        if self.rng.random() < (0.8 if release >= "v1.6.0" else 0.5):
            return min(prefix, n_in - 64) // 128 * 128
        return 0

    def _outcome(self, tr: DemoTrace, mode: str, force: str | None, model: str) -> str:
        """How this answer goes (before any LLM failure); ``force`` "good" or "bad" decides
        the session's last answer."""
        if mode in ("thanks", "escalate", "frustration", "follow_up"):
            return "good"
        if tr.route == "kb-search":
            bad = [("non_answer", KB_NON_ANSWER_RATE[model])]
        elif mode == "disagreement":
            bad = [("non_answer", 0.15)]
        else:
            pv = tr.prompt_version or 3
            bad = [
                ("wrong", WRONG_RATE[pv] * WRONG_FACTOR[model]),
                ("non_answer", NON_ANSWER_RATE[pv]),
                ("refusal", REFUSAL_RATE[tr.release]),
                ("empty", EMPTY_RATE),
            ]
            if mode == "question":
                bad.append(("clarify", CLARIFY_RATE))
        if force == "good":
            return "good"
        if force == "bad":
            names = [o for o, p in bad if o in BAD_OUTCOMES and p > 0] or ["non_answer"]
            return names[self.rng.randrange(len(names))]
        r = self.rng.random()
        for name, p in bad:
            if r < p:
                return name
            r -= p
        return "good"

    # --- routes ---
    def support_chat(
        self, tr: DemoTrace, s: Session, t0: int, mode: str, force: str | None = None
    ) -> None:
        rng = self.rng
        pv = tr.prompt_version or 3
        factor = LLM_LATENCY_FACTOR[pv]
        err = LLM_ERROR_RATE[pv]
        question = tr.question
        model = "gpt-4o" if s.user.plan == "enterprise" else "gpt-4o-mini"
        tr.model = model
        outcome = self._outcome(tr, mode, force, model)
        root = self._root(tr, "support-chat", t0, question)
        # the app receives the whole conversation, as OpenAI-style chat front ends send it
        root.messages = [*_chat(s.transcript), ("user", question)]
        rid = root.span_id
        t = t0 + lat_us(rng, 2, 0.5, 1, 5)
        load = DemoSpan(
            self.ids.span(),
            rid,
            "load-session",
            KIND_SPAN,
            t,
            t + lat_us(rng, 8, 0.6, 2, 60),
            input_text=s.id,
        )
        load.output_text = f"{len(s.history) * 2} messages"
        tr.spans.append(load)
        t = load.end_us + lat_us(rng, 1, 0.5, 0.2, 3)
        if tr.release >= "v1.5.0":
            g = DemoSpan(
                self.ids.span(),
                rid,
                "input-guardrail",
                KIND_GUARDRAIL,
                t,
                t + lat_us(rng, 60, 0.4, 30, 150),
                input_text=question,
            )
            blocked = rng.random() < 0.005
            g.output_text = GUARDRAIL_BLOCK if blocked else GUARDRAIL_OK
            tr.spans.append(g)
            t = g.end_us + 1 * MS
            if blocked:
                tr.blocked = True
                tr.outcome = "refusal"
                self._finish(tr, root, t, C.BLOCKED_ANSWER)
                return
        user_content = question
        n_ctx = 0
        if mode in ("question", "rephrase", "retry"):
            if rng.random() < 0.6:  # else the query embedding is cached
                t = self._embed(tr, rid, t, question).end_us + 1 * MS
            span, docs = self._retrieve(tr, rid, t, question, s.topic, 4)
            t = span.end_us + 2 * MS
            ctx = "\n\n".join(DOC_CONTEXT[d.id] for d in docs)
            n_ctx = sum(DOC_CONTEXT_TOKENS[d.id] for d in docs)
            user_content = f"Help-center articles:\n{ctx}\n\nCustomer question: {question}"
        tools: list[str] = []
        if mode in ("escalate", "frustration"):
            tools.append("create_ticket")
        elif mode not in ("thanks", "follow_up") and outcome != "clarify":
            tool = INTENT_TOOLS[id(s.intent)]
            if tool and (tool == "create_ticket" or rng.random() < 0.85):
                tools.append(tool)
                if tool == "lookup_order" and rng.random() < 0.12:
                    tools.append("get_account_status")
        system = C.SYSTEM_PROMPTS[pv]
        messages = [*s.history_messages(), ("user", user_content)]
        prefix = SYSTEM_TOKENS[pv] + TOOL_DEFS_TOKENS + s.history_tokens
        n_in = prefix + n_ctx + tokens(question) + 12
        tool_failed = False
        ok = True
        answer = ""
        for tool in [*tools, None]:
            call = None
            if tool is not None:
                call_id = "call_" + self.ids.hex(96)
                call = (call_id, tool, {})
                n_out = rng.randint(18, 40)
                answer = None
            else:
                answer = self._answer(s, mode, outcome, pv, tool_failed)
                n_out = tokens(answer) + rng.randint(0, 12)
            t, ok = self.sim.call(
                tr,
                rid,
                f"chat {model}",
                model,
                t,
                system=system,
                messages=messages,
                n_in=n_in,
                output_text=answer,
                tool_call=call,
                n_out=n_out,
                stream=tool is None,
                error_rate=err,
                format_error_rate=err - INFRA_ERROR_RATE,
                factor=factor,
                cached=self._cached(model, n_in, prefix, tr.release),
                prompt=(tr.prompt_name, pv),
                temperature=0.2,
                max_tokens=1024,
            )
            if not ok:
                tr.failed = True
                break
            if call is not None:
                ts = self._tool(tr, s, rid, t + rng.randint(1, 3) * MS, tool, call[0])
                call[2].update(ts.tool_args)
                tool_failed = tool_failed or ts.failed
                t = ts.end_us + rng.randint(1, 4) * MS
                messages = [
                    *messages,
                    ("tool_call", *call),
                    ("tool", call[0], tool, ts.tool_result),
                ]
                n_in += 30 + tokens(orjson.dumps(ts.tool_result).decode())
        if tr.failed:
            answer, outcome = C.FAILURE_ANSWER, "error"
        elif t - t0 > APP_TIMEOUT_US:
            answer, outcome = "", "timeout"  # the user had given up waiting
        if tr.release >= "v1.5.0" and not tr.failed:
            g = DemoSpan(
                self.ids.span(),
                rid,
                "output-guardrail",
                KIND_GUARDRAIL,
                t,
                t + lat_us(rng, 40, 0.4, 15, 120),
                input_text=answer,
            )
            g.output_text = GUARDRAIL_OK
            if outcome == "refusal":  # a false positive: the answer was fine
                g.output_text = GUARDRAIL_PII
                answer = P.REFUSALS[rng.randrange(len(P.REFUSALS))]
            tr.spans.append(g)
            t = g.end_us
        elif outcome == "refusal":
            outcome = "non_answer"  # no output guardrail before v1.5.0
            answer = self._answer(s, mode, outcome, pv, tool_failed)
        if "create_ticket" in tools and not tr.failed and not tool_failed:
            s.ticket_pending = True
        tr.outcome = outcome
        self._finish(tr, root, t, answer)
        if outcome == "timeout":
            root.error_type = "asyncio.CancelledError"
            root.status_message = CLIENT_GONE

    def _answer(self, s: Session, mode: str, outcome: str, pv: int, tool_failed: bool) -> str:
        rng = self.rng
        topic = s.topic.name
        if mode == "thanks":
            return P.THANKS_ANSWER
        if mode in ("escalate", "frustration"):
            if tool_failed or s.ticket is None:
                if mode == "frustration":
                    return P.FRUSTRATION_NO_TICKET
                return "I couldn't open a ticket right now. Please write to support@acme.cloud."
            if mode == "frustration":
                return P.FRUSTRATION_ANSWER.format(ticket=s.ticket)
            return (
                f"I've opened ticket {s.ticket} for you. Our support team will reply by email "
                "within 4 business hours."
            )
        if mode == "follow_up" and s.follow_up is not None:
            return s.follow_up[1]
        if outcome == "wrong":
            return P.WRONG_ANSWERS[topic].format_map(s.slots)
        if outcome == "non_answer":
            texts = P.NON_ANSWERS[pv]
            return texts if isinstance(texts, str) else texts[rng.randrange(len(texts))]
        if outcome == "clarify":
            return P.CLARIFY_QUESTIONS[topic]
        if outcome == "empty":
            return ""
        answer = s.intent.answer.format_map(s.slots)
        if tool_failed:
            answer = (
                "I couldn't look up your account details right now, so here is the general "
                "answer: " + answer + C.UNSURE_SUFFIX
            )
        if mode == "disagreement":
            answer = P.CORRECTION_PREFIX + answer
        return answer

    def kb_search(self, tr: DemoTrace, s: Session, t0: int, force: str | None = None) -> None:
        rng = self.rng
        query = tr.question
        root = self._root(tr, "kb-search", t0, query)
        rid = root.span_id
        t = t0 + lat_us(rng, 4, 0.5, 1, 10)
        t = self._embed(tr, rid, t, query).end_us + 1 * MS
        span, docs = self._retrieve(tr, rid, t, query, s.topic, 5)
        t = span.end_us + 1 * MS
        model = "gemini-2.0-flash"
        if tr.release >= "v1.6.0" and rng.random() < 0.5:
            model = "llama-3.1-8b-instruct"
        tr.model = model
        outcome = self._outcome(tr, "question", force, model)
        top = docs[0]
        if outcome == "good":
            answer = f"{top.content.split('. ')[0]}. See [{top.id}] {top.title}."
        else:
            answer = KB_NOTHING_FOUND
        ctx = "\n\n".join(DOC_CONTEXT[d.id] for d in docs)
        n_in = tokens(C.KB_SEARCH_PROMPT) + sum(DOC_CONTEXT_TOKENS[d.id] for d in docs) + 20
        t, ok = self.sim.call(
            tr,
            rid,
            f"chat {model}",
            model,
            t,
            system=C.KB_SEARCH_PROMPT,
            messages=[("user", f"Articles:\n{ctx}\n\nQuery: {query}")],
            n_in=n_in,
            output_text=answer,
            n_out=tokens(answer) + rng.randint(0, 8),
            stream=True,
            error_rate=OTHER_LLM_ERROR_RATE,
            temperature=0.0,
            max_tokens=300,
        )
        tr.failed = not ok
        tr.outcome = outcome if ok else "error"
        self._finish(tr, root, t, C.FAILURE_ANSWER if not ok else answer)

    def ticket_triage(self, tr: DemoTrace, s: Session, t0: int) -> None:
        rng = self.rng
        subject = s.subject or tr.question
        ticket_in = orjson.dumps({"ticket_id": s.ticket, "subject": subject[:120]}).decode()
        root = self._root(tr, "ticket-triage", t0, ticket_in)
        rid = root.span_id
        t = t0 + lat_us(rng, 5, 0.5, 1, 15)
        span, _ = self._retrieve(tr, rid, t, subject, s.topic, 3)
        t = span.end_us + 1 * MS
        model = "gpt-4o-mini" if tr.release < "v1.5.0" else "llama-3.1-8b-instruct"
        tr.model = model
        p1 = rng.random() < 0.15
        team = {"auth": "identity", "sso": "identity", "billing": "billing-ops"}.get(
            s.topic.tag, "platform"
        )
        label = {
            "category": s.topic.tag,
            "priority": "P1" if p1 else "P2",
            "team": team,
            "summary": subject[:100],
        }
        label_json = orjson.dumps(label).decode()
        history = "\n".join(f"Customer: {q}\nAssistant: {a}" for q, a in s.history)
        msgs = [("user", f"Ticket {s.ticket}: {subject}\n\nConversation:\n{history}")]
        n_in = tokens(C.TRIAGE_PROMPT) + s.history_tokens + tokens(subject) + 20
        t, ok = self.sim.call(
            tr,
            rid,
            "ChatCompletion",
            model,
            t,
            system=C.TRIAGE_PROMPT,
            messages=msgs,
            n_in=n_in,
            output_text=label_json,
            n_out=tokens(label_json),
            stream=False,
            error_rate=OTHER_LLM_ERROR_RATE,
            temperature=0.0,
            max_tokens=200,
        )
        if ok and rng.random() < 0.6:
            ts = self._tool(
                tr, s, rid, t + 1 * MS, "get_account_status", "call_" + self.ids.hex(96)
            )
            t = ts.end_us + 1 * MS
        if ok and p1:
            draft = (
                f"Escalation for {team}: customer {s.user.id} ({s.user.plan}) reports: "
                f"{subject} Steps tried in chat are attached; please investigate with priority."
            )
            reasoning = rng.randint(256, 2048)
            t, ok = self.sim.call(
                tr,
                rid,
                "ChatCompletion",
                "o4-mini",
                t + 1 * MS,
                system=C.TRIAGE_PROMPT,
                messages=[*msgs, ("assistant", label_json), ("user", "Draft the escalation.")],
                n_in=n_in + 60,
                output_text=draft,
                n_out=tokens(draft),
                stream=False,
                error_rate=OTHER_LLM_ERROR_RATE,
                reasoning=reasoning,
                temperature=1.0,
                max_tokens=4096,
            )
        tr.failed = not ok
        s.ticket_pending = False
        self._finish(tr, root, t, C.FAILURE_ANSWER if not ok else label_json)

    def summarize(self, tr: DemoTrace, s: Session, t0: int) -> None:
        rng = self.rng
        root = self._root(
            tr,
            "summarize-conversation",
            t0,
            orjson.dumps({"session_id": s.id, "turns": s.turn - 1}).decode(),
        )
        rid = root.span_id
        t = t0 + lat_us(rng, 5, 0.5, 1, 15)
        load = DemoSpan(
            self.ids.span(), rid, "load-transcript", KIND_SPAN, t, t + lat_us(rng, 45, 0.5, 15, 150)
        )
        load.input_text = s.id
        load.output_text = f"{len(s.history) * 2} messages"
        tr.spans.append(load)
        t = load.end_us + 1 * MS
        model = "claude-3-5-sonnet-20241022" if tr.release < "v1.5.0" else "claude-sonnet-4-5"
        tr.model = model
        transcript = "\n".join(f"Customer: {q}\nAssistant: {a}" for q, a in s.history)
        last_q = s.subject
        summary = (
            f"- Customer ({s.user.plan} plan) asked about {s.topic.name}.\n"
            f"- Last question: {last_q[:120]}\n"
            f"- {'Ticket ' + s.ticket + ' opened' if s.ticket else 'Resolved in chat'}.\n"
            f"- Sentiment: {'negative' if s.unhappy else 'neutral to positive'}."
        )
        n_in = tokens(C.SUMMARY_PROMPT) + s.history_tokens + 20
        cached = (n_in // 2) if rng.random() < 0.3 else 0
        t, ok = self.sim.call(
            tr,
            rid,
            "summarize",
            model,
            t,
            system=C.SUMMARY_PROMPT,
            messages=[("user", transcript)],
            n_in=n_in,
            output_text=summary,
            n_out=tokens(summary),
            stream=True,
            error_rate=OTHER_LLM_ERROR_RATE,
            cached=cached,
            temperature=0.3,
            max_tokens=800,
            prompt=(SUMMARY_PROMPT_NAME, SUMMARY_PROMPT_VERSION),
        )
        if ok and rng.random() < 0.7:
            ts = self._tool(
                tr, s, rid, t + 1 * MS, "update_crm_case", "toolu_01" + self.ids.hex(80)
            )
            t = ts.end_us + 1 * MS
        tr.failed = not ok
        self._finish(tr, root, t, C.FAILURE_ANSWER if not ok else summary)
