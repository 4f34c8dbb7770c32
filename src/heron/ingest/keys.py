"""Attribute tables of the convention mapping: which keys are consumed, flattened families,
precedence lists and type / level vocabularies. See ``docs/conventions.md``."""

from __future__ import annotations

from typing import Any

from heron.model.records import LEVEL_RANK, ObservationType

ZERO16 = bytes(16)
ZERO8 = bytes(8)
MIN_NS = 86_400 * 1_000_000_000  # 1970-01-02
MAX_NS = 7_258_118_400 * 1_000_000_000  # 2200-01-01
STATUS_ERROR = 2

TYPES = frozenset(t.value for t in ObservationType)
OPENINFERENCE_KINDS = {
    "LLM": "generation",
    "EMBEDDING": "embedding",
    "TOOL": "tool",
    "RETRIEVER": "retriever",
    "RERANKER": "retriever",
    "AGENT": "agent",
    "CHAIN": "chain",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "evaluator",
    "PROMPT": "span",
}
GENAI_OPERATIONS = {
    "chat": "generation",
    "text_completion": "generation",
    "generate_content": "generation",
    "completion": "generation",
    "generate": "generation",
    "embeddings": "embedding",
    "embedding": "embedding",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "execute_tool": "tool",
    "retrieval": "retriever",
    "invoke_workflow": "chain",
}
LEVELS = frozenset(LEVEL_RANK)

# Exact attribute keys the mapping consumes (anything else goes to metadata as given), with a
# bit per group so that the mapping skips groups a span does not use.
LF = 1  # langfuse.observation.*
LFT = 2  # langfuse.trace.* and other trace-level langfuse.* keys
TRACE = 4  # user / session / tags / metadata shared by conventions
MODEL = 8
PARAMS = 16
IN = 32
OUT = 64
MISC = 128

KNOWN: dict[str, Any] = {
    # Langfuse observation
    "langfuse.observation.type": LF,
    "langfuse.observation.input": IN,
    "langfuse.observation.output": OUT,
    "langfuse.observation.model.name": MODEL,
    "langfuse.observation.model.parameters": LF,
    "langfuse.observation.usage_details": LF,
    "langfuse.observation.cost_details": LF,
    "langfuse.observation.level": LF,
    "langfuse.observation.status_message": LF,
    "langfuse.observation.completion_start_time": LF,
    "langfuse.observation.prompt.name": LF,
    "langfuse.observation.prompt.version": LF,
    "langfuse.observation.metadata": LF,
    # Langfuse trace / general
    "langfuse.trace.name": LFT,
    "langfuse.trace.tags": LFT,
    "langfuse.trace.input": LFT,
    "langfuse.trace.output": LFT,
    "langfuse.trace.public": LFT,
    "langfuse.trace.metadata": LFT,
    "langfuse.environment": LFT,
    "langfuse.release": LFT,
    "langfuse.version": LFT,
    "langfuse.internal.is_app_root": LFT,
    "langfuse.user.id": TRACE,
    "langfuse.session.id": TRACE,
    # shared by OpenInference and Langfuse
    "user.id": TRACE,
    "session.id": TRACE,
    "tag.tags": TRACE,
    "metadata": TRACE,
    # OpenInference
    "llm.model_name": MODEL,
    "llm.request.model_name": MODEL,
    "llm.response.model_name": MODEL,
    "embedding.model_name": MODEL,
    "llm.invocation_parameters": PARAMS,
    "embedding.invocation_parameters": PARAMS,
    "input.value": IN,
    "input.mime_type": IN,
    "output.value": OUT,
    "output.mime_type": OUT,
    # OpenTelemetry GenAI
    "gen_ai.request.model": MODEL,
    "gen_ai.response.model": MODEL,
    "gen_ai.input.messages": IN,
    "gen_ai.system_instructions": IN,
    "gen_ai.prompt": IN,
    "gen_ai.tool.call.arguments": IN,
    "gen_ai.retrieval.query.text": IN,
    "gen_ai.output.messages": OUT,
    "gen_ai.completion": OUT,
    "gen_ai.tool.call.result": OUT,
    "gen_ai.retrieval.documents": OUT,
    "gen_ai.conversation.id": TRACE,
    "gen_ai.prompt.name": MISC,
    "gen_ai.response.time_to_first_chunk": MISC,
    "llm.usage.total_tokens": MISC,
}

# Flattened families: grouped by their first two dotted segments, suffix kept.
FLAT_PREFIXES = (
    "llm.input_messages.",
    "llm.output_messages.",
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "gen_ai.request.",
    "gen_ai.usage.",
    "llm.token_count.",
    "llm.cost.",
    "langfuse.observation.metadata.",
    "langfuse.trace.metadata.",
    "retrieval.documents.",
    "embedding.embeddings.",
    "llm.prompt_template.",
)

# Frequent keys of flattened families, split in advance: key -> (family head, suffix).
KNOWN.update(
    {
        f"{head}.{suffix}": (head, suffix)
        for head, suffixes in (
            (
                "gen_ai.request",
                "temperature top_p top_k max_tokens frequency_penalty presence_penalty "
                "stop_sequences seed choice.count stream encoding_formats",
            ),
            (
                "gen_ai.usage",
                "input_tokens output_tokens prompt_tokens completion_tokens total_tokens "
                "cache_read.input_tokens cache_creation.input_tokens reasoning.output_tokens "
                "cache_read_input_tokens cache_creation_input_tokens",
            ),
            (
                "llm.token_count",
                "prompt completion total prompt_details.cache_read prompt_details.cache_write "
                "prompt_details.audio completion_details.reasoning completion_details.audio",
            ),
            ("llm.cost", "prompt completion total"),
        )
        for suffix in suffixes.split()
    }
)

# Precedence lists (first present wins; the others stay in metadata).
MODEL_KEYS = (
    "langfuse.observation.model.name",
    "gen_ai.response.model",
    "llm.response.model_name",
    "llm.model_name",
    "gen_ai.request.model",
    "llm.request.model_name",
    "embedding.model_name",
)
USER_KEYS = ("user.id", "langfuse.user.id")
SESSION_KEYS = ("session.id", "langfuse.session.id", "gen_ai.conversation.id")

# Resource attributes consumed into trace fields (release / environment).
RES_RELEASE = ("langfuse.release", "service.version")
RES_ENVIRONMENT = ("langfuse.environment", "deployment.environment.name", "deployment.environment")
KNOWN["gen_ai.usage.cost"] = ("gen_ai.usage.cost", "")  # its own group: a cost, not a count

# Frequent attributes that always go to metadata: found by the same look-up (0 = metadata).
KNOWN.update(
    dict.fromkeys(
        (
            "gen_ai.operation.name",
            "gen_ai.provider.name",
            "gen_ai.system",
            "gen_ai.response.id",
            "gen_ai.response.finish_reasons",
            "gen_ai.agent.name",
            "gen_ai.tool.name",
            "gen_ai.tool.call.id",
            "openinference.span.kind",
            "llm.system",
            "llm.provider",
            "server.address",
            "server.port",
        ),
        0,
    )
)
